"""Debouncing of file-system events into :class:`ChangeSet` batches, on an explicit clock.

:class:`Debouncer` is the bookkeeping half of the folder watcher
(:mod:`clipgallery.core.indexing.watcher` owns the OS watches and the thread): it is
told what happened and when (every method takes the time ``t`` or ``now``, from
``time.monotonic()`` in the watcher, from the test itself in tests) and answers when it
wants to be woken (:meth:`Debouncer.next_wakeup`) and which batch is ready
(:meth:`Debouncer.flush`).  It keeps no thread and no timer of its own and is Qt-free.

The rules:

* a batch goes out no sooner than ``debounce`` seconds after the last event of a burst
  (and once nothing else is about to settle), or every ``max_batch_delay`` seconds while
  a long burst (a big copy) goes on, so it streams in batches instead of waiting for
  the end; a file already delivered in the very same state (size, mtime, inode) is not
  delivered again;
* **files still being written are held back** until their size and mtime have been
  stable for ``settle`` seconds (``debounce`` once the writer closed the file, or for
  the destination of a rename, which is atomic); deleted files go out after the debounce;
* a directory created or moved in waits until nothing happened below it for ``settle``;
  a directory deleted or moved away becomes a rescan of its parent (rescanning a folder
  that is gone would look like an unplugged drive to the indexer);
* a folder rescan in a batch covers every path below it.

Threads: one thread only (the watcher's dispatcher); nothing here is locked.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Sig = tuple[int, int, int]  # (size, mtime_ns, inode) of a file
_DELIVERED_MEMORY = 20_000  # files whose delivered stat is remembered


@dataclass
class ChangeSet:
    """One batch of changes, to be reconciled by the indexer.

    ``paths`` are files created, modified, deleted or moved (both the source and the
    destination of a move), to be reconciled one by one; a path may no longer exist.
    ``folders`` are folders to rescan fully: a directory created or moved in (or, for a
    directory deleted or moved away, its nearest existing parent), a live folder after
    dropped events, a folder in fallback mode every ``rescan_interval``, or a folder that
    came back online.  Paths below a folder of the same batch are left out of ``paths``.
    """

    paths: set[Path] = field(default_factory=set)
    folders: set[Path] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.paths or self.folders)


def file_sig(path: Path) -> Sig | None:
    """(size, mtime_ns, inode) of ``path``; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


@dataclass(eq=False)
class _PendingFile:
    changed_at: float  # last event for it, or last time we saw its stat change
    sig: Sig | None  # stat when last looked at (None: did not exist)
    short: bool  # closed by its writer, deleted or renamed into place: debounce suffices
    due: float = 0.0


@dataclass(eq=False)
class _PendingDir:
    root: Path  # the library folder it belongs to
    changed_at: float
    wait_quiet: bool  # created / moved in: wait until nothing happened below it for settle
    due: float = 0.0


