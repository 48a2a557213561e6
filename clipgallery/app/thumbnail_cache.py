"""The on-disk thumbnail cache (Qt-free; called from the image loader threads).

A thumbnail is stored once, at :data:`STORE_SIZE` pixels on its long side, as
``<thumbnails>/ab/cdef….jpg`` where ``abcdef…`` is the SHA-1 of the photo's path, mtime
and size: an edited or replaced file gets a new key, so a stale thumbnail is never
shown.  Files are written to a temporary name and renamed, so two threads (or two
processes) making the same thumbnail never leave a half-written file.

:meth:`ThumbnailCache.prune` keeps the cache from growing without end: thumbnails of no
photo the library knows (stale keys of edited, replaced or forgotten photos) go first,
then, above a size cap, the least recently used.  Photos on an unplugged drive keep
their rows, so their thumbnails stay.  It runs in a background thread of the indexing
worker after the first indexing run of a session.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

STORE_SIZE = 320
JPEG_QUALITY = 85
MAX_BYTES = 4 << 30  # the size cap prune() enforces by default
_TOUCH_AFTER_S = 86400.0  # a hit refreshes a file's mtime (its "last used") at most daily


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
        try:
            st = target.stat()
        except OSError:
            st = None
        if st is not None:
            self.hits += 1
            if time.time() - st.st_mtime > _TOUCH_AFTER_S:
                try:
                    os.utime(target)  # recently used: pruned last
                except OSError:
                    pass
            return target, True
        from clipgallery.core.photos import imaging

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

    def prune(self, live_keys: set[str], max_bytes: int = MAX_BYTES) -> tuple[int, int]:
        """Delete thumbnails whose key is not in ``live_keys``, then the least recently
        used ones while the cache is larger than ``max_bytes``.  Returns (files, bytes)
        removed.  Safe while loaders run: a removed thumbnail is simply made again."""
        entries: list[tuple[float, int, Path]] = []
        removed = freed = 0
        for sub in _subdirs(self.directory):
            for f in _files(sub):
                try:
                    st = f.stat()
                except OSError:
                    continue
                stale_tmp = f.suffix == ".tmp" and time.time() - st.st_mtime > 3600
                if stale_tmp or (f.suffix == ".jpg" and sub.name + f.stem not in live_keys):
                    if _unlink(f):
                        removed, freed = removed + 1, freed + st.st_size
                elif f.suffix == ".jpg":
                    entries.append((st.st_mtime, st.st_size, f))
        total = sum(e[1] for e in entries)
        for _mtime, size, f in sorted(entries, key=lambda e: e[0]):
            if total <= max_bytes:
                break
            if _unlink(f):
                removed, freed, total = removed + 1, freed + size, total - size
        return removed, freed


def live_keys(rows: Iterable[tuple[os.PathLike[str] | str, int, int]]) -> set[str]:
    """The cache keys of photos given as (path, mtime_ns, size)."""
    return {ThumbnailCache.key(p, m, s) for p, m, s in rows}


def _subdirs(d: Path) -> list[Path]:
    try:
        return [p for p in d.iterdir() if p.is_dir() and len(p.name) == 2]
    except OSError:
        return []


def _files(d: Path) -> list[Path]:
    try:
        return list(d.iterdir())
    except OSError:
        return []


def _unlink(f: Path) -> bool:
    try:
        f.unlink()
        return True
    except OSError:
        return False
