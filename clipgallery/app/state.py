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


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. arrays: compare by identity only
        return False
