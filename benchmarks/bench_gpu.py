"""The GPU path, measured: is the GPU fed, and how fast is indexing end to end?

    python benchmarks/bench_gpu.py [--big 96] [--small 400] [--device auto] [--json FILE]

Runs on a lent GPU machine through ``benchmarks/gpu_check.sh``, and on any CPU machine as
its fallback (then every number is a CPU number and says so).  Self-contained: the
JPEGs are generated here (no ../shared), the model is ViT-B-32-256 with random weights
(its real architecture and cost).  Side by side, in one run:

* **decode ceiling**: reduced-size decodes (Pillow draft mode + the model's preprocessing,
  what the indexer does) on every core at once, photos/s — the most the GPU can be fed;
* **end to end**: ``clipgallery index DIR --device D --workers <cores>`` in a fresh
  library, as a user runs it, photos/s, and its ratio to the decode ceiling
  (targets on an H100/H200 with 16 cores: ≥ 0.9 on 24 MP JPEGs, ≥ 2,000 photos/s on
  ≤ 3 MP JPEGs);
* **fp16 vs fp32**: the minimum cosine between half- and full-precision vectors of the
  same photos (target ≥ 0.999);
* **nvJPEG**: ``torchvision.io.decode_jpeg(device="cuda")`` on the 24 MP files, photos/s,
  next to the CPU decode ceiling (measured only; the indexer decodes on the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import random_weight_model  # noqa: E402


def _make_one(args: tuple[Path, int, tuple[int, int], float]) -> None:
    path, i, size, grain = args
    rng = np.random.default_rng(i)
    w, h = size
    base = rng.integers(0, 255, (4, 6, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((max(1, w // 8), max(1, h // 8)), Image.BICUBIC)
    arr = np.asarray(img.resize(size, Image.BILINEAR), dtype=np.int16)
    if grain:  # sensor-like noise, so that files are as large as a camera's
        arr += rng.normal(0, grain, (h, w, 1)).astype(np.int16)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=92)


def make_jpegs(folder: Path, n: int, size: tuple[int, int], grain: float) -> list[Path]:
    """``n`` photo-like JPEGs (smooth colour fields plus grain, quality 92), made once on
    every core and kept under /tmp."""
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("*.jpg"))
    if len(have) < n:
        jobs = [(folder / f"img_{i:05d}.jpg", i, size, grain) for i in range(len(have), n)]
        with ProcessPoolExecutor() as pool:
            list(pool.map(_make_one, jobs))
    return sorted(folder.glob("*.jpg"))[:n]


_PRE = None


def _decode_one(path: str) -> int:
    """In a worker process: what the indexer's decode stage does for one photo."""
    global _PRE
    from clipgallery.core.photos import imaging
    if _PRE is None:
        from clipgallery.core.models.onnx_runtime import ImagePreprocess
        _PRE = ImagePreprocess({"size": 256, "mean": (0.48145466, 0.4578275, 0.40821073),
                                "std": (0.26862954, 0.26130258, 0.27577711),
                                "interpolation": "bicubic", "resize_mode": "shortest"})
    dec = imaging.decode(path, min_side=256)
    x = _PRE(dec.image)
    return int(np.asarray(x).shape[-1])


def decode_ceiling(files: list[Path], cores: int) -> float:
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_decode_one, [str(p) for p in files[:cores]]))  # warm the workers
        t0 = time.perf_counter()
        list(pool.map(_decode_one, [str(p) for p in files], chunksize=2))
        return len(files) / (time.perf_counter() - t0)


