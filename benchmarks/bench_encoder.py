"""Encoder speed: photos per second by batch size, and text-query latency (model warm).

    .venv/bin/python benchmarks/bench_encoder.py [--model SPEC] [--batches 1,8,32,64]

Default model: the default architecture (ViT-B-32-256) with random weights — same
compute as the real weights.  On a machine with a GPU it also runs CUDA in fp16.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import machine, random_weight_model, write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model spec (default: random-weight ViT-B-32-256)")
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    args = ap.parse_args()

    import torch

    from clipgallery.core.encoder import load_encoder

    spec = args.model or str(random_weight_model())
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        enc = load_encoder(spec, device=device)
        for bs in (int(b) for b in args.batches.split(",")):
            x = torch.randn(bs, 3, enc.image_size, enc.image_size)
            enc.encode_images(x)  # warm-up
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                enc.encode_images(x)
                n += bs
            rate = n / (time.perf_counter() - t0)
            rows.append({"device": device, "batch": bs, "photos_per_s": round(rate, 1)})
            print(f"{device:5} batch {bs:3}: {rate:8.1f} photos/s", flush=True)
        lat = []
        for i in range(60):
            t0 = time.perf_counter()
            enc.encode_text([f"a photo of a dog on a chair number {i}"])
            lat.append((time.perf_counter() - t0) * 1000)
        lat = sorted(lat[10:])
        text = {"device": device, "p50_ms": round(statistics.median(lat), 2),
                "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2)}
        rows.append(text)
        print(f"{device:5} text query: p50 {text['p50_ms']} ms, p99 {text['p99_ms']} ms")
    out = write_result("encoder", {"machine": machine(), "model": spec, "rows": rows})
    print(f"written {out}")


if __name__ == "__main__":
    main()
