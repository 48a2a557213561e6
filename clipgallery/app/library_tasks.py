"""Small library jobs off the UI thread: a photo's labels, and the smart albums.

Runs in: the "tasks" thread (a :class:`~clipgallery.app.workers.QueueWorker`).  It owns its
own connection to the catalog (SQLite WAL: album writes are one short transaction and
never wait long for the indexer) and shares the encoder and the thread-safe vector
index with the other workers.  The UI thread only calls the ``request_*`` methods
(which queue a job under a lock) and hears back through signals.

Label requests keep only the latest photo (the preview moves on quickly); album jobs
run in order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from clipgallery.app.workers import Job, QueueWorker

if TYPE_CHECKING:  # importing these loads torch: never on the UI thread
    from clipgallery.core.models.torch_backend import Encoder
    from clipgallery.core.store.catalog import Catalog
    from clipgallery.core.store.vector_index import VectorIndex

log = logging.getLogger(__name__)

LABELS_K = 5


class LibraryTasks(QueueWorker):
    """The tasks thread."""

    labels_ready = Signal(int, object)  # photo id, [(label, probability), ...]
    labels_failed = Signal(int, str)  # photo id, message for the user
    albums_changed = Signal(object)  # [Album, ...] by name
    album_saved = Signal(str)  # name
    album_failed = Signal(str)  # message for the user

    def __init__(self, catalog_path: Path, cache_dir: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__("tasks", catalog_path, parent)
        self.cache_dir = cache_dir
        self._labels: int | None = None
        self._jobs: deque[Callable[[Catalog], None]] = deque()
        self._engine: tuple[Encoder, VectorIndex] | None = None

    # -- any thread -------------------------------------------------------------------

    def set_engine(self, encoder: Encoder, index: VectorIndex) -> None:
        with self._cond:
            self._engine = (encoder, index)
            self._wake()

    def request_labels(self, photo_id: int) -> None:
        with self._cond:
            self._labels = photo_id
            self._wake()

    def request_albums(self) -> None:
        self._queue(self._list_albums)

    def request_save_album(self, name: str, query: str, filters: dict[str, str], sort: str,
                           good: tuple[int, ...] = (), bad: tuple[int, ...] = (),
                           image: str | int | None = None) -> None:
        def job(catalog: Catalog) -> None:
            from clipgallery.core.search.albums import save_album
            from clipgallery.core.search.query import Filters

            album = save_album(catalog, name, query, Filters.from_dict(filters), sort=sort,
                               image=image, good=good, bad=bad, replace=True)
            self.album_saved.emit(album.name)
            self._list_albums(catalog)

        self._queue(job)

    def request_remove_album(self, name: str) -> None:
        def job(catalog: Catalog) -> None:
            from clipgallery.core.search.albums import remove_album

            remove_album(catalog, name)
            self._list_albums(catalog)

        self._queue(job)

    def _queue(self, job: Callable[[Catalog], None]) -> None:
        with self._cond:
            self._jobs.append(job)
            self._wake()

    # -- the tasks thread ---------------------------------------------------------------

    def _has_work(self) -> bool:
        return bool(self._jobs) or (self._labels is not None and self._engine is not None)

    def _take(self) -> tuple[Job, bool] | None:
        if self._jobs:
            job = self._jobs.popleft()
            return (lambda: self._run_job(job, self.reader())), True
        photo, self._labels = self._labels, None
        engine = self._engine
        if photo is None or engine is None:
            return None
        return (lambda: self._run_labels(photo, self.reader(), engine)), True

    def _run_job(self, job: Callable[[Catalog], None], catalog: Catalog) -> None:
        try:
            job(catalog)
        except Exception as e:  # noqa: BLE001 - report, keep serving
            from clipgallery.core.search.query import SearchError

            if not isinstance(e, SearchError):
                log.exception("album job failed")
            self.album_failed.emit(str(e))

    def _run_labels(self, photo: int, catalog: Catalog,
                    engine: tuple[Encoder, VectorIndex]) -> None:
        from clipgallery.core.search.labels import top_labels

        encoder, index = engine
        try:
            vec = catalog.embedding(photo, index.model_id)
            if vec is None:
                self.labels_failed.emit(photo, "Not indexed yet.")
                return
            labels = top_labels(encoder, vec, LABELS_K, cache_dir=self.cache_dir)
        except Exception as e:  # noqa: BLE001 - a preview without labels is fine
            log.exception("labels failed")
            self.labels_failed.emit(photo, f"Cannot tell: {e}")
            return
        self.labels_ready.emit(photo, labels)

    def _list_albums(self, catalog: Catalog) -> None:
        from clipgallery.core.search.albums import list_albums

        self.albums_changed.emit(list_albums(catalog))
