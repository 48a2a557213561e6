"""Indexing throughput, end to end, next to the pipeline ceiling and a naive pipeline.

    .venv/bin/python benchmarks/bench_index.py [--count 60] [--grain 0,8]

For each corpus (camera-size JPEGs from ../shared/peers/rclip/make_corpus.py, with and
without ``--grain 8``) and the default architecture (ViT-B-32-256, random weights):

* **end to end**: ``clipgallery index DIR`` in a fresh library, as a user runs it
  (process start, model load, decode, encode, commit, index save), photos per second;
  also the indexing phase alone (the ``elapsed`` in its JSON summary);
* **ceiling**: cores ÷ (CPU seconds to decode+preprocess one photo + CPU seconds to
  encode one photo), each measured alone in this process, once before and once after
  the end-to-end run (the mean is used; the drift between the two is printed);
* **naive**: each file decoded at full size with open_clip's reference transform,
  one after the other, fed in batches to the same encoder.

The encoder is what ``clipgallery index`` uses by default (ONNX Runtime on the CPU, with
the int8 image model where its check passes).  The one-time model conversion is done
before timing, into a shared cache (``$CLIPGALLERY_ONNX_CACHE``, default
/tmp/clipgallery-bench-onnx), as rclip ships pre-converted models.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, random_weight_model, write_result
from camera_jpegs import camera_jpegs


def cpu_seconds(fn, items) -> float:
    t0 = time.process_time()
    for x in items:
        fn(x)
    return time.process_time() - t0


def stage_costs(enc, files, imaging, hashes, np) -> tuple[float, ...]:
    """CPU seconds per photo, each stage alone: decode+preprocess, encode, read, hash
    (BLAKE3, what new photos get), blake2b (libraries before it)."""
    sample = files[: min(16, len(files))]
    tensors: list = []
    dec = cpu_seconds(lambda p: tensors.append(np.asarray(enc.preprocess_image(
        imaging.decode(p, min_side=enc.image_size).image))), sample) / len(sample)
    x = np.stack(tensors)
    enc.encode_images(x)
    t0 = time.process_time()
    for _ in range(2):
        enc.encode_images(x)
    encode = (time.process_time() - t0) / (2 * len(sample))
    blobs: list[bytes] = []
    read = cpu_seconds(lambda p: blobs.append(p.read_bytes()), sample) / len(sample)
    hash_new = cpu_seconds(hashes.content_hash, blobs) / len(blobs)
    hash_old = cpu_seconds(hashes.legacy_hash, blobs) / len(blobs)
    return dec, encode, read, hash_new, hash_old


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--grain", default="0,8")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()

    import numpy as np
    from PIL import Image, ImageOps

    from clipgallery.core.photos import hashes, imaging
    from clipgallery.core.store.library import Library

    os.environ.setdefault("CLIPGALLERY_ONNX_CACHE", "/tmp/clipgallery-bench-onnx")
    model_dir = random_weight_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp) / "probe", write=True)
        enc = lib.load_encoder(str(model_dir))
        lib.close()
    backend = getattr(enc, "label", type(enc).__name__)
    reference = getattr(enc, "torch_encoder", enc).preprocess  # open_clip's own transform
    rows = []
    for grain in (float(g) for g in args.grain.split(",")):
        folder = camera_jpegs(args.count, grain)
        files = sorted(folder.glob("*.jpg"))[: args.count]
        mb = sum(p.stat().st_size for p in files) / len(files) / 1e6

        # The ceiling, measured before and after the end-to-end run (this VM's speed
        # drifts by tens of percent within minutes): the mean of the two is the yardstick.
        before = stage_costs(enc, files, imaging, hashes, np)

        # End to end, as a user runs it, with the files in the page cache (as for rclip's
        # harness, WARM=1): disk speed is not measured.
        for p in files:
            p.read_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "clipgallery", "index", str(folder), "--library",
                 str(Path(tmp) / "lib"), "--model", str(model_dir), "--json",
                 "--batch-size", str(args.batch)],
                cwd=ROOT, capture_output=True, text=True, check=True,
                # The CLIP pass against its ceiling; the text pass: benchmarks/bench_ocr.py.
                env=dict(os.environ, CLIPGALLERY_OCR="0"))
            wall = time.perf_counter() - t0
        after = stage_costs(enc, files, imaging, hashes, np)
        dec, encode, read, hash_new, hash_old = (
            (a + b) / 2 for a, b in zip(before, after, strict=True))
        ceiling = cores / (dec + encode)
        full_ceiling = cores / (read + hash_new + dec + encode)
        old_ceiling = cores / (read + hash_old + dec + encode)
        drift = sum(after[:4]) / sum(before[:4]) - 1

        # Naive: full decode + reference transform, sequential, same encoder.
        t0 = time.perf_counter()
        batch = []
        for p in files:
            with Image.open(p) as im:
                batch.append(reference(ImageOps.exif_transpose(im).convert("RGB")).numpy())
            if len(batch) == args.batch:
                enc.encode_images(np.stack(batch))
                batch = []
        if batch:
            enc.encode_images(np.stack(batch))
        naive = len(files) / (time.perf_counter() - t0)
        summary = json.loads(out.stdout)
        e2e = summary["indexed"] / wall
        phase = summary["indexed"] / summary["elapsed"]
        row = {"grain": grain, "files": len(files), "mb_per_file": round(mb, 2),
               "decode_cpu_ms": round(dec * 1000, 1), "encode_cpu_ms": round(encode * 1000, 1),
               "read_cpu_ms": round(read * 1000, 2), "hash_cpu_ms": round(hash_new * 1000, 2),
               "blake2b_cpu_ms": round(hash_old * 1000, 2),
               "ceiling_per_s": round(ceiling, 2), "naive_per_s": round(naive, 2),
               "ceiling_with_read_hash_per_s": round(full_ceiling, 2),
               "ceiling_with_read_blake2b_per_s": round(old_ceiling, 2),
               "e2e_vs_ceiling_with_read_hash": round(e2e / full_ceiling, 3),
               "ceiling_drift": round(drift, 3),
               "end_to_end_per_s": round(e2e, 2), "indexing_phase_per_s": round(phase, 2),
               "phase_vs_ceiling": round(phase / ceiling, 3),
               "e2e_vs_ceiling": round(e2e / ceiling, 3),
               "phase_vs_naive": round(phase / naive, 2), "e2e_vs_naive": round(e2e / naive, 2)}
        rows.append(row)
        print(f"grain {grain:g} ({len(files)} files, {mb:.1f} MB each, encoder {backend}, "
              f"{cores} cores):")
        print(f"  decode+preprocess {row['decode_cpu_ms']} ms CPU/photo, encode "
              f"{row['encode_cpu_ms']} ms CPU/photo -> ceiling {ceiling:.1f} photos/s")
        print(f"  read {row['read_cpu_ms']} ms + hash {row['hash_cpu_ms']} ms (BLAKE3; blake2b "
              f"{row['blake2b_cpu_ms']} ms) -> ceiling with reading and hashing "
              f"{full_ceiling:.1f} photos/s (with blake2b {old_ceiling:.1f}); means of "
              f"before and after the end-to-end run, which differ by {drift:+.0%}")
        print(f"  naive pipeline     {naive:6.1f} photos/s")
        print(f"  clipgallery index  {e2e:6.1f} photos/s end to end "
              f"({phase:.1f} in the indexing phase)")
        print(f"  ratios: indexing phase / ceiling {row['phase_vs_ceiling']:.2f}, "
              f"end to end / ceiling {row['e2e_vs_ceiling']:.2f} "
              f"(/ ceiling with reading and hashing {row['e2e_vs_ceiling_with_read_hash']:.2f}), "
              f"vs naive {row['phase_vs_naive']:.2f}x (phase) "
              f"{row['e2e_vs_naive']:.2f}x (end to end)", flush=True)
    write_result("index", {"machine": machine(), "encoder": backend, "rows": rows})


if __name__ == "__main__":
    main()
