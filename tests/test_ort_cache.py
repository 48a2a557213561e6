"""ONNX Runtime's optimised graphs cached per computer (core/models/ort_cache.py).

Real exports of two small random CLIPs (seeds 0 and 1) and real ONNX Runtime sessions;
what is checked is what a start sees: which file the session was made from, the vectors
it gives, and that a damaged or wrong cache file is made again instead of breaking the
model.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from open_clip.model import CLIP
from safetensors.torch import save_file

from clipgallery.core.models import ort_cache
from clipgallery.core.models.onnx_export import INFO, TEXTUAL, VISUAL, OnnxEncoder, export_onnx
from clipgallery.core.models.torch_backend import load_encoder
from tests.test_onnx_backend import SMALL_CFG


def _model(folder: Path, seed: int) -> Path:
    folder.mkdir()
    torch.manual_seed(seed)
    model = CLIP(**SMALL_CFG["model_cfg"])
    (folder / "open_clip_config.json").write_text(json.dumps(SMALL_CFG))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, Path]:
    """Two exports (different weights) of the same small architecture, never loaded."""
    root = tmp_path_factory.mktemp("ort-cache")
    out = []
    for seed in (0, 1):
        enc = load_encoder(str(_model(root / f"m{seed}", seed)), device="cpu")
        out.append(export_onnx(enc, root / f"store{seed}"))
    return out[0], out[1]


@pytest.fixture
def export(exports, tmp_path) -> Path:
    """A private copy of the first export, without any optimised graph yet."""
    folder = tmp_path / "export"
    shutil.copytree(exports[0], folder, ignore=shutil.ignore_patterns(ort_cache.FOLDER))
    return folder


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The file every ONNX Runtime session is made from, in order."""
    seen: list[str] = []
    real = ort.InferenceSession

    def spy(path, *a, **k):
        seen.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    return seen


def _encoder(folder: Path) -> OnnxEncoder:
    enc = OnnxEncoder(None, folder, loader=lambda: pytest.fail("fell back to PyTorch"))
    assert set(enc._sessions) == {"visual", "textual"}
    return enc


def _vectors(enc: OnnxEncoder) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).random((3, 3, enc.image_size, enc.image_size),
                                        dtype=np.float32)
    return enc.encode_images(x), enc.encode_text(["a dog", "a red car at night"])


def _cached(folder: Path, name: str) -> Path:
    path = ort_cache.cached_path(folder / name, ort.__version__)
    assert path is not None
    return path


def test_second_start_loads_the_optimised_graph_with_the_same_vectors(export, opened):
    first = _encoder(export)
    assert opened == [str(export / VISUAL), str(export / TEXTUAL)]
    for name in (VISUAL, TEXTUAL):
        assert _cached(export, name).is_file()
    assert not list((export / ort_cache.FOLDER).glob(".*"))  # no temporary file left
    opened.clear()
    second = _encoder(export)
    assert opened == [str(_cached(export, VISUAL)), str(_cached(export, TEXTUAL))]
    for a, b in zip(_vectors(first), _vectors(second), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_truncated_cache_file_is_made_again(export, opened, caplog):
    _encoder(export)
    want = _vectors(_encoder(export))
    path = _cached(export, VISUAL)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 3)
    opened.clear()
    with caplog.at_level(logging.INFO, logger="clipgallery.core.models.ort_cache"):
        enc = _encoder(export)
    assert "unusable" in caplog.text and "making it again" in caplog.text
    assert opened[:2] == [str(path), str(export / VISUAL)]
    assert path.stat().st_size > 0 and (export / INFO).is_file()
    np.testing.assert_allclose(_vectors(enc)[0], want[0], rtol=0, atol=1e-6)
    opened.clear()
    _encoder(export)
    assert opened[0] == str(path)  # and it is used again from then on


def test_cache_file_with_wrong_output_is_dropped_not_the_model(exports, export, opened):
    want = _vectors(_encoder(export))
    other = exports[1]
    _encoder(other)  # writes the other weights' optimised graph
    # The same graph with other weights: it loads, but its output fails the check.
    shutil.copyfile(_cached(other, VISUAL), _cached(export, VISUAL))
    opened.clear()
    enc = _encoder(export)
    assert opened[:2] == [str(_cached(export, VISUAL)), str(export / VISUAL)]
    assert (export / INFO).is_file()  # the export itself is kept, not redone
    np.testing.assert_allclose(_vectors(enc)[0], want[0], rtol=0, atol=1e-6)


def test_a_folder_that_cannot_be_written_runs_uncached(export, opened):
    (export / ort_cache.FOLDER).write_text("in the way: mkdir fails as on a read-only disk")
    want = _vectors(_encoder(export))
    opened.clear()
    enc = _encoder(export)
    assert opened == [str(export / VISUAL), str(export / TEXTUAL)]
    np.testing.assert_allclose(_vectors(enc)[0], want[0], rtol=0, atol=1e-6)


def test_changed_model_file_gets_a_new_graph_and_the_old_one_goes(export):
    _encoder(export)
    old = _cached(export, VISUAL)
    data = (export / VISUAL).read_bytes()
    (export / VISUAL).unlink()
    (export / VISUAL).write_bytes(data)  # same bytes, a new mtime (a re-export)
    _encoder(export)
    new = _cached(export, VISUAL)
    assert new != old and new.is_file() and not old.exists()
    assert _cached(export, TEXTUAL).is_file()  # the other tower's graph is left alone


def test_key_names_the_runtime_and_the_processor(export, monkeypatch):
    a = _cached(export, VISUAL)
    assert _cached(export, VISUAL) == a
    assert ort_cache.cached_path(export / VISUAL, "0.0.1") != a
    monkeypatch.setattr(ort_cache, "_cpu_key", lambda: "another processor")
    assert _cached(export, VISUAL) != a
    assert ort_cache.cpu_signature()  # something to key on, on any platform


def test_an_export_leaves_no_graph_of_its_temporary_files(tmp_path):
    # The int8 candidates an export quantises and checks are temporary files (".int8-…"):
    # a cached graph of one would be left behind, a tower's size each, for nothing.
    enc = load_encoder(str(_model(tmp_path / "m", 0)), device="cpu")
    folder = export_onnx(enc, tmp_path / "store", quantize=True)
    assert (folder / "visual.int8.onnx").is_file()
    graphs = sorted((folder / ort_cache.FOLDER).glob("*"))
    models = {p.stem for p in folder.glob("*.onnx")}
    assert graphs and all(g.name.rsplit(".", 2)[0] in models for g in graphs), graphs


def test_graphs_of_temporary_files_left_by_an_older_release_go(export):
    (export / ort_cache.FOLDER).mkdir()
    orphan = export / ort_cache.FOLDER / ".int8-abc123.0123456789abcdef.onnx"
    orphan.write_bytes(b"a graph nobody will read")
    _encoder(export)
    assert not orphan.exists() and _cached(export, VISUAL).is_file()
