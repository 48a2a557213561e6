"""The indexing worker: the one owner of the library's writer side.

Runs in: the indexing thread (a :class:`QThread`; :class:`IndexingWorker` is moved to
it).  Every slot here runs in that thread.  It opens the library (taking the writer
lock) and owns an :class:`~clipgallery.core.indexing.session.IndexingSession` — the
same Qt-free open → load the model → index → activate → after-passes sequence that
``clipgallery index`` runs — which loads the encoder (slow: importing torch and reading
weights happens here, not on the UI thread) and owns the indexer and the library's
writer connection.  It runs the :class:`FolderWatcher`, whose debounced change sets
arrive by a queued signal.  Nothing else touches the writer connection.

The UI thread drives it with queued signals (add/remove a folder, shut down) and a
few thread-safe calls (pause, resume, cancel), and hears back through signals only.

Work is queued, not run at once: folder rescans and changed files accumulate in a
:class:`~clipgallery.core.indexing.pending.PendingWork`, and one unit of work runs per
turn of this thread's event loop, so
requests that arrive during a long run (more watcher events, a folder added) are
merged and handled right after it.

After the first completed run, the session's after-passes include
:class:`PruneThumbnails`, which trims the disk thumbnail cache once, in this thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from clipgallery.app.items import (
    INDEXING,
    OFFLINE,
    QUEUED,
    UP_TO_DATE,
    WAITING,
    FolderInfo,
    IndexStatus,
)
from clipgallery.core.indexing.pending import PendingWork, is_under
from clipgallery.core.store import paths as core_paths

if TYPE_CHECKING:  # these import torch: only ever imported in this worker's thread
    from clipgallery.core.indexing.indexer import Indexer, IndexSummary, Progress
    from clipgallery.core.indexing.session import IndexingSession
    from clipgallery.core.indexing.watcher import ChangeSet, FolderWatcher
    from clipgallery.core.models.torch_backend import Encoder
    from clipgallery.core.store.library import Library
    from clipgallery.core.store.vector_index import VectorIndex

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds between progress signals
FOLDER_COUNT_INTERVAL = 1.0  # seconds between sidebar count refreshes during a run
BACKGROUND_NICE = 10  # how much the indexing threads defer to the UI thread (Linux)


def lower_thread_priority() -> None:
    """Run this thread (and the decode and torch threads it starts) below the UI thread.

    On Linux a thread's nice value is its own and is inherited by the threads it
    creates, so the indexer's decode pool and torch's OpenMP team all yield the CPU to
    the UI thread when both want it; elsewhere Qt's thread priority does the same job.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
            return
        except (OSError, AttributeError):
            pass
    thread = QThread.currentThread()
    if thread is not None:
        thread.setPriority(QThread.Priority.LowPriority)


