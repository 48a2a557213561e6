"""A model converted once, carried to a computer without torch: ``model export`` on one
computer, ``model import`` + index + search on another where torch and open_clip cannot
be imported (simulated by an import blocker in the child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import synthetic
from tests.conftest import ROOT

# Runs the CLI and checks at the end, through sys.modules, that none of torch,
# torchvision and open_clip was imported.  WATCH runs it where they are installed (so a
# command that merely tries them is caught); NO_TORCH where they do not exist.
_MAIN = r"""
from clipgallery.cli import main
code = main(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
assert not loaded, f"imported {loaded}"
sys.exit(code)
"""
WATCH = 'import sys\nBLOCKED = ("torch", "torchvision", "open_clip")\n' + _MAIN
NO_TORCH = r"""
import importlib.abc, sys
BLOCKED = ("torch", "torchvision", "open_clip")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
sys.meta_path.insert(0, Block())
""" + _MAIN


def _run(env, *args: str, no_torch: bool = False, watch: bool = False
         ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", NO_TORCH if no_torch else WATCH] if no_torch or watch \
        else [sys.executable, "-m", "clipgallery"]
    return subprocess.run([*cmd, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_export_then_import_and_use_without_torch(tmp_path, tiny_model) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    photos = tmp_path / "photos"
    synthetic.make_folder(photos, 24, seed=11)
    out = _run(env, "index", photos, "--library", tmp_path / "lib1", "--model", tiny_model,
               "--json")
    assert out.returncode == 0, out.stderr
    dest = tmp_path / "carried" / "tiny-onnx"
    out = _run(env, "model", "export", tiny_model, dest, "--library", tmp_path / "lib1",
               "--json")
    assert out.returncode == 0, out.stderr
    exported = json.loads(out.stdout)
    assert {"visual.onnx", "textual.onnx", "info.json"} <= set(exported["files"])

    # "Another computer": no torch, its own (empty) conversion cache.
    other = dict(env, CLIPGALLERY_ONNX_CACHE=str(tmp_path / "other-cache"))
    lib2 = tmp_path / "lib2"
    out = _run(other, "model", "import", dest, "--library", lib2, "--json", no_torch=True)
    assert out.returncode == 0, out.stderr
    spec = json.loads(out.stdout)["spec"]
    assert json.loads(out.stdout)["model_id"] == exported["model_id"]
    out = _run(other, "model", "list", "--library", lib2, "--json", no_torch=True)
    assert out.returncode == 0, out.stderr
    assert [m["kind"] for m in json.loads(out.stdout)["installed"]] == ["converted"]
    out = _run(other, "index", photos, "--library", lib2, "--model", spec, "--json",
               no_torch=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["indexed"] == 24
    hits = {}
    for lib, e, nt in ((tmp_path / "lib1", env, False), (lib2, other, True)):
        out = _run(e, "search", "a red circle", "--library", lib, "--limit", "5", "--json",
                   no_torch=nt)
        assert out.returncode == 0, out.stderr
        hits[nt] = [(Path(h["path"]).name, round(h["score"], 3)) for h in json.loads(out.stdout)]
    assert hits[True] == hits[False]  # the same model: the same vectors, the same answers
    assert "Traceback" not in out.stderr

    # Where torch is installed, too, an imported ONNX model never imports it (issue 14):
    # not for the model list, the status, nor a search.
    for args in (("model", "list"), ("status",), ("search", "a red circle", "--limit", "3"),
                 ("--device", "auto", "status")):
        for nt in (False, True):
            out = _run(other, *args, "--library", lib2, "--json", no_torch=nt, watch=True)
            assert out.returncode == 0, (args, out.stderr)
            assert "Traceback" not in out.stderr and "imported" not in out.stderr
    assert json.loads(out.stdout)["model_spec"] == spec


def test_damaged_export_and_unconverted_model_are_clear_errors(tmp_path, tiny_model) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    dest = tmp_path / "tiny-onnx"
    out = _run(env, "model", "export", tiny_model, dest, "--library", tmp_path / "lib1")
    assert out.returncode == 0, out.stderr
    assert "model import" in out.stdout
    victim = dest / "textual.onnx"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = _run(env, "model", "import", dest, "--library", tmp_path / "lib2", no_torch=True)
    assert out.returncode != 0 and "damaged" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "lib2" / "models" / "tiny-onnx").exists()

    # A model that still needs converting, on a computer without torch: say what to do.
    photos = tmp_path / "photos"
    synthetic.make_folder(photos, 2, seed=1)
    empty = dict(env, CLIPGALLERY_ONNX_CACHE=str(tmp_path / "empty-cache"))
    out = _run(empty, "index", photos, "--library", tmp_path / "lib3", "--model", tiny_model,
               no_torch=True)
    assert out.returncode != 0, out.stdout
    assert "full edition" in out.stderr and "model import" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
