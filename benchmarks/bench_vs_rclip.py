"""ClipGallery vs rclip 3.3.0: a fresh full index of the same camera-size JPEGs (issue #9).

usage: .venv/bin/python benchmarks/bench_vs_rclip.py [--count N] [--grain SIGMA] [--keep]
                                                    [--skip rclip|clipgallery|pieces ...]

Steps, in one run (rclip's harness lives in ../shared/peers/rclip, see its README.md):

1. prepares rclip offline (``setup.sh``, only when /tmp/rclip-venv or /tmp/rclip-models is
   missing) and builds ``N`` 6000x4000 JPEGs with its ``make_corpus.py`` (reused if there);
2. rclip: ``run_rclip_index.sh DIR`` (fresh data dir; end-to-end and index-phase images/s);
3. ClipGallery: ``python -m clipgallery index DIR --library L --model M --json`` as a
   subprocess, so start-up counts as it does for rclip.  M is a local model folder holding a
   random-weight ViT-B-32-256 (seed 0; datacomp_s34b_b86k's preprocessing), written once
   to /tmp/clipgallery-bench-models by benchmarks/_common.py and kept.  A warm-up run on 2 photos first does the one-time model set-up (e.g. an ONNX
   export, like rclip's pre-converted models); then everything in L but its model files
   and caches is deleted, so the timed run is a fresh index.  It measures whatever
   ``clipgallery index`` does (ONNX Runtime once the library wires it in, else PyTorch);
4. the pieces, in-process, so the ceiling is known: decode + preprocess per photo
   (``imaging.decode(path, min_side=...)``, and rclip's full-size decode for reference),
   the PyTorch image tower and the ONNX Runtime image tower (float32, int8) per photo, and
   the in-process Indexer with the ONNX encoder (no start-up); and from them the bound
   on the ratio that this machine allows (rclip's CPU time per photo over the image
   tower's alone: see :func:`ratio_bound`).

Prints a table and writes ``benchmarks/results/vs_rclip.json``.  CPU use by other
processes during each timed run is reported ("others", cores): well above 0 means the
numbers were disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER = (ROOT.parent / "shared" / "peers" / "rclip").resolve()
RCLIP_VENV = Path(os.environ.get("RCLIP_VENV", "/tmp/rclip-venv"))
RCLIP_MODELS = Path(os.environ.get("RCLIP_MODELS", "/tmp/rclip-models"))
RESULTS = ROOT / "benchmarks" / "results" / "vs_rclip.json"
ARCH, TAG = "ViT-B-32-256", "datacomp_s34b_b86k"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- CPU accounting ------------------------------------------------------------------------


def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (no idle, no iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class CpuWatch:
    """Wall time, our CPU and everybody else's CPU over a ``with`` block."""

    def __enter__(self) -> CpuWatch:
        self.t0, self.m0 = time.perf_counter(), _machine_busy_s()
        self.c0 = _children_cpu_s() + _self_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        ours = _children_cpu_s() + _self_cpu_s() - self.c0
        self.ours = ours / self.wall
        self.others = max(0.0, _machine_busy_s() - self.m0 - ours) / self.wall


# -- preparation ----------------------------------------------------------------------------


def ensure_rclip() -> None:
    if (RCLIP_VENV / "bin" / "rclip").exists() and (RCLIP_MODELS / "EXPORT_INFO.json").exists():
        return
    log("preparing rclip (setup.sh, about a minute)")
    env = dict(os.environ, TORCH_VENV=sys.prefix)
    subprocess.run([str(PEER / "setup.sh")], env=env, check=True, stdout=subprocess.DEVNULL)