def decode_workers() -> int:
    """Decode threads for the indexer: every core but one, which stays with the UI."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(8, cores - 1))


class PruneThumbnails:
    """An after-pass of the indexing session: once, after the first completed run,
    drop stale thumbnails and keep the disk cache under its cap (the indexing thread's
    own catalog connection; nothing else runs while it does)."""

    name = "thumbnail-prune"

    def __init__(self) -> None:
        self.done = False

    def run(self, library: Library, cancel: threading.Event, progress: Any) -> None:
        if self.done or cancel.is_set():
            return
        self.done = True
        from clipgallery.app.thumbnail_cache import ThumbnailCache, live_keys

        try:
            keys = live_keys(library.catalog.photo_stamps())
            n, freed = ThumbnailCache(library.paths.thumbnails).prune(keys)
            if n:
                log.info("thumbnail cache: removed %d files (%.1f MB)", n, freed / 1e6)
        except Exception:  # noqa: BLE001 - housekeeping only
            log.exception("pruning the thumbnail cache")


class IndexingWorker(QObject):
    """Owns the Library (writer), the indexing session (encoder, indexer) and the watcher."""

    # -> UI thread
    library_opened = Signal(object)  # LibraryPaths
    library_locked = Signal(str)
    library_failed = Signal(str)
    model_loading = Signal(str)  # spec
    model_ready = Signal(object, object, str)  # Encoder, VectorIndex, label
    model_failed = Signal(str)
    folders_changed = Signal(object)  # list[FolderInfo]
    status_changed = Signal(object)  # IndexStatus
    library_changed = Signal(int)  # searchable photos; a batch landed or files went
    busy_changed = Signal(bool)
    message = Signal(str)  # a notice for the status bar
    folder_request_done = Signal(str)  # an add/remove request was handled (ok or not)
    model_switch_done = Signal(str, str)  # spec, error ("" when the switch started)
    storage_failed = Signal(str)  # the library's disk refused a write: indexing is paused

    # watcher thread -> this thread
    _changes = Signal(object)
    _watch_status = Signal(str)
    _kick = Signal()  # any thread -> this thread: look at the queue again

    def __init__(self, library: str | os.PathLike[str] | None, model: str | None = None,
                 device: str | None = None, folders: list[str] | None = None) -> None:
        super().__init__()
        self.paths = core_paths.resolve(library)
        self.model_override = model
        self.device = device
        self.initial_folders = [Path(os.path.abspath(os.path.expanduser(f)))
                                for f in (folders or [])]
        self.lib: Library | None = None
        self.session: IndexingSession | None = None
        self.text_pass: Any = None  # core.indexing.ocr_pass.OcrPass, None when text is off
        self.watcher: FolderWatcher | None = None
        self._search_with: tuple[Any, Any] = (None, None)  # (encoder, index) for searching
        self._pending = PendingWork()  # merged requests, one unit of work per drain
        self._drain_scheduled = False
        self._cancel = threading.Event()
        self._stopping = threading.Event()
        self._paused = threading.Event()
        self._lock = threading.Lock()  # guards _current (read by the UI thread)
        self._current: set[Path] = set()
        self._busy = False
        self._last_progress = 0.0
        self._last_phase = ""
        self._last_counts = 0.0
        self._last_changed = 0.0
        self._kind = "full"
        self.runs = 0  # completed indexing runs (tests wait on it)
        self.storage_error = ""  # set when the disk refused a write; cleared by resume()
        self._changes.connect(self._on_changes, Qt.ConnectionType.QueuedConnection)
        self._kick.connect(self._schedule_drain, Qt.ConnectionType.QueuedConnection)
        self._watch_status.connect(self.message, Qt.ConnectionType.QueuedConnection)

    # -- what the session holds (None until it has it) -----------------------------

    @property
    def encoder(self) -> Encoder | None:
        return self.session.encoder if self.session is not None else None

    @property
    def index(self) -> VectorIndex | None:
        return self.session.index if self.session is not None else None

    @property
    def indexer(self) -> Indexer | None:
        return self.session.indexer if self.session is not None else None

    @property
    def spec(self) -> str | None:
        return self.session.spec if self.session is not None else None

    # -- thread-safe controls (any thread) -----------------------------------------

    def _runners(self) -> list[Any]:
        """What runs indexing work and obeys pause/resume: the session, the text pass."""
        return [r for r in (self.session, self.text_pass) if r is not None]

    def pause(self) -> None:
        self._paused.set()
        for runner in self._runners():
            runner.pause()

    def resume(self) -> None:
        self._paused.clear()
        for runner in self._runners():
            runner.resume()
        if self.storage_error:  # the user says the disk is back: try the queued work
            self.storage_error = ""
            self._kick.emit()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def cancel_current(self) -> None:
        """Stop the running job soon (it is queued again), so a request can go first."""
        self._cancel.set()

    def request_stop(self) -> None:
        """Make a running job return soon; call before queueing :meth:`shutdown`."""
        self._stopping.set()
        self._cancel.set()
        for runner in self._runners():  # a paused runner would never see the stop
            runner.resume()

    # -- slots (this worker's thread) ----------------------------------------------

    @Slot()
    def start(self) -> None:
        lower_thread_priority()
        self._preview_folders()
        self._set_busy(True)
        self.status_changed.emit(IndexStatus("loading"))
        try:
            from clipgallery.core.store.catalog import StorageError
            from clipgallery.core.store.library import Library, LibraryLocked
        except Exception as e:  # noqa: BLE001 - a broken install must not kill the UI
            log.exception("cannot import the core")
            self.library_failed.emit(f"ClipGallery cannot start its search engine: {e}")
            return
        try:
            self.lib = Library(self.paths, write=True)
        except LibraryLocked as e:
            self.library_locked.emit(str(e))
            self._set_busy(False)
            return
        except StorageError as e:  # a read-only disk: search what is there, index nothing
            self._open_read_only(str(e))
            return
        except Exception as e:  # noqa: BLE001 - CatalogError, OSError: say it, stay up
            log.exception("cannot open the library")
            self.library_failed.emit(str(e))
            self._set_busy(False)
            return
        self._make_session()
        self.library_opened.emit(self.lib.paths)
        for f in self.initial_folders:
            self._add_folder(f, announce=False)
        self._start_watcher()
        self._emit_folders()
        if self._stopping.is_set():
            return
        self._load_model()
        if self.indexer is not None:
            # Changes made while the app was closed: reconcile every folder.
            self._pending.add(folders=self.lib.catalog.folders())
        self._schedule_drain()
        if self.indexer is None:
            self._set_busy(False)

    def _refused_read_only(self, folder: str) -> bool:
        """On a library that cannot be written, say so and answer the request."""
        assert self.lib is not None
        if self.lib.writable:
            return False
        self.message.emit("The library is read-only (its disk refuses writes): folders "
                          "cannot be added or removed now.")
        self.folder_request_done.emit(folder)
        return True

    @Slot(str)
    def add_folder(self, folder: str) -> None:
        if self.lib is None:
            return
        if self._refused_read_only(folder):
            return
        self._add_folder(Path(os.path.abspath(os.path.expanduser(folder))), announce=True)
        self._emit_folders()
        self.folder_request_done.emit(folder)
        self._schedule_drain()

    @Slot(str)
    def remove_folder(self, folder: str) -> None:
        if self.lib is None:
            return
        if self._refused_read_only(folder):
            return
        path = Path(folder)
        if self.watcher is not None:
            try:
                self.watcher.unwatch(path)
            except Exception:  # noqa: BLE001
                log.exception("unwatch %s", path)
        removed = self.lib.catalog.remove_folder(path)
        self._pending.forget(path)
        if self.index is not None:
            self.index.sync(self.lib.catalog)
        self.message.emit(f"Removed {os.fsdecode(path.name)} from the library "
                          f"({removed:,} photos forgotten; the files are untouched).")
        self._emit_folders()
        self.folder_request_done.emit(folder)
        self.library_changed.emit(self._searchable())
        self._schedule_drain()

    @Slot()
    def rescan(self) -> None:
        """Reconcile every folder again (e.g. the user asked, or a drive came back)."""
        if self.lib is None:
            return
        self._pending.add(folders=self.lib.catalog.folders())
        self._emit_folders()
        self._schedule_drain()

    @Slot(str)
    def switch_model(self, spec: str) -> None:
        """Start using ``spec`` (Models dialog): check that it loads, record the switch,
        and re-encode every folder in the background; search keeps the old vectors until
        the new ones are complete (see :meth:`_run`)."""
        if self.lib is None or self.session is None:
            self.model_switch_done.emit(spec, "The library is not open.")
            return
        try:
            self.session.switch_model(spec, progress=self.message.emit)
        except Exception as e:  # noqa: BLE001 - ModelUnavailable and friends: say it
            log.warning("cannot switch to %s", spec, exc_info=True)
            self.model_switch_done.emit(spec, str(e))
            return
        self.model_override = None  # the library's choice from now on
        self.model_loading.emit(spec)
        self._model_loaded()
        self._pending.add(folders=self.lib.catalog.folders())
        self._emit_folders()
        self.message.emit(f"Switching to {spec}: photos are re-encoded in the background; "
                          "search uses the current model until that is done.")
        self.model_switch_done.emit(spec, "")
        self._schedule_drain()

    @Slot()
    def shutdown(self) -> None:
        """Stop the watcher, save and close the library, and end this thread."""
        self._stopping.set()
        if self.watcher is not None:
            try:
                self.watcher.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping the watcher")
            self.watcher = None
        if self.lib is not None:
            try:
                self.lib.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the library")
            self.lib = None
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()

    # -- opening ----------------------------------------------------------------------

    def _open_read_only(self, message: str) -> None:
        """The library's disk refuses writes: open it for searching, with indexing paused
        (no watcher, nothing queued); the app says so and a restart picks up from here."""
        from clipgallery.core.store.library import Library

        try:
            self.lib = Library(self.paths, write=False)
        except Exception as e:  # noqa: BLE001 - not even readable: say why
            log.exception("cannot open the library read-only")
            self.library_failed.emit(f"{message}\n\n{e}")
            self._set_busy(False)
            return
        self.storage_error = message
        self._paused.set()
        self._make_session()
        self.library_opened.emit(self.lib.paths)
        self._load_model()
        self._emit_folders()
        self._set_busy(False)
        self.storage_failed.emit(message + " ClipGallery opened it read-only: restart it "
                                 "once the disk is writable again.")

    def _make_session(self) -> None:
        """The indexing session over the open library, in this thread."""
        from clipgallery.core.indexing.session import IndexingSession, standard_after_passes

        assert self.lib is not None
        self.session = IndexingSession(
            self.lib, device=self.device, decode_workers=decode_workers(),
            progress=self._on_progress, cancel=self._cancel,
            after_passes=[*standard_after_passes(), PruneThumbnails()],
            on_activation_error=lambda e: log.error("activating the model", exc_info=e))
        self.session.on_decoded = self._spool_for_text  # the text pass's spool
        if self._paused.is_set():
            self.session.pause()

    def _preview_folders(self) -> None:
        """Show the sidebar at once, from a reader, before torch is even imported."""
        if not self.paths.catalog.exists():
            return
        try:
            from clipgallery.core.store.catalog import Catalog

            with Catalog(self.paths.catalog) as reader:
                infos = [self._folder_info(reader, f, WAITING) for f in reader.folders()]
            self.folders_changed.emit(infos)
        except Exception:  # noqa: BLE001 - the real open reports errors properly
            log.debug("folder preview failed", exc_info=True)

    def _start_watcher(self) -> None:
        assert self.lib is not None
        try:
            from clipgallery.core.indexing.watcher import FolderWatcher
        except ImportError:
            log.warning("folder watching is not available")
            return
        try:
            self.watcher = FolderWatcher(self._changes.emit, on_status=self._watch_status.emit)
            for f in self.lib.catalog.folders():
                self._watch(f)
            self.watcher.start()
        except Exception as e:  # noqa: BLE001 - watching is a convenience, never fatal
            log.exception("cannot start the folder watcher")
            self.message.emit(f"Folders are not watched for changes: {e}")
            self.watcher = None

    def _watch(self, folder: Path) -> None:
        if self.watcher is None:
            return
        try:
            live = self.watcher.watch(folder)
        except Exception as e:  # noqa: BLE001
            log.exception("watch %s", folder)
            self.message.emit(f"Cannot watch {os.fsdecode(folder)}: {e}")
            return
        if live is False:
            self.message.emit(f"{os.fsdecode(folder.name)}: the system allows no more live "
                              "folder watches, so it is checked for changes every minute.")

    def _add_folder(self, folder: Path, announce: bool) -> None:
        assert self.lib is not None
        if not folder.is_dir():
            self.message.emit(f"{os.fsdecode(folder)} is not a folder.")
            return
        known = self.lib.catalog.folders()
        for f in known:
            if is_under(folder, f):
                if announce:
                    self.message.emit(f"{os.fsdecode(folder)} is already in the library"
                                      + ("." if f == folder else f" (inside {os.fsdecode(f)})."))
                if f == folder:
                    self._pending.add(folders=[folder])  # re-check it anyway
                return
        self.lib.catalog.add_folder(folder)  # library folders inside it merge into it
        for f in known:
            if is_under(f, folder) and self.watcher is not None:
                try:
                    self.watcher.unwatch(f)  # watched through ``folder`` from now on
                except Exception:  # noqa: BLE001
                    log.exception("unwatch %s", f)
        self._watch(folder)
        self._pending.add(folders=[folder])
        if announce:
            self.message.emit(f"Added {os.fsdecode(folder.name)}.")

    def _load_model(self) -> None:
        assert self.lib is not None and self.session is not None
        from clipgallery.core.models.specs import ModelUnavailable

        spec = self.lib.model_spec(self.model_override)
        self.model_loading.emit(spec)
        try:
            # The first use of a model on the CPU converts it for ONNX Runtime (a minute
            # or so, once): its steps show in the status bar.
            # Searches come first: the text model loads now, the image model when the
            # first photo needs encoding (most starts find nothing new).
            self.session.load_model(self.model_override, progress=self.message.emit,
                                    warm=("textual",))
        except ModelUnavailable as e:
            self.model_failed.emit(str(e))
            self._emit_folders()
            return
        except Exception as e:  # noqa: BLE001
            log.exception("loading the model failed")
            self.model_failed.emit(f"Model {spec} could not be loaded: {e}")
            self._emit_folders()
            return
        self._model_loaded()

    def _model_loaded(self) -> None:
        """Tell the UI what to search with: the new model's vectors, or while a model
        switch is under way the old, complete ones (see :meth:`_after_run`)."""
        assert self.session is not None and self.lib is not None
        if self.text_pass is None:
            from clipgallery.core.indexing import ocr_pass

            # The text pass (after each CLIP pass): None while the library's setting is off.
            self.text_pass = ocr_pass.for_library(self.lib, progress=self._on_progress,
                                                  cancel=self._cancel)
        self._search_with = self.session.search_model(self.model_override)
        self._announce_search_model()

    def _announce_search_model(self) -> None:
        encoder, index = self._search_with
        label = str(getattr(encoder, "label", "") or getattr(encoder, "model_id", ""))
        self.model_ready.emit(encoder, index, os.fsdecode(Path(label).name) if os.sep in label
                              else label)
        self.library_changed.emit(len(index))

    # -- the work queue ---------------------------------------------------------------

    @Slot(object)
    def _on_changes(self, changes: ChangeSet) -> None:
        folders = [Path(f) for f in getattr(changes, "folders", []) or []]
        paths = [Path(p) for p in getattr(changes, "paths", []) or []]
        self._pending.add(folders, paths)
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled and not self._stopping.is_set():
            self._drain_scheduled = True
            QTimer.singleShot(0, self._drain)

    @Slot()
    def _drain(self) -> None:
        """Run one unit of work, then come back (after queued requests are merged)."""
        self._drain_scheduled = False
        if self._stopping.is_set() or self.lib is None:
            return
        if self.storage_error:  # paused until resume(): the disk refused a write
            self._set_busy(False)
            return
        if self.indexer is None or not self._pending:
            self._set_busy(False)
            if self.indexer is not None:
                self._emit_status(IndexStatus("idle", searchable=self._searchable()))
            return
        self._set_busy(True)
        work = self._pending.take(self.lib.catalog.folders())
        if work is not None:
            self._run(*work)
        self._schedule_drain()

    def _run(self, folders: list[Path], paths: list[Path] | None) -> None:
        """One run of the session: the CLIP pass over ``folders`` (or only ``paths``),
        then, once the UI has heard of the new photos, the after-passes."""
        assert self.session is not None
        self._cancel.clear()
        if self._stopping.is_set():
            return
        with self._lock:
            self._current = set(folders)
        self._kind = "full" if paths is None else "changes"
        self._emit_folders()
        try:
            summary = self._clip_pass(folders, paths)
        finally:
            with self._lock:
                self._current = set()
        if summary is not None:
            self._after_run(summary, folders, paths)
        self._emit_folders()
        self.library_changed.emit(self._searchable())
        if summary is not None and not summary.cancelled and not self._stopping.is_set():
            self._guarded(self.session.run_after_passes)
            self._read_text()  # photos are searchable by CLIP already

    def _clip_pass(self, folders: list[Path], paths: list[Path] | None) -> IndexSummary | None:
        """The session's run; None when it failed (said so; on a disk that refuses
        writes the job stays queued and indexing pauses)."""
        session = self.session
        assert session is not None
        try:
            return self._guarded(lambda: session.run(folders, paths), requeue=(folders, paths))
        except Exception as e:  # noqa: BLE001 - report, keep the app alive
            log.exception("indexing failed")
            self.message.emit(f"Indexing stopped: {e}")
            return None

    def _spool_for_text(self, content_hash: str | None, image: Any) -> None:
        """Decode threads: keep the CLIP pass's reduced copy for the text pass."""
        text_pass = self.text_pass
        if text_pass is not None:
            text_pass.spool_put(content_hash, image)

    def _read_text(self) -> None:
        """The text pass over photos not read yet (core.indexing.ocr_pass)."""
        if self.text_pass is None or self._stopping.is_set():
            return
        if self._paused.is_set():
            self.text_pass.pause()
        try:
            self.text_pass.run()
        except Exception as e:  # noqa: BLE001 - report, keep the app alive
            log.exception("reading text failed")
            self.message.emit(f"Reading text in photos stopped: {e}")

    @Slot(bool)
    def set_text_reading(self, on: bool) -> None:
        """The app's switch: save the setting; on, read what is not read yet."""
        if self.lib is None or self.lib.catalog.readonly:
            return
        from clipgallery.core.indexing import ocr_pass

        ocr_pass.set_enabled(self.lib.catalog, on)
        self.text_pass = ocr_pass.for_library(self.lib, progress=self._on_progress,
                                              cancel=self._cancel) if on else None
        if on and self.indexer is not None:
            self._cancel.clear()
            self._set_busy(True)
            try:
                self._read_text()
            finally:
                self._set_busy(False)
                self._emit_status(IndexStatus("idle", searchable=self._searchable()))

    def _guarded(self, job: Any, requeue: Any = None) -> Any:
        """Run ``job``; a StorageError (full or read-only disk) pauses indexing: what is
        committed stays searchable, ``requeue`` = (folders, paths) is queued again."""
        from clipgallery.core.store.catalog import StorageError

        try:
            return job()
        except StorageError as e:
            log.warning("indexing paused: %s", e)
            if requeue is not None:
                self._pending.requeue(*requeue)
            self.storage_error = str(e)
            self.pause()
            self.storage_failed.emit(str(e))
            return None

    def _after_run(self, summary: IndexSummary, folders: list[Path],
                   paths: list[Path] | None) -> None:
        assert self.session is not None
        if summary.cancelled and not self._stopping.is_set():
            # Stopped so that a request (a folder removal) goes first: the rest of
            # this job is done again next (unchanged files are skipped quickly).
            self._pending.requeue(folders, paths)
        elif self.session.activated and self._search_with[0] is not self.encoder:
            # The model switch is complete: search with the new vectors.
            self._search_with = (self.encoder, self.index)
            self._announce_search_model()
        self.runs += 1
        if summary.offline_folders and paths is None:
            names = ", ".join(os.fsdecode(f.name) for f in summary.offline_folders)
            self.message.emit(f"Offline (not found, photos kept): {names}")

    # -- progress (called by the indexer, in this thread) -------------------------------------

    def _on_progress(self, p: Progress) -> None:
        now = time.monotonic()
        landed = p.phase == "indexing" and p.done > 0
        if p.phase != self._last_phase or p.done == 0 or p.done >= p.total \
                or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._last_phase = p.phase
            phase = "indexing" if p.phase == "done" else p.phase
            self._emit_status(IndexStatus(phase, p.done, p.total, p.rate, p.eta, p.current,
                                          self._searchable()))
        if landed and now - self._last_changed >= 0.25:
            self._last_changed = now
            self.library_changed.emit(self._searchable())
        if landed and now - self._last_counts >= FOLDER_COUNT_INTERVAL:
            self._last_counts = now
            self._emit_folders()

    def _searchable(self) -> int:
        index = self._search_with[1]
        return len(index) if index is not None else 0

    def _emit_status(self, status: IndexStatus) -> None:
        self.status_changed.emit(status)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # -- folder list -------------------------------------------------------------------

    def _folder_info(self, catalog: Any, folder: Path, state: str | None = None) -> FolderInfo:
        from clipgallery.core.store.catalog import INDEXED, MISSING, SKIPPED

        counts = catalog.folder_counts(folder)
        watch = ""
        if self.watcher is not None:
            try:
                watch = self.watcher.watched().get(folder, "")
            except Exception:  # noqa: BLE001
                watch = ""
        if state is None:
            if not folder.is_dir():
                state = OFFLINE
            elif folder in self._current:
                state = INDEXING
            elif folder in self._pending.folders:
                state = QUEUED
            elif self.indexer is None:
                state = WAITING
            else:
                state = UP_TO_DATE
        elif not folder.is_dir():
            state = OFFLINE
        reasons: tuple[tuple[str, str], ...] = ()
        if counts.get(SKIPPED, 0) and self.lib is not None:
            reasons = tuple((os.fsdecode(p.name), r)
                            for p, r in self.lib.catalog.skip_reasons_under(folder, 10))
        return FolderInfo(folder, counts.get(INDEXED, 0), counts.get(SKIPPED, 0),
                          counts.get(MISSING, 0), state, watch, reasons)

    def _emit_folders(self) -> None:
        if self.lib is None:
            return
        catalog = self.lib.catalog
        self.folders_changed.emit([self._folder_info(catalog, f) for f in catalog.folders()])
