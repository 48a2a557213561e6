"""Near-identical photos: stacks in search results and the library's duplicate groups.

Two photos are *near-identical* (the same picture: a burst neighbour, HDR on/off,
RAW + JPEG, a resized or re-compressed copy) when any of these holds:

1. **RAW + JPEG pair**: same folder, same file name stem (case-insensitive), e.g.
   ``IMG_0042.CR2`` and ``IMG_0042.JPG``;
2. **perceptual hash**: the 64-bit difference hashes (:mod:`clipgallery.core.photos.phash`)
   differ in at most :data:`PHASH_MAX` bits, the pictures have the same aspect ratio
   (within :data:`ASPECT_TOL`), and both hashes are *detailed* (at least
   :data:`MIN_DETAIL` bits set and unset: a mostly flat picture, a blank frame or a
   shape on a plain background, hashes to nearly all zeros and says little).  When
   both photos have vectors, they must not contradict it (cosine >= :data:`COS_VETO`);
3. **hash and vectors together**: aspect ratio as above, and either cosine >=
   :data:`COS_CONFIRM` with hashes within :data:`PHASH_LOW_DETAIL_MAX` bits (needed
   when a hash is low-detail: shapes on a plain background differ in only a few bits
   even when they are different pictures), or detailed hashes within
   :data:`BURST_PHASH_MAX` bits and cosine >= :data:`COS_BURST` (a burst where the
   subject moved a little).  Rule 3 trusts the model only together with the hash: a
   model that was not trained on photos like these gives high cosines to unrelated
   pictures, and even a good one gives two photos of one subject (two streets of one
   town, two red balls) cosines near 1.  Without hashes, vectors alone never stack.

A stack means *the same shot*, not the same subject.  Measured with the test model on
shapes drawn by a generator that training never saw (``tests/heldout_shapes.py``: 300
pairs of distinct drawings of one colour and kind, each with a resized, re-compressed
copy): distinct pairs within 2 bits with cosine >= 0.97 (the old rule 3): 3 of 300;
cosine >= 0.985 alone (the old rule without hashes): 16 of 300, >= 0.997: 2 of 300;
within 2 bits with cosine >= 0.995 (today's rule): 0 of 300, while 289 of the 300
copies still stack.  On the real corpus, distinct photos of one subject (the ``gps``
street photos of one town) differ in 16 bits or more at cosines up to 0.99, hence
``BURST_PHASH_MAX = 12``.

Measured on the shared real corpus (``exif-samples``, 102 decodable photos): the HDR
on/off pairs differ in 8 (Canon) and 4-5 (iPhone) bits; the eight EXIF-orientation
copies of one picture in 0-4; distinct photos with detailed hashes in 13 or more.
Hence ``PHASH_MAX = 10``.  Flat pictures (a blank grey frame vs a dark strip) differ
in 1 bit, which is why low-detail hashes need the vectors and the same aspect ratio;
resized and re-compressed copies of a low-detail picture stay within 0-1 bits.

:func:`stack_groups` groups a ranked list (single linkage, so a chain of near-identical
photos is one stack); :func:`find_duplicates` groups the whole library without
comparing every pair: detailed hashes go through a multi-index over their four 16-bit
chunks (two hashes within 10 bits agree within 2 bits on at least one chunk), low-detail
ones are compared among themselves (and need their vectors to agree).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from clipgallery.core.store.catalog import Catalog, Condition, Photo, path_prefix_range

__all__ = ["PHASH_MAX", "PHASH_LOW_DETAIL_MAX", "BURST_PHASH_MAX", "MIN_DETAIL", "ASPECT_TOL",
           "COS_VETO", "COS_CONFIRM", "COS_BURST", "detail", "near_identical", "stack_groups", "DuplicateGroup", "find_duplicates"]

PHASH_MAX = 10
PHASH_LOW_DETAIL_MAX = 2
BURST_PHASH_MAX = 12
MIN_DETAIL = 16
ASPECT_TOL = 0.03
COS_VETO = 0.5
COS_CONFIRM = 0.995
COS_BURST = 0.99

_MASK64 = (1 << 64) - 1


def detail(h: int) -> int:
    """How much a difference hash says: the smaller of its set and unset bit counts."""
    c = (h & _MASK64).bit_count()
    return min(c, 64 - c)


def _u64(hashes: Sequence[int | None]) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hashes, known mask)."""
    arr = np.array([(h & _MASK64) if h is not None else 0 for h in hashes], dtype=np.uint64)
    known = np.array([h is not None for h in hashes], dtype=bool)
    return arr, known


def _aspect(photos: Sequence[Photo]) -> np.ndarray:
    return np.array([(p.width / p.height) if p.width and p.height else np.nan for p in photos],
                    dtype=np.float64)


def _stem_key(p: Photo) -> tuple[str, str]:
    path = Path(p.path)
    return os.fsdecode(path.parent), path.stem.lower()


