"""The model-backend seam (issue 14, item 1; issue 15, ``--device auto``): one registry
of devices, one ``select()`` that picks a backend by device and by what is installed,
and ONNX Runtime's execution provider chosen by device.

Real components: the real registry of backends, the tiny CLIP of tests/data/tiny-clip,
its real ONNX conversion, ONNX Runtime as installed here, the CLI in a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from clipgallery.core.models import backends, devices
from clipgallery.core.models.onnx_runtime import CUDA_PROVIDER, available_providers
from clipgallery.core.models.specs import ModelUnavailable
from tests.conftest import ROOT
from tests.synthetic import make_folder

CUDA_EP = CUDA_PROVIDER in available_providers()


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _cli(env: dict[str, str], *args: object, no_torch: bool = False
         ) -> subprocess.CompletedProcess[str]:
    from tests.test_portable_model import NO_TORCH

    cmd = [sys.executable, "-c", NO_TORCH] if no_torch else [sys.executable, "-m",
                                                             "clipgallery"]
    return subprocess.run([*cmd, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_one_registry_of_devices() -> None:
    assert devices.DEVICES == ("auto", "cpu", "cuda", "mps")
    assert devices.CONCRETE == ("cpu", "cuda", "mps")
    assert devices.check_device(" CUDA ") == "cuda" and devices.check_device(None) == "auto"
    with pytest.raises(ValueError, match="auto, cpu, cuda, mps"):
        devices.check_device("gpu")
    # Every concrete device has a backend order; every backend is in one.
    assert set(backends.PREFERENCE) == set(devices.CONCRETE)
    assert {n for order in backends.PREFERENCE.values() for n in order} == set(backends.BACKENDS)


def test_select_on_the_cpu_prefers_onnx_runtime(tiny_model, monkeypatch) -> None:
    monkeypatch.delenv(backends.ENV_BACKEND, raising=False)
    choice = backends.select(tiny_model, "cpu")
    assert (choice.backend.name, choice.device) == ("onnxruntime", "cpu")
    monkeypatch.setenv(backends.ENV_BACKEND, "torch")
    assert backends.select(tiny_model, "cpu").backend.name == "torch"
    with pytest.raises(ValueError, match="device must be one of"):
        backends.select(tiny_model, "gpu")


def test_auto_is_the_cpu_where_no_gpu_is_usable(tiny_model, monkeypatch) -> None:
    if _torch_cuda() or CUDA_EP:
        pytest.skip("a CUDA device is usable here")
    # Even where an NVIDIA driver seems to be there, "auto" only takes a GPU that a
    # backend can actually use.
    monkeypatch.setattr(devices, "cuda_likely", lambda: True)
    assert backends.resolve_device(tiny_model, "auto") == "cpu"
    assert backends.select(tiny_model, "auto").device == "cpu"
    with pytest.raises(ModelUnavailable, match="CUDA was asked for"):
        backends.select(tiny_model, "cuda")


def test_auto_takes_cuda_where_it_is_usable(tiny_model) -> None:
    if not (_torch_cuda() or CUDA_EP) or not devices.cuda_likely():
        pytest.skip("no usable CUDA device")
    choice = backends.select(tiny_model, "auto")
    assert choice.device == "cuda"
    assert choice.backend.name == ("torch" if _torch_cuda() else "onnxruntime")


def test_without_torch_select_takes_onnx_and_says_what_to_do(tmp_path, tiny_model) -> None:
    """torch and open_clip blocked in a child process: the torch backend is not
    installed, ONNX Runtime is chosen, and a model never converted here is refused with
    what to do (the lean edition asked to convert)."""
    code = r"""
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "open_clip"):
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
from pathlib import Path
from clipgallery.core.models import backends
from clipgallery.core.models.specs import ModelUnavailable
choice = backends.select(sys.argv[1], "auto")
out = {"backend": choice.backend.name, "device": choice.device,
       "torch": backends.BACKENDS["torch"].installed()}
try:
    choice.load(sys.argv[1], backends.LoadOptions(onnx_store=Path(sys.argv[2])))
except ModelUnavailable as e:
    out["error"] = str(e)
