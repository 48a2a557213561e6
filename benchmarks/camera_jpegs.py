"""Build (once, cached under /tmp) a folder of camera-size JPEGs from the shared corpus.

Uses the peer harness's generator (../shared/peers/rclip/make_corpus.py: 6000x4000,
quality 92, crops of the real corpus photos; ``grain`` adds sensor-like noise so files
are as large as real 24 MP camera files).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import ROOT

_CANDIDATES = [(base / "shared" / "peers" / "rclip" / "make_corpus.py").resolve()
               for base in (ROOT.parent, ROOT.parent.parent)]  # a checkout, or a worktree
MAKE_CORPUS = next((p for p in _CANDIDATES if p.is_file()), _CANDIDATES[0])


def camera_jpegs(n: int, grain: float = 0.0, size: str = "6000x4000") -> Path:
    out = Path(f"/tmp/clipgallery-bench-corpus/n{n}-g{grain:g}-{size}")
    if out.is_dir() and len(list(out.glob("*.jpg"))) >= n:
        return out
    if not MAKE_CORPUS.is_file():
        raise SystemExit(f"{MAKE_CORPUS} not found (the shared peers folder)")
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(MAKE_CORPUS), str(out), "-n", str(n), "--size", size]
    if grain:
        args += ["--grain", str(grain)]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return out
