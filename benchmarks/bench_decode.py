"""Decode + preprocess throughput: the fast path vs a naive full decode, side by side.

    .venv/bin/python benchmarks/bench_decode.py [--count 40] [--grain 8]

Fast path: ``imaging.decode(path, min_side=S)`` (JPEG draft mode: libjpeg scales the DCT
by 1/2..1/8 while decoding) followed by open_clip's own transform.  Naive: Pillow decodes
the full 24 MP image, applies EXIF orientation, then the same transform.  Both run in
one process, alternating, on the same files (page cache warm), one thread each.
"""

from __future__ import annotations

import argparse
import time

from _common import machine, random_weight_model, write_result
from camera_jpegs import camera_jpegs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--grain", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    from PIL import Image, ImageOps

    from clipgallery.core.models.torch_backend import load_encoder
    from clipgallery.core.photos import imaging

    folder = camera_jpegs(args.count, args.grain)
    files = sorted(folder.glob("*.jpg"))[: args.count]
    enc = load_encoder(str(random_weight_model()), device="cpu")
    pre = enc.preprocess

    def fast(p):
        return pre(imaging.decode(p, min_side=enc.image_size).image)

    def naive(p):
        with Image.open(p) as im:
            return pre(ImageOps.exif_transpose(im.convert("RGB")))

    for p in files[:2]:  # warm the page cache and the code paths
        fast(p), naive(p)
    times = {"fast": 0.0, "naive": 0.0}
    for _ in range(args.rounds):
        for name, fn in (("fast", fast), ("naive", naive)):
            t0 = time.perf_counter()
            for p in files:
                fn(p)
            times[name] += time.perf_counter() - t0
    n = len(files) * args.rounds
    rate = {k: n / v for k, v in times.items()}
    ratio = rate["fast"] / rate["naive"]
    size_mb = sum(p.stat().st_size for p in files) / len(files) / 1e6
    print(f"{len(files)} JPEGs 6000x4000, {size_mb:.1f} MB each (grain {args.grain:g}), "
          f"model input {enc.image_size}px, one thread")
    print(f"  fast path (draft mode): {rate['fast']:6.1f} photos/s")
    print(f"  naive full decode     : {rate['naive']:6.1f} photos/s")
    print(f"  ratio                 : {ratio:6.2f}x")
    write_result("decode", {"machine": machine(), "files": len(files), "mb_per_file": size_mb,
                            "grain": args.grain, "fast_per_s": rate["fast"],
                            "naive_per_s": rate["naive"], "ratio": ratio})


if __name__ == "__main__":
    main()
