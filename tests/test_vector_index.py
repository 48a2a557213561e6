"""The hnswlib index against a real catalog: growth, deletes, replay, atomic saves."""

from __future__ import annotations

import numpy as np

from clipgallery.core.store.catalog import INDEXED, Catalog
from clipgallery.core.store.vector_index import VectorIndex

DIM = 16
MODEL = "test-model"


def unit(rng, n):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def add_photos(cat: Catalog, vecs: np.ndarray, start: int = 0) -> list[int]:
    ids = []
    with cat.transaction() as db:
        for i, v in enumerate(vecs):
            pid = cat.upsert_photo(db, f"/p/{start + i}.jpg", size=1, mtime_ns=1,
                                   content_hash=f"h{start + i}", status=INDEXED)
            cat.put_embedding(db, pid, MODEL, v)
            ids.append(pid)
    return ids


def test_grows_deletes_reuses_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    cat = Catalog(tmp_path / "c.sqlite3")
    idx = VectorIndex(tmp_path / "index", MODEL, DIM).open(cat)
    assert idx.query(unit(rng, 1)[0], 10) == []  # empty index: no error

    vecs = unit(rng, 3000)  # beyond the initial capacity: the index must grow
    ids = add_photos(cat, vecs)
    idx.sync(cat)
    assert len(idx) == 3000
    hit = idx.query(vecs[123], 5)
    assert hit[0][0] == ids[123] and abs(hit[0][1] - 1.0) < 1e-4

    # k larger than what is stored is clamped, not an error.
    small = VectorIndex(tmp_path / "small", MODEL, DIM)
    cat2 = Catalog(tmp_path / "c2.sqlite3")
    add_photos(cat2, vecs[:3])
    small.open(cat2)
    assert len(small.query(vecs[0], 100)) == 3

    # Deleting (missing) removes from results; coming back makes it searchable again.
    with cat.transaction() as db:
        cat.mark_missing(db, ids[:100])
    idx.sync(cat)
    assert len(idx) == 2900
    assert all(pid not in ids[:100] for pid, _ in idx.query(vecs[5], 50))
    with cat.transaction() as db:
        db.execute("UPDATE photos SET status=? WHERE id=?", (INDEXED, ids[5]))
        cat._log(db, [ids[5]])
    idx.sync(cat)
    assert idx.query(vecs[5], 1)[0][0] == ids[5]

    # New photos reuse the deleted slots instead of growing the graph.
    cap_before = idx._index.get_max_elements()
    count_before = idx._index.get_current_count()
    add_photos(cat, unit(rng, 50), start=5000)
    idx.sync(cat)
    assert idx._index.get_current_count() == count_before
    assert idx._index.get_max_elements() == cap_before
    assert len(idx) == 2951

    idx.save(cat)
    again = VectorIndex(tmp_path / "index", MODEL, DIM).open(cat)
    assert again.rebuilt_reason is None
    assert again.ids() == idx.ids() == set(cat.indexed_vectors(MODEL)[0].tolist())
    assert again.query(vecs[200], 1)[0][0] == ids[200]


def test_interrupted_save_never_leaves_a_half_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    cat = Catalog(tmp_path / "c.sqlite3")
    add_photos(cat, unit(rng, 200))
    idx = VectorIndex(tmp_path / "index", MODEL, DIM).open(cat)
    good = idx.path.read_bytes()

    class DiskFullMidSave:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def save_index(self, path):
            with open(path, "wb") as f:
                f.write(b"half")
            raise OSError(28, "No space left on device")

    idx._index = DiskFullMidSave(idx._index)
    try:
        idx.save(cat)
    except OSError:
        pass
    assert idx.path.read_bytes() == good  # the previous complete file is untouched
    fresh = VectorIndex(tmp_path / "index", MODEL, DIM).open(cat)
    assert fresh.rebuilt_reason is None and len(fresh) == 200


def test_other_model_file_is_not_used(tmp_path):
    rng = np.random.default_rng(2)
    cat = Catalog(tmp_path / "c.sqlite3")
    add_photos(cat, unit(rng, 20))
    VectorIndex(tmp_path / "index", MODEL, DIM).open(cat)
    other = VectorIndex(tmp_path / "index", "another-model", DIM).open(cat)
    assert len(other) == 0  # no vectors of that model in the catalog