def _aspect_ok(a: float, b: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return True
    return abs(np.log(a / b)) <= np.log1p(ASPECT_TOL)


def near_identical(a: Photo, b: Photo, cos: float | None = None) -> bool:
    """The rule of the module docstring for one pair (``cos``: their vectors' cosine)."""
    if _stem_key(a) == _stem_key(b) and a.path != b.path:
        return True
    ar = _aspect([a, b])
    if not _aspect_ok(ar[0], ar[1]):
        return False
    if a.phash is None or b.phash is None:
        return False
    d = ((a.phash ^ b.phash) & _MASK64).bit_count()
    detailed = detail(a.phash) >= MIN_DETAIL and detail(b.phash) >= MIN_DETAIL
    if detailed and d <= PHASH_MAX and (cos is None or cos >= COS_VETO):
        return True
    if cos is None:
        return False
    return ((cos >= COS_CONFIRM and d <= PHASH_LOW_DETAIL_MAX)
            or (detailed and cos >= COS_BURST and d <= BURST_PHASH_MAX))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            # The smaller index (the better-ranked photo) stays the root.
            if rj < ri:
                ri, rj = rj, ri
            self.parent[rj] = ri

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return sorted(out.values(), key=lambda g: g[0])


def _pair_edges(photos: Sequence[Photo], vectors: np.ndarray | None,
                block: int = 512) -> list[tuple[int, int]]:
    """Every near-identical pair (i < j) among ``photos``; vectorised, O(n^2 / block)."""
    n = len(photos)
    if n < 2:
        return []
    edges: set[tuple[int, int]] = set()
    by_stem: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(photos):
        by_stem.setdefault(_stem_key(p), []).append(i)
    for idx in by_stem.values():
        edges.update(combinations(idx, 2))
    h, known = _u64([p.phash for p in photos])
    det = np.array([p.phash is not None and detail(p.phash) >= MIN_DETAIL for p in photos])
    ar = np.log(_aspect(photos))
    V = None if vectors is None else np.asarray(vectors, dtype=np.float32)
    tol = np.log1p(ASPECT_TOL)
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        rows = np.arange(i0, i1)[:, None]
        cols = np.arange(n)[None, :]
        upper = cols > rows
        d = np.bitwise_count(h[i0:i1, None] ^ h[None, :]).astype(np.int16)
        both = known[i0:i1, None] & known[None, :]
        ad = np.abs(ar[i0:i1, None] - ar[None, :])
        aspect_ok = ~(ad > tol)  # NaN (unknown size) compares False: allowed
        base = upper & aspect_ok
        cand = base & both & (d <= max(PHASH_MAX, BURST_PHASH_MAX))
        if V is not None:
            # One block of cosines by a matrix product (a few MB), not gathered per pair.
            cosblock = V[i0:i1] @ V.T
        ii, jj = np.nonzero(cand)
        if ii.size == 0:
            continue
        ii = ii + i0
        dd = d[ii - i0, jj]
        detailed = det[ii] & det[jj]
        if V is None:
            ok = detailed & (dd <= PHASH_MAX)
        else:
            cos = cosblock[ii - i0, jj]
            ok = ((detailed & (dd <= PHASH_MAX) & (cos >= COS_VETO))
                  | ((cos >= COS_CONFIRM) & (dd <= PHASH_LOW_DETAIL_MAX))
                  | (detailed & (cos >= COS_BURST) & (dd <= BURST_PHASH_MAX)))
        edges.update(zip(ii[ok].tolist(), jj[ok].tolist(), strict=True))
    return sorted(edges)


def stack_groups(photos: Sequence[Photo], vectors: np.ndarray | None = None) -> list[list[int]]:
    """Group a ranked list into stacks: lists of indexes, each in rank order, the groups
    ordered by their best member.  ``vectors[i]`` is ``photos[i]``'s unit vector."""
    uf = _UnionFind(len(photos))
    for i, j in _pair_edges(photos, vectors):
        uf.union(i, j)
    return uf.groups()


# ----------------------------------------------------------------------------- library


@dataclass
class DuplicateGroup:
    """Near-identical photos; ``photos[0]`` is the one to keep (most pixels, then the
    largest file), the rest are listed after it."""

    photos: list[Photo] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.photos)

    def as_dict(self) -> dict[str, object]:
        return {
            "count": len(self.photos),
            "photos": [{"id": p.id, "path": os.fsdecode(p.path), "width": p.width,
                        "height": p.height, "size": p.size, "file_type": p.file_type}
                       for p in self.photos],
        }


