"""Watch library folders for changes and hand them over in debounced batches.

:class:`FolderWatcher` wraps watchdog's native observer (inotify on Linux, FSEvents on
macOS, ReadDirectoryChangesW on Windows) with one recursive schedule per library folder,
and turns its raw event stream into :class:`ChangeSet` batches the indexer can reconcile:

* events are **debounced** by a :class:`~clipgallery.core.indexing.debounce.Debouncer`
  (its module has the rules: bursts, files still being written held back until they
  settle, a file delivered in the very same state not delivered again);
* hidden files (any path component below the library folder starting with ``.``, as the
  indexer's walk skips them) and files ``is_relevant`` rejects are ignored; directory
  events become folders to rescan (for a deleted or moved-away directory, its parent:
  rescanning a folder that is gone would look like an unplugged drive to the indexer);
* where the OS refuses a live watch (inotify's watch limit, ``max_user_watches``, or
  its instance limit) the folder **falls back to periodic rescans**: every
  ``rescan_interval`` seconds it is delivered in :attr:`ChangeSet.folders`, and
  ``on_status`` is told once with a message for the user;
* a folder that does not exist (an unplugged drive) is **offline**; it is looked for
  every ``rescan_interval`` seconds and, when it is back, watched again and delivered
  for a rescan.  A live folder whose root disappears or is replaced goes the same way.

Threads
-------
* watchdog's own threads (the observer thread, one emitter thread per folder, and on
  Linux the inotify reader thread) produce events.  Our handler, called on the observer
  thread, only timestamps each event and appends it to an inbox.
* One dispatcher thread of ours (``clipgallery-watcher``) drains the inbox, keeps the
  pending files and folders, stats files to see whether they settled, runs the periodic
  checks (fallback rescans, offline folders coming back, dead watches) and is the
  **only** thread that calls ``on_changes`` and ``on_status``.  Callbacks must not block
  for long; a GUI should forward them through a queued signal.
* :meth:`FolderWatcher.watch`, :meth:`~FolderWatcher.unwatch`,
  :meth:`~FolderWatcher.watched`, :meth:`~FolderWatcher.start` and
  :meth:`~FolderWatcher.stop` may be called from any thread.  ``watch`` blocks while
  the OS watches are added (a walk of the folder tree).

Known watchdog behaviour this module works around (watchdog 7.1, inotify):

* ``schedule`` raises ``OSError(ENOSPC, "inotify watch limit reached")`` only when the
  *root* of the tree cannot be watched; subfolders that hit the limit are skipped
  silently.  After scheduling (and whenever a directory is created) we therefore check,
  through watchdog's internals and defensively, that every subfolder got a watch, and
  fall back to rescans when some did not.
* Scheduling before ``observer.start()`` defers the error to ``start()``, where it
  aborts the whole observer, so the observer is always started first.
* An inotify queue overflow (``IN_Q_OVERFLOW``) reaches handlers as no event at all,
  only as a warning on the ``watchdog.observers.inotify_c`` logger; a logging hook turns
  it into a rescan of every live folder (this needs that logger to emit warnings).
* ``IN_DELETE_SELF`` on a root stops its emitter, and an unmount stops events silently,
  so live folders are also checked every ``rescan_interval`` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from clipgallery.core.indexing.debounce import ChangeSet, Debouncer

__all__ = ["LIVE", "OFFLINE", "POLLING", "ChangeSet", "FolderWatcher"]

log = logging.getLogger(__name__)

LIVE = "live"
POLLING = "polling"
OFFLINE = "offline"

_Mapped = tuple[Path, bool]  # an event path below a folder as given, and whether it is hidden

# The logger on which watchdog reports an inotify queue overflow (and nothing else).
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"

# -- folder bookkeeping --------------------------------------------------------


@dataclass(eq=False)
class _Folder:
    path: Path  # as given to watch(), made absolute: the paths we report are below it
    real: str = ""  # realpath of ``path``: what the observer watches, and its event paths
    state: str = OFFLINE
    watch: ObservedWatch | None = None
    handler: FileSystemEventHandler | None = None
    ident: tuple[int, int] | None = None  # (st_dev, st_ino) of the root when attached
    next_check: float = 0.0
    fallback_reason: str | None = None  # set by the dispatcher: fall back at next check


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's observer thread: timestamp and hand over, nothing else."""

    def __init__(self, sink: Callable[[Path, FileSystemEvent], None], key: Path) -> None:
        super().__init__()
        self._sink = sink
        self._key = key

    def dispatch(self, event: FileSystemEvent) -> None:
        self._sink(self._key, event)


