"""The text pass (OCR) next to the CLIP pass, on photos without text, in one run.

    .venv/bin/python benchmarks/bench_ocr.py [--count 24] [--kinds camera,phone]

For camera-size JPEGs (6000x4000, ``--grain 8``: as large as real 24 MP files) and
phone-size photos (4032x3024, 12 MP), both made from the shared corpus by
``benchmarks/camera_jpegs.py`` (crops of real photos, no text), it runs
``clipgallery index DIR`` in fresh libraries, as a user does, with the default
architecture (ViT-B-32-256, random weights, ONNX Runtime int8):

* ``--no-ocr``: the CLIP pass alone (wall time of the whole command);
* with the text pass: the CLIP pass, then the text pass (its own ``elapsed``);

and prints the text pass's photos per second, its cost relative to the CLIP pass
(extra wall time of the first indexing), how many photos the gate let through to a
full read, and what the text pass costs for a 50,000-photo library.
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

KINDS = {"camera": (8.0, "6000x4000"), "phone": (4.0, "4032x3024")}


def _index(folder: Path, model: Path, lib: Path, *extra: str) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if k != "CLIPGALLERY_OCR"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "clipgallery", "index", str(folder),
                          "--library", str(lib), "--model", str(model), "--json", *extra],
                         cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--kinds", default="camera,phone")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, best kept")
    args = ap.parse_args()
    os.environ.setdefault("CLIPGALLERY_ONNX_CACHE", "/tmp/clipgallery-bench-onnx")
    model = random_weight_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:  # the one-time conversion, not timed
        _index(camera_jpegs(2, 0.0), model, Path(tmp) / "warm", "--no-ocr")
    rows = []
    for kind in args.kinds.split(","):
        grain, size = KINDS[kind]
        folder = camera_jpegs(args.count, grain, size)
        n = len(list(folder.glob("*.jpg")))
        clip_only, with_text, summary = [], [], {}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                wall, _s = _index(folder, model, Path(tmp) / "a", "--no-ocr")
                clip_only.append(wall)
            with tempfile.TemporaryDirectory() as tmp:
                wall, s = _index(folder, model, Path(tmp) / "b")
                with_text.append(wall)
                if not summary or s["text"]["elapsed"] < summary["text"]["elapsed"]:
                    summary = s
        a, b = min(clip_only), min(with_text)
        text = summary["text"]
        rate = text["read"] / text["elapsed"] if text["elapsed"] else 0.0
        row = {"kind": kind, "size": size, "grain": grain, "files": n,
               "clip_pass_wall_s": round(a, 2), "with_text_wall_s": round(b, 2),
               "added": round((b - a) / a, 3),
               "text_pass_s": text["elapsed"], "text_per_s": round(rate, 2),
               "clip_phase_s": summary["elapsed"],
               "text_vs_clip_phase": round(text["elapsed"] / summary["elapsed"], 3),
               "from_spool": text["from_spool"], "with_text": text["with_text"],
               "est_50k_text_pass_min": round(50_000 / rate / 60, 1) if rate else None}
        rows.append(row)
        print(f"{kind} photos {size} ({n} files, {cores} cores):")
        print(f"  clipgallery index --no-ocr  {a:6.1f} s   with the text pass {b:6.1f} s "
              f"-> the text pass adds {row['added']:+.0%} to the first indexing")
        print(f"  text pass {text['elapsed']:.2f} s = {rate:.1f} photos/s "
              f"({row['text_vs_clip_phase']:.0%} of the CLIP phase's {summary['elapsed']:.2f} s);"
              f" {text['from_spool']} from the spool, {text['with_text']} with text found")
        print(f"  50,000 photos: the text pass takes about {row['est_50k_text_pass_min']} min",
              flush=True)
    write_result("ocr", {"machine": machine(), "gate_side": os.environ.get(
        "CLIPGALLERY_OCR_GATE", "default"), "rows": rows})


if __name__ == "__main__":
    main()
