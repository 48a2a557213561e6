"""Text query latency, model warm: text → vector → top-100 rows from the catalog.

    .venv/bin/python benchmarks/bench_query.py [--photos 100000]

A real library of N photos (random unit vectors of the default model's size stored in a
real catalog + hnswlib index), the default architecture (ViT-B-32-256, random weights)
encoding the text through the same encoder the app uses (ONNX Runtime on the CPU when
available).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, random_weight_model, write_result
from bench_search import fill_catalog


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()

    from clipgallery.core.search.searcher import Searcher
    from clipgallery.core.store.library import Library

    with tempfile.TemporaryDirectory() as tmp:
        with Library.open(Path(tmp) / "lib", write=True) as lib:
            enc = lib.load_encoder(str(random_weight_model()))
            rng = np.random.default_rng(0)
            v = rng.standard_normal((args.photos, enc.dim), dtype=np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            fill_catalog(lib.catalog, v, enc.model_id)
            idx = lib.index_for(enc)
            s = Searcher(lib.catalog, idx, enc)
            words = ["dog", "chair", "snowy", "street", "night", "woolen", "hat", "beach",
                     "sunset", "red", "car", "mountain", "lake", "portrait", "cat"]
            for i in range(10):
                s.search_text(f"warm up {i}", 100)
            lat = []
            for i in range(args.queries):
                q = " ".join(rng.choice(words, size=3)) + f" {i}"
                t0 = time.perf_counter()
                res = s.search_text(q, 100)
                lat.append((time.perf_counter() - t0) * 1000)
                assert len(res) == 100
    lat.sort()
    p50, p99 = statistics.median(lat), lat[int(0.99 * (len(lat) - 1))]
    print(f"text query → top-100 rows over {args.photos} photos ({type(enc).__name__}): "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    write_result("query", {"machine": machine(), "photos": args.photos,
                           "encoder": type(enc).__name__, "p50_ms": p50, "p99_ms": p99})


if __name__ == "__main__":
    main()