print(json.dumps(out))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    p = subprocess.run([sys.executable, "-c", code, tiny_model, str(tmp_path / "empty")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["backend"] == "onnxruntime" and out["device"] == "cpu" and not out["torch"]
    assert "full edition" in out["error"] and "model import" in out["error"]


def test_onnx_runtime_provider_follows_the_device(tmp_path, tiny_model, caplog) -> None:
    """The CUDA execution provider where asked and present; else the CPU, with a message
    that says what to install.  Either way the vectors are the model's."""
    opts = backends.LoadOptions(onnx_store=tmp_path / "store", export=True)
    cpu = backends.BACKENDS["onnxruntime"].load(tiny_model, "cpu", opts)
    assert cpu.backend == "onnxruntime" and cpu.device == "cpu"
    assert cpu.providers == ["CPUExecutionProvider"]
    with caplog.at_level(logging.WARNING, logger="clipgallery.core.models.onnx_runtime"):
        gpu = backends.BACKENDS["onnxruntime"].load(tiny_model, "cuda", opts)
    if CUDA_EP:
        assert gpu.device == "cuda" and gpu.providers[0] == CUDA_PROVIDER
        assert "CUDA" in gpu.label
    else:
        assert gpu.device == "cpu" and gpu.providers == ["CPUExecutionProvider"]
        assert "onnxruntime-gpu" in caplog.text
    texts = ["a red circle", "a blue square"]
    cos = (gpu.encode_text(texts) * cpu.encode_text(texts)).sum(axis=1)
    assert cos.min() >= 0.999, cos


def test_cli_device_auto(tmp_path, tiny_model) -> None:
    """``clipgallery --device auto`` is accepted like ``settings device auto``, before or
    after the command, and indexes and searches; an unknown device is refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPGALLERY_")}
    env.update(PYTHONPATH=str(ROOT), CLIPGALLERY_HOME=str(tmp_path / "home"))
    if os.environ.get("CLIPGALLERY_ONNX_CACHE"):
        env["CLIPGALLERY_ONNX_CACHE"] = os.environ["CLIPGALLERY_ONNX_CACHE"]
    lib = tmp_path / "lib"
    photos = tmp_path / "photos"
    make_folder(photos, 4, seed=3)
    p = _cli(env, "--device", "auto", "index", photos, "--library", lib, "--model",
             tiny_model, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["indexed"] == 4
    if not (_torch_cuda() or CUDA_EP):
        assert "ONNX Runtime" in out["encoder"]
    p = _cli(env, "--device", "auto", "status", "--library", lib)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    p = _cli(env, "search", "a red circle", "--device", "AUTO", "--library", lib, "--json")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)) == 4
    p = _cli(env, "--device", "gpu", "status", "--library", lib)
    assert p.returncode == 2 and "auto" in p.stderr and "Traceback" not in p.stderr
    p = _cli(env, "settings", "device", "auto", "--library", lib)
    assert p.returncode == 0 and p.stdout.strip() == "device: auto", p.stderr


def test_encoders_follow_one_protocol(tmp_path, tiny_model) -> None:
    """The torch and the ONNX Runtime encoders offer every member of ``Encoder`` and
    give the same vectors through each of them."""
    from clipgallery.core.models.torch_backend import load_encoder

    torch_enc = load_encoder(tiny_model, device="cpu")
    onnx_enc = backends.BACKENDS["onnxruntime"].load(
        tiny_model, "cpu", backends.LoadOptions(onnx_store=tmp_path / "store"))
    members = [m for m in vars(backends.Encoder) if not m.startswith("_")]
    members += list(backends.Encoder.__annotations__)
    for enc in (torch_enc, onnx_enc):
        missing = [m for m in members if not hasattr(enc, m)]
        assert not missing, (enc, missing)
    assert torch_enc.model_id == onnx_enc.model_id and torch_enc.dim == onnx_enc.dim
    prompts = ["a photo of a red circle", "a photo of a blue square", "snow"]
    a, b = torch_enc.encode_prompts(prompts), onnx_enc.encode_prompts(prompts)
    assert a.shape == (3, torch_enc.dim) and (a * b).sum(axis=1).min() >= 0.9999
    assert np.allclose(a, torch_enc.encode_text(prompts), atol=1e-5)
