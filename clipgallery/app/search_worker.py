"""Searches, run off the UI thread; the latest query wins.

Runs in: the search thread (a :class:`~clipgallery.app.workers.QueueWorker`).  It owns
its own reader connection to the catalog (SQLite WAL: reads never wait for the
indexer) and shares the thread-safe vector index and the encoder with the indexing
worker.  The UI thread only calls :meth:`SearchWorker.submit` /
:meth:`SearchWorker.set_engine` (which just store a value under a lock) and gets
answers through the ``finished_search`` / ``failed_search`` signals.

A query submitted while another runs replaces any query still waiting: typing
"dog on a chair" quickly runs at most the query in flight and the last one.

Searches go through :meth:`clipgallery.core.search.searcher.Searcher.search` with the query's
filters, sort and good / bad marks, stacking near-identical photos; the best matches
become the :class:`ResultSet`'s items and the rest its ``more`` (shown on "Show more").
Album queries re-run the saved album; the duplicates query lists the library's
near-identical groups.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from clipgallery.app.items import Query, ResultItem, ResultSet, rows_by_path
from clipgallery.app.workers import Job, QueueWorker

if TYPE_CHECKING:  # importing these loads torch: never on the UI thread
    from clipgallery.core.models.torch_backend import Encoder
    from clipgallery.core.search.searcher import Searcher, SearchResponse, SearchResult
    from clipgallery.core.store.catalog import Catalog
    from clipgallery.core.store.vector_index import VectorIndex

log = logging.getLogger(__name__)

# Results (stacks) a search gives at most: the best matches, then "Show more".  Stacking
# near-identical photos is quadratic in this (about 0.9 s for 5000 on a busy 2-core
# machine, well under 0.1 s for 2000), so it stays well below the browse limit.
RESULT_LIMIT = 2000
BROWSE_LIMIT = 50000  # photos the empty query lists at most (newest first)


class SearchWorker(QueueWorker):
    """The search thread."""

    finished_search = Signal(int, object)  # ticket, ResultSet
    failed_search = Signal(int, object, str)  # ticket, Query, message for the user

    def __init__(self, catalog_path: Path, parent: QObject | None = None,
                 limit: int = RESULT_LIMIT) -> None:
        super().__init__("search", catalog_path, parent)
        self.limit = limit
        self._next: tuple[int, Query] | None = None
        self._ticket = 0
        self._engine: tuple[Encoder, VectorIndex] | None = None
        self._warm: tuple[Encoder, VectorIndex] | None = None  # an engine to warm up
        # Browse rows kept between runs (search thread only): id -> (stamp, item).
        self._browse_cache: dict[int, tuple[tuple, ResultItem]] = {}

    # -- any thread ---------------------------------------------------------------

    def submit(self, query: Query) -> int:
        """Queue ``query`` (replacing any query not started yet); returns its ticket."""
        with self._cond:
            self._ticket += 1
            self._next = (self._ticket, query)
            self._wake()
            return self._ticket

    def set_engine(self, encoder: Encoder, index: VectorIndex) -> None:
        """Search with this model from now on; while no query waits, the search thread
        gets it ready (stored vectors read, text model loaded) for the first one."""
        with self._cond:
            self._engine = (encoder, index)
            self._warm = self._engine
            self._wake()

    @property
    def has_engine(self) -> bool:
        with self._cond:
            return self._engine is not None

    # -- the search thread --------------------------------------------------------

    def _has_work(self) -> bool:
        return self._next is not None or self._warm is not None

    def _pending(self) -> bool:
        return self._next is not None  # warming up is not a pending search

    def _take(self) -> tuple[Job, bool] | None:
        if self._next is None:  # a waiting query does the warming itself
            warm, self._warm = self._warm, None
            if warm is None:
                return None
            return (lambda: self._warm_up(warm)), False
        self._warm = None
        (ticket, query), self._next = self._next, None
        engine = self._engine
        return (lambda: self._serve(ticket, query, engine)), True

    def _warm_up(self, engine: tuple[Encoder, VectorIndex]) -> None:
        try:
            catalog = self.reader()
            from clipgallery.core.search.searcher import Searcher

            Searcher(catalog, engine[1], engine[0]).warm_up()
        except Exception:  # noqa: BLE001 - the first search will say what is wrong
            log.info("warming up the search failed", exc_info=True)

    def _serve(self, ticket: int, query: Query,
               engine: tuple[Encoder, VectorIndex] | None) -> None:
        try:
            result = self._search(self.reader(), engine, query)
        except Exception as e:  # noqa: BLE001 - report, keep serving
            self._report_failure(ticket, query, e)
        else:
            self.finished_search.emit(ticket, result)

    def _open_reader(self) -> Catalog:
        from clipgallery.core.store.catalog import Catalog

        if not self.catalog_path.exists():
            raise FileNotFoundError(self.catalog_path)
        return Catalog(self.catalog_path)

    def _report_failure(self, ticket: int, query: Query, e: Exception) -> None:
        if isinstance(e, FileNotFoundError):
            message = "The library is still opening."
        elif _is_search_error(e):
            message = str(e)
        else:
            log.exception("search failed: %s", query)
            message = f"The search failed: {e}"
        self.failed_search.emit(ticket, query, message)

    def _browse(self, catalog: Catalog, query: Query, t0: float) -> ResultSet:
        """Every photo, newest first.  Re-run each second while photos are indexed, so
        rows are kept between runs and only new or changed ones are read: building
        100,000 photo objects anew took ~1.5 s of this thread (holding the GIL, which
        the UI thread then waits for)."""
        from clipgallery.core.store.catalog import INDEXED

        order, total = catalog.newest_first(INDEXED, BROWSE_LIMIT)
        cache = self._browse_cache
        stale = [pid for pid, stamp in order
                 if (hit := cache.get(pid)) is None or hit[0] != stamp]
        fresh = catalog.photos_by_id(stale) if stale else {}
        kept: dict[int, tuple[tuple, ResultItem]] = {}
        items: list[ResultItem] = []
        for pid, stamp in order:
            if pid in fresh:
                entry = (stamp, ResultItem(fresh[pid]))
            else:
                entry = cache.get(pid)  # type: ignore[assignment]
                if entry is None:  # gone between the two reads: next refresh shows it
                    continue
            kept[pid] = entry
            items.append(entry[1])
        self._browse_cache = kept
        return ResultSet(query, items, total, time.monotonic() - t0,
                         rows_by_path=rows_by_path(items))

    def _search(self, catalog: Catalog, engine: tuple[Encoder, VectorIndex] | None,
                query: Query) -> ResultSet:
        t0 = time.monotonic()
        if query.kind == Query.BROWSE:
            return self._browse(catalog, query, t0)
        if query.kind == Query.DUPLICATES:
            return self._duplicates(catalog, engine, query, t0)
        if engine is None:
            raise RuntimeError("the model is not loaded yet")
        from clipgallery.core.search.searcher import Searcher

        encoder, index = engine
        searcher = Searcher(catalog, index, encoder)
        response = self._run(catalog, searcher, query)
        items = [_item(r, response.ranked, response.text_hits) for r in response]
        more: list[ResultItem] = []
        if any(it.best for it in items):
            # The long tail below this query's cut-off waits behind "Show more".
            more = [it for it in items if not it.best]
            items = [it for it in items if it.best]
        return ResultSet(query, items, response.library_size, time.monotonic() - t0, more,
                         rows_by_path=rows_by_path(items),
                         understood=response.understood.items() if response.understood
                         else [])

    def _duplicates(self, catalog: Catalog, engine: tuple[Encoder, VectorIndex] | None,
                    query: Query, t0: float) -> ResultSet:
        """Groups of near-identical photos, each as one stacked row, largest first."""
        from clipgallery.core.search.duplicates import find_duplicates

        folder = dict(query.filters).get("folder")
        groups = find_duplicates(catalog, engine[1].model_id if engine else None,
                                 folder=folder or None)
        items = [ResultItem(g.photos[0], None, True,
                            tuple(ResultItem(p, None, True) for p in g.photos))
                 for g in groups]
        from clipgallery.core.store.catalog import INDEXED

        searched = catalog.counts().get(INDEXED, 0)
        return ResultSet(query, items, searched, time.monotonic() - t0)

    def _run(self, catalog: Catalog, searcher: Searcher, query: Query) -> SearchResponse:
        from clipgallery.core.search.query import Filters

        filters = Filters.from_dict(dict(query.filters)) if query.filters else None
        opts = {"good": query.good, "bad": query.bad, "filters": filters, "sort": query.sort,
                "limit": self.limit, "stack": True}
        if query.kind == Query.TEXT:
            return searcher.search(query.text, **opts)  # type: ignore[arg-type]
        if query.kind == Query.IMAGE:
            assert query.path is not None
            return searcher.search("", image=os.fspath(query.path), **opts)  # type: ignore[arg-type]
        if query.kind == Query.SIMILAR:
            ref = query.photo_id if query.photo_id is not None else os.fspath(query.path or "")
            return searcher.search("", image=ref, **opts)  # type: ignore[arg-type]
        if query.kind == Query.ALBUM:
            from clipgallery.core.search.albums import get_album

            album = get_album(catalog, query.text)
            return searcher.search(
                album.query, image=album.image, good=[*album.good, *query.good],
                bad=[*album.bad, *query.bad], filters=album.filters or None,
                sort=query.sort if query.sort != "relevance" else album.sort,
                limit=self.limit, stack=True)
        raise ValueError(f"unknown query kind {query.kind}")


def _item(r: SearchResult, ranked: bool, text_hits: dict | None = None) -> ResultItem:
    hits = text_hits or {}

    def one(m: SearchResult, stack: tuple[ResultItem, ...] = ()) -> ResultItem:
        hit = hits.get(m.photo.id)
        return ResultItem(m.photo, float(m.score) if ranked else None, bool(m.best), stack,
                          text=hit.text if hit else None, text_box=hit.box if hit else None)

    stack = tuple(one(m) for m in r.stack) if len(r.stack) > 1 else ()
    return one(r, stack)

def _is_search_error(e: Exception) -> bool:
    """A SearchError/QueryError (their messages are for the user); no import needed."""
    return any(c.__name__ == "SearchError" and c.__module__.startswith("clipgallery.core")
               for c in type(e).__mro__)
