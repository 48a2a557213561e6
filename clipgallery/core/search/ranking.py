"""Scoring a compound query, the per-query relevance cutoff, and "more like these".

Everything here is pure numpy over L2-normalised vectors; :mod:`clipgallery.core.search.searcher`
feeds it the library's vectors (all of them, or a random sample for very large libraries).

How a compound query is scored
------------------------------
1. **Positive terms** (text terms, an image, each with a weight ``w``) become one query
   vector.  With a single term it is that term's vector.  With several, each term is
   first divided by the robust spread of its similarities over the library, so that an
   image term (image-to-image similarities spread widely) and a text term (text-to-image
   similarities spread narrowly) count as the weights say::

       q = normalise( sum_i  w_i * u_i / spread_i )

   Since this is linear, ``x . q`` ranks exactly like the weighted sum of the terms'
   standardised similarities, and the vector index can search for ``q`` directly.
2. **More like these** (Rocchio): photos marked good / bad move the query vector,
   ``q' = normalise(alpha * q + beta * mean(good) - gamma * mean(bad))`` (:func:`refine`).
3. **Negative terms** subtract a penalty.  For a negative term ``n`` let
   ``u_n(x) = (x . n - median_n) / (top_n - median_n)``: how close photo ``x`` comes to
   the library's best match for ``n`` (0 for a typical photo, 1 for the best match);
   ``median_n`` and ``top_n`` are the median and the highest of ``x . n`` over this
   library.  Then::

       penalty_n(x) = max(0, (u_n(x) - NEG_SLACK) / (1 - NEG_SLACK))      (NEG_SLACK = 0.75)
       score(x)     = x . q'  -  PENALTY * (top_q - median_q) * sum_n  w_n * penalty_n(x)

   where ``median_q`` / ``top_q`` are those of ``x . q'``.  A photo no closer to
   "people" than most photos loses nothing; one that is among the best matches for
   "people" loses the whole distance between a typical and the best photo for the
   positive query (with ``PENALTY = 1``), so even the best beach photo with people in it
   ends up with a typical score: ranked below every beach without people, and under
   the cutoff below.  Being scale-free (relative to this library's median and top),
   the rule behaves the same with a large CLIP model, whose scores crowd into a narrow
   band, and with a small one, whose scores spread widely.
   ``score`` stays in cosine units: for a plain one-term query it is the cosine
   similarity itself.

The per-query relevance cutoff ("best matches")
-----------------------------------------------
A fixed similarity threshold fails: the best matches of one query score lower than
the noise of another, and models differ in how their scores spread.  So the cutoff
looks at *this query's* scores over *this library*:

* every photo of the library is scored for the query (exactly, up to
  :data:`clipgallery.core.search.searcher.EXACT_MAX` photos; above that a random sample of
  stored vectors stands in for the library, and the top score comes from the index);
  ``m`` is the median score, ``s`` the robust spread (1.4826 x MAD) and ``top`` the
  highest score in the library;
* each result gets ``z = (score - m) / s`` (how far it stands out from the bulk of the
  library) and ``u = (score - m) / (top - m)`` (how close it comes to the best photo
  for this query, from 0 for a typical photo to 1 for the best one);
* a result is a **best match** when either

  - it is an *outlier*: ``z >= Z_BEST`` (3) and ``z >= REL_TOP x z_ref`` (0.4), where
    ``z_ref`` is the ``z`` of the ``REF_RANK``-th (3rd) result.  This is the usual case
    with a large CLIP model, whose scores form a narrow bulk with the matches standing
    out of it; the second condition hides weak matches once a few photos stand out
    strongly, and taking the 3rd result rather than the 1st keeps a single outlier
    (the query photo's own duplicate) from hiding every other good match; or
  - it is *near the top*: ``u >= U_TOP`` (0.9).  When the scores spread widely (a small
    model, or a library where many photos share part of the query, like every red
    thing for "a red circle") nothing can stand out by 3 spreads, but the photos that
    really match still cluster just below the top score while partial matches stay
    clearly lower;

* so the best-scoring photo of the library is always a best match, and a result list
  restricted by filters may have none (nothing in it comes close);
* libraries of fewer than :data:`MIN_LIBRARY` photos have no meaningful statistics:
  every result is a best match there.

The hidden results stay available ("N more"): the cutoff only decides what is shown by
default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PENALTY", "NEG_SLACK", "Z_BEST", "REL_TOP", "REF_RANK", "U_TOP", "MIN_LIBRARY",
           "robust_stats", "refine", "QueryScorer", "build_scorer", "zscores", "mark_best"]

MAD_TO_SD = 1.4826
MIN_SPREAD = 1e-4
PENALTY = 1.0
NEG_SLACK = 0.75
Z_BEST = 3.0
REL_TOP = 0.4
REF_RANK = 3
U_TOP = 0.9
MIN_LIBRARY = 20


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0:
        raise ValueError("zero vector")
    return v / n


def robust_stats(x: np.ndarray) -> tuple[float, float]:
    """(median, 1.4826 x MAD) of ``x``; the spread is never below a tiny floor."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0.0, 1.0
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med)))
    return med, max(MAD_TO_SD * mad, MIN_SPREAD)


