"""The GPU path (CUDA): run by ``benchmarks/gpu_check.sh`` on a lent GPU machine; skipped
where there is no CUDA device (CI, the 2-core development machines)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CORPUS

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
# The lent machine gets no ../shared: gpu_check.sh carries a sample of the corpus photos.
PHOTOS = Path(os.environ.get("CLIPGALLERY_GPU_CORPUS") or CORPUS)


def _photos(n: int) -> list[Path]:
    return sorted(PHOTOS.rglob("*.jpg"))[:n] if PHOTOS.is_dir() else []


@pytest.fixture(scope="module")
def model_dir():
    from benchmarks._common import random_weight_model  # the real ViT-B-32-256 architecture

    return random_weight_model()


@pytest.fixture(scope="module")
def corpus_batch(model_dir):
    from clipgallery.core.models.torch_backend import load_encoder
    from clipgallery.core.photos import imaging
    enc = load_encoder(str(model_dir), device="cpu")
    paths = _photos(24)
    if not paths:
        pytest.skip("no corpus photos")
    return [enc.preprocess_image(imaging.decode(p, min_side=enc.image_size).image)
            for p in paths]


def test_fp16_vectors_match_fp32(model_dir, corpus_batch) -> None:
    from clipgallery.core.models.torch_backend import load_encoder

    half = load_encoder(str(model_dir), device="cuda")
    full = load_encoder(str(model_dir), device="cpu")
    assert half.dtype == torch.float16
    cos = (half.encode_images(corpus_batch) * full.encode_images(corpus_batch)).sum(axis=1)
    assert cos.min() >= 0.999, cos.min()


def test_out_of_memory_halves_the_batch(model_dir, corpus_batch, caplog) -> None:
    from clipgallery.core.models.torch_backend import load_encoder

    enc = load_encoder(str(model_dir), device="cuda")
    ref = enc.encode_images(corpus_batch[:4])
    big = torch.stack([torch.as_tensor(np.asarray(x)) for x in corpus_batch] * 40)  # 960
    free, total = torch.cuda.mem_get_info()
    used = torch.cuda.memory_allocated()
    # Leave room for the weights and a small batch, not for 960 photos at once.
    torch.cuda.set_per_process_memory_fraction(min(1.0, (used + (600 << 20)) / total))
    try:
        with caplog.at_level("WARNING"):
            out = enc.encode_images(big)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert "out of memory" in caplog.text
    assert out.shape == (big.shape[0], enc.dim)
    assert (out[:4] * ref).sum(axis=1).min() >= 0.999


def test_nvjpeg_decodes_like_pillow() -> None:
    torchvision_io = pytest.importorskip("torchvision.io")
    from PIL import Image

    path = next(iter(_photos(1)), None)
    if path is None:
        pytest.skip("no corpus photos")
    gpu = torchvision_io.decode_jpeg(torchvision_io.read_file(str(path)), device="cuda")
    with Image.open(path) as im:
        ref = np.asarray(im.convert("RGB"))
    got = gpu.permute(1, 2, 0).cpu().numpy()
    assert got.shape == ref.shape
    assert np.abs(got.astype(int) - ref.astype(int)).mean() < 3
