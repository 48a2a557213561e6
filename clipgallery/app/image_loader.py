"""Thumbnails and previews decoded off the UI thread, newest request first.

Runs in: its own loader threads (plain Python threads started here).  They decode
into :class:`QImage` (safe outside the UI thread) and hand it over with the
``loaded`` signal, which Qt queues to the UI thread; only the UI thread turns a
QImage into a QPixmap.

Requests are served LIFO (the rows the user looks at now were asked for last), the
queue is bounded (the oldest requests, for rows long scrolled away, fall off), and
:meth:`ImageLoader.retain` / :meth:`ImageLoader.clear` drop requests nobody needs
any more (new results, or rows scrolled out of view).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader

from clipgallery.app.thumbnail_cache import ThumbnailCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageKey:
    """Which image, at which size (pixels on the long side)."""

    path: Path
    mtime_ns: int
    size: int
    pixels: int


class ImageLoader(QObject):
    """A pool of threads turning :class:`ImageKey` requests into QImages."""

    loaded = Signal(object, QImage)  # ImageKey, image
    failed = Signal(object, str)  # ImageKey, reason

    def __init__(self, threads: int = 2, capacity: int = 512, name: str = "images",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.capacity = capacity
        self._pending: OrderedDict[ImageKey, None] = OrderedDict()
        self._inflight: set[ImageKey] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self.produced = 0
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True)
                         for i in range(max(1, threads))]
        for t in self._threads:
            t.start()

    # -- UI thread --------------------------------------------------------------

    def request(self, key: ImageKey) -> None:
        """Ask for ``key``; a repeated request moves it to the front of the queue."""
        with self._cond:
            if self._stopped or key in self._inflight:
                return
            self._pending[key] = None
            self._pending.move_to_end(key)
            while len(self._pending) > self.capacity:
                self._pending.popitem(last=False)
            self._cond.notify()

    def retain(self, keys: Iterable[ImageKey]) -> None:
        """Drop every pending request not in ``keys`` (rows that scrolled away)."""
        keep = set(keys)
        with self._cond:
            for k in [k for k in self._pending if k not in keep]:
                del self._pending[k]

    def clear(self) -> None:
        with self._cond:
            self._pending.clear()

    def pending_count(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._inflight)

    def is_pending(self, key: ImageKey) -> bool:
        with self._cond:
            return key in self._pending or key in self._inflight

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    # -- loader threads ---------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                key, _ = self._pending.popitem(last=True)  # LIFO: newest first
                self._inflight.add(key)
            try:
                image = self.produce(key)
            except Exception as e:  # noqa: BLE001 - one bad photo must not stop the pool
                reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)
                log.debug("cannot load %s: %s", key.path, reason)
                self._finish(key)
                self.failed.emit(key, str(reason))
                continue
            self.produced += 1
            self._finish(key)
            self.loaded.emit(key, image)

    def _finish(self, key: ImageKey) -> None:
        with self._cond:
            self._inflight.discard(key)

    def produce(self, key: ImageKey) -> QImage:
        """Runs in a loader thread.  Subclasses make the image."""
        raise NotImplementedError


def read_scaled(file: os.PathLike[str] | str, pixels: int) -> QImage:
    """Read an image file, scaled (keeping its aspect) to ``pixels`` on its long side."""
    reader = QImageReader(os.fspath(file))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > pixels:
        size.scale(QSize(pixels, pixels), Qt.AspectRatioMode.KeepAspectRatio)
        reader.setScaledSize(size)
    image = reader.read()
    if image.isNull():
        raise OSError(f"cannot read {file}: {reader.errorString()}")
    return image


def pil_to_qimage(image) -> QImage:  # image: PIL.Image.Image
    """A deep copy of a PIL image as an RGB888 QImage."""
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimg = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels: ``data`` dies with this frame


class ThumbnailLoader(ImageLoader):
    """Grid thumbnails, through the on-disk cache."""

    def __init__(self, cache: ThumbnailCache, threads: int = 2, capacity: int = 512,
                 parent: QObject | None = None) -> None:
        self.cache = cache
        super().__init__(threads=threads, capacity=capacity, name="thumbnails", parent=parent)

    def produce(self, key: ImageKey) -> QImage:
        file, _hit = self.cache.get_or_make(key.path, key.mtime_ns, key.size)
        try:
            return read_scaled(file, key.pixels)
        except OSError:
            # A damaged cache file: make it again once.
            try:
                os.unlink(file)
            except OSError:
                pass
            file, _hit = self.cache.get_or_make(key.path, key.mtime_ns, key.size)
            return read_scaled(file, key.pixels)


class PreviewLoader(ImageLoader):
    """Full-window previews: the photo decoded (EXIF-rotated) at about screen size."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(threads=1, capacity=3, name="preview", parent=parent)

    def produce(self, key: ImageKey) -> QImage:
        from clipgallery.core.photos import imaging

        return pil_to_qimage(imaging.thumbnail(key.path, key.pixels))
