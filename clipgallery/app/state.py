"""The window's state in one Qt-free object that the widgets observe.

Runs in: the UI thread only (it is not locked).  The window writes the news of the
indexing worker and the search thread into an :class:`AppState` with
:meth:`AppState.update`; every observer hears which fields changed, once per update, and
reads the new values.  Widgets and helpers (the window's pages and status bar,
:class:`~clipgallery.app.search_features.SearchFeatures`) read and write this object
instead of each other's attributes, so the app's logic can be tested without a window.

No Qt here (a test imports it with Qt blocked): plain-Python callbacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clipgallery.app import formatting
from clipgallery.app.items import FolderInfo, IndexStatus, Query, ResultSet

Observer = Callable[[frozenset[str]], None]

# Compared by identity: large (results) or not comparable (engine).
_BY_IDENTITY = frozenset({"engine", "results"})

LIBRARY_STATES = ("opening", "open", "locked", "failed")
MODEL_STATES = ("loading", "ready", "failed")


@dataclass(eq=False)
class AppState:
    """What the window shows, and what it asked for.

    ``library``: "opening" | "open" | "locked" | "failed".  ``model``: "loading" |
    "ready" | "failed" (``model_label`` names it, ``model_error`` says why it failed).
    ``engine``: the loaded (encoder, vector index), opaque here.  ``folders``: the
    worker's folder list (None: not known yet).  ``query``: the query asked for last;
    ``results`` the latest answer shown; ``search_error`` why the latest search failed.
    ``selection``: the ids of the selected photos.
    """

    library: str = "opening"
    model: str = "loading"
    model_label: str = ""
    model_error: str = ""
    engine: tuple[Any, Any] | None = None
    folders: list[FolderInfo] | None = None
    index_status: IndexStatus = field(default_factory=lambda: IndexStatus("loading"))
    worker_busy: bool = True
    searchable: int = 0
    query: Query = field(default_factory=Query.browse)
    results: ResultSet | None = None
    search_error: str = ""
    selection: tuple[int, ...] = ()
    _observers: list[Observer] = field(default_factory=list, repr=False)

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(changed_field_names)`` after each update; returns an undo."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers \
            else None

    def update(self, **changes: Any) -> frozenset[str]:
        """Set fields; observers hear the names of those whose value changed."""
        names = {f.name for f in dataclasses.fields(self) if not f.name.startswith("_")}
        changed = set()
        for name, value in changes.items():
            if name not in names:
                raise AttributeError(f"AppState has no field {name!r}")
            if name == "library" and value not in LIBRARY_STATES \
                    or name == "model" and value not in MODEL_STATES:
                raise ValueError(f"{name} cannot be {value!r}")
            old = getattr(self, name)
            if old is value or (name not in _BY_IDENTITY and _same(old, value)):
                continue
            setattr(self, name, value)
            changed.add(name)
        done = frozenset(changed)
        if done:
            for observer in list(self._observers):
                observer(done)
        return done

    # -- derived -------------------------------------------------------------------

    @property
    def searching_possible(self) -> bool:
        """The library is open and the model loaded."""
        return self.library == "open" and self.model == "ready"

    def can_run(self, query: Query) -> bool:
        """Whether ``query`` can be sent now (queries by meaning wait for the model)."""
        return self.library == "open" and (not query.needs_model or self.model == "ready")


    def page(self, has_folders: bool) -> str:
        """Which page the window shows (unless the preview is open): "error" (the
        library is locked or failed), "opening", "welcome" (no folder yet), "model"
        (the model failed) or "results"."""
        if self.library in ("locked", "failed"):
            return "error"
        if self.folders is None:
            return "opening"
        if not has_folders:
            return "welcome"
        if self.model == "failed":
            return "model"
        return "results"

    # -- what the window writes (plain text: tested without Qt) ----------------------

    def status_text(self, storage_error: bool = False) -> str:
        """The status bar's message."""
        if self.library == "opening":
            return "Opening the library…"
        if self.library == "locked":
            return "The library is in use by another ClipGallery."
        if self.library == "failed":
            return "The library cannot be opened."
        if self.model == "loading":
            return (f"Loading the search model{(' ' + self.model_label) if self.model_label else ''}"
                    "… you can browse meanwhile.")
        if self.model == "failed":
            return "Search unavailable: the model could not be loaded."
        text = (f"Search ready · {formatting.count(self.searchable, 'photo')} searchable"
                f" · model {self.model_label}")
        if storage_error:
            text += " · indexing paused: the library's disk refused a write"
        return text

    @property
    def indexing(self) -> bool:
        """Photos are being checked, indexed or read for text (the status bar shows
        progress)."""
        return self.worker_busy and self.index_status.phase in ("scanning", "indexing", "text") \
            and self.model == "ready"

    def progress_text(self, paused: bool = False) -> str:
        """The progress message while :attr:`indexing`."""
        st = self.index_status
        if st.phase == "scanning":
            text = "Checking folders for changes…"
        else:
            what = "Reading text in" if st.phase == "text" else "Indexing"
            text = f"{what} {st.done:,} of {st.total:,}"
            if st.rate > 0 and not paused:
                text += f" · {st.rate:.1f} photos/s"
            if st.eta is not None and st.done < st.total and not paused:
                text += f" · {formatting.duration(st.eta)} left"
        return "Paused · " + text if paused else text

    def results_header(self) -> tuple[str, str]:
        """The results' title and detail line, for the answer shown (:attr:`results`)."""
        rs = self.results
        if rs is None:
            return "", ""
        q, n = rs.query, len(rs.items)
        if q.kind == Query.BROWSE:
            return "All photos", (f"  {n:,}, newest first" if n else "")
        if q.kind == Query.DUPLICATES:
            return (formatting.count(n, "group of duplicates", "groups of duplicates"),
                    f"  {sum(it.count for it in rs.items):,} near-identical photos · click ▣ "
                    "to see a group" if n else "")
        best = sum(1 for it in rs.items if it.best)
        what = "for " + q.describe() if q.kind in (Query.TEXT, Query.ALBUM) else "like " + (
            formatting.file_name(q.path) if q.path is not None else "this photo")
        if best:
            more = f", then {n - best:,} more" if n > best else ""
            return formatting.count(best, "best match", "best matches"), f"  {what}{more}"
        if n:
            return formatting.count(n, "photo"), f"  {what} · no close match, nearest first"
        return "No photos", f"  {what}"

    def empty_text(self) -> str:
        """What the grid says when the answer shown has no photos."""
        q = self.results.query if self.results is not None else self.query
        if self.search_error:
            return self.search_error
        if q.kind == Query.BROWSE:
            return ("No photos indexed yet. They appear here as soon as they are indexed."
                    if self.worker_busy else "No photos in these folders yet.")
        text = (f"No photos found "
                f"{('for ' + q.describe()) if q.kind in (Query.TEXT, Query.ALBUM) else ''}.")
        if self.worker_busy:
            text += "\nIndexing is still running: matches appear as photos are indexed."
        return text


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. arrays: compare by identity only
        return False
