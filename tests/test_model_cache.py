"""One model conversion per computer: ONNX exports live in the user's cache, shared by
every library; a damaged export is detected and converted again, and the user is told."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import synthetic
from tests.conftest import ROOT


def _index(env: dict[str, str], photos: Path, library: Path, model: str
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clipgallery", "index", str(photos),
                           "--library", str(library), "--model", model, "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _export_files(cache: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns)
            for p in cache.rglob("*.onnx") if p.is_file()}


def test_second_library_reuses_the_conversion_and_damage_is_redone(tmp_path, tiny_model
                                                                   ) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLIPGALLERY_ONNX_CACHE", "CLIPGALLERY_HOME")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")  # the user's cache (platformdirs)
    env["PYTHONPATH"] = str(ROOT)
    cache = tmp_path / "xdg-cache" / "ClipGallery" / "onnx"
    photos = tmp_path / "photos"
    synthetic.make_folder(photos, 6, seed=3)

    first = _index(env, photos, tmp_path / "lib1", tiny_model)
    assert first.returncode == 0, first.stderr
    made = _export_files(cache)
    assert made, f"no export in the user cache {cache}: {list(tmp_path.rglob('*.onnx'))}"
    assert not list((tmp_path / "lib1").rglob("*.onnx"))  # not inside the library

    second = _index(env, photos, tmp_path / "lib2", tiny_model)
    assert second.returncode == 0, second.stderr
    assert _export_files(cache) == made  # nothing converted again
    assert "convert" not in second.stderr.lower(), second.stderr

    victim = max(made, key=lambda p: made[p][0])
    with open(victim, "r+b") as f:  # a half-written file
        f.truncate(made[victim][0] // 2)
    third = _index(env, photos, tmp_path / "lib3", tiny_model)
    assert third.returncode == 0, third.stderr
    assert "converting again" in third.stderr, third.stderr
    assert victim.stat().st_size == made[victim][0]  # redone in full
    assert "Traceback" not in third.stderr