class _OverflowHook(logging.Handler):
    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            if "overflow" in record.getMessage().lower():
                self._on_overflow()


def _fmt_interval(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _watched_dirs(observer: BaseObserver | None, watch: ObservedWatch | None) -> Container[bytes] | None:
    """The directories watchdog's inotify emitter really watches for ``watch``.

    Reaches into watchdog internals (7.x); returns None where they are not there (other
    platforms or versions), and the caller then cannot tell and assumes all is well.
    """
    if observer is None or watch is None:
        return None
    try:
        emitter = observer._emitter_for_watch.get(watch)  # type: ignore[attr-defined]
        paths = emitter._inotify._active_callbacks_by_path  # type: ignore[union-attr]
    except AttributeError:
        return None
    return paths if isinstance(paths, dict) else None


def _emitter_alive(observer: BaseObserver | None, watch: ObservedWatch | None) -> bool:
    if observer is None or watch is None:
        return False
    try:
        emitter = observer._emitter_for_watch.get(watch)  # type: ignore[attr-defined]
    except AttributeError:
        return True  # cannot tell
    return emitter is not None and emitter.is_alive()


def _observer_alive(observer: BaseObserver | None) -> bool:
    if observer is None or not observer.is_alive():
        return False
    reader = getattr(observer, "_inotify_fd", None)  # InotifyObserver's reader thread
    return not (isinstance(reader, threading.Thread) and not reader.is_alive())


class FolderWatcher:
    """Watches library folders recursively and delivers debounced :class:`ChangeSet` s.

    ``on_changes`` and ``on_status`` are only ever called from the watcher's dispatcher
    thread, and only after :meth:`start`.  :meth:`watch` may be called before
    :meth:`start`: it starts watching at once and the changes wait for :meth:`start`.
    A stopped watcher cannot be restarted; make a new one.

    ``observer_factory`` makes the watchdog observer (default: the native
    ``watchdog.observers.Observer``); tests inject one whose ``schedule`` fails.
    ``max_batch_delay`` bounds how long a batch waits while events keep coming.
    """

    def __init__(
        self,
        on_changes: Callable[[ChangeSet], None],
        *,
        debounce: float = 0.5,
        settle: float = 1.0,
        rescan_interval: float = 60.0,
        on_status: Callable[[str], None] | None = None,
        is_relevant: Callable[[Path], bool] | None = None,
        max_batch_delay: float = 3.0,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        if debounce < 0 or settle < 0 or rescan_interval <= 0:
            raise ValueError("debounce and settle must be >= 0, rescan_interval > 0")
        self._on_changes = on_changes
        self._on_status = on_status
        self._is_relevant = is_relevant
        self.rescan_interval = float(rescan_interval)
        self._observer_factory: Callable[[], BaseObserver] = observer_factory or Observer

        # Serialises everything that adds or removes OS watches (can be slow: a tree walk).
        self._sched_lock = threading.RLock()
        self._observer: BaseObserver | None = None
        self._observer_error: OSError | None = None
        self._closed = False  # stop() was called

        # Guards what other threads share with the dispatcher (kept short, never held
        # while calling into watchdog or user callbacks).
        self._cond = threading.Condition(threading.Lock())
        self._folders: dict[Path, _Folder] = {}
        self._inbox: deque[tuple[Any, ...]] = deque()
        self._statuses: list[str] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._hook: _OverflowHook | None = None

        # Dispatcher-only state: the pending changes and the batch they go out in.
        self._debouncer = Debouncer(debounce=debounce, settle=settle,
                                    max_batch_delay=max_batch_delay)
        self.debounce = self._debouncer.debounce
        self.settle = self._debouncer.settle
        self.max_batch_delay = self._debouncer.max_batch_delay

    # -- public API (any thread) -----------------------------------------------

    def start(self) -> None:
        """Start delivering changes (idempotent)."""
        with self._sched_lock:
            if self._closed:
                raise RuntimeError("FolderWatcher was stopped; make a new one")
            if self._thread is not None:
                return
            self._ensure_observer()
            self._thread = threading.Thread(
                target=self._run, name="clipgallery-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching and join all threads (idempotent).  Pending changes are dropped."""
        with self._sched_lock:
            if self._closed:
                return
            self._closed = True
            observer, self._observer = self._observer, None
            for f in self._folders.values():
                f.watch = None
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if observer is not None:
            with contextlib.suppress(Exception):
                observer.stop()
            if observer.is_alive() and observer is not threading.current_thread():
                observer.join()
        if self._hook is not None:
            logging.getLogger(_OVERFLOW_LOGGER).removeHandler(self._hook)
            self._hook = None
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def watch(self, folder: os.PathLike[str] | str) -> bool:
        """Watch ``folder`` recursively.  True: live; False: rescans instead (or offline)."""
        key = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
        with self._sched_lock:
            if self._closed:
                raise RuntimeError("FolderWatcher was stopped; make a new one")
            with self._cond:
                f = self._folders.get(key)
                if f is not None:
                    return f.state == LIVE
                f = _Folder(key)
                self._folders[key] = f  # before its events can arrive
            self._attach(f, announce_offline=True)
            with self._cond:
                self._cond.notify()  # its periodic check changes the dispatcher's timing
            return f.state == LIVE

    def unwatch(self, folder: os.PathLike[str] | str) -> None:
        """Stop watching ``folder``; its pending changes are dropped (no-op if unknown)."""
        key = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
        with self._sched_lock:
            with self._cond:
                f = self._folders.pop(key, None)
            if f is None:
                return
            self._detach(f)
            with self._cond:
                self._inbox.append(("unwatched", key))
                self._cond.notify()

    def watched(self) -> dict[Path, str]:
        """Each watched folder and its state: ``"live"``, ``"polling"`` or ``"offline"``."""
        with self._cond:
            return {p: f.state for p, f in self._folders.items()}

    # -- attaching folders to the observer (caller holds _sched_lock) ------------

    def _ensure_observer(self) -> BaseObserver | None:
        if self._observer is not None or self._closed:
            return self._observer
        try:
            observer = self._observer_factory()
            observer.start()
        except OSError as e:
            if self._observer_error is None:
                log.warning("cannot start the file system observer: %s", e)
            self._observer_error = e
            return None
        self._observer_error = None
        self._observer = observer
        if self._hook is None:
            self._hook = _OverflowHook(self._on_overflow)
            logging.getLogger(_OVERFLOW_LOGGER).addHandler(self._hook)
        return observer

    def _attach(self, f: _Folder, *, announce_offline: bool) -> None:
        """Watch ``f`` live if possible, else fall back; sets ``f.state``."""
        now = time.monotonic()
        f.next_check = now + self.rescan_interval
        f.fallback_reason = None
        f.real = os.path.realpath(f.path)
        try:
            st = os.stat(f.real)
            is_dir = os.path.isdir(f.real)
        except OSError:
            is_dir = False
        if not is_dir:
            self._set_offline(f, announce=announce_offline)
            return
        f.ident = (st.st_dev, st.st_ino)
        observer = self._ensure_observer()
        if observer is None:
            self._set_polling(f, self._observer_error or OSError(errno.EMFILE, "unavailable"))
            return
        try:
            f.handler = _Handler(self._sink, f.path)
            f.watch = observer.schedule(f.handler, f.real, recursive=True)
        except OSError as e:
            f.watch = None
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                self._set_offline(f, announce=announce_offline)
            else:
                self._set_polling(f, e)
            return
        except Exception as e:  # a watchdog bug must not take the app down: rescan instead
            log.exception("cannot watch %s", f.path)
            f.watch = None
            self._set_polling(f, OSError(errno.EIO, f"{type(e).__name__}: {e}"))
            return
        missing = self._unwatched_subfolders(f)
        if missing:
            log.warning("%d folders below %s could not be watched", missing, f.path)
            self._detach(f)
            self._set_polling(f, OSError(errno.ENOSPC, "inotify watch limit reached"))
            return
        with self._cond:
            f.state = LIVE

    def _detach(self, f: _Folder) -> None:
        watch, f.watch = f.watch, None
        handler, f.handler = f.handler, None
        if watch is None or self._observer is None:
            return
        with self._cond:
            # watchdog shares one emitter between equal watches (a folder and a symlink
            # to it): then only this folder's handler goes.
            shared = any(o is not f and o.watch == watch for o in self._folders.values())
        with contextlib.suppress(KeyError, ValueError, OSError, RuntimeError):
            if shared and handler is not None:
                self._observer.remove_handler_for_watch(handler, watch)
            else:
                self._observer.unschedule(watch)

    def _unwatched_subfolders(self, f: _Folder) -> int:
        """How many directories below ``f`` exist but got no inotify watch (0: can't tell)."""
        watched = _watched_dirs(self._observer, f.watch)
        if watched is None:
            return 0
        missing = 0
        for root, dirnames, _ in os.walk(f.real):
            for d in dirnames:
                p = os.path.join(root, d)
                if os.fsencode(p) not in watched and not os.path.islink(p) and os.path.isdir(p):
                    missing += 1
        return missing

    def _set_polling(self, f: _Folder, error: OSError) -> None:
        with self._cond:
            f.state = POLLING
            self._statuses.append(self._limit_message(f.path, error))
            self._cond.notify()

    def _set_offline(self, f: _Folder, *, announce: bool) -> None:
        with self._cond:
            f.state = OFFLINE
            if announce:
                self._statuses.append(
                    f"{f.path} is not available (a disconnected drive?); it will be watched "
                    "again when it comes back.")
                self._cond.notify()

    def _limit_message(self, folder: Path, e: OSError) -> str:
        every = f"{folder} is rescanned every {_fmt_interval(self.rescan_interval)} instead."
        linux = sys.platform.startswith("linux")
        if e.errno == errno.ENOSPC and linux:
            return ("The system limit on watched folders was reached "
                    f"(fs.inotify.max_user_watches); {every}")
        if e.errno == errno.EMFILE and linux:
            return ("The system limit on folder watchers was reached "
                    f"(fs.inotify.max_user_instances, or open files); {every}")
        if e.errno in (errno.ENOSPC, errno.EMFILE, errno.ENFILE):
            return f"The system limit on watched folders or open files was reached; {every}"
        return f"Changes in {folder} cannot be watched live ({e.strerror or e}); it is " \
               f"rescanned every {_fmt_interval(self.rescan_interval)} instead."

    # -- event intake (watchdog's observer thread) --------------------------------

    def _sink(self, key: Path, event: FileSystemEvent) -> None:
        with self._cond:
            if self._stopping:
                return
            self._inbox.append(("event", key, event, time.monotonic()))
            if len(self._inbox) == 1:
                self._cond.notify()

    def _on_overflow(self) -> None:
        with self._cond:
            self._inbox.append(("overflow",))
            self._cond.notify()

    # -- the dispatcher thread ---------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._inbox and not self._statuses and not self._stopping:
                    timeout = self._next_wakeup(time.monotonic()) - time.monotonic()
                    if timeout > 0:
                        self._cond.wait(min(timeout, 5.0))
                if self._stopping:
                    return
                inbox, self._inbox = self._inbox, deque()
                statuses, self._statuses = self._statuses, []
                folders = dict(self._folders)
            try:
                self._deliver_statuses(statuses)
                for item in inbox:
                    self._apply(item, folders)
                self._check_folders(time.monotonic())
                with self._cond:
                    statuses, self._statuses = self._statuses, []
                self._deliver_statuses(statuses)
                self._maybe_flush(time.monotonic())
            except Exception:  # keep watching whatever a bug or a callback does
                log.exception("folder watcher dispatcher error")
                time.sleep(0.1)

    def _deliver_statuses(self, statuses: list[str]) -> None:
        if self._on_status is None:
            return
        for msg in statuses:
            try:
                self._on_status(msg)
            except Exception:
                log.exception("on_status callback failed")

    def _next_wakeup(self, now: float) -> float:
        wake = now + 5.0
        checks = [f.next_check for f in self._folders.values()]
        if checks:
            wake = min(wake, min(checks))
        due = self._debouncer.next_wakeup(now)
        if due is not None:
            wake = min(wake, due)
        return max(wake, now + 0.005)

    # applying inbox items

    def _apply(self, item: tuple[Any, ...], folders: dict[Path, _Folder]) -> None:
        kind = item[0]
        if kind == "event":
            _, key, event, t = item
            f = folders.get(key)  # any state: a watch being set up, or just given up
            if f is not None:
                self._apply_event(f, event, t)
        elif kind == "overflow":
            log.warning("file system events were lost; rescanning the watched folders")
            for p, f in folders.items():
                if f.state == LIVE:
                    self._debouncer.rescan(p)
        elif kind == "unwatched":
            self._forget_below(item[1], folders)

    def _forget_below(self, key: Path, folders: dict[Path, _Folder]) -> None:
        def orphan(p: Path) -> bool:
            return p.is_relative_to(key) and not any(
                p.is_relative_to(other) for other in folders if other != key)
        self._debouncer.forget(orphan)

    def _map(self, f: _Folder, src: str | bytes) -> _Mapped | None:
        """Event path -> (path below the folder as given, hidden?); None if outside."""
        s = os.fsdecode(src)
        if s == f.real:
            return f.path, False
        prefix = f.real.rstrip(os.sep) + os.sep
        if not s.startswith(prefix):
            return None
        rel = s[len(prefix):]
        hidden = any(part.startswith(".") for part in rel.split(os.sep))
        return f.path / rel, hidden

    def _wanted_file(self, mapped: _Mapped | None) -> Path | None:
        if mapped is None or mapped[1]:
            return None
        path = mapped[0]
        if self._is_relevant is not None:
            try:
                if not self._is_relevant(path):
                    return None
            except Exception:
                log.exception("is_relevant failed for %s", path)
        return path

    def _apply_event(self, f: _Folder, event: FileSystemEvent, t: float) -> None:
        src = self._map(f, event.src_path)
        dest = self._map(f, event.dest_path) if event.dest_path else None
        for m in (src, dest):
            if m is not None:
                self._debouncer.activity_below(f.path, m[0], t)
        if event.is_directory:
            self._apply_dir_event(f, event, src, dest, t)
        else:
            self._apply_file_event(event, src, dest, t)

    def _apply_dir_event(self, f: _Folder, event: FileSystemEvent, src: _Mapped | None,
                         dest: _Mapped | None, t: float) -> None:
        if isinstance(event, DirCreatedEvent):
            self._check_new_dir_watched(f, event.src_path)
            if src is not None and not src[1] and src[0] != f.path:
                self._debouncer.dir_event(f.path, src[0], t, wait_quiet=True)
        elif isinstance(event, DirDeletedEvent):
            if src is not None and src[0] == f.path:
                with self._cond:
                    f.next_check = 0.0  # the root itself went away: check it now
            elif src is not None and not src[1]:
                self._debouncer.dir_gone(f.path, src[0], t)
        elif isinstance(event, DirMovedEvent):
            if src is not None and not src[1] and src[0] != f.path:
                self._debouncer.dir_gone(f.path, src[0], t)
            if dest is not None and not dest[1]:
                self._check_new_dir_watched(f, event.dest_path)
                self._debouncer.dir_event(f.path, dest[0], t, wait_quiet=True)
        else:
            return  # DirModified / DirAttrib: the file events say more
        self._debouncer.note_burst(t)

    def _apply_file_event(self, event: FileSystemEvent, src: _Mapped | None,
                          dest: _Mapped | None, t: float) -> None:
        if isinstance(event, FileMovedEvent):
            paths = [self._wanted_file(src), self._wanted_file(dest)]
            if paths[0] is not None:
                self._debouncer.file_event(paths[0], t, short=True)
            if paths[1] is not None:
                self._debouncer.file_event(paths[1], t, short=True)  # a rename is atomic
            if not any(paths):
                return
        elif isinstance(event, (FileCreatedEvent, FileModifiedEvent, FileAttribEvent)):
            path = self._wanted_file(src)
            if path is None:
                return
            self._debouncer.file_event(path, t, short=False)
        elif isinstance(event, FileDeletedEvent):
            path = self._wanted_file(src)
            if path is None:
                return
            self._debouncer.file_event(path, t, short=True)
        elif isinstance(event, FileClosedEvent):
            path = self._wanted_file(src)
            if path is None:
                return
            self._debouncer.file_closed(path, t)
        else:
            return  # opened / closed without writing: readers (the indexer itself) do that
        self._debouncer.note_burst(t)

    def _check_new_dir_watched(self, f: _Folder, src: str | bytes) -> None:
        """inotify skips new subfolders silently at the watch limit: detect it."""
        watched = _watched_dirs(self._observer, f.watch)
        if watched is None:
            return
        raw = os.fsencode(src)
        if raw in watched or os.path.islink(raw) or not os.path.isdir(raw):
            return
        with self._cond:
            if f.fallback_reason is None:
                f.fallback_reason = "limit"
                f.next_check = 0.0

    # periodic checks of folders

    def _check_folders(self, now: float) -> None:
        with self._cond:
            due = [f for f in self._folders.values() if f.next_check <= now]
        if not due:
            return
        with self._sched_lock:
            if self._closed:
                return
            if self._observer is not None and not _observer_alive(self._observer):
                self._rebuild_observer()
            for f in due:
                with self._cond:
                    if self._folders.get(f.path) is not f:
                        continue  # unwatched meanwhile
                try:
                    self._check_folder(f, time.monotonic())
                except Exception:
                    log.exception("checking %s failed", f.path)
                    f.next_check = time.monotonic() + self.rescan_interval

    def _rebuild_observer(self) -> None:
        log.warning("the file system observer died; restarting it")
        old, self._observer = self._observer, None
        with contextlib.suppress(Exception):
            if old is not None:
                old.stop()
                old.join(timeout=5.0)
        with self._cond:
            folders = list(self._folders.values())
        for f in folders:
            f.watch = None
            if f.state == LIVE:
                f.next_check = 0.0

    def _check_folder(self, f: _Folder, now: float) -> None:
        state = f.state
        exists = os.path.isdir(f.path)
        if state == LIVE:
            ident = None
            with contextlib.suppress(OSError):
                st = os.stat(f.path)
                ident = (st.st_dev, st.st_ino)
            if f.fallback_reason is not None:
                f.fallback_reason = None
                if exists and self._unwatched_subfolders(f):  # confirmed by a full look
                    self._detach(f)
                    self._set_polling(f, OSError(errno.ENOSPC, "inotify watch limit reached"))
                    f.next_check = now + self.rescan_interval
                    self._debouncer.rescan(f.path)  # events below unwatched folders were missed
                    return
            if not exists:
                self._detach(f)
                self._set_offline(f, announce=True)
                f.next_check = now + self.rescan_interval
                self._debouncer.rescan(f.path)  # the indexer marks it offline
            elif (ident != f.ident or os.path.realpath(f.path) != f.real
                  or not _emitter_alive(self._observer, f.watch)):
                self._detach(f)
                self._attach(f, announce_offline=True)
                self._debouncer.rescan(f.path)
            else:
                f.next_check = now + self.rescan_interval
        elif state == POLLING:
            if not exists:
                self._set_offline(f, announce=True)
            self._debouncer.rescan(f.path)
            f.next_check = now + self.rescan_interval
        else:  # offline
            if exists:
                self._attach(f, announce_offline=False)
                with self._cond:
                    self._statuses.append(f"{f.path} is available again and is being rescanned.")
                self._debouncer.rescan(f.path)
            else:
                f.next_check = now + self.rescan_interval

    # flushing

    def _maybe_flush(self, now: float) -> None:
        changes = self._debouncer.flush(now)
        if changes is None:
            return
        try:
            self._on_changes(changes)
        except Exception:
            log.exception("on_changes callback failed")
