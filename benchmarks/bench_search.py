"""Search latency at library scale: a real catalog + hnswlib index of N stored vectors.

    .venv/bin/python benchmarks/bench_search.py [--sizes 10000,100000,1000000] [--dim 512]

For each size: N unit vectors are written to a real SQLite catalog, the vector index is
built from it through the app's own code (``VectorIndex.open`` → rebuild, timed), then
top-100 queries run through ``Searcher.search_vector`` (hnswlib + fetching the rows from
SQLite), p50/p99 latency, recall@100 against exact search (numpy), and the size on disk.

Vectors: CLIP embeddings are not uniform on the sphere (photos cluster by content), so
vectors are drawn around 1000 random centres (unit vectors, spread 0.6) — ``--uniform``
draws them uniformly instead, a much harder (and unrealistic) case for any ANN index.
Queries are fresh vectors drawn the same way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, write_result


def draw(rng, n, dim, centres, spread, uniform):
    if uniform:
        v = rng.standard_normal((n, dim), dtype=np.float32)
    else:
        c = centres[rng.integers(len(centres), size=n)]
        v = c + spread * rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def fill_catalog(cat, vecs, model):
    now = time.time()
    with cat.transaction() as db:
        db.executemany(
            "INSERT INTO photos(id, path, size, mtime_ns, content_hash, status, added_at, "
            "updated_at) VALUES(?,?,?,?,?,?,?,?)",
            ((i + 1, f"/photos/{i:08d}.jpg".encode(), 1, 1, f"{i:032x}", "indexed", now, now)
             for i in range(len(vecs))))
        db.executemany("INSERT INTO embeddings(photo_id, model_id, vector) VALUES(?,?,?)",
                       ((i + 1, model, vecs[i].tobytes()) for i in range(len(vecs))))


def bench(n, dim, queries, uniform, workdir: Path, efs=(None,)):
    from clipgallery.core.search.searcher import Searcher
    from clipgallery.core.store import vector_index
    from clipgallery.core.store.catalog import Catalog
    from clipgallery.core.store.vector_index import VectorIndex

    rng = np.random.default_rng(n)
    centres = draw(rng, 1000, dim, None, 0, True)
    vecs = np.concatenate([draw(rng, min(100_000, n - i), dim, centres, 0.6, uniform)
                           for i in range(0, n, 100_000)])
    lib = workdir / f"lib{n}"
    cat = Catalog(lib / "catalog.sqlite3")
    t0 = time.perf_counter()
    fill_catalog(cat, vecs, "bench")
    fill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx = VectorIndex(lib / "index", "bench", dim).open(cat)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    VectorIndex(lib / "index", "bench", dim).open(cat)
    load_s = time.perf_counter() - t0
    searcher = Searcher(cat, idx, None)
    qs = draw(rng, queries, dim, centres, 0.6, uniform)
    exact = [set((np.argpartition(-(vecs @ q), 100)[:100] + 1).tolist()) for q in qs]
    disk = sum(p.stat().st_size for p in lib.rglob("*") if p.is_file())
    idx_disk = sum(p.stat().st_size for p in (lib / "index").iterdir())
    default_ef = vector_index.EF_SEARCH
    rows = []
    try:
        for ef in efs:
            vector_index.EF_SEARCH = ef or default_ef
            lat, recall = [], []
            for q in qs[:10]:
                searcher.search_vector(q, 100)
            for q, ex in zip(qs, exact, strict=True):
                t0 = time.perf_counter()
                res = searcher.search_vector(q, 100)
                lat.append((time.perf_counter() - t0) * 1000)
                recall.append(len({r.photo.id for r in res} & ex) / 100)
            lat.sort()
            rows.append({
                "n": n, "dim": dim, "uniform": uniform, "ef": vector_index.EF_SEARCH,
                "M": vector_index.M,
                "p50_ms": round(statistics.median(lat), 3),
                "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 3),
                "recall_at_100": round(float(np.mean(recall)), 4),
                "build_s": round(build_s, 1), "load_s": round(load_s, 2),
                "catalog_fill_s": round(fill_s, 1),
                "disk_mb": round(disk / 1e6, 1), "index_mb": round(idx_disk / 1e6, 1),
                "load_avg": [round(x, 2) for x in os.getloadavg()],
            })
    finally:
        vector_index.EF_SEARCH = default_ef
        cat.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--uniform", action="store_true")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--ef", default="", help="comma-separated query ef values to compare "
                    "on the same index (default: the app's)")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="clipgallery-bench-search-"))
    efs = [int(x) for x in args.ef.split(",")] if args.ef else [None]
    rows = []
    print(f"{'vectors':>9} {'ef':>4} {'p50 ms':>7} {'p99 ms':>7} {'recall@100':>10} {'build s':>8} "
          f"{'load s':>7} {'disk MB':>8}  load avg")
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            for r in bench(n, args.dim, args.queries, args.uniform, work, efs):
                rows.append(r)
                print(f"{n:>9} {r['ef']:>4} {r['p50_ms']:>7} {r['p99_ms']:>7} "
                      f"{r['recall_at_100']:>10} {r['build_s']:>8} {r['load_s']:>7} "
                      f"{r['disk_mb']:>8}  {r['load_avg']}", flush=True)
            shutil.rmtree(work / f"lib{n}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_result("search", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
