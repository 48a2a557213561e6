"""ClipGallery: an offline desktop photo library searched with CLIP."""

__version__ = "0.1.0"
