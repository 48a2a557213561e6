"""Search: a query → ranked, filtered, cut-off and stacked photos.

The API the app and the CLI use
-------------------------------
``Searcher(catalog, index, encoder)`` answers queries over one model's vectors.

``Searcher.search(query="", *, image=None, good=(), bad=(), filters=None,
sort="relevance", limit=100, stack=True, image_weight=1.0) -> SearchResponse``

* ``query``: text in the query language of :mod:`clipgallery.core.search.query`
  (``beach -people``, ``2:sunset + boat``, quoted phrases), or a parsed
  :class:`~clipgallery.core.search.query.ParsedQuery`;
* ``image``: a photo id, the path of a library photo (its stored vector is used and
  the photo itself is left out of the results) or of any image file; combined with
  the text as one more positive term of weight ``image_weight``;
* ``good`` / ``bad``: photo ids or paths marked as good / bad results ("more like
  these", Rocchio, see :func:`clipgallery.core.search.ranking.refine`); bad photos are left
  out of the results;
* ``filters``: a :class:`~clipgallery.core.search.query.Filters` (folder, dates, camera,
  file type, orientation); with filters and no query at all, the matching photos are
  listed newest first;
* ``sort``: ``"relevance"`` (default), ``"date"`` (newest first) or ``"oldest"``;
* ``limit``: how many results (stacks, when stacking) at most;
* ``stack``: group near-identical photos into one result (see
  :mod:`clipgallery.core.search.duplicates`).

The :class:`SearchResponse` is a sequence of :class:`SearchResult` (iterate it, index
it, ``len()`` it) plus ``best`` (the best matches), ``more`` (how many results the
cutoff hides), ``photos()`` (every photo, stack members included, by score),
``library_size``, ``median`` / ``spread`` / ``top`` (this query's score distribution) and
``exact`` (whether every vector was scored).

A :class:`SearchResult` has ``photo`` (a :class:`~clipgallery.core.store.catalog.Photo`),
``score`` (higher is better; a cosine similarity for a one-term query, see
:mod:`clipgallery.core.search.ranking` for compound ones), ``z`` (how far it stands out for
this query), ``best`` (a best match: shown by default), ``stack`` (all members of
its stack, best first and itself included; empty for a photo on its own) and
``count`` (1 or the stack's size), plus ``path`` and ``as_dict()``.

Errors are :class:`SearchError` (its subclass :class:`QueryError` for query and filter
mistakes); their messages are meant for the user.

The older calls stay: ``search_text``, ``search_image``, ``similar``, ``search_vector``
return plain lists of :class:`SearchResult` ranked by cosine similarity (no cutoff, no
stacks).

How results are found
---------------------
Up to :data:`EXACT_MAX` photos, every stored vector is scored exactly with numpy (a
copy of the index's vectors is kept in memory per vector index and refreshed when the
index changes); filters become an SQL query over the catalog whose ids mask the
scores.  Above that, the hnswlib index is queried with the query vector, over-fetching
and doubling ``k`` until enough filtered results are certain (or the whole index is
covered); when a filter matches few photos (at most :data:`SELECTIVE_MAX`) their
vectors are read from the catalog and scored exactly instead.  The score distribution
for the relevance cutoff then comes from a random sample of :data:`SAMPLE_SIZE`
stored vectors.

Threading: a :class:`Searcher` may be used from any one thread at a time; it reads
through its own catalog connection and queries the (locked) shared vector index, so
searches run while the indexer writes.  The in-memory vector copies are shared between
searchers of one index and guarded by a lock.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipgallery.core.photos import imaging
from clipgallery.core.search import duplicates, ranking
from clipgallery.core.search.filters import SORTS
from clipgallery.core.search.query import Filters, ParsedQuery, QueryError, SearchError, parse_query
from clipgallery.core.search.understand import Understood, understand
from clipgallery.core.store.catalog import INDEXED, Catalog, Photo, TextHit
from clipgallery.core.store.vector_index import VectorIndex

if TYPE_CHECKING:  # torch and open_clip load only with a model
    from clipgallery.core.models.backends import Encoder

__all__ = ["DEFAULT_LIMIT", "EXACT_MAX", "SELECTIVE_MAX", "SAMPLE_SIZE", "SORTS",
           "SearchError", "QueryError", "SearchResult", "SearchResponse", "Searcher"]

DEFAULT_LIMIT = 100
EXACT_MAX = 100_000
SELECTIVE_MAX = 20_000
SAMPLE_SIZE = 5_000

PhotoRef = int | str | os.PathLike[str]


@dataclass
class SearchResult:
    photo: Photo
    score: float
    best: bool = False
    z: float | None = None
    stack: list[SearchResult] = field(default_factory=list, repr=False)
    # With text to find: ``score`` ranks by signals matched (text and CLIP above either
    # alone, see Searcher._with_text); the CLIP score itself is kept here.
    clip: float | None = None

    @property
    def path(self) -> Path:
        return self.photo.path

    @property
    def count(self) -> int:
        """How many photos this result stands for (its stack's size, or 1)."""
        return max(1, len(self.stack))

    def as_dict(self, *, members: bool = True) -> dict[str, object]:
        p = self.photo
        d: dict[str, object] = {
            "id": p.id,
            "path": os.fsdecode(p.path),
            "score": round(self.score, 6),
            "width": p.width,
            "height": p.height,
            "taken_at": p.taken_at,
            "camera": " ".join(x for x in (p.camera_make, p.camera_model) if x) or None,
            "best": self.best,
            "z": None if self.z is None else round(self.z, 3),
        }
        if members and self.stack:
            d["stack"] = [m.as_dict(members=False) for m in self.stack if m is not self]
        return d


@dataclass
class SearchResponse:
    results: list[SearchResult]
    query: ParsedQuery = field(default_factory=ParsedQuery)
    filters: Filters | None = None
    library_size: int = 0
    median: float = 0.0
    spread: float = 1.0
    exact: bool = True
    top: float = 0.0  # the best score in the library for this query
    ranked: bool = True  # False: a filter-only listing (no query), by date
    sort: str = "relevance"
    understood: Understood | None = None  # a date or place read out of the query text
    text_hits: dict[int, TextHit] = field(default_factory=dict)  # photo id -> its text match

    def why(self, r: SearchResult) -> dict[str, object]:
        """Why ``r`` is a result: its CLIP score (ranked searches), the text it holds
        (its line, box and confidence) when the query asked for text, and the place and
        day taken when the query's date or place (:attr:`understood`) selected it."""
        out: dict[str, object] = {}
        clip = r.clip if self.text_hits else r.score
        if self.ranked and clip is not None:
            out["clip"] = round(clip, 6)
        hit = self.text_hits.get(r.photo.id)
        if hit is not None:
            out["text"] = hit.as_dict()
        u = self.understood
        if u and u.place and r.photo.place:
            out["place"] = r.photo.place
        if u and u.date and r.photo.taken_at is not None:
            out["date"] = _dt.datetime.fromtimestamp(r.photo.taken_at).date().isoformat()
        return out

    def __iter__(self) -> Iterator[SearchResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i):
        return self.results[i]

    @property
    def best(self) -> list[SearchResult]:
        return [r for r in self.results if r.best]

    @property
    def more(self) -> int:
        """Results the cutoff hides (stacks count once)."""
        return sum(1 for r in self.results if not r.best)

    def photos(self) -> list[SearchResult]:
        """Every photo (stack members included), best score first."""
        out = [m for r in self.results for m in (r.stack or [r])]
        out.sort(key=lambda r: (-r.score, r.photo.id))
        return out


# ----------------------------------------------------------------------------- caches


@dataclass
class _Snapshot:
    seq: int  # the catalog's vector_log head these vectors reflect
    ids: np.ndarray  # (n,) int64
    mat: np.ndarray  # (n, dim) float32 unit rows
    base: int = 0  # for a sample: the library size it was drawn from


# In-memory copies of a model's stored vectors, one per vector index (shared by every
# Searcher of that index), read from the catalog and patched from its vector_log.
_SNAPSHOTS: weakref.WeakKeyDictionary[VectorIndex, _Snapshot] = weakref.WeakKeyDictionary()
_SAMPLES: weakref.WeakKeyDictionary[VectorIndex, _Snapshot] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()
_TEXT_CACHE: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_TEXT_CACHE_MAX = 512


def _unit_rows(mat: np.ndarray, dim: int) -> np.ndarray:
    """``mat``'s rows scaled to unit length, in place (callers pass arrays of their own,
    fresh from the catalog), block by block: a million vectors need no second copy."""
    if mat.size == 0:
        return np.zeros((0, dim), np.float32)
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    if not mat.flags.writeable:
        mat = mat.copy()
    for i in range(0, mat.shape[0], 8192):
        blk = mat[i:i + 8192]
        blk /= np.maximum(np.sqrt(np.einsum("ij,ij->i", blk, blk)), 1e-12)[:, None]
    return mat


def _snapshot(catalog: Catalog, index: VectorIndex) -> _Snapshot:
    """Every searchable vector of the index's model, as of now."""
    model = index.model_id
    with _CACHE_LOCK:
        snap = _SNAPSHOTS.get(index)
    if snap is not None and snap.seq >= catalog.log_floor():
        head, changed = catalog.log_since(snap.seq)
        if not changed:
            return snap
        got_ids, got = catalog.indexed_vectors(model, changed)
        keep = ~np.isin(snap.ids, np.asarray(changed, dtype=np.int64))
        snap = _Snapshot(head, np.concatenate([snap.ids[keep], got_ids]),
                         np.concatenate([snap.mat[keep], _unit_rows(got, index.dim)]))
    else:
        head = catalog.log_head()  # read first: later changes are replayed next time
        ids, mat = catalog.indexed_vectors(model)
        snap = _Snapshot(head, ids, _unit_rows(mat, index.dim))
    with _CACHE_LOCK:
        _SNAPSHOTS[index] = snap
    return snap


def _sample(catalog: Catalog, index: VectorIndex, size: int) -> _Snapshot:
    """A random sample of the stored vectors (for the score distribution of a query in
    a library too large to score whole); drawn again when the library grew or shrank
    by more than 5 %."""
    n = len(index)
    with _CACHE_LOCK:
        snap = _SAMPLES.get(index)
    if snap is not None and abs(n - snap.base) <= 0.05 * max(snap.base, 1):
        return snap
    all_ids = np.array(sorted(index.ids()), dtype=np.int64)
    rng = np.random.default_rng(all_ids.size)
    pick = np.sort(rng.choice(all_ids, size=min(size, all_ids.size), replace=False))
    ids, mat = catalog.indexed_vectors(index.model_id, pick.tolist())
    snap = _Snapshot(catalog.log_head(), ids, _unit_rows(mat, index.dim), base=n)
    with _CACHE_LOCK:
        _SAMPLES[index] = snap
    return snap


@dataclass
class _Candidates:
    ids: np.ndarray
    scores: np.ndarray
    vectors: np.ndarray


@dataclass
class _QueryVectors:
    """A query's vectors: weighted positive and negative terms (with its image among
    the positives), the good and bad photos, and the photos never to show."""

    positives: list[tuple[np.ndarray, float]] = field(default_factory=list)
    negatives: list[tuple[np.ndarray, float]] = field(default_factory=list)
    good: list[np.ndarray] = field(default_factory=list)
    bad: list[np.ndarray] = field(default_factory=list)
    exclude: set[int] = field(default_factory=set)


class Searcher:
    """Answers queries over one model's vectors."""

    exact_max = EXACT_MAX
    selective_max = SELECTIVE_MAX
    sample_size = SAMPLE_SIZE

    def __init__(self, catalog: Catalog, index: VectorIndex, encoder: Encoder | None) -> None:
        self.catalog = catalog
        self.index = index
        self.encoder = encoder

    def warm_up(self) -> None:
        """Do now what would make the first search slow: read the stored vectors it
        scores (or its sample of them) and load the text model.  Thread: the caller's
        (the app's search thread, while nobody is waiting for an answer)."""
        if len(self.index) <= self.exact_max:
            _snapshot(self.catalog, self.index)
        else:
            _sample(self.catalog, self.index, self.sample_size)
        if self.encoder is not None:
            self.encoder.encode_text(["a photo"])

    def _need_encoder(self) -> Encoder:
        if self.encoder is None:
            raise SearchError("The model is not loaded yet.")
        return self.encoder

    # -- vectors of queries -----------------------------------------------------------

    def text_vector(self, text: str) -> np.ndarray:
        text = text.strip()
        if not text:
            raise SearchError("Type a few words to search for.")
        return self.text_vectors([text])[0]

    def text_vectors(self, texts: Sequence[str]) -> np.ndarray:
        enc = self._need_encoder()
        out: list[np.ndarray | None] = []
        todo: list[str] = []
        with _CACHE_LOCK:
            for t in texts:
                v = _TEXT_CACHE.get((enc.model_id, t))
                if v is not None:
                    _TEXT_CACHE.move_to_end((enc.model_id, t))
                out.append(v)
                if v is None:
                    todo.append(t)
        if todo:
            fresh = dict(zip(todo, enc.encode_text(todo), strict=True))
            with _CACHE_LOCK:
                for t, v in fresh.items():
                    _TEXT_CACHE[(enc.model_id, t)] = v
                while len(_TEXT_CACHE) > _TEXT_CACHE_MAX:
                    _TEXT_CACHE.popitem(last=False)
            out = [fresh[t] if v is None else v for t, v in zip(texts, out, strict=True)]
        if not out:
            return np.zeros((0, enc.dim), np.float32)
        return np.stack(out).astype(np.float32)  # type: ignore[arg-type]

    def image_vector(self, path: os.PathLike[str] | str) -> np.ndarray:
        enc = self._need_encoder()
        try:
            dec = imaging.decode(path, min_side=enc.image_size)
        except imaging.DecodeError as e:
            raise SearchError(f"Cannot search by {os.fsdecode(path)}: {e.reason}") from e
        return enc.encode_images([enc.preprocess_image(dec.image)])[0]

    def photo_vector(self, photo: int | os.PathLike[str] | str) -> tuple[int, np.ndarray]:
        """The stored vector of a photo in the library, by id or path."""
        if isinstance(photo, int):
            pid = photo
        else:
            row = self.catalog.photo_by_path(os.path.abspath(photo))
            if row is None:
                raise SearchError(f"{os.fsdecode(photo)} is not in the library.")
            pid = row.id
        vec = self.catalog.embedding(pid, self.index.model_id)
        if vec is None and not self.catalog.photos_by_id([pid]):
            raise SearchError(f"There is no photo {pid} in the library.")
        if vec is None:
            raise SearchError("That photo has not been indexed with the current model yet.")
        return pid, vec

    def reference_vector(self, ref: PhotoRef) -> tuple[int | None, np.ndarray]:
        """A photo id, a library photo's path or any image file → (id or None, vector).

        A library photo's stored vector is used; another file is decoded and encoded.
        A string of digits is an id unless a file of that name exists.
        """
        if isinstance(ref, int):
            return self.photo_vector(ref)
        s = os.fsdecode(os.fspath(ref))
        if s.isdigit() and not os.path.exists(s):
            return self.photo_vector(int(s))
        path = os.path.abspath(s)
        row = self.catalog.photo_by_path(path)
        if row is not None:
            vec = self.catalog.embedding(row.id, self.index.model_id)
            if vec is not None:
                return row.id, vec
        if not os.path.exists(path):
            raise SearchError(f"{s} is not in the library and is not a file.")
        return None, self.image_vector(path)

    # -- the older calls ------------------------------------------------------------

    def search_text(self, text: str, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        return self.search_vector(self.text_vector(text), limit)

    def search_image(self, path: os.PathLike[str] | str,
                     limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        return self.search_vector(self.image_vector(path), limit)

    def similar(self, photo: int | os.PathLike[str] | str,
                limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        """Photos like one already in the library (the photo itself is left out)."""
        pid, vec = self.photo_vector(photo)
        return [r for r in self.search_vector(vec, limit + 1) if r.photo.id != pid][:limit]

    def search_vector(self, vector: np.ndarray, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        v = np.asarray(vector, dtype=np.float32)
        n = float(np.linalg.norm(v))
        if n == 0 or not np.isfinite(n):
            return []
        hits = self.index.query(v / n, limit)
        rows = self.catalog.photos_by_id(i for i, _ in hits)
        out = []
        for pid, score in hits:
            row = rows.get(pid)
            # The index can briefly lag the catalog; never show a row that is not
            # (or no longer) searchable.
            if row is not None and row.status == INDEXED:
                out.append(SearchResult(row, score))
        return out

    # -- the full search ---------------------------------------------------------------

    def search(self, query: str | ParsedQuery = "", *, image: PhotoRef | None = None,
               good: Iterable[PhotoRef] = (), bad: Iterable[PhotoRef] = (),
               filters: Filters | None = None, sort: str = "relevance",
               limit: int = DEFAULT_LIMIT, stack: bool = True,
               image_weight: float = 1.0, understand_text: bool = True) -> SearchResponse:
        """Run a query (see the module docstring); with ``understand_text``, dates and
        places in a text query become filters (:mod:`clipgallery.core.search.understand`,
        told in the response's ``understood``)."""
        understood = None
        if understand_text and isinstance(query, str) and query.strip():
            understood = understand(query, self.catalog.place_names())
            if understood:
                query, filters = understood.text, understood.apply(filters)
            else:
                understood = None
        if understood is not None and understood.words:
            response = self._with_text(understood.words, query, image=image, good=good,
                                       bad=bad, filters=filters, sort=sort, limit=limit,
                                       stack=stack, image_weight=image_weight)
        else:
            response = self._search(query, image=image, good=good, bad=bad, filters=filters,
                                    sort=sort, limit=limit, stack=stack,
                                    image_weight=image_weight)
        response.understood = understood
        return response

    def _with_text(self, words: str, query: str | ParsedQuery, *, image: PhotoRef | None,
                   good: Iterable[PhotoRef], bad: Iterable[PhotoRef], filters: Filters | None,
                   sort: str, limit: int, stack: bool, image_weight: float) -> SearchResponse:
        """A search for text in photos, with or without CLIP terms.

        Photos whose text matches come first, and of those, the ones CLIP also ranks
        among its best matches (several signals) above the others; then, not marked
        best, CLIP's other matches.  Place and date filters apply to all.  Without CLIP
        terms only photos with the text are results, best match first (a whole word over
        a word's start over a substring, then confidence)."""
        good, bad = list(good), list(bad)
        hits = {h.photo_id: h for h in self.catalog.text_hits(words, limit=max(limit, 1000))}
        parsed = query if isinstance(query, ParsedQuery) else parse_query(
            query or "", require_positive=False)
        # Negative terms alone (text:menu -people) have nothing for CLIP to rank by.
        has_clip = bool(parsed.positives) or image is not None or bool(good)
        clip_rows: list[SearchResult] = []
        base = SearchResponse([], filters=filters, library_size=len(self.index), sort=sort)
        if has_clip:
            base = self._search(parsed, image=image, good=good, bad=bad, filters=filters,
                                sort="relevance", limit=max(limit, len(hits)) + limit,
                                stack=False, image_weight=image_weight)
            clip_rows = base.results
        quality = {"word": 1.0, "prefix": 0.9, "substring": 0.8}
        rows = self.catalog.photos_by_id(list(hits))
        by_id = {r.photo.id: r for r in clip_rows}
        results: list[SearchResult] = []
        for pid, h in hits.items():
            row = rows.get(pid)
            if row is None or row.status != INDEXED or (filters and not filters.matches(row)):
                continue
            c = by_id.get(pid)
            text_score = quality.get(h.kind, 0.8) * h.confidence
            two = c is not None and c.best
            score = (2.0 + c.score) if two else 1.0 + text_score
            results.append(SearchResult(row, score, best=True, z=c.z if c else None,
                                        clip=c.score if c else None))
        results.sort(key=lambda r: (-r.score, r.photo.id))
        for c in clip_rows:
            if c.photo.id not in hits:
                results.append(SearchResult(c.photo, c.score, best=False, z=c.z, clip=c.score))
        results = results[:int(limit * 1.25) + 10 if stack else limit]
        if stack and len(results) > 1:
            got, vecs = self.catalog.indexed_vectors(self.index.model_id,
                                                     [r.photo.id for r in results])
            results = self._stack(results, {int(i): v for i, v in zip(got, vecs, strict=True)})
        results = results[:limit]
        self._sort(results, sort)
        return SearchResponse(results, base.query, filters, base.library_size or len(self.index),
                              base.median, base.spread, base.exact, top=base.top,
                              ranked=True, sort=sort, text_hits=hits)

    def _search(self, query: str | ParsedQuery, *, image: PhotoRef | None,
                good: Iterable[PhotoRef], bad: Iterable[PhotoRef], filters: Filters | None,
                sort: str, limit: int, stack: bool, image_weight: float) -> SearchResponse:
        """:meth:`search` once the query's dates and places are filters (over ~60 lines:
        the steps of one search read best in one place)."""
        if sort not in SORTS:
            raise QueryError(f"Sort by {', '.join(SORTS)} (got {sort!r}).")
        if limit <= 0:
            raise QueryError("The limit must be at least 1.")
        parsed = query if isinstance(query, ParsedQuery) else parse_query(
            query or "", require_positive=False)
        filters = filters if filters else None
        good, bad = list(good), list(bad)
        if not parsed.positives and image is None and not good:
            if parsed.negatives:
                raise QueryError("Say what to look for, not only what to leave out "
                                 "(e.g. beach -people).")
            if filters is None and not bad:
                raise QueryError("Type a few words to search for.")
            if filters is None:
                raise QueryError("Mark at least one photo as good, or type a few words.")
            return self._list_filtered(filters, sort, limit, stack)

        vq = self._query_vectors(parsed, image, good, bad, image_weight)
        exclude = vq.exclude
        n_lib = len(self.index)
        exact = n_lib <= self.exact_max
        snap = _snapshot(self.catalog, self.index) if exact else \
            _sample(self.catalog, self.index, self.sample_size)
        if exact:
            n_lib = int(snap.ids.size)
        try:
            scorer = ranking.build_scorer(
                vq.positives, vq.negatives, snap.mat,
                good=np.stack(vq.good) if vq.good else None,
                bad=np.stack(vq.bad) if vq.bad else None)
        except ValueError as e:
            raise QueryError("Nothing to search for.") from e
        lib_scores = scorer.score(snap.mat)
        median, spread = ranking.robust_stats(lib_scores)
        top = self._top_score(snap, lib_scores, scorer, exclude, exact)
        want = limit if not stack else int(limit * 1.25) + 10
        if exact:
            cand = self._exact_candidates(snap, lib_scores, filters, exclude, want)
        else:
            cand = self._approx_candidates(scorer, filters, exclude, want)
        results = self._rows(cand, filters)
        z = ranking.zscores(np.array([r.score for r in results]), median, spread)
        best = ranking.mark_best(np.array([r.score for r in results]), median, spread, top,
                                 n_lib)
        for r, zi, b in zip(results, z, best, strict=True):
            r.z, r.best = float(zi), bool(b)
        if stack:
            vec_of = {int(i): v for i, v in zip(cand.ids, cand.vectors, strict=True)}
            results = self._stack(results, vec_of)
        results = results[:limit]
        self._sort(results, sort)
        return SearchResponse(results, parsed, filters, n_lib, median, spread, exact,
                              top=top, sort=sort)

    def _query_vectors(self, parsed: ParsedQuery, image: PhotoRef | None,
                       good: list[PhotoRef], bad: list[PhotoRef],
                       image_weight: float) -> _QueryVectors:
        """The vectors of a query's terms, its image and its good and bad photos."""
        vq = _QueryVectors()
        terms = parsed.positives + parsed.negatives
        tvecs = self.text_vectors([t.text for t in terms]) if terms else None
        for k, t in enumerate(terms):
            assert tvecs is not None
            (vq.negatives if t.negative else vq.positives).append((tvecs[k], t.weight))
        if image is not None:
            pid, v = self.reference_vector(image)
            vq.positives.append((v, float(image_weight)))
            if pid is not None:
                vq.exclude.add(pid)
        vq.good = [self.reference_vector(g)[1] for g in good]
        bad_refs = [self.reference_vector(b) for b in bad]
        vq.exclude.update(pid for pid, _ in bad_refs if pid is not None)
        vq.bad = [v for _, v in bad_refs]
        return vq

    def _top_score(self, snap: _Snapshot, lib_scores: np.ndarray,
                   scorer: ranking.QueryScorer, exclude: set[int], exact: bool) -> float:
        """The best score of a photo that may be shown (not the query photo itself, nor
        the ones marked bad)."""
        shown = ~np.isin(snap.ids, np.array(sorted(exclude), dtype=np.int64))
        top = float(lib_scores[shown].max()) if shown.any() else 0.0
        if not exact:
            # The sample rarely holds the very best photos: ask the index for them.
            hits = self.index.query(scorer.probe, 50 + len(exclude))
            _, vecs = self.catalog.indexed_vectors(
                self.index.model_id, [i for i, _ in hits if i not in exclude])
            if vecs.size:
                top = max(top, float(scorer.score(_unit_rows(vecs, self.index.dim)).max()))
        return top

    # -- candidates -----------------------------------------------------------------

    def _filter_ids(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None:
            return None
        return np.array(self.catalog.ids_where(filters.conditions()), dtype=np.int64)

    def _exact_candidates(self, snap: _Snapshot, scores: np.ndarray, filters: Filters | None,
                          exclude: set[int], want: int) -> _Candidates:
        mask = np.ones(snap.ids.size, dtype=bool)
        allowed = self._filter_ids(filters)
        if allowed is not None:
            mask &= np.isin(snap.ids, allowed)
        if exclude:
            mask &= ~np.isin(snap.ids, np.array(sorted(exclude), dtype=np.int64))
        pos = np.nonzero(mask)[0]
        if pos.size > want:
            top = np.argpartition(-scores[pos], want - 1)[:want]
            pos = pos[top]
        order = np.lexsort((snap.ids[pos], -scores[pos]))
        pos = pos[order]
        return _Candidates(snap.ids[pos], scores[pos], snap.mat[pos])

    def _approx_candidates(self, scorer: ranking.QueryScorer, filters: Filters | None,
                           exclude: set[int], want: int) -> _Candidates:
        model = self.index.model_id
        if filters is not None:
            count = self.catalog.count_with_vectors_where(model, filters.conditions())
            if count <= self.selective_max:
                ids = self._filter_ids(filters)
                assert ids is not None
                ids = np.array([i for i in ids.tolist() if i not in exclude], dtype=np.int64)
                got_ids, vecs = self.catalog.indexed_vectors(model, ids.tolist())
                if got_ids.size == 0:
                    return _Candidates(got_ids, np.zeros(0, np.float32),
                                       np.zeros((0, self.index.dim), np.float32))
                vecs = _unit_rows(vecs, self.index.dim)
                scores = scorer.score(vecs)
                order = np.lexsort((got_ids, -scores))[:want]
                return _Candidates(got_ids[order], scores[order], vecs[order])
            selectivity = max(count / max(len(self.index), 1), 1e-6)
        else:
            selectivity = 1.0
        n = len(self.index)
        k = min(n, max(want * 2, int(math.ceil(want / selectivity * 1.5)) + len(exclude)))
        while True:
            hits = self.index.query(scorer.probe, k)
            ids = np.array([i for i, _ in hits], dtype=np.int64)
            pos_scores = np.array([s for _, s in hits], dtype=np.float32)
            got, vecs = self.catalog.indexed_vectors(model, ids.tolist())
            # Keep the index's order; drop what the catalog no longer holds.
            row_of = {int(i): r for r, i in enumerate(got)}
            keep0 = np.array([int(i) in row_of for i in ids], dtype=bool)
            ids, pos_scores = ids[keep0], pos_scores[keep0]
            vecs = _unit_rows(vecs[[row_of[int(i)] for i in ids]] if ids.size else vecs,
                              self.index.dim)
            scores = scorer.score(vecs) if ids.size else pos_scores
            keep = np.ones(ids.size, dtype=bool)
            if exclude:
                keep &= ~np.isin(ids, np.array(sorted(exclude), dtype=np.int64))
            if filters is not None and ids.size:
                rows = self.catalog.photos_by_id(ids.tolist())
                keep &= np.array([(r := rows.get(int(i))) is not None and filters.matches(r)
                                  for i in ids])
            # Nothing not yet fetched can score above the last positive score fetched
            # (penalties only lower scores), so results at or above it are final.
            bound = float(pos_scores.min()) if pos_scores.size else -np.inf
            certain = int(((scores >= bound) & keep).sum())
            if certain >= want or k >= n or len(hits) < k:
                break
            k = min(n, k * 2)
        ids, scores, vecs = ids[keep], scores[keep], vecs[keep]
        order = np.lexsort((ids, -scores))[:want]
        return _Candidates(ids[order], scores[order], vecs[order])

    def _rows(self, cand: _Candidates, filters: Filters | None) -> list[SearchResult]:
        rows = self.catalog.photos_by_id(cand.ids.tolist())
        out = []
        for pid, score in zip(cand.ids.tolist(), cand.scores.tolist(), strict=True):
            row = rows.get(pid)
            # The index can briefly lag the catalog; never show a row that is not
            # (or no longer) searchable.
            if row is None or row.status != INDEXED:
                continue
            if filters is not None and not filters.matches(row):
                continue
            out.append(SearchResult(row, float(score)))
        return out

    @staticmethod
    def _stack(results: list[SearchResult], vec_of: dict[int, np.ndarray]) -> list[SearchResult]:
        if len(results) < 2:
            return results
        have = all(r.photo.id in vec_of for r in results)
        V = np.stack([vec_of[r.photo.id] for r in results]) if have else None
        out = []
        for g in duplicates.stack_groups([r.photo for r in results], V):
            rep = results[g[0]]
            if len(g) > 1:
                rep.stack = [results[i] for i in g]
            out.append(rep)
        return out

    @staticmethod
    def _sort(results: list[SearchResult], sort: str) -> None:
        if sort == "relevance":
            return
        newest = sort == "date"

        def key(r: SearchResult):
            t = r.photo.taken_at
            # Undated photos go last either way.
            return (t is None, -(t or 0.0) if newest else (t or 0.0), r.photo.id)

        results.sort(key=key)

    def _list_filtered(self, filters: Filters, sort: str, limit: int,
                       stack: bool) -> SearchResponse:
        want = limit if not stack else int(limit * 1.25) + 10
        ids = self.catalog.ids_by_date_where(filters.conditions(),
                                             oldest_first=sort == "oldest", limit=want)
        photos = self.catalog.photos_by_id(ids)
        results = [SearchResult(photos[i], 0.0, best=True) for i in ids if i in photos]
        if stack and results:
            got_ids, vecs = self.catalog.indexed_vectors(self.index.model_id, ids)
            results = self._stack(results, {int(i): v for i, v in zip(got_ids, vecs,
                                                                     strict=True)})
        return SearchResponse(results[:limit], ParsedQuery(), filters, len(self.index),
                              ranked=False, sort=sort)
