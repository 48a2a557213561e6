"""One indexing session: the open → load the model → index → activate sequence, once.

Both ways into the library's writer side use it: ``clipgallery index`` (the CLI) and
the desktop app's indexing worker (``app/indexing_worker.py``), so the two cannot
drift apart.  It is Qt-free.

Threads: an :class:`IndexingSession` belongs to **one** thread, the one that made it —
the CLI's main thread, or the app's indexing thread (a ``QThread``).  Every method runs
there; the session owns the library's writer connection, the encoder it loaded, the
vector index writes and the :class:`~clipgallery.core.indexing.indexer.Indexer`.  Only
:meth:`~IndexingSession.pause`, :meth:`~IndexingSession.resume` and
:meth:`~IndexingSession.cancel` may be called from any thread (they set events).  The
indexer's decode threads are its own business.

A run, step by step (:meth:`IndexingSession.index_folders` does all of it, the app calls the
steps itself so that it can report between them):

1. :meth:`~IndexingSession.run` — the CLIP pass over folders (reconcile everything
   below them) or over single paths (a watcher's batch), with progress and cancel;
2. when a *full* run completed (not cancelled), the model is **activated**: a model
   switch becomes visible to search only now, when every photo has its new vector;
3. :meth:`~IndexingSession.run_after_passes` — the passes that run after the CLIP pass,
   in order (:class:`AfterPass`: e.g. reading text in photos, or pruning a cache), each
   with the session's cancel event and progress callback; photos are searchable by
   CLIP before any of them starts.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clipgallery.core.indexing.indexer import (
    Indexer,
    IndexSummary,
    Progress,
    default_decode_workers,
)
from clipgallery.core.photos import guard
from clipgallery.core.store.catalog import StorageError
from clipgallery.core.store.library import Library

if TYPE_CHECKING:  # torch and open_clip load only with a model
    from clipgallery.core.models.torch_backend import Encoder
    from clipgallery.core.store.vector_index import VectorIndex

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


class AfterPass(Protocol):
    """A pass that runs after the CLIP pass of a completed run, in the session's thread.

    ``run`` must return soon once ``cancel`` is set (work done so far stays committed;
    the next run picks up the rest), report through ``progress`` with a phase of its own
    (``Progress(name, done, total, ...)``), and raise
    :class:`~clipgallery.core.store.catalog.StorageError` when the disk refuses a write
    (the session passes it on: the caller pauses).  Any other exception is logged and
    the next pass runs.
    """

    name: str

    def run(self, library: Library, cancel: threading.Event,
            progress: ProgressCallback) -> None: ...


def standard_after_passes() -> list[AfterPass]:
    """The passes every session runs after its CLIP pass, in order: the one place to
    add one (the CLI and the app both start from this list)."""
    return []


class IndexingSession:
    """The library's writer side for one thread: model, indexer, runs, activation.

    ``library`` is open for writing (the session does not close it unless made by
    :meth:`open`, or used as a context manager).  ``batch_size`` and
    ``decode_workers`` go to the indexer (None: its defaults); ``progress`` hears the
    indexer's and the after-passes' progress; ``after_passes`` (default:
    :func:`standard_after_passes`) run after every completed run (see
    :meth:`run_after_passes`); more can be appended to
    :attr:`after_passes` at any time before a run.  A failure to activate the model
    after a complete run is raised (the CLI exits with its error), or, with
    ``on_activation_error``, handed to it (the app logs it and keeps indexing).
    """

    def __init__(self, library: Library, *, device: str | None = None,
                 batch_size: int | None = None, decode_workers: int | None = None,
                 progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None,
                 after_passes: Iterable[AfterPass] | None = None,
                 on_activation_error: Callable[[Exception], None] | None = None) -> None:
        self.library = library
        self.on_activation_error = on_activation_error
        self.device = device
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self.progress: ProgressCallback = progress or (lambda p: None)
        self.cancel_event = cancel or threading.Event()
        self.after_passes: list[AfterPass] = list(
            standard_after_passes() if after_passes is None else after_passes)
        self.spec: str | None = None  # the model being indexed with
        self.encoder: Encoder | None = None
        self.index: VectorIndex | None = None
        self.indexer: Indexer | None = None
        self.activated = False  # the last run activated the model
        # Hears each photo the CLIP pass decoded (content hash, reduced image), e.g. the
        # text pass's spool (core/indexing/ocr_pass.py); set before load_model().
        self.on_decoded: Callable[[str | None, Any], None] | None = None
        self._paused = threading.Event()
        self._owns_library = False

    @classmethod
    def open(cls, library: str | os.PathLike[str] | None = None, **kwargs: Any) -> IndexingSession:
        """Open ``library`` for writing (takes the writer lock: raises
        :class:`~clipgallery.core.store.library.LibraryLocked`, or
        :class:`~clipgallery.core.store.catalog.StorageError` on a read-only disk)."""
        session = cls(Library.open(library, write=True), **kwargs)
        session._owns_library = True
        return session

    def close(self) -> None:
        """Save and close the library if this session opened it."""
        if self._owns_library:
            self._owns_library = False
            self.library.close()

    def __enter__(self) -> IndexingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- controls (any thread) ------------------------------------------------------

    def pause(self) -> None:
        self._paused.set()
        if self.indexer is not None:
            self.indexer.pause()

    def resume(self) -> None:
        self._paused.clear()
        if self.indexer is not None:
            self.indexer.resume()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def cancel(self) -> None:
        """Make the running pass return soon (what is done so far stays committed)."""
        self.cancel_event.set()

    # -- the model ------------------------------------------------------------------

    def add_folders(self, folders: Iterable[Path]) -> None:
        """Record ``folders`` as library folders (folders inside one merge into it)."""
        for f in folders:
            self.library.catalog.add_folder(f)

    def folders(self) -> list[Path]:
        return self.library.catalog.folders()

    def load_model(self, override: str | None = None, *, loaded: Encoder | None = None,
                   progress: Callable[[str], None] | None = None,
                   warm: Sequence[str] | None = None) -> Indexer:
        """Load the model to index with (``override``, else the library's choice; or the
        already ``loaded`` encoder) and make the indexer for it.  Raises
        :class:`~clipgallery.core.models.specs.ModelUnavailable` and whatever loading
        raises; the session keeps its previous model then.  ``progress`` hears the
        steps of a first conversion; ``warm`` as for ``Library.load_encoder``."""
        spec = self.library.model_spec(override)
        encoder = loaded
        if encoder is None:
            # The decoder processes start now and boot on the other cores while the
            # model loads on this one, instead of in front of the first photos.
            guard.prewarm(self.decode_workers or default_decode_workers(self.device or "cpu"))
            kwargs: dict[str, Any] = {"device": self.device}
            if progress is not None:
                kwargs["progress"] = progress
            if warm is not None:
                kwargs["warm"] = warm
            encoder = self.library.load_encoder(spec, **kwargs)
        index = self.library.index_for(encoder)
        extra: dict[str, Any] = {}
        if self.batch_size is not None:
            extra["batch_size"] = self.batch_size
        indexer = Indexer(self.library.catalog, index, encoder, progress=self.progress,
                          cancel=self.cancel_event, decode_workers=self.decode_workers,
                          on_decoded=self.on_decoded, **extra)
        if self._paused.is_set():
            indexer.pause()
        self.spec, self.encoder, self.index, self.indexer = spec, encoder, index, indexer
        return indexer

    def switch_model(self, spec: str, *, progress: Callable[[str], None] | None = None) -> None:
        """Start indexing with ``spec``: check that it loads (raises as
        :meth:`load_model` if not, and nothing changes), record the switch, and make the
        indexer for it.  Search keeps the old model until a full run completes."""
        kwargs: dict[str, Any] = {"device": self.device}
        if progress is not None:
            kwargs["progress"] = progress
        encoder = self.library.load_encoder(spec, **kwargs)
        self.library.switch_model(spec)
        self.load_model(loaded=encoder)

    def search_model(self, override: str | None = None) -> tuple[Encoder | None, VectorIndex | None]:
        """(encoder, vector index) that search should use now: the indexing model's,
        or — while a model switch is under way — the old, complete one's (None, None
        before a model is loaded).  Falls back to the new model if the old cannot load."""
        pair: tuple[Any, Any] = (self.encoder, self.index)
        if self.encoder is None:
            return pair
        search_spec = self.library.search_spec(override)
        if search_spec == self.spec:
            return pair
        try:
            old = self.library.load_encoder(search_spec, device=self.device, purpose="search")
            return old, self.library.index_for(old)
        except Exception:  # noqa: BLE001 - then search what the new model has
            log.warning("cannot load %s for searching during the switch", search_spec,
                        exc_info=True)
            return pair

    # -- runs -----------------------------------------------------------------------

    def run(self, folders: Sequence[Path], paths: Sequence[Path] | None = None) -> IndexSummary:
        """The CLIP pass: reconcile ``folders`` fully, or only ``paths`` when given.

        A full run that completes activates the model (:attr:`activated` says whether
        this run did).  Raises :class:`~clipgallery.core.store.catalog.StorageError`
        when the disk refuses a write (what was committed stays searchable), and
        ``RuntimeError`` when no model is loaded.
        """
        if self.indexer is None or self.encoder is None:
            raise RuntimeError("no model is loaded: call load_model() first")
        self.activated = False
        summary = self.indexer.run(folders) if paths is None else self.indexer.run_paths(paths)
        if paths is None and not summary.cancelled:
            try:
                self.library.activate_model(self.encoder, self.spec or "")
            except Exception as e:
                if self.on_activation_error is None:
                    raise
                self.on_activation_error(e)
            else:
                self.activated = True
        return summary

    def run_after_passes(self) -> list[tuple[str, str]]:
        """Run the after-passes in order; returns (name, error) for each that failed.

        Stops at once when the session is cancelled; a
        :class:`~clipgallery.core.store.catalog.StorageError` is passed on.
        """
        failed: list[tuple[str, str]] = []
        for p in list(self.after_passes):
            if self.cancel_event.is_set():
                break
            try:
                p.run(self.library, self.cancel_event, self.progress)
            except StorageError:
                raise
            except Exception as e:  # noqa: BLE001 - one pass must not stop the others
                log.exception("the %s pass failed", getattr(p, "name", p))
                failed.append((str(getattr(p, "name", p)), str(e)))
        return failed

    def index_folders(self, folders: Sequence[Path]) -> IndexSummary:
        """A whole run over ``folders``: the CLIP pass, activation, the after-passes
        (skipped when the CLIP pass was cancelled)."""
        summary = self.run(folders)
        if not summary.cancelled:
            self.run_after_passes()
        return summary

