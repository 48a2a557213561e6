"""The text pass: after the CLIP pass, read the text in every photo not read yet.

Photos are searchable by CLIP first; this second pass follows (``clipgallery index``
runs it after the CLIP pass, the app's indexing worker too).  It is:

* **by content hash**: a content is read once; moved, renamed and copied photos share
  the read (``ocr_reads`` / ``ocr_lines`` in the catalog), and are never read again;
* **batched and committed** like the CLIP pass: every :attr:`OcrPass.batch` reads (or
  every 2 seconds) are one transaction, so a killed process loses at most one batch and
  the next run resumes with the photos not read yet (nothing is read twice once
  committed);
* **cancellable** between photos (the ``cancel`` event), pausable like the indexer;
* **no second full decode**: the CLIP pass's decoder already made a reduced image; the
  indexer hands it to :meth:`OcrPass.spool_put` (its ``on_decoded`` hook), which keeps a
  copy (JPEG, longest side at most :data:`~clipgallery.core.photos.ocr.READ_SIDE`) in a
  small bounded folder of the library (``ocr-spool/``, at most
  :data:`SPOOL_MAX_BYTES`).  The pass reads the copy and deletes it once its read is
  committed.  Without a copy (a full spool, a crash, photos indexed before) the photo
  is decoded again, at reduced size (JPEG draft mode) in the guarded decoder process;
* **hostile files**: a file that fails to decode or to read is recorded as 'failed'
  with its reason (never read again, never a crash).

The switch: the library's setting ``ocr`` (``clipgallery settings ocr on|off``, the
app's menu; on by default), ``clipgallery index --no-ocr`` for one run, and the
environment variable ``CLIPGALLERY_OCR=0``.

Threading: :meth:`OcrPass.run` runs in the caller's thread (the writer's: the CLI's
main thread or the app's indexing thread), which runs the full reads and commits; a
pool of one thread per core (up to 8) loads the photos ahead and runs the gate.
:meth:`OcrPass.spool_put` is called from the indexer's decode threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from clipgallery.core.indexing.indexer import Progress

# The setting lives apart (cheap to ask); re-exported here for the pass's callers.
from clipgallery.core.indexing.text_setting import ENV_OCR, enabled, enabled_by_env, set_enabled
from clipgallery.core.photos import guard, imaging, ocr
from clipgallery.core.store.catalog import Catalog, OcrLine

if TYPE_CHECKING:
    from clipgallery.core.store.library import Library

__all__ = ["OcrPass", "OcrSummary", "Spool", "enabled", "set_enabled", "for_library",
           "shared_reader",
           "SPOOL_MAX_BYTES", "ENV_OCR", "enabled_by_env"]

log = logging.getLogger(__name__)

#: Bytes the spool of decoded copies may hold (about 12,000 camera photos).
SPOOL_MAX_BYTES = 1 << 30
# Decodes for the pass (no spool copy): the shorter side at least this, enough for the
# gate; and for a full read, enough for READ_SIDE on a 3:2 photo.
_GATE_MIN_SIDE = 320
_READ_MIN_SIDE = ocr.READ_SIDE * 2 // 3
_SPOOL_QUALITY = 90


@dataclass
class OcrSummary:
    read: int = 0  # contents read in this run
    with_text: int = 0
    failed: int = 0
    from_spool: int = 0  # of ``read``, how many from the CLIP pass's copy
    elapsed: float = 0.0
    cancelled: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"read": self.read, "with_text": self.with_text, "failed": self.failed,
                "from_spool": self.from_spool, "elapsed": round(self.elapsed, 3),
                "cancelled": self.cancelled}


class Spool:
    """Reduced copies that the CLIP pass's decoder made, waiting for the text pass."""

    def __init__(self, folder: Path, max_bytes: int = SPOOL_MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._used: int | None = None

    def _path(self, content_hash: str) -> Path:
        return self.folder / f"{content_hash}.jpg"

    def _size(self) -> int:
        if self._used is None:
            try:
                self._used = sum(e.stat().st_size for e in os.scandir(self.folder)
                                 if e.name.endswith(".jpg"))
            except OSError:
                self._used = 0
        return self._used

    def put(self, content_hash: str | None, image: Image.Image) -> bool:
        """Keep a copy of ``image`` for ``content_hash``; False when the spool is full or
        the image too small to be worth it (the pass decodes such photos itself)."""
        if not content_hash or max(image.size) < ocr.GATE_SIDE:
            return False
        try:
            with self._lock:
                if self._size() >= self.max_bytes:
                    return False
                self.folder.mkdir(parents=True, exist_ok=True)
            target = self._path(content_hash)
            tmp = target.with_name(f".{target.name}.{threading.get_ident()}.tmp")
            ocr.reduce_to(image, ocr.READ_SIDE).save(tmp, "JPEG", quality=_SPOOL_QUALITY)
            size = tmp.stat().st_size
            os.replace(tmp, target)
            with self._lock:
                self._used = self._size() + size
            return True
        except Exception as e:  # noqa: BLE001 - a full disk, a bad image: the pass decodes
            log.debug("spool write failed: %s", e)
            return False

    def get(self, content_hash: str) -> Image.Image | None:
        try:
            with Image.open(self._path(content_hash)) as im:
                im.load()
                return im.convert("RGB")
        except (OSError, ValueError, SyntaxError):
            return None

    def drop(self, content_hash: str) -> None:
        p = self._path(content_hash)
        try:
            size = p.stat().st_size
            p.unlink()
        except OSError:
            return
        with self._lock:
            if self._used is not None:
                self._used = max(0, self._used - size)

    def clear(self) -> None:
        """Remove every copy (and stray temporary files)."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for e in entries:
            try:
                os.unlink(e.path)
            except OSError:
                pass
        with self._lock:
            self._used = 0


@dataclass
class _Item:
    content_hash: str
    path: Path
    image: Image.Image | None = None
    from_spool: bool = False
    error: str | None = None
    gate: bool | None = None  # the detector found text-like regions


class OcrPass:
    """Reads the text of the catalog's photos not read yet (see the module docstring)."""

    def __init__(self, catalog: Catalog, spool_dir: os.PathLike[str] | str, *,
                 reader: ocr.TextReader | None = None, batch: int = 16,
                 progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None,
                 spool_max_bytes: int = SPOOL_MAX_BYTES) -> None:
        self.catalog = catalog
        self.spool = Spool(Path(spool_dir), spool_max_bytes)
        self.reader = reader or shared_reader()
        self.batch = max(1, batch)
        self.progress = progress or (lambda p: None)
        self.cancel = cancel or threading.Event()
        self._running = threading.Event()
        self._running.set()
        # Threads that load and gate photos at once (each gate is one-threaded).
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        self.workers = max(1, min(8, cores or os.cpu_count() or 1))

    # -- control (any thread) ---------------------------------------------------------

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def spool_put(self, content_hash: str | None, image: Image.Image) -> None:
        """The indexer's ``on_decoded`` hook (decode threads): keep a reduced copy."""
        self.spool.put(content_hash, image)

    # -- the pass -----------------------------------------------------------------------

    def pending(self) -> int:
        c = self.catalog.ocr_counts()
        return c["unread"]

    def run(self) -> OcrSummary:
        """Read every photo not read yet; commits as it goes.  Raises
        :class:`~clipgallery.core.store.catalog.StorageError` when the disk refuses."""
        t0 = time.monotonic()
        summary = OcrSummary()
        total = self.pending()
        self.progress(Progress("text", 0, total))
        if total == 0:
            self.spool.clear()
            self.progress(Progress("done", 0, 0))
            return summary
        batch: list[tuple[_Item, list[ocr.Line] | None, str | None]] = []
        last_commit = time.monotonic()
        after = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ocr-gate") as pool:
            ahead: deque[Future[_Item]] = deque()
            todo: deque[tuple[int, str, Path]] = deque()
            while True:
                if not todo and not ahead:
                    self._commit(batch, summary, total)  # never fetch what is in flight
                    todo.extend(self.catalog.ocr_todo(256, after))
                    if not todo:
                        break
                    after = todo[-1][0]
                while todo and len(ahead) < 2 * self.workers + 1:
                    _pid, h, path = todo.popleft()
                    ahead.append(pool.submit(self._load, h, path))
                while not self._running.wait(0.2) and not self.cancel.is_set():
                    pass
                if self.cancel.is_set():
                    for f in ahead:
                        f.cancel()
                    summary.cancelled = True
                    break
                item = ahead.popleft().result()
                batch.append(self._read(item))
                if len(batch) >= self.batch or time.monotonic() - last_commit > 2.0:
                    self._commit(batch, summary, total)
                    last_commit = time.monotonic()
        self._commit(batch, summary, total)
        if not summary.cancelled:
            self.spool.clear()
        summary.elapsed = time.monotonic() - t0
        self.progress(Progress("done", summary.read, total))
        return summary

    def _load(self, content_hash: str, path: Path) -> _Item:
        """Gate thread: the spool's copy (else a reduced decode of the file), gated."""
        item = _Item(content_hash, path)
        img = self.spool.get(content_hash)
        if img is not None:
            item.image, item.from_spool = img, True
        else:
            try:
                item.image = self._decode(path, _GATE_MIN_SIDE)
            except imaging.DecodeError as e:
                item.error = e.reason
                return item
            except OSError as e:
                item.error = f"cannot read file: {e.strerror or e}"
                return item
        try:
            item.gate = self.reader.has_text(item.image)
        except Exception as e:  # noqa: BLE001 - one photo must never stop the pass
            log.warning("text detector failed on %s: %s", path, e)
            item.error = f"text reader failed: {type(e).__name__}"
        return item

    @staticmethod
    def _decode(path: Path, min_side: int) -> Image.Image:
        data, stamp = guard.read_file(path)
        return guard.decode(path, data, min_side=min_side, stamp=stamp).image

    def _read(self, item: _Item) -> tuple[_Item, list[ocr.Line] | None, str | None]:
        if item.error is not None or item.image is None:
            return item, None, item.error or "could not decode"

        def larger() -> Image.Image | None:
            return self._decode(item.path, _READ_MIN_SIDE)

        try:
            lines = self.reader.read(item.image, larger, gate=item.gate)
        except Exception as e:  # noqa: BLE001 - one photo must never stop the pass
            log.warning("text reader failed on %s: %s", item.path, e)
            return item, None, f"text reader failed: {type(e).__name__}"
        return item, lines, None

    def _commit(self, batch: list[tuple[_Item, list[ocr.Line] | None, str | None]],
                summary: OcrSummary, total: int) -> None:
        if not batch:
            return
        with self.catalog.transaction() as db:
            for item, lines, error in batch:
                if error is not None:
                    self.catalog.put_ocr_read(db, item.content_hash, "failed", reason=error)
                    continue
                rows = [OcrLine(t, b, c) for t, b, c in lines or []]
                self.catalog.put_ocr_read(db, item.content_hash, "text" if rows else "none",
                                          rows)
        for item, lines, error in batch:
            summary.read += 1
            summary.failed += error is not None
            summary.with_text += bool(lines)
            summary.from_spool += item.from_spool
            if item.from_spool:
                self.spool.drop(item.content_hash)
        self.progress(Progress("text", summary.read, total, batch[-1][0].path))
        batch.clear()


_READER: ocr.TextReader | None = None
_READER_LOCK = threading.Lock()


def shared_reader() -> ocr.TextReader:
    """One reader per process (its models load once, about a second), used by one pass at
    a time: the library's writer lock allows one indexing thread."""
    global _READER
    with _READER_LOCK:
        if _READER is None:
            _READER = ocr.TextReader()
        return _READER


def for_library(lib: Library, *, enabled_now: bool | None = None,
                progress: Callable[[Progress], None] | None = None,
                cancel: threading.Event | None = None) -> OcrPass | None:
    """The text pass for ``lib`` (its spool in the library folder), or None when it is
    off (the library's setting, or ``enabled_now=False`` for this run) or the OCR
    engine is not installed.  The indexer's ``on_decoded`` is the result's
    :meth:`OcrPass.spool_put`; after the CLIP pass, call its :meth:`OcrPass.run`."""
    on = enabled(lib.catalog) if enabled_now is None else enabled_now and enabled(lib.catalog)
    if not on:
        return None
    if not ocr.available():
        log.info("text in photos is off: rapidocr-onnxruntime is not installed")
        return None
    return OcrPass(lib.catalog, Path(lib.paths.root) / "ocr-spool", progress=progress,
                   cancel=cancel)
