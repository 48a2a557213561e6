"""Encoder speed: photos per second by batch size, and text-query latency (model warm).

    .venv/bin/python benchmarks/bench_encoder.py [--model SPEC] [--batches 1,8,32,64]

Default model: the default architecture (ViT-B-32-256) with random weights — same
compute as the real weights.  On the CPU it measures each way ClipGallery can run the
model: eager PyTorch, ONNX Runtime float32 (the default for search) and ONNX Runtime
int8 (fast indexing, the default for indexing where its check passes).  On a machine
with a GPU it also runs CUDA in fp16.
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

    import os
    from pathlib import Path

    import torch

    from clipgallery.core.models.onnx_export import OnnxEncoder, export_onnx
    from clipgallery.core.models.torch_backend import load_encoder

    spec = args.model or str(random_weight_model())
    store = Path(os.environ.get("CLIPGALLERY_ONNX_CACHE") or "/tmp/clipgallery-bench-onnx")
    runs = []
    cpu = load_encoder(spec, device="cpu")
    runs.append(("cpu-torch", cpu))
    folder = export_onnx(cpu, store, quantize=True)
    runs.append(("cpu-onnx", OnnxEncoder(cpu, folder)))
    import json

    if (json.loads((folder / "info.json").read_text()).get("int8") or {}).get("usable"):
        runs.append(("cpu-onnx-int8", OnnxEncoder(cpu, folder, int8=True)))
    if torch.cuda.is_available():
        runs.append(("cuda-fp16", load_encoder(spec, device="cuda")))
    rows = []
    for device, enc in runs:
        for bs in (int(b) for b in args.batches.split(",")):
            x = torch.randn(bs, 3, enc.image_size, enc.image_size)
            enc.encode_images(x)  # warm-up
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                enc.encode_images(x)
                n += bs
            rate = n / (time.perf_counter() - t0)
            rows.append({"device": device, "batch": bs, "photos_per_s": round(rate, 1)})
            print(f"{device:13} batch {bs:3}: {rate:8.1f} photos/s", flush=True)
        lat = []
        for i in range(60):
            t0 = time.perf_counter()
            enc.encode_text([f"a photo of a dog on a chair number {i}"])
            lat.append((time.perf_counter() - t0) * 1000)
        lat = sorted(lat[10:])
        text = {"device": device, "p50_ms": round(statistics.median(lat), 2),
                "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2)}
        rows.append(text)
        print(f"{device:13} text query: p50 {text['p50_ms']} ms, p99 {text['p99_ms']} ms")
    out = write_result("encoder", {"machine": machine(), "model": spec, "rows": rows})
    print(f"written {out}")


if __name__ == "__main__":
    main()
