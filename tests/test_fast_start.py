"""A start with a known ONNX export runs without torch (issue #9: start-up is part of
the end-to-end speed), and fast (int8) indexing is used only when its check passed.

Real files throughout: the tiny model folder (copied, so that its stamps can change),
a real library, real photos, a real ONNX export and ONNX Runtime; the torch-free
start runs in a fresh interpreter, where ``sys.modules`` tells what was imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clipgallery.core.models.onnx_runtime import OnnxEncoder, Sources, source_key
from clipgallery.core.store.library import Library
from tests.conftest import ROOT, TINY_CLIP
from tests.synthetic import make_folder

_CHILD = r"""
import json, sys
from clipgallery.core.indexing.indexer import Indexer
from clipgallery.core.store.library import Library

lib_dir, folder, spec, purpose = sys.argv[1:5]
with Library.open(lib_dir, write=True) as lib:
    enc = lib.load_encoder(spec, purpose=purpose)
    out = {"type": type(enc).__name__, "int8": bool(getattr(enc, "int8", False)),
           "model_id": enc.model_id}
    if purpose == "index":
        s = Indexer(lib.catalog, lib.index_for(enc), enc).run([folder])
        out["indexed"] = s.indexed
    else:
        out["query"] = enc.encode_text(["a red circle"])[0].tolist()
        out["torch_model_built"] = getattr(enc, "_torch_encoder", 1) is not None
    out["torch_imported"] = "torch" in sys.modules
    out["open_clip_imported"] = "open_clip" in sys.modules
