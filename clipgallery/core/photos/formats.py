"""The one registry of photo file types: suffix -> kind, MIME types, label, decoder.

Every list of supported suffixes, kinds or MIME types in ClipGallery comes from here:
the indexer and thumbnailer (:mod:`clipgallery.core.photos.imaging`), metadata, the query
language's ``type:`` filter, the window's drop handling, the filter bar's type list and
the packaging checks.  Adding a format is one :func:`register` call.

Pure data, set up at import time and never changed afterwards; safe from any thread.
Imports nothing else of ClipGallery (the photos layer's bottom).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "FileType", "register", "kind_for", "is_image_path", "kinds", "suffixes",
    "mime_types", "file_types", "get", "PILLOW", "LIBRAW",
]

#: ``FileType.decoder`` values: which decoder :mod:`clipgallery.core.photos.imaging` uses.
PILLOW = "pillow"
LIBRAW = "libraw"  # then Pillow, when LibRaw does not recognise the data


@dataclass(frozen=True)
class FileType:
    """One kind of photo file."""

    kind: str  # short name used by filters and stored in the catalog: "jpeg", "raw", ...
    label: str  # for people: "JPEG", "Camera RAW", ...
    suffixes: tuple[str, ...]  # lower case, with the dot
    mime_types: tuple[str, ...]
    pillow_formats: tuple[str, ...] = ()  # Pillow format names accepted for this kind
    decoder: str = PILLOW


_TYPES: dict[str, FileType] = {}  # kind -> type, in registration order
_BY_SUFFIX: dict[str, FileType] = {}


def register(ft: FileType) -> FileType:
    """Add a file type; a kind or suffix registered twice is a programming error."""
    if ft.kind in _TYPES:
        raise ValueError(f"file type {ft.kind!r} registered twice")
    for s in ft.suffixes:
        if not s.startswith(".") or s != s.lower():
            raise ValueError(f"suffix {s!r}: lower case with a leading dot")
        if s in _BY_SUFFIX:
            raise ValueError(f"suffix {s!r} already belongs to {_BY_SUFFIX[s].kind!r}")
    _TYPES[ft.kind] = ft
    for s in ft.suffixes:
        _BY_SUFFIX[s] = ft
    return ft


def _suffix(path: os.PathLike | str | bytes) -> str:
    return os.path.splitext(os.fsdecode(os.fspath(path)))[1].lower()


def get(path: os.PathLike | str | bytes) -> FileType | None:
    """The registered type of a path (by its suffix, case-insensitive), or None."""
    return _BY_SUFFIX.get(_suffix(path))


def kind_for(path: os.PathLike | str | bytes) -> str:
    """Short type from the suffix: 'jpeg', 'png', 'heic', 'raw', ...

    Unknown suffixes give the suffix without its dot; no suffix gives 'unknown'.
    """
    ft = get(path)
    if ft is not None:
        return ft.kind
    return _suffix(path)[1:] or "unknown"


def is_image_path(path: os.PathLike | str | bytes) -> bool:
    """Whether the file name has a supported photo suffix (case-insensitive)."""
    return _suffix(path) in _BY_SUFFIX


def file_types() -> tuple[FileType, ...]:
    """Every registered type, in registration order (most common first)."""
    return tuple(_TYPES.values())


def kinds() -> tuple[str, ...]:
    """Every kind, in registration order (the filter bar's order)."""
    return tuple(_TYPES)


def suffixes() -> frozenset[str]:
    """Every supported suffix (lower case, with the dot)."""
    return frozenset(_BY_SUFFIX)


def mime_types() -> tuple[str, ...]:
    """Every MIME type of every kind, in registration order, without repeats."""
    return tuple(dict.fromkeys(m for ft in _TYPES.values() for m in ft.mime_types))


# -- the formats ClipGallery reads -------------------------------------------------------
# Order: the filter bar lists kinds in this order.

register(FileType("jpeg", "JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), ("image/jpeg",),
                  ("JPEG",)))
register(FileType("png", "PNG", (".png",), ("image/png",), ("PNG",)))
register(FileType("heic", "HEIC/HEIF", (".heic", ".heif", ".hif"),
                  ("image/heic", "image/heif"), ("HEIF",)))
register(FileType("webp", "WebP", (".webp",), ("image/webp",), ("WEBP",)))
register(FileType("tiff", "TIFF", (".tif", ".tiff"), ("image/tiff",), ("TIFF",)))
register(FileType(
    "raw", "Camera RAW",
    (".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf",
     ".orf", ".rw2", ".pef", ".srw", ".kdc", ".dcr", ".mrw", ".3fr", ".erf", ".mef",
     ".mos", ".x3f", ".rwl", ".iiq"),
    ("image/x-canon-cr2", "image/x-canon-cr3", "image/x-canon-crw", "image/x-nikon-nef",
     "image/x-nikon-nrw", "image/x-sony-arw", "image/x-sony-srf", "image/x-sony-sr2",
     "image/x-adobe-dng", "image/x-fuji-raf", "image/x-olympus-orf",
     "image/x-panasonic-rw2", "image/x-pentax-pef", "image/x-samsung-srw",
     "image/x-kodak-kdc", "image/x-kodak-dcr", "image/x-minolta-mrw",
     "image/x-hasselblad-3fr", "image/x-epson-erf", "image/x-mamiya-mef",
     "image/x-leaf-mos", "image/x-sigma-x3f", "image/x-leica-rwl", "image/x-phaseone-iiq"),
    decoder=LIBRAW))
register(FileType("gif", "GIF", (".gif",), ("image/gif",), ("GIF",)))
register(FileType("bmp", "BMP", (".bmp",), ("image/bmp",), ("BMP", "DIB")))
register(FileType("avif", "AVIF", (".avif",), ("image/avif",), ("AVIF",)))


def pillow_formats() -> tuple[str, ...]:
    """Every Pillow format we are willing to parse (for ``Image.open(formats=...)``).

    Everything else (EPS through Ghostscript, PSD, ICO, FITS, ...) is refused even when
    renamed to .jpg.
    """
    return tuple(dict.fromkeys(f for ft in _TYPES.values() for f in ft.pillow_formats))