def ensure_corpus(folder: Path, count: int, grain: float) -> None:
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    log(f"building {count} camera-size JPEGs in {folder} (make_corpus.py)")
    cmd = [str(RCLIP_VENV / "bin" / "python"), str(PEER / "make_corpus.py"), str(folder),
           "-n", str(count)]
    if grain:
        cmd += ["--grain", str(grain)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def ensure_model() -> Path:
    """A local open_clip model folder: random-weight ViT-B-32-256 (seed 0), shared with the
    other benchmarks (benchmarks/_common.py), with datacomp_s34b_b86k's preprocessing."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import random_weight_model

    folder = random_weight_model(ARCH, TAG)
    log(f"model: random-weight {ARCH} in {folder}")
    return folder


# -- the timed runs ---------------------------------------------------------------------------


_RCLIP_LINE = re.compile(
    r"run 1: (\d+)/(\d+) images indexed \((\d+) skipped\), end-to-end ([\d.]+) s = ([\d.]+) "
    r"images/s; index phase ([\d.]+) s = ([\d.]+) images/s .*?rclip kept ([\d.]+) of \d+ "
    r"cores busy, everything else ([\d.]+)")


def run_rclip(folder: Path) -> dict[str, Any]:
    log("rclip: fresh full index")
    env = dict(os.environ, REPEATS="1", WARM="1", RCLIP_VENV=str(RCLIP_VENV),
               RCLIP_MODELS=str(RCLIP_MODELS))
    out = subprocess.run([str(PEER / "run_rclip_index.sh"), str(folder)], env=env, check=True,
                         capture_output=True, text=True).stdout
    m = _RCLIP_LINE.search(out)
    if not m:
        raise RuntimeError(f"cannot parse run_rclip_index.sh output:\n{out}")
    return {
        "indexed": int(m[1]), "files": int(m[2]), "skipped": int(m[3]),
        "wall_s": float(m[4]), "photos_per_s": float(m[5]),
        "index_phase_s": float(m[6]), "index_phase_photos_per_s": float(m[7]),
        "cores_busy": float(m[8]), "others_cores": float(m[9]),
        "output": out.strip().splitlines(),
    }


def _clipgallery(args: list[str]) -> tuple[dict[str, Any], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CLIPGALLERY_MODEL", None)
    # Like for like with rclip: the CLIP pass only (the text pass is measured on its own,
    # benchmarks/bench_ocr.py, next to the CLIP pass).
    env["CLIPGALLERY_OCR"] = "0"
    p = subprocess.run([sys.executable, "-m", "clipgallery", *args], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"clipgallery {' '.join(args)} failed ({p.returncode}):\n"
                           f"{p.stderr[-3000:]}")
    return json.loads(p.stdout), p.stderr


def _backend_of(summary: dict[str, Any], library: Path) -> str:
    """What ran the model: the summary's own word if it gives one, else what's on disk."""
    said = summary.get("backend") or summary.get("encoder")
    if said:
        return "onnxruntime" if "onnx" in str(said).lower() else str(said)
    return "onnxruntime" if any(library.rglob("visual.onnx")) else "pytorch"


def warm_clipgallery(folder: Path, work: Path, model: Path) -> float:
    """The one-time model set-up (ONNX export incl. the int8 image model, like rclip's
    pre-converted models) on 2 photos; returns its seconds.  The library's model files
    and caches stay, everything it knows about photos is dropped by each timed run."""
    library = work / "library"
    shutil.rmtree(library, ignore_errors=True)
    warm = work / "warmup-photos"
    shutil.rmtree(warm, ignore_errors=True)
    warm.mkdir(parents=True)
    for p in sorted(folder.glob("*.jpg"))[:2]:
        shutil.copyfile(p, warm / p.name)
    log("ClipGallery: warm-up run (one-time model set-up)")
    t0 = time.perf_counter()
    _clipgallery(["index", str(warm), "--library", str(library), "--model", str(model), "--json"])
    shutil.rmtree(warm)
    return round(time.perf_counter() - t0, 1)


def run_clipgallery(folder: Path, work: Path, model: Path, *, fast: bool = True
                    ) -> dict[str, Any]:
    """A fresh full index of ``folder`` by ``clipgallery index`` in a new process;
    ``fast=False`` turns fast (int8) indexing off for the run."""
    library = work / "library"
    for p in library.iterdir():
        if p.name.startswith("catalog.sqlite3") or p.name in ("index", "writer.lock"):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    shutil.rmtree(library / "cache" / "thumbnails", ignore_errors=True)
    for p in folder.glob("*.jpg"):  # page cache, as rclip's WARM=1
        p.read_bytes()
    os.environ["CLIPGALLERY_FAST_INDEXING"] = "1" if fast else "0"
    log(f"ClipGallery: fresh full index (fast indexing {'on' if fast else 'off'})")
    try:
        with CpuWatch() as w:
            summary, _ = _clipgallery(["index", str(folder), "--library", str(library),
                                       "--model", str(model), "--json"])
    finally:
        os.environ.pop("CLIPGALLERY_FAST_INDEXING", None)
    n = int(summary.get("indexed", 0))
    elapsed = float(summary.get("elapsed", 0.0)) or None
    return {
        "backend": _backend_of(summary, library), "encoder": summary.get("encoder"),
        "indexed": n, "skipped": len(summary.get("skipped", [])),
        "wall_s": round(w.wall, 2), "photos_per_s": round(n / w.wall, 2),
        "index_phase_s": elapsed,
        "index_phase_photos_per_s": round(n / elapsed, 2) if elapsed else None,
        "cores_busy": round(w.ours, 2), "others_cores": round(w.others, 2),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median end-to-end speed, with every run's speed attached."""
    ordered = sorted(runs, key=lambda r: r["photos_per_s"])
    out = dict(ordered[len(ordered) // 2])
    out["all_photos_per_s"] = [r["photos_per_s"] for r in runs]
    return out


# -- the pieces, in-process -------------------------------------------------------------------


def _per_photo_ms(fn, items, repeat: int = 1) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) per item; CPU ms is less disturbed by other load."""
    fn(items[:1])  # warm
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn(items)
    n = repeat * len(items)
    return (round(1000 * (time.perf_counter() - t) / n, 1),
            round(1000 * (time.process_time() - c) / n, 1))


def measure_pieces(corpus_folder: Path, model: Path, work: Path, batch: int = 32
                   ) -> dict[str, Any]:
    import torch
    from PIL import Image

    from clipgallery.core.models.onnx_export import (
        OnnxEncoder,
        cpu_threads,
        export_onnx,
        onnx_encoder_for,
    )
    from clipgallery.core.models.torch_backend import load_encoder

    log("pieces: loading the encoder")
    enc = load_encoder(str(model), device="cpu")
    files = sorted(corpus_folder.glob("*.jpg"))
    sample = files[:12]
    out: dict[str, Any] = {"threads": cpu_threads(), "batch": batch}

    try:
        from clipgallery.core.models.onnx_runtime import ImagePreprocess
        from clipgallery.core.photos import imaging

        pre = ImagePreprocess(enc.model.visual.preprocess_cfg)

        def ours(paths):
            for p in paths:
                pre(imaging.decode(p, min_side=enc.image_size).image)
        decode_how = "imaging.decode(min_side) + numpy preprocess"
    except ImportError:
        def ours(paths):
            for p in paths:
                with Image.open(p) as im:
                    im.draft("RGB", (enc.image_size, enc.image_size))
                    enc.preprocess_image(im.convert("RGB"))
        decode_how = "PIL draft + preprocess"

    def full(paths):  # what rclip does: full-size decode, then resize
        for p in paths:
            with Image.open(p) as im:
                enc.preprocess_image(im.convert("RGB"))

    log("pieces: decode + preprocess (1 thread)")
    out["decode_preprocess_ms"], out["decode_preprocess_cpu_ms"] = _per_photo_ms(ours, sample)
    out["decode_preprocess_how"] = decode_how
    out["full_decode_preprocess_ms"], out["full_decode_preprocess_cpu_ms"] = _per_photo_ms(
        full, sample[:6])

    with Image.open(files[0]) as im:
        one = enc.preprocess_image(im.convert("RGB"))
    x = torch.stack([one] * batch)
    log(f"pieces: PyTorch image tower (batch {batch})")
    out["torch_tower_ms"], out["torch_tower_cpu_ms"] = _per_photo_ms(enc.encode_images, x, 2)
    store = work / "onnx-store"
    onnx = onnx_encoder_for(enc, store)
    if onnx is enc:
        out["onnx_tower_ms"] = None
        return out
    log(f"pieces: ONNX Runtime image tower (batch {batch})")
    out["onnx_tower_ms"], out["onnx_tower_cpu_ms"] = _per_photo_ms(onnx.encode_images, x, 3)
    folder = export_onnx(enc, store, quantize=True)
    q = json.loads((folder / "info.json").read_text()).get("int8")
    if q:
        i8 = OnnxEncoder(enc, folder, int8=True, preload=("visual",))
        log("pieces: ONNX Runtime int8 image tower")
        out["onnx_int8_tower_ms"], out["onnx_int8_tower_cpu_ms"] = _per_photo_ms(
            i8.encode_images, x, 3)
        real = torch.stack([enc.preprocess_image(imaging_decode(p, enc.image_size))
                            for p in sample])
        a, b = onnx.encode_images(real), i8.encode_images(real)
        out["onnx_int8_cosine_min"] = round(float((a * b).sum(1).min()), 6)
        out["onnx_int8_cosine_synthetic"] = round(q.get("min_cosine_vs_fp32", 0.0), 6)
        out["onnx_int8_offered"] = bool(q.get("usable"))
        del i8
    # The whole pipeline in-process: the real Indexer with the ONNX encoder.
    out["indexer_onnx"] = run_indexer(onnx, corpus_folder, work)
    cores = out["threads"]
    out["ceiling_photos_per_s"] = round(
        1000 / (out["decode_preprocess_cpu_ms"] / cores + out["onnx_tower_ms"]), 1)
    out["ceiling_photos_per_s_idle"] = round(
        1000 / ((out["decode_preprocess_cpu_ms"] + out["onnx_tower_cpu_ms"]) / cores), 1)
    if out.get("onnx_int8_tower_cpu_ms"):
        out["ceiling_int8_photos_per_s_idle"] = round(
            1000 / ((out["decode_preprocess_cpu_ms"] + out["onnx_int8_tower_cpu_ms"]) / cores), 1)
    del onnx
    out["ceiling_note"] = (
        "ceiling: decode spread over all cores, then the ONNX tower on all cores: "
        "1000 / (decode_cpu_ms / cores + tower_ms); ceiling_idle counts CPU time only "
        "(what an otherwise idle machine would reach): 1000 * cores / (decode_cpu_ms + "
        "tower_cpu_ms)")
    return out


def ratio_bound(res: dict[str, Any]) -> dict[str, Any]:
    """The most ClipGallery could be faster than rclip on this machine: rclip's CPU time
    per photo over the cheapest image tower's alone (as if decoding, hashing and
    everything else cost nothing; both run the same architecture, so the tower is a
    cost neither can avoid).  Where the tower is most of rclip's cost, no pipeline
    reaches a large ratio, whatever it does around the model."""
    r, p = res.get("rclip"), res.get("pieces") or {}
    towers = [v for v in (p.get("onnx_tower_cpu_ms"), p.get("onnx_int8_tower_cpu_ms")) if v]
    if not r or not r.get("indexed") or not towers:
        return {}
    rclip_ms = 1000 * r["cores_busy"] * r["wall_s"] / r["indexed"]
    return {"rclip_cpu_ms_per_photo": round(rclip_ms, 1),
            "tower_cpu_ms_per_photo": min(towers),
            "ratio_bound": round(rclip_ms / min(towers), 2)}


def imaging_decode(path: Path, min_side: int):
    try:
        from clipgallery.core.photos import imaging

        return imaging.decode(path, min_side=min_side).image
    except ImportError:
        from PIL import Image

        with Image.open(path) as im:
            im.draft("RGB", (min_side, min_side))
            return im.convert("RGB")


def run_indexer(encoder, folder: Path, work: Path) -> dict[str, Any]:
    from clipgallery.core.indexing.indexer import Indexer
    from clipgallery.core.store.library import Library

    lib_dir = work / "library-inprocess"
    shutil.rmtree(lib_dir, ignore_errors=True)
    log("pieces: in-process Indexer with the ONNX encoder")
    with Library.open(lib_dir, write=True) as lib, CpuWatch() as w:
        summary = Indexer(lib.catalog, lib.index_for(encoder), encoder).run([folder])
    shutil.rmtree(lib_dir, ignore_errors=True)
    return {"indexed": summary.indexed, "wall_s": round(w.wall, 2),
            "photos_per_s": round(summary.indexed / w.wall, 2),
            "cores_busy": round(w.ours, 2), "others_cores": round(w.others, 2)}


# -- report ---------------------------------------------------------------------------------


def _f(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def report(res: dict[str, Any]) -> None:
    r, c = res.get("rclip"), res.get("clipgallery")
    m = res.get("machine", {})
    print(f"\n{res['count']} JPEGs {res.get('corpus_mb')} MB, grain {res['grain']}, "
          f"{m.get('cpus')} CPUs, load average before {_f(m.get('loadavg_before'))}")
    print(f"{'':28}{'photos/s':>10}{'wall s':>9}{'index-phase/s':>15}{'cores':>7}{'others':>8}")
    rows = [("rclip 3.3.0", r)] if r else []
    if c:
        rows.append(("ClipGallery (fast indexing)", c))
    if res.get("clipgallery_fp32"):
        rows.append(("ClipGallery (float32)", res["clipgallery_fp32"]))
    for name, x in rows:
        print(f"{name:28}{_f(x['photos_per_s']):>10}{_f(x['wall_s'], '.1f'):>9}"
              f"{_f(x['index_phase_photos_per_s']):>15}{_f(x['cores_busy']):>7}"
              f"{_f(x['others_cores']):>8}")
    if r and c:
        print(f"ratio ClipGallery / rclip: {res['ratio']:.2f}x end-to-end, "
              f"{_f(res['ratio_index_phase'])}x index phase (target >= 3.5x); float32: "
              f"{_f(res.get('ratio_fp32'))}x end-to-end, "
              f"{_f(res.get('ratio_fp32_index_phase'))}x index phase")
        print(f"encoder: {c.get('encoder')}; runs (photos/s): rclip {r['all_photos_per_s']}, "
              f"ClipGallery {c['all_photos_per_s']}")
    p = res.get("pieces")
    if p:
        print(f"\nper photo, in-process ({p['threads']} threads, batch {p['batch']}), "
              "wall ms / CPU ms:")
        print(f"  decode+preprocess, 1 thread ({p['decode_preprocess_how']}): "
              f"{p['decode_preprocess_ms']} / {p['decode_preprocess_cpu_ms']}")
        print(f"  rclip-style full-size decode+preprocess, 1 thread: "
              f"{p['full_decode_preprocess_ms']} / {p['full_decode_preprocess_cpu_ms']}")
        print(f"  image tower, PyTorch:            {p['torch_tower_ms']} / "
              f"{p['torch_tower_cpu_ms']}")
        if p.get("onnx_tower_ms") is not None:
            print(f"  image tower, ONNX Runtime:       {p['onnx_tower_ms']} / "
                  f"{p['onnx_tower_cpu_ms']}")
        if p.get("onnx_int8_tower_ms") is not None:
            print(f"  image tower, ONNX Runtime int8:  {p['onnx_int8_tower_ms']} / "
                  f"{p['onnx_int8_tower_cpu_ms']} (cosine vs float32: photos "
                  f"{p['onnx_int8_cosine_min']}, synthetic {p['onnx_int8_cosine_synthetic']})")
        if p.get("indexer_onnx"):
            i = p["indexer_onnx"]
            print(f"  in-process Indexer + ONNX: {i['photos_per_s']} photos/s "
                  f"(cores {i['cores_busy']}, others {i['others_cores']}); ceiling "
                  f"{p.get('ceiling_photos_per_s')} photos/s now, "
                  f"{p.get('ceiling_photos_per_s_idle')} on an idle machine (CPU time); "
                  f"with the int8 tower {p.get('ceiling_int8_photos_per_s_idle')}")
    if res.get("ratio_bound"):
        print(f"\nbound on the ratio here: rclip spends {res['rclip_cpu_ms_per_photo']} CPU ms "
              f"a photo, the cheapest image tower alone {res['tower_cpu_ms_per_photo']}: "
              f"no pipeline around this model can be more than {res['ratio_bound']:.2f}x "
              "rclip on this machine")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100, help="JPEGs to index (default 100)")
    ap.add_argument("--grain", type=float, default=0.0,
                    help="make_corpus.py --grain (8 gives real camera file sizes)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the corpus and the libraries (with the ONNX export) in /tmp")
    ap.add_argument("--skip", action="append", default=[],
                    choices=["rclip", "clipgallery", "pieces"], help="leave out a part")
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds of (rclip, ClipGallery, ClipGallery float32); medians")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    suffix = f"{args.count}" + (f"-grain{args.grain:g}" if args.grain else "")
    corpus = Path(f"/tmp/clipgallery-vs-rclip-corpus-{suffix}")
    work = Path(tempfile.mkdtemp(prefix="clipgallery-vs-rclip-"))
    res: dict[str, Any] = {"count": args.count, "grain": args.grain}
    try:
        ensure_rclip()
        ensure_corpus(corpus, args.count, args.grain)
        model = ensure_model()
        res["corpus"] = str(corpus)
        res["corpus_mb"] = round(sum(p.stat().st_size for p in corpus.glob("*.jpg")) / 1e6)
        res["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_before": os.getloadavg()[0]}
        if "clipgallery" not in args.skip:
            res["clipgallery_setup_s"] = warm_clipgallery(corpus, work, model)
        # Alternate the contenders, so that a disturbance hits each about equally.
        runs: dict[str, list[dict[str, Any]]] = {"rclip": [], "clipgallery": [],
                                                 "clipgallery_fp32": []}
        for i in range(args.repeats):
            log(f"round {i + 1} of {args.repeats}")
            if "rclip" not in args.skip:
                runs["rclip"].append(run_rclip(corpus))
            if "clipgallery" not in args.skip:
                runs["clipgallery"].append(run_clipgallery(corpus, work, model))
                runs["clipgallery_fp32"].append(run_clipgallery(corpus, work, model,
                                                                fast=False))
        for name, got in runs.items():
            if got:
                res[name] = _median_run(got)
        r = res.get("rclip")
        for name, key in (("clipgallery", "ratio"), ("clipgallery_fp32", "ratio_fp32")):
            c = res.get(name)
            if r and c:
                res[key] = round(c["photos_per_s"] / r["photos_per_s"], 2)
                res[key + "_index_phase"] = round(
                    c["index_phase_photos_per_s"] / r["index_phase_photos_per_s"], 2
                ) if c["index_phase_photos_per_s"] else None
        if "pieces" not in args.skip:
            res["pieces"] = measure_pieces(corpus, model, work)
            res.update(ratio_bound(res))
        res["machine"]["loadavg_after"] = os.getloadavg()[0]
        res["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(corpus, ignore_errors=True)
        else:
            res["work"] = str(work)
    report(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
