"""One base for the app's queue-and-reader worker threads (searches, library tasks).

Threading rule:

* A :class:`QueueWorker` is a :class:`QThread` that owns **one** thread.  That thread runs
  :meth:`QueueWorker.run`, takes one job at a time and runs it; it alone opens, uses and
  closes the worker's read connection to the catalog (:meth:`QueueWorker.reader`, opened
  lazily on the first job that needs it, closed when the thread ends).  SQLite connections
  never cross threads.
* Any thread (in practice the UI thread) may call the subclass's ``request``/``submit``
  methods, which only change the pending work under :attr:`QueueWorker._cond` and call
  :meth:`QueueWorker._wake`; and :attr:`QueueWorker.idle` / :meth:`QueueWorker.stop`.
* Answers go back by Qt signals emitted on the worker thread; Qt queues them to the
  receivers' (UI) thread.
* Stale jobs are dropped by the subclass's :meth:`QueueWorker._take`: it decides, under
  the lock, which pending work is still wanted (e.g. only the latest query or photo).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread

if TYPE_CHECKING:  # importing the catalog is cheap, but keep the UI thread's imports lean
    from clipgallery.core.store.catalog import Catalog

Job = Callable[[], None]


class QueueWorker(QThread):
    """A thread serving jobs one at a time with a lazily opened catalog reader.

    Subclasses implement :meth:`_has_work` and :meth:`_take` (both called with the lock
    held) and may override :meth:`_open_reader`.
    """

    def __init__(self, name: str, catalog_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.catalog_path = Path(catalog_path)
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._reader: Catalog | None = None  # worker thread only

    # -- any thread -------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing running and nothing pending (see :meth:`_pending`)."""
        with self._cond:
            return not self._busy and not self._pending()

    def stop(self) -> None:
        """Ask the thread to end after its current job and wait for it (up to 10 s)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.wait(10_000)

    def _wake(self) -> None:
        """Call with ``self._cond`` held after changing the pending work."""
        self._cond.notify()

    # -- subclass hooks (called with the lock held) ---------------------------------

    def _has_work(self) -> bool:
        """Whether :meth:`_take` has something to run now."""
        raise NotImplementedError

    def _pending(self) -> bool:
        """Whether work is waiting, for :attr:`idle` (by default: :meth:`_has_work`)."""
        return self._has_work()

    def _take(self) -> tuple[Job, bool] | None:
        """The next job and whether it counts as busy (for :attr:`idle`), or None."""
        raise NotImplementedError

    # -- the worker thread -------------------------------------------------------------

    def reader(self) -> Catalog:
        """This thread's read connection to the catalog, opened on first use."""
        if self._reader is None:
            self._reader = self._open_reader()
        return self._reader

    def _open_reader(self) -> Catalog:
        from clipgallery.core.store.catalog import Catalog

        return Catalog(self.catalog_path)

    def run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopping and not self._has_work():
                        self._cond.wait()
                    if self._stopping:
                        return
                    taken = self._take()
                    if taken is None:
                        continue
                    job, busy = taken
                    self._busy = busy
                try:
                    job()
                finally:
                    with self._cond:
                        self._busy = False
        finally:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
