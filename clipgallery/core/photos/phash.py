"""Perceptual hashes: near-identical pictures without any model.

A 64-bit difference hash of the oriented image (grey, 9×8, each bit says whether a
pixel is brighter than its right neighbour).  Resized copies, re-compressed JPEGs and
exposure variants of one scene differ in a few bits; different photos in ~32.
Pure functions, called from the indexer's decode threads.
"""

from __future__ import annotations

from PIL import Image


def dhash(image: Image.Image) -> int:
    """A signed 64-bit difference hash (signed so that SQLite can store it)."""
    small = image.convert("L").resize((9, 8), Image.Resampling.BOX)
    px = small.tobytes()
    bits = 0
    for y in range(8):
        row = px[y * 9:(y + 1) * 9]
        for x in range(8):
            bits = (bits << 1) | (row[x] > row[x + 1])
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def distance(a: int, b: int) -> int:
    """Hamming distance between two hashes."""
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()