def end_to_end(files: list[Path], model: Path, device: str, cores: int) -> dict:
    folder = files[0].parent
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: the one-time model set-up
        one = Path(tmp) / "one"
        one.mkdir()
        (one / files[0].name).write_bytes(files[0].read_bytes())
        subprocess.run([sys.executable, "-m", "clipgallery", "index", str(one), "--library",
                        str(Path(tmp) / "lib"), "--model", str(model), "--device", device],
                       cwd=ROOT, capture_output=True, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "clipgallery", "index", str(folder), "--library",
             str(Path(tmp) / "lib"), "--model", str(model), "--device", device,
             "--workers", str(cores), "--json"],
            cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    summary = json.loads(out.stdout)
    return {"indexed": summary["indexed"], "wall_s": round(wall, 2),
            "per_s": round(summary["indexed"] / wall, 1),
            "phase_per_s": round(summary["indexed"] / max(summary["elapsed"], 1e-9), 1),
            "encoder": summary.get("encoder")}


def fp16_vs_fp32(files: list[Path], model: Path) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    from clipgallery.core.models.torch_backend import load_encoder
    from clipgallery.core.photos import imaging

    half = load_encoder(str(model), device="cuda")
    full = load_encoder(str(model), device="cpu")
    batch = [half.preprocess_image(imaging.decode(p, min_side=half.image_size).image)
             for p in files[:32]]
    a, b = half.encode_images(batch), full.encode_images(batch)
    cos = (a * b).sum(axis=1)
    return {"photos": len(batch), "min_cosine": round(float(cos.min()), 5),
            "dtype": str(half.dtype)}


def nvjpeg(files: list[Path]) -> dict:
    try:
        import torch
        from torchvision.io import decode_jpeg, read_file
    except ImportError as e:
        return {"skipped": f"torchvision missing: {e}"}
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    datas = [read_file(str(p)) for p in files]
    decode_jpeg(datas[:4], device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(0, len(datas), 16):
        decode_jpeg(datas[i:i + 16], device="cuda")
    torch.cuda.synchronize()
    return {"per_s": round(len(datas) / (time.perf_counter() - t0), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", type=int, default=96, help="24 MP JPEGs")
    ap.add_argument("--small", type=int, default=400, help="3 MP JPEGs")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    device = ("cuda" if cuda else "cpu") if args.device == "auto" else args.device
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if cuda else None
    print(f"[gpu] device {device} ({gpu or 'no CUDA device: CPU fallback'}), {cores} cores",
          flush=True)
    model = random_weight_model()
    os.environ.setdefault("CLIPGALLERY_ONNX_CACHE", "/tmp/clipgallery-bench-onnx")
    if device == "cpu":
        print("[gpu] CPU fallback: the ceiling counts decoding only, and here the same "
              "cores also run the model, so the ratios are not the GPU targets' ratios")
    res: dict = {"device": device, "gpu": gpu, "cores": cores}
    for name, n, size, grain in (("24MP", args.big, (6000, 4000), 8.0),
                                 ("3MP", args.small, (2000, 1500), 4.0)):
        files = make_jpegs(Path(f"/tmp/clipgallery-gpu-{name}-{n}"), n, size, grain)
        ceiling = decode_ceiling(files, cores)
        e2e = end_to_end(files, model, device, cores)
        row = {"files": n, "decode_ceiling_per_s": round(ceiling, 1), "end_to_end": e2e}
        if "per_s" in e2e:
            row["e2e_vs_ceiling"] = round(e2e["per_s"] / ceiling, 3)
            row["phase_vs_ceiling"] = round(e2e["phase_per_s"] / ceiling, 3)
        res[name] = row
        print(f"[gpu] {name}: decode ceiling {ceiling:.1f}/s on {cores} cores; end to end "
              f"{e2e.get('per_s', e2e)} /s (phase {e2e.get('phase_per_s')}); ratio "
              f"{row.get('e2e_vs_ceiling')} (phase {row.get('phase_vs_ceiling')})", flush=True)
        if name == "24MP":
            res["fp16_vs_fp32"] = fp16_vs_fp32(files, model)
            res["nvjpeg_24MP"] = nvjpeg(files)
            print(f"[gpu] fp16 vs fp32: {res['fp16_vs_fp32']}; nvJPEG: {res['nvjpeg_24MP']}",
                  flush=True)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
