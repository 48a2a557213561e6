"""Smart albums: saved searches that update as new photos are indexed.

An album is a name, a query (query language of :mod:`clipgallery.core.search.query`; may be
empty when filters alone define it) and :class:`~clipgallery.core.search.query.Filters`, plus a
few search options (sort order, a reference image, photos marked good / bad).  It is
stored in the catalog's ``albums`` table: the filters as JSON in the ``filters``
column, with the options under the key ``"options"``.

Nothing but the definition is stored: :func:`album_results` runs the search again, so
an album always reflects the photos indexed so far.

API::

    save_album(catalog, name, query="", filters=None, *, sort="relevance", image=None,
               good=(), bad=(), replace=False) -> Album
    get_album(catalog, name) -> Album          # AlbumError if there is none
    list_albums(catalog) -> list[Album]        # by name
    remove_album(catalog, name) -> None        # AlbumError if there is none
    album_results(searcher, album, limit=..., stack=True) -> SearchResponse

Errors are :class:`AlbumError` (a :class:`~clipgallery.core.search.query.SearchError`) with
a message for the user; an album whose query does not parse is refused when saved.

Threading: plain catalog reads and one-statement transactions; use the calling
thread's catalog connection.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clipgallery.core.search.query import Filters, QueryError, SearchError, parse_query
from clipgallery.core.store.catalog import Catalog

__all__ = ["AlbumError", "Album", "save_album", "get_album", "list_albums", "remove_album",
           "album_results"]


class AlbumError(SearchError):
    """An album cannot be saved, found or run; the message is for the user."""


@dataclass
class Album:
    id: int
    name: str
    query: str
    filters: Filters = field(default_factory=Filters)
    sort: str = "relevance"
    image: str | int | None = None
    good: list[str | int] = field(default_factory=list)
    bad: list[str | int] = field(default_factory=list)
    created_at: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "query": self.query,
                "filters": self.filters.as_dict(), "sort": self.sort, "image": self.image,
                "good": list(self.good), "bad": list(self.bad),
                "created_at": self.created_at}

    def describe(self) -> str:
        parts = [f'"{self.query}"' if self.query else ""]
        if self.image is not None:
            parts.append(f"like {self.image}")
        if self.filters:
            parts.append(self.filters.describe())
        if self.good or self.bad:
            parts.append(f"{len(self.good)} good, {len(self.bad)} bad")
        return ", ".join(p for p in parts if p) or "all photos"


def _ref(x: object) -> str | int:
    if isinstance(x, int):
        return x
    return os.path.abspath(os.fsdecode(os.fspath(x)))  # type: ignore[arg-type]


def _from_row(row: Mapping[str, Any]) -> Album:
    try:
        data = json.loads(row["filters"] or "{}")
    except ValueError:
        data = {}
    opts = data.pop("options", {}) if isinstance(data, dict) else {}
    try:
        filters = Filters.from_dict(data if isinstance(data, dict) else {})
    except QueryError:
        filters = Filters()
    return Album(id=row["id"], name=row["name"], query=row["query"], filters=filters,
                 sort=opts.get("sort", "relevance"), image=opts.get("image"),
                 good=list(opts.get("good", [])), bad=list(opts.get("bad", [])),
                 created_at=row["created_at"])


def save_album(catalog: Catalog, name: str, query: str = "", filters: Filters | None = None,
               *, sort: str = "relevance", image: str | int | os.PathLike[str] | None = None,
               good: Iterable[str | int | os.PathLike[str]] = (),
               bad: Iterable[str | int | os.PathLike[str]] = (),
               replace: bool = False) -> Album:
    """Save (or with ``replace``, overwrite) a smart album."""
    from clipgallery.core.search.searcher import SORTS

    name = " ".join((name or "").split())
    if not name:
        raise AlbumError("Give the album a name.")
    query = (query or "").strip()
    filters = filters or Filters()
    good_l, bad_l = [_ref(g) for g in good], [_ref(b) for b in bad]
    if sort not in SORTS:
        raise AlbumError(f"Sort by {', '.join(SORTS)} (got {sort!r}).")
    parsed = parse_query(query, require_positive=False)
    if not parsed.positives and image is None and not good_l:
        if parsed.negatives:
            raise QueryError("Say what to look for, not only what to leave out "
                             "(e.g. beach -people).")
        if not filters:
            raise AlbumError("An album needs search words, a photo or at least one filter.")
    payload = dict(filters.as_dict())
    payload["options"] = {"sort": sort, "image": None if image is None else _ref(image),
                          "good": good_l, "bad": bad_l}
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    if not catalog.put_album(name, query, blob, replace=replace):
        raise AlbumError(f"There is already an album named '{name}'.")
    return get_album(catalog, name)


def get_album(catalog: Catalog, name: str) -> Album:
    name = " ".join((name or "").split())
    rows = catalog.albums_by_name(name) or catalog.albums_by_name(name, nocase=True)
    if len(rows) != 1:
        raise AlbumError(f"There is no album named '{name}'.")
    return _from_row(rows[0])


def list_albums(catalog: Catalog) -> list[Album]:
    return [_from_row(r) for r in catalog.all_albums()]


def remove_album(catalog: Catalog, name: str) -> None:
    album = get_album(catalog, name)
    catalog.delete_album(album.id)


def album_results(searcher, album: Album, limit: int | None = None, *, stack: bool = True):
    """Run the album's search now (``searcher``: a :class:`~clipgallery.core.search.searcher.
    Searcher`); returns its :class:`~clipgallery.core.search.searcher.SearchResponse`."""
    from clipgallery.core.search.searcher import DEFAULT_LIMIT

    return searcher.search(album.query, image=album.image, good=album.good, bad=album.bad,
                           filters=album.filters or None, sort=album.sort,
                           limit=limit or DEFAULT_LIMIT, stack=stack)