class Debouncer:
    """Pending files and folders, and the batch they go out in (see the module's rules).

    ``stat`` tells a file's state (default :func:`file_sig`): a file whose state changed
    without an event is still being written.
    """

    def __init__(self, *, debounce: float = 0.5, settle: float = 1.0,
                 max_batch_delay: float = 3.0,
                 stat: Callable[[Path], Sig | None] = file_sig) -> None:
        if debounce < 0 or settle < 0:
            raise ValueError("debounce and settle must be >= 0")
        self.debounce = float(debounce)
        self.settle = float(settle)
        self.max_batch_delay = max(float(max_batch_delay), self.debounce)
        self._stat = stat
        self._files: dict[Path, _PendingFile] = {}
        self._dirs: dict[Path, _PendingDir] = {}
        self._rescans: set[Path] = set()
        # Settled, waiting for the batch to close: a batch goes out once events have been
        # quiet for ``debounce`` and nothing else falls due within ``debounce`` either
        # (or when it has been open for ``max_batch_delay``).
        self._staged_files: set[Path] = set()
        self._staged_dirs: set[Path] = set()
        self._heap: list[tuple[float, int, bool, Path]] = []
        # The stat each recently delivered file had: a late event that changes nothing
        # (a close after the file went out) does not deliver it again.
        self._delivered: dict[Path, Sig | None] = {}
        self._seq = itertools.count()
        self._last_event = 0.0
        self._batch_start: float | None = None  # when the open batch got its first change

    # -- what happened ------------------------------------------------------------

    def file_event(self, path: Path, t: float, *, short: bool) -> None:
        """``path`` was created, written, deleted or renamed at ``t``.  ``short``: it is
        complete (deleted, renamed into place), so ``debounce`` suffices; else it waits
        until its state has been stable for ``settle``."""
        self._staged_files.discard(path)
        e = self._files.get(path)
        if e is None:
            e = self._files[path] = _PendingFile(t, self._stat(path), short)
        else:
            e.changed_at, e.sig, e.short = t, self._stat(path), short
        e.due = t + (self.debounce if short else self.settle)
        self._push(e.due, False, path)

    def file_closed(self, path: Path, t: float) -> None:
        """Its writer closed ``path``: it is due ``debounce`` after its last change."""
        e = self._files.get(path)
        if e is None:
            if path not in self._staged_files:
                self.file_event(path, t, short=True)
            return
        e.short = True
        e.due = e.changed_at + self.debounce
        self._push(e.due, False, path)

    def dir_event(self, root: Path, path: Path, t: float, *, wait_quiet: bool) -> None:
        """Rescan directory ``path`` (below library folder ``root``); ``wait_quiet``: it
        was created or moved in, so wait until nothing happened below it for ``settle``."""
        if path in self._staged_dirs and not wait_quiet:
            return  # already settled and going out with this batch
        self._staged_dirs.discard(path)
        d = self._dirs.get(path)
        if d is None:
            d = self._dirs[path] = _PendingDir(root, t, wait_quiet)
        else:
            d.changed_at = t
            d.wait_quiet = d.wait_quiet or wait_quiet
        d.due = t + (self.settle if d.wait_quiet else self.debounce)
        self._push(d.due, True, path)

    def activity_below(self, root: Path, path: Path, t: float) -> None:
        """Something happened at ``path``: a created folder above it is not quiet yet."""
        if not self._dirs:
            return
        for parent in path.parents:
            d = self._dirs.get(parent)
            if d is not None and d.wait_quiet and d.changed_at < t:
                d.changed_at = t
                d.due = t + self.settle
                self._push(d.due, True, parent)
            if parent == root:
                break

    def dir_gone(self, root: Path, path: Path, t: float) -> None:
        """A directory was deleted or moved away: rescan its parent instead."""
        for p in [p for p in self._dirs if p.is_relative_to(path)]:
            del self._dirs[p]
        self._staged_dirs = {p for p in self._staged_dirs if not p.is_relative_to(path)}
        parent = path.parent if path != root else root
        self.dir_event(root, parent, t, wait_quiet=False)

    def note_burst(self, t: float) -> None:
        """An event that counts for the burst (and opens a batch) happened at ``t``."""
        self._last_event = max(self._last_event, t)
        if self._batch_start is None:
            self._batch_start = t

    def rescan(self, folder: Path) -> None:
        """Rescan ``folder`` fully with the next batch (no waiting of its own)."""
        self._rescans.add(folder)

    def forget(self, drop: Callable[[Path], bool]) -> None:
        """Drop every pending path for which ``drop`` is true (an unwatched folder's)."""
        for table in (self._files, self._dirs):
            for p in [p for p in table if drop(p)]:
                del table[p]
        self._rescans = {p for p in self._rescans if not drop(p)}
        self._staged_files = {p for p in self._staged_files if not drop(p)}
        self._staged_dirs = {p for p in self._staged_dirs if not drop(p)}

    # -- when, and what goes out ----------------------------------------------------

    def next_wakeup(self, now: float) -> float | None:
        """When something falls due or a batch may close; None when nothing is pending."""
        wake: float | None = None
        self._drop_stale_heap_top()
        if self._heap:
            wake = self._heap[0][0]
        if self._staged_files or self._staged_dirs or self._rescans:
            times = [] if wake is None else [wake]
            if self._last_event + self.debounce > now:
                times.append(self._last_event + self.debounce)
            if self._batch_start is not None:
                times.append(self._batch_start + self.max_batch_delay)
            if times:
                wake = min(times)
        return wake

    def flush(self, now: float) -> ChangeSet | None:
        """The batch that is ready at ``now``, or None (nothing, or not yet)."""
        self._stage_due(now)
        if not (self._staged_files or self._staged_dirs or self._rescans):
            if not self._heap:
                self._batch_start = None
            return None
        overdue = self._batch_start is not None and now - self._batch_start >= self.max_batch_delay
        if not overdue:
            if now - self._last_event < self.debounce:
                return None  # a burst is going on
            self._drop_stale_heap_top()
            if self._heap and self._heap[0][0] <= now + self.debounce:
                return None  # more is about to settle: let it join this batch
        folders = self._staged_dirs | self._rescans
        files = self._staged_files
        self._staged_dirs, self._staged_files, self._rescans = set(), set(), set()
        self._batch_start = now if self._heap else None
        # A folder rescan covers everything below it.
        folders = {p for p in folders if not any(q in folders for q in p.parents)}
        paths = {p for p in files if not any(q in folders for q in p.parents)}
        self._remember_delivered(paths)
        return ChangeSet(paths=paths, folders=folders)

    # -- inside -----------------------------------------------------------------------

    def _remember_delivered(self, paths: set[Path]) -> None:
        for p in paths:
            self._delivered.pop(p, None)
            self._delivered[p] = self._stat(p)
        if len(self._delivered) > _DELIVERED_MEMORY:
            for p in list(itertools.islice(self._delivered, len(self._delivered) // 2)):
                del self._delivered[p]

    def _push(self, due: float, is_dir: bool, path: Path) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), is_dir, path))

    def _is_stale(self, item: tuple[float, int, bool, Path]) -> bool:
        due, _, is_dir, path = item
        entry: _PendingFile | _PendingDir | None = (self._dirs if is_dir else self._files).get(path)
        return entry is None or entry.due != due

    def _drop_stale_heap_top(self) -> None:
        while self._heap and self._is_stale(self._heap[0]):
            heapq.heappop(self._heap)

    def _stage_due(self, now: float) -> None:
        """Look at the pending entries that fell due: settled ones join the open batch."""
        while self._heap and self._heap[0][0] <= now:
            item = heapq.heappop(self._heap)
            if self._is_stale(item):
                continue
            _, _, is_dir, path = item
            if is_dir:
                d = self._dirs.pop(path)
                target = _existing_ancestor(d.root, path)
                if target is not None:
                    self._staged_dirs.add(target)
                continue
            e = self._files[path]
            sig = self._stat(path)
            if sig is not None and sig != e.sig:  # changed without an event: still going
                e.changed_at, e.sig, e.short = now, sig, False
                e.due = now + self.settle
                self._push(e.due, False, path)
                continue
            del self._files[path]
            if path in self._delivered and self._delivered[path] == sig:
                continue  # delivered in this very state already
            self._staged_files.add(path)


def _existing_ancestor(root: Path, path: Path) -> Path | None:
    """``path`` or its nearest existing parent within ``root`` (None: root gone)."""
    p = path
    while True:
        if os.path.isdir(p):
            return p
        if p == root or p == p.parent:
            return None
        p = p.parent
