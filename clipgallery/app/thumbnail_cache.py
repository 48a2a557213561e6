"""The on-disk thumbnail cache (Qt-free; called from the image loader threads).

A thumbnail is stored once, at :data:`STORE_SIZE` pixels on its long side, as
``<thumbnails>/ab/cdef….jpg`` where ``abcdef…`` is the SHA-1 of the photo's path, mtime
and size: an edited or replaced file gets a new key, so a stale thumbnail is never
shown.  Files are written to a temporary name and renamed, so two threads (or two
processes) making the same thumbnail never leave a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

STORE_SIZE = 320
JPEG_QUALITY = 85


class ThumbnailCache:
    """Thumbnails of photos, keyed by path + mtime + size, under ``directory``."""

    def __init__(self, directory: os.PathLike[str] | str, store_size: int = STORE_SIZE) -> None:
        self.directory = Path(directory)
        self.store_size = store_size
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(path: os.PathLike[str] | str, mtime_ns: int, size: int) -> str:
        h = hashlib.sha1(os.fsencode(os.fspath(path)))
        h.update(f"\0{int(mtime_ns)}\0{int(size)}".encode())
        return h.hexdigest()

    def file_for(self, path: os.PathLike[str] | str, mtime_ns: int, size: int) -> Path:
        k = self.key(path, mtime_ns, size)
        return self.directory / k[:2] / f"{k[2:]}.jpg"

    def get_or_make(self, path: os.PathLike[str] | str, mtime_ns: int,
                    size: int) -> tuple[Path, bool]:
        """The cached thumbnail file (made now if needed) and whether it was cached.

        Raises ``imaging.DecodeError`` or ``OSError`` when the photo cannot be read.
        """
        target = self.file_for(path, mtime_ns, size)
        if target.is_file():
            self.hits += 1
            return target, True
        from clipgallery.core import imaging

        image = imaging.thumbnail(Path(path), self.store_size)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                image.convert("RGB").save(fh, "JPEG", quality=JPEG_QUALITY)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.misses += 1
        return target, False