print(json.dumps(out))
"""


def _child(lib_dir: Path, folder: Path, spec: str, purpose: str = "index",
           **env: str) -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    p = subprocess.run([sys.executable, "-c", _CHILD, str(lib_dir), str(folder), spec, purpose],
                       capture_output=True, text=True, env=e, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture
def model_copy(tmp_path) -> Path:
    dst = tmp_path / "tiny-clip"
    shutil.copytree(TINY_CLIP, dst)
    return dst


@pytest.fixture
def own_store(tmp_path, monkeypatch) -> Path:
    store = tmp_path / "onnx-store"
    monkeypatch.setenv("CLIPGALLERY_ONNX_CACHE", str(store))
    return store


def test_second_start_indexes_and_searches_without_torch(tmp_path, model_copy, own_store):
    photos = tmp_path / "photos"
    make_folder(photos, 12, seed=5)
    lib = tmp_path / "lib"
    first = _child(lib, photos, str(model_copy))
    assert first["type"] == "OnnxEncoder" and first["indexed"] == 12
    assert first["torch_imported"]  # the first start exports: that needs torch
    key = source_key(str(model_copy), None)
    assert Sources(own_store).find(key) is not None

    more = tmp_path / "more"
    make_folder(more, 6, seed=6)
    second = _child(lib, more, str(model_copy))
    assert second == {**second, "type": "OnnxEncoder", "indexed": 6,
                      "model_id": first["model_id"], "torch_imported": False,
                      "open_clip_imported": False}
    # A text query needs neither: the export carries a torch-free tokenizer, checked
    # against open_clip's when it was made.
    q = _child(lib, more, str(model_copy), "search")
    assert q["type"] == "OnnxEncoder" and not q["torch_model_built"]
    assert not q["torch_imported"] and not q["open_clip_imported"]

    # The vectors of the torch-free start are the model's: same as PyTorch's.
    from clipgallery.core.models.torch_backend import load_encoder
    from clipgallery.core.photos import imaging

    enc = load_encoder(str(model_copy), device="cpu")
    ref_q = enc.encode_text(["a red circle"])[0]
    assert float(np.dot(q["query"], ref_q)) >= 0.9999
    with Library.open(lib) as opened:
        for p in sorted(more.glob("*.jpg")):
            row = opened.catalog.photo_by_path(p)
            stored = opened.catalog.embedding(row.id, enc.model_id)
            dec = imaging.decode(p, min_side=enc.image_size)
            ref = enc.encode_images([enc.preprocess_image(dec.image)])[0]
            # int8 when its check passed (cosine >= 0.99), else float32 (>= 0.9999)
            assert float(np.dot(stored, ref)) >= (0.99 if second["int8"] else 0.9999)


def test_changed_model_files_are_not_trusted(tmp_path, model_copy, own_store):
    photos = tmp_path / "photos"
    make_folder(photos, 3, seed=7)
    _child(tmp_path / "lib", photos, str(model_copy))
    key = source_key(str(model_copy), None)
    assert Sources(own_store).find(key) is not None
    weights = next(model_copy.glob("*.safetensors"))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "replaced" weights
    assert Sources(own_store).find(key) is None
    with Library.open(tmp_path / "lib2", write=True) as lib:
        enc = lib.load_encoder(str(model_copy))
        # the torch path ran again (and re-registered the export under the new stamps)
        assert isinstance(enc, OnnxEncoder) and enc._torch_encoder is not None
    assert Sources(own_store).find(key) is not None


def test_fast_indexing_setting(tmp_path, model_copy, own_store, monkeypatch):
    with Library.open(tmp_path / "lib", write=True) as lib:
        assert lib.fast_indexing  # on by default
        enc = lib.load_encoder(str(model_copy))
        info = json.loads((enc.model_dir / "info.json").read_text())
        q = info["int8"]
        assert q["weight_type"] in ("QInt8", "QUInt8")
        assert q["usable"] == (q["min_cosine_vs_fp32"] >= 0.99)
        assert enc.int8 == q["usable"]
        lib.set_fast_indexing(False)
        assert not lib.fast_indexing
        assert not lib.load_encoder(str(model_copy)).int8
        monkeypatch.setenv("CLIPGALLERY_FAST_INDEXING", "1")
        assert lib.fast_indexing
        # search never uses the int8 image model
        assert not lib.load_encoder(str(model_copy), purpose="search").int8


def test_damaged_export_falls_back_and_is_redone(tmp_path, model_copy, own_store):
    photos = tmp_path / "photos"
    make_folder(photos, 4, seed=8)
    _child(tmp_path / "lib", photos, str(model_copy))
    folder, _ = Sources(own_store).find(source_key(str(model_copy), None))
    for name in ("visual.int8.onnx", "visual.onnx"):
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2: len(data) // 2 + 4096] = bytes(4096)  # same size, wrong weights
        (folder / name).write_bytes(bytes(data))
    more = tmp_path / "more"
    make_folder(more, 3, seed=9)
    # The quick start finds the damage when the image model loads, indexes with PyTorch
    # and drops the export; the next start converts again.
    got = _child(tmp_path / "lib", more, str(model_copy))
    assert got["indexed"] == 3 and got["torch_imported"]
    again = _child(tmp_path / "lib", photos, str(model_copy))
    assert again["type"] == "OnnxEncoder"
    assert Sources(own_store).find(source_key(str(model_copy), None)) is not None


def test_settings_command_device_and_fast_indexing(cli, tmp_path, library_dir, tiny_model):
    import torch

    code, out, _ = cli("settings", "--library", str(library_dir))
    assert code == 0 and "device: auto" in out and "fast-indexing: on" in out
    assert cli("settings", "fast-indexing", "off", "--library", str(library_dir))[0] == 0
    assert cli("settings", "device", "gpu", "--library", str(library_dir))[0] == 2
    assert cli("settings", "colour", "red", "--library", str(library_dir))[0] == 2
    photos = tmp_path / "photos"
    make_folder(photos, 3, seed=11)
    code, out, err = cli("index", str(photos), "--library", str(library_dir), "--model",
                         tiny_model, "--json")
    assert code == 0 and "int8" not in json.loads(out)["encoder"]  # fast indexing off
    if not torch.cuda.is_available():
        # A device that is not there: a clear refusal, not a traceback or a long wait.
        assert cli("settings", "device", "cuda", "--library", str(library_dir))[0] == 0
        code, _, err = cli("index", str(photos), "--library", str(library_dir), "--model",
                           tiny_model)
        assert code == 2 and "CUDA" in err and "Traceback" not in err
    assert cli("settings", "device", "cpu", "--library", str(library_dir))[0] == 0
    code, out, _ = cli("settings", "--library", str(library_dir), "--json")
    settings = json.loads(out)
    assert settings.pop("ocr") in ("on", "off")  # text in photos (tests/test_ocr.py)
    assert settings == {"device": "cpu", "fast_indexing": "off"}