def refine(query_vector: np.ndarray | None, good_vectors: np.ndarray | None = None,
           bad_vectors: np.ndarray | None = None, alpha: float = 1.0, beta: float = 0.75,
           gamma: float = 0.25) -> np.ndarray:
    """Rocchio: ``normalise(alpha*q + beta*mean(good) - gamma*mean(bad))``.

    ``query_vector`` may be None (no query: "more like these" alone).  Every input
    vector is normalised first; raises ``ValueError`` when nothing is left.
    """
    d = None
    acc = None
    if query_vector is not None:
        q = _unit(query_vector)
        acc = alpha * q
        d = q.shape[0]

    def mean_of(vs: np.ndarray | None) -> np.ndarray | None:
        if vs is None:
            return None
        vs = np.asarray(vs, dtype=np.float32)
        if vs.size == 0:
            return None
        vs = vs.reshape(-1, vs.shape[-1])
        vs = vs / np.maximum(np.linalg.norm(vs, axis=1, keepdims=True), 1e-12)
        return vs.mean(axis=0)

    g, b = mean_of(good_vectors), mean_of(bad_vectors)
    for v, coef in ((g, beta), (b, -gamma)):
        if v is None:
            continue
        if d is not None and v.shape[0] != d:
            raise ValueError("vectors of different dimensions")
        acc = coef * v if acc is None else acc + coef * v
    if acc is None:
        raise ValueError("nothing to search for")
    return _unit(acc)


@dataclass
class QueryScorer:
    """A compiled query: ``score(X)`` for rows of unit vectors ``X`` (see module doc)."""

    probe: np.ndarray  # unit vector; the positive score is X @ probe
    pos_spread: float = 1.0  # robust spread of X @ probe over the library
    pos_range: float = 1.0  # top - median of X @ probe over the library
    negatives: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    neg_weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    neg_median: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    neg_range: np.ndarray = field(default_factory=lambda: np.ones(0, np.float32))
    penalty: float = PENALTY

    @property
    def has_negatives(self) -> bool:
        return self.negatives.shape[0] > 0

    def positive(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.probe

    def penalties(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if not self.has_negatives or X.shape[0] == 0:
            return np.zeros(X.shape[0], dtype=np.float32)
        u = (X @ self.negatives.T - self.neg_median) / self.neg_range
        excess = np.maximum((u - NEG_SLACK) / (1.0 - NEG_SLACK), 0.0) @ self.neg_weights
        return (self.penalty * self.pos_range * excess).astype(np.float32)

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        return self.positive(X) - self.penalties(X)


def build_scorer(positives: list[tuple[np.ndarray, float]],
                 negatives: list[tuple[np.ndarray, float]], library: np.ndarray, *,
                 good: np.ndarray | None = None, bad: np.ndarray | None = None,
                 alpha: float = 1.0, beta: float = 0.75, gamma: float = 0.25,
                 penalty: float = PENALTY) -> QueryScorer:
    """Compile a query against ``library`` (all stored vectors, or a sample of them).

    ``positives`` / ``negatives``: (unit vector, weight) pairs.  ``good`` / ``bad``: the
    vectors of photos marked as such (Rocchio).  Raises ``ValueError`` when there is
    nothing positive (no positive term and no good photo).
    """
    X = np.asarray(library, dtype=np.float32)
    have_stats = X.ndim == 2 and X.shape[0] >= 2
    q = None
    if len(positives) == 1:
        q = _unit(positives[0][0])
    elif positives:
        acc = None
        for v, w in positives:
            u = _unit(v)
            spread = robust_stats(X @ u)[1] if have_stats else 1.0
            acc = (w / spread) * u if acc is None else acc + (w / spread) * u
        q = _unit(acc)
    has_good = good is not None and np.asarray(good).size > 0
    has_bad = bad is not None and np.asarray(bad).size > 0
    if has_good or has_bad:
        probe = refine(q, good if has_good else None, bad if has_bad else None,
                       alpha, beta, gamma)
    elif q is None:
        raise ValueError("nothing to search for")
    else:
        probe = q
    if have_stats:
        pos = X @ probe
        pos_spread = robust_stats(pos)[1]
        pos_range = max(float(pos.max()) - float(np.median(pos)), MIN_SPREAD)
    else:
        pos_spread, pos_range = 1.0, 1.0
    scorer = QueryScorer(probe=probe, pos_spread=pos_spread, pos_range=pos_range,
                         penalty=penalty)
    if negatives:
        N = np.stack([_unit(v) for v, _ in negatives]).astype(np.float32)
        W = np.array([w for _, w in negatives], dtype=np.float32)
        if have_stats:
            S = X @ N.T
            med = np.median(S, axis=0).astype(np.float32)
            rng = np.maximum(S.max(axis=0) - med, MIN_SPREAD).astype(np.float32)
        else:
            med = np.zeros(N.shape[0], np.float32)
            rng = np.ones(N.shape[0], np.float32)
        scorer.negatives, scorer.neg_weights = N, W
        scorer.neg_median, scorer.neg_range = med, rng
    return scorer


def zscores(scores: np.ndarray, median: float, spread: float) -> np.ndarray:
    return (np.asarray(scores, dtype=np.float64) - median) / spread


def mark_best(scores_sorted: np.ndarray, median: float, spread: float, top: float,
              library_size: int) -> np.ndarray:
    """Best-match flags for results sorted best first (the rule of the module doc).

    ``median`` / ``spread`` / ``top``: this query's score distribution over the library.
    """
    sc = np.asarray(scores_sorted, dtype=np.float64)
    if sc.size == 0:
        return np.zeros(0, dtype=bool)
    if library_size < MIN_LIBRARY:
        return np.ones(sc.size, dtype=bool)
    z = zscores(sc, median, spread)
    u = (sc - median) / max(top - median, MIN_SPREAD)
    ref = z[min(REF_RANK, z.size) - 1]
    outlier = (z >= Z_BEST) & (z >= REL_TOP * ref)
    near_top = u >= U_TOP
    return outlier | near_top