def _mih_pairs(h: np.ndarray, max_dist: int, block: int = 2048) -> np.ndarray:
    """Index pairs (i < j) of 64-bit hashes within ``max_dist`` bits, via a multi-index
    over four 16-bit chunks (exact: by pigeonhole one chunk is within max_dist // 4)."""
    n = h.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    r = max_dist // 4
    masks = np.array([m for m in range(1 << 16) if m.bit_count() <= r], dtype=np.int64)
    found: list[np.ndarray] = []
    for c in range(4):
        chunk = ((h >> np.uint64(16 * c)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(chunk, kind="stable")
        counts = np.bincount(chunk, minlength=1 << 16)
        starts = np.cumsum(counts) - counts  # bucket v is order[starts[v]:starts[v]+counts[v]]
        for i0 in range(0, n, block):
            i1 = min(n, i0 + block)
            probes = (chunk[i0:i1, None] ^ masks[None, :]).ravel()
            lo, cnt = starts[probes], counts[probes]
            total = int(cnt.sum())
            if total == 0:
                continue
            owner = np.repeat(np.repeat(np.arange(i0, i1), masks.size), cnt)
            start = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
            j = order[start + np.arange(total)]
            keep = j > owner
            owner, j = owner[keep], j[keep]
            close = np.bitwise_count(h[owner] ^ h[j]) <= max_dist
            found.append(np.stack([owner[close], j[close]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if pairs.size else pairs


def find_duplicates(catalog: Catalog, model_id: str | None = None, *,
                    folder: str | os.PathLike[str] | None = None) -> list[DuplicateGroup]:
    """Groups of near-identical photos among the library's indexed photos (optionally
    under ``folder``), largest groups first.  ``model_id``: whose vectors confirm hash
    matches (default: the library's model; none stored → hashes and names only)."""
    conds = [] if folder is None else \
        [Condition("in_range", "path", path_prefix_range(os.path.abspath(folder)))]
    ids = catalog.ids_where(conds)
    rows = catalog.photos_by_id(ids)
    photos = [rows[i] for i in ids if i in rows]
    n = len(photos)
    if n < 2:
        return []
    model_id = model_id or catalog.model_id
    uf = _UnionFind(n)
    index_of = {p.id: k for k, p in enumerate(photos)}

    # 1. RAW + JPEG (same folder and stem).
    by_stem: dict[tuple[str, str], list[int]] = {}
    for k, p in enumerate(photos):
        by_stem.setdefault(_stem_key(p), []).append(k)
    for group in by_stem.values():
        for k in group[1:]:
            uf.union(group[0], k)

    ar = _aspect(photos)
    pairs, low_pairs = _hash_pairs(photos)
    involved = sorted({int(x) for x in pairs.ravel()} | {x for pr in low_pairs for x in pr})
    vec: dict[int, np.ndarray] = {}
    if model_id and involved:
        got_ids, got_vecs = catalog.indexed_vectors(model_id, [photos[k].id for k in involved])
        vec = {index_of[int(i)]: v for i, v in zip(got_ids, got_vecs, strict=True)}

    def cos(i: int, j: int) -> float | None:
        a, b = vec.get(i), vec.get(j)
        return None if a is None or b is None else float(a @ b)

    for i, j in pairs.tolist():
        c = cos(i, j)
        if _aspect_ok(ar[i], ar[j]) and (c is None or c >= COS_VETO):
            uf.union(i, j)
    for i, j in low_pairs:
        c = cos(i, j)
        if _aspect_ok(ar[i], ar[j]) and c is not None and c >= COS_CONFIRM:
            uf.union(i, j)

    return _groups_of(uf, photos)


def _hash_pairs(photos: list[Photo]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Candidate pairs (positions in ``photos``) by perceptual hash: detailed hashes
    through the multi-index (step 2 of :func:`find_duplicates`), and low-detail hashes
    among themselves (step 3, which needs the vectors to confirm)."""
    h, known = _u64([p.phash for p in photos])
    det = np.array([p.phash is not None and detail(p.phash) >= MIN_DETAIL for p in photos])
    det_idx = np.nonzero(det)[0]
    pairs = det_idx[_mih_pairs(h[det_idx], PHASH_MAX)] if det_idx.size > 1 else \
        np.zeros((0, 2), dtype=np.int64)
    low_idx = np.nonzero(known & ~det)[0]
    low_pairs: list[tuple[int, int]] = []
    for a0 in range(0, low_idx.size, 1024):
        a = low_idx[a0:a0 + 1024]
        d = np.bitwise_count(h[a][:, None] ^ h[low_idx][None, :])
        ii, jj = np.nonzero((d <= PHASH_LOW_DETAIL_MAX) & (low_idx[None, :] > a[:, None]))
        low_pairs.extend(zip(a[ii].tolist(), low_idx[jj].tolist(), strict=True))
    return pairs, low_pairs


def _groups_of(uf: _UnionFind, photos: list[Photo]) -> list[DuplicateGroup]:
    """The union-find's groups of two or more, largest first; in each, the largest
    photo (pixels, then bytes) first."""
    groups = []
    for g in uf.groups():
        if len(g) < 2:
            continue
        members = sorted((photos[k] for k in g),
                         key=lambda p: (-(p.width or 0) * (p.height or 0), -p.size,
                                        os.fsdecode(p.path)))
        groups.append(DuplicateGroup(members))
    groups.sort(key=lambda grp: (-len(grp), os.fsdecode(grp.photos[0].path)))
    return groups
