"""Indexing requests waiting for the next run: what the app's indexing worker queues.

Qt-free and light (no model, no numpy): the app imports it before anything heavy.
Belongs to the indexing thread, like the session that runs the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def is_under(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or below it."""
    return path == folder or folder in path.parents


class PendingWork:
    """Indexing requests waiting for the next run, merged while a run goes on.

    Folders to reconcile fully (added, rescanned, a watcher's folder events) and single
    paths (a watcher's file events) accumulate here; :meth:`take` hands out one unit of
    work at a time, folders first, so that everything that arrived during a long run is
    handled in one go right after it.  Belongs to the session's thread (no lock).
    """

    def __init__(self) -> None:
        self.folders: set[Path] = set()
        self.paths: set[Path] = set()

    def __bool__(self) -> bool:
        return bool(self.folders or self.paths)

    def add(self, folders: Iterable[Path] = (), paths: Iterable[Path] = ()) -> None:
        self.folders.update(folders)
        self.paths.update(paths)

    def requeue(self, folders: Sequence[Path], paths: Sequence[Path] | None) -> None:
        """Queue a unit of work from :meth:`take` again (it was stopped or refused)."""
        if paths is None:
            self.folders.update(folders)
        else:
            self.paths.update(paths)

    def forget(self, folder: Path) -> None:
        """``folder`` left the library: drop it and the paths below it."""
        self.folders.discard(folder)
        self.paths = {p for p in self.paths if not is_under(p, folder)}

    def take(self, library_folders: Iterable[Path]) -> tuple[list[Path], list[Path] | None] | None:
        """The next unit of work, removed from the queue: (folders, None) to reconcile
        fully — every pending folder, and the pending paths below them go with them — or
        else (their library folders, paths) for single paths.  Requests outside the
        library's folders are dropped; None when nothing is left to run."""
        roots = set(library_folders)
        if self.folders:
            folders = sorted(f for f in self.folders if any(is_under(f, r) for r in roots))
            self.folders.clear()
            self.paths = {p for p in self.paths if not any(is_under(p, f) for f in folders)}
            return (folders, None) if folders else None
        if self.paths:
            paths = sorted(p for p in self.paths if any(is_under(p, r) for r in roots))
            self.paths.clear()
            if paths:
                return sorted(r for r in roots if any(is_under(p, r) for p in paths)), paths
        return None
