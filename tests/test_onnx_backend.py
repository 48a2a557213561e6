"""The ONNX Runtime backend: parity with open_clip's PyTorch output, cache, fallback.

Models: the trained tiny CLIP (tests/data/tiny-clip, skipped while absent), a small
random CLIP written to a local model folder (fast to export; used for the cache and
fallback tests), and a random-weight ViT-B-32-256, the real default architecture,
exported once per module (that export takes ~10-20 s on 2 cores).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip.model import CLIP
from PIL import Image, ImageOps
from safetensors.torch import save_file

from clipgallery.core.models import onnx_export as onnx_backend
from clipgallery.core.models.onnx_export import (
    INFO,
    TEXTUAL,
    VISUAL,
    VISUAL_INT8,
    OnnxEncoder,
    export_onnx,
    onnx_encoder_for,
)
from clipgallery.core.models.torch_backend import Encoder, load_encoder
from tests.conftest import CORPUS, TINY_CLIP

PHOTOS_DIR = CORPUS / "exif-samples" / "jpg"
PARITY = 0.9999
QUERIES = [
    "a photo of a dog",
    "a red car parked on a street at night",
    "snow",
    "",
    # Longer than the 77-token context: split into sentences and averaged.
    "A family picnic in a sunny park with a red and white checked blanket on the grass. "
    "Children are playing with a yellow frisbee near a large oak tree while two dogs run "
    "around them. In the background there is a small lake with ducks and a wooden bridge. "
    "Some clouds are in the blue sky and a kite is flying high above the trees. "
    "An old man sits on a bench reading a newspaper next to a bicycle.",
]
SMALL_CFG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                       "head_width": 16},
        "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2,
                     "layers": 1},
    },
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
}


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    paths = sorted(p for p in PHOTOS_DIR.glob("*.jpg") if p.name != "corrupted.jpg")[:12]
    if len(paths) < 12:
        pytest.skip(f"corpus photos not found in {PHOTOS_DIR}")
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(ImageOps.exif_transpose(im).convert("RGB"))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-store")


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small-clip")
    torch.manual_seed(0)
    model = CLIP(**SMALL_CFG["model_cfg"])
    (folder / "open_clip_config.json").write_text(json.dumps(SMALL_CFG))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture
def small(small_model_dir) -> Encoder:
    return load_encoder(str(small_model_dir), device="cpu")


@pytest.fixture(scope="module")
def small_store(small_model_dir, tmp_path_factory) -> Path:
    """One export of the small model, shared by the tests that do not damage it."""
    store = tmp_path_factory.mktemp("small-store")
    export_onnx(load_encoder(str(small_model_dir), device="cpu"), store)
    return store


@pytest.fixture(scope="module")
def vitb32() -> Encoder:
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32-256", pretrained=None)
    model.eval()
    return Encoder(model, preprocess, open_clip.get_tokenizer("ViT-B-32-256"),
                   model_id="test:ViT-B-32-256-random", device="cpu",
                   label="ViT-B-32-256 (random weights)")


@pytest.fixture(scope="module")
def tiny() -> Encoder:
    if not (TINY_CLIP / "open_clip_config.json").is_file():
        pytest.skip("tests/data/tiny-clip is not there yet")
    return load_encoder(str(TINY_CLIP), device="cpu")


@pytest.fixture(scope="module", params=["tiny", "vitb32"])
def pair(request, store) -> tuple[Encoder, OnnxEncoder]:
    enc = request.getfixturevalue(request.param)
    onnx = onnx_encoder_for(enc, store)
    assert isinstance(onnx, OnnxEncoder), "export or session load failed (see the log)"
    return enc, onnx


# -- parity -----------------------------------------------------------------------------


def test_image_vectors_match_pytorch_on_corpus_photos(pair, photos):
    enc, onnx = pair
    batch = torch.stack([enc.preprocess_image(im) for im in photos])  # open_clip's transform
    ref = enc.encode_images(batch)
    got = onnx.encode_images([onnx.preprocess_image(im) for im in photos])  # numpy's
    assert got.shape == ref.shape == (12, enc.dim) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert _cos(got, ref).min() >= PARITY
    # Other batch sizes than the traced one (dynamic batch axis), one photo at a time too.
    one = onnx.encode_images(batch[:1])
    assert _cos(one, ref[:1]).min() >= PARITY
    five = onnx.encode_images(batch[3:8].numpy())
    assert _cos(five, ref[3:8]).min() >= PARITY


def test_numpy_preprocessing_is_open_clips(pair, photos):
    """The torch-free transform gives open_clip's tensors, on photos of every shape."""
    enc, onnx = pair
    extra = [photos[0].resize((enc.image_size, enc.image_size)), photos[1].rotate(90, expand=True),
             photos[2].resize((13, 301)), photos[3].convert("L")]
    for im in [*photos, *extra]:
        ref = enc.preprocess_image(im).numpy()
        got = onnx.preprocess_image(im)
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.abs(got - ref).max() <= 1e-5, im.size


def test_text_vectors_match_pytorch(pair):
    enc, onnx = pair
    assert len(enc.split_long_text(QUERIES[-1])) > 1, "the long query should be split"
    ref = enc.encode_text(QUERIES)
    got = onnx.encode_text(QUERIES)
    assert got.shape == ref.shape == (len(QUERIES), enc.dim) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert _cos(got, ref).min() >= PARITY
    assert _cos(onnx.encode_text(QUERIES[-1:]), ref[-1:]).min() >= PARITY


def test_drop_in_for_encoder(pair, photos):
    enc, onnx = pair
    assert onnx.model_id == enc.model_id  # same vectors, same index
    assert (onnx.dim, onnx.image_size, onnx.context_length) == (
        enc.dim, enc.image_size, enc.context_length)
    assert onnx.device == "cpu" and "ONNX Runtime" in onnx.label
    assert onnx.tokenizer is enc.tokenizer
    # The Encoder protocol's members only: nothing torch-only is read through.
    assert onnx.torch_encoder is enc and not hasattr(onnx, "model")
    assert not hasattr(onnx, "dtype") and onnx.backend == "onnxruntime" != enc.backend
    assert abs(onnx.logit_scale - enc.logit_scale) < 1e-3 * enc.logit_scale
    assert _cos(onnx.encode_prompts(QUERIES[:3]), enc.encode_prompts(QUERIES[:3])).min() \
        >= PARITY
    assert onnx.split_long_text(QUERIES[-1]) == enc.split_long_text(QUERIES[-1])
    t = onnx.preprocess_image(photos[0])  # no torch needed to feed ONNX Runtime
    assert isinstance(t, np.ndarray) and t.shape == (3, enc.image_size, enc.image_size)
    calls, n = onnx.calls, onnx.images_encoded
    onnx.encode_images([t, t, t])
    assert (onnx.calls, onnx.images_encoded) == (calls + 1, n + 3)
    assert onnx.encode_images(torch.zeros(0, 3, enc.image_size, enc.image_size)).shape == (
        0, enc.dim)
    assert onnx.encode_text([]).shape == (0, enc.dim)


def test_export_files(pair, store):
    enc, onnx = pair
    info = json.loads((onnx.model_dir / INFO).read_text())
    assert onnx.model_dir.parent == store
    assert onnx.model_dir.name.startswith(onnx_backend.slug(enc.model_id) + "-")
    assert info["model_id"] == enc.model_id and info["opset"] == 18
    assert min(info["parity_cosine"].values()) >= PARITY
    import onnxruntime as ort

    for name, dtype, shape in ((VISUAL, "tensor(float)", [3, enc.image_size, enc.image_size]),
                               (TEXTUAL, "tensor(int64)", [enc.context_length])):
        inp = ort.InferenceSession(str(onnx.model_dir / name),
                                   providers=["CPUExecutionProvider"]).get_inputs()[0]
        assert inp.type == dtype and inp.shape[1:] == shape
        assert not isinstance(inp.shape[0], int)  # dynamic batch
    assert not list(store.glob(".tmp-*"))  # nothing half-written left behind


def test_threads_setting(small, small_store, monkeypatch):
    onnx = onnx_encoder_for(small, small_store, threads=1)
    assert isinstance(onnx, OnnxEncoder) and onnx.threads == 1
    opts = onnx._load("visual").get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
    default = OnnxEncoder(small, onnx.model_dir)
    assert default.threads == onnx_backend.cpu_threads()
    monkeypatch.setenv("CLIPGALLERY_ONNX_THREADS", "1")  # the configurable default
    one = OnnxEncoder(small, onnx.model_dir, preload=("visual",))
    assert one.threads == 1 and one._load("visual").get_session_options().intra_op_num_threads == 1


def test_images_and_text_from_two_threads(small, small_store):
    onnx = onnx_encoder_for(small, small_store)
    x = torch.randn(8, 3, small.image_size, small.image_size)
    ref_i, ref_t = small.encode_images(x), small.encode_text(QUERIES)
    errors: list[BaseException] = []

    def loop(fn, ref):
        try:
            for _ in range(20):
                assert _cos(fn(), ref).min() >= PARITY
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=loop, args=(lambda: onnx.encode_images(x), ref_i)),
               threading.Thread(target=loop, args=(lambda: onnx.encode_text(QUERIES), ref_t))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert onnx.calls == 20


# -- cache --------------------------------------------------------------------------------


@pytest.fixture
def count_exports(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = torch.onnx.export

    def counting(module, args, f, *a, **k):
        calls.append(str(f))
        return real(module, args, f, *a, **k)

    monkeypatch.setattr(torch.onnx, "export", counting)
    return calls


def test_export_is_cached_and_reused(small, tmp_path, count_exports):
    first = onnx_encoder_for(small, tmp_path)
    assert isinstance(first, OnnxEncoder) and len(count_exports) == 2  # image + text
    stamp = {n: (first.model_dir / n).stat().st_mtime_ns for n in (VISUAL, TEXTUAL, INFO)}
    second = onnx_encoder_for(small, tmp_path)
    assert isinstance(second, OnnxEncoder) and len(count_exports) == 2  # nothing re-exported
    assert second.model_dir == first.model_dir
    assert {n: (first.model_dir / n).stat().st_mtime_ns for n in stamp} == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.model_dir.name]


def test_other_weights_get_their_own_export(small, tmp_path, count_exports):
    a = export_onnx(small, tmp_path)
    with torch.no_grad():
        small.model.logit_scale.add_(0)  # same weights: same folder
        assert export_onnx(small, tmp_path) == a
        small.model.visual.proj.mul_(1.5)
    try:
        b = export_onnx(small, tmp_path)
    finally:
        with torch.no_grad():
            small.model.visual.proj.div_(1.5)
    assert b != a and len(count_exports) == 4


# -- failures -----------------------------------------------------------------------------


def test_failed_export_falls_back_to_pytorch(small, tmp_path, monkeypatch, caplog):
    def broken(*a, **k):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with caplog.at_level(logging.WARNING, logger="clipgallery.core.models.onnx_export"):
        got = onnx_encoder_for(small, tmp_path)
    assert got is small
    assert "exporter exploded" in caplog.text and "PyTorch" in caplog.text
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert not list(tmp_path.glob(".tmp-*"))  # the temporary folder is cleaned up


def test_damaged_cache_is_detected_and_redone(small, tmp_path, count_exports, caplog):
    folder = onnx_encoder_for(small, tmp_path).model_dir
    assert len(count_exports) == 2
    # Same size, different bytes: only the output check can tell.
    path = folder / VISUAL
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(4096)
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="clipgallery.core.models.onnx_export"):
        again = onnx_encoder_for(small, tmp_path)
    assert isinstance(again, OnnxEncoder) and len(count_exports) == 4
    assert "unusable" in caplog.text
    x = torch.randn(3, 3, small.image_size, small.image_size)
    assert _cos(again.encode_images(x), small.encode_images(x)).min() >= PARITY

    # A truncated file (a killed copy, a full disk) is simply exported again.
    with open(folder / TEXTUAL, "r+b") as f:
        f.truncate(1000)
    assert isinstance(onnx_encoder_for(small, tmp_path), OnnxEncoder)
    assert len(count_exports) == 6


def test_damaged_cache_and_failing_export_fall_back(small, tmp_path, monkeypatch, caplog):
    folder = onnx_encoder_for(small, tmp_path).model_dir
    (folder / TEXTUAL).write_bytes(b"not an onnx model")
    monkeypatch.setattr(torch.onnx, "export",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with caplog.at_level(logging.WARNING, logger="clipgallery.core.models.onnx_export"):
        got = onnx_encoder_for(small, tmp_path)
    assert got is small and "disk full" in caplog.text


def test_unloadable_session_falls_back(small, tmp_path, monkeypatch, caplog):
    def no_session(*a, **k):
        raise RuntimeError("onnxruntime cannot load this")

    monkeypatch.setattr(onnx_backend, "_session", no_session)
    with caplog.at_level(logging.WARNING, logger="clipgallery.core.models.onnx_export"):
        assert onnx_encoder_for(small, tmp_path) is small
    assert "onnxruntime cannot load this" in caplog.text


def test_gpu_encoders_are_left_alone(small, tmp_path, monkeypatch):
    monkeypatch.setattr(small, "device", "cuda")
    assert onnx_encoder_for(small, tmp_path) is small
    assert not list(tmp_path.iterdir())


def test_interrupted_export_leaves_no_valid_looking_folder(small, tmp_path, monkeypatch):
    real = onnx_backend._export_into

    def killed(encoder, tmp, progress):
        real(encoder, tmp, progress)
        raise KeyboardInterrupt  # after the .onnx files are written, before info/rename

    monkeypatch.setattr(onnx_backend, "_export_into", killed)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(small, tmp_path)
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".tmp-")]
    assert not list(tmp_path.glob(".tmp-*"))


def test_sessions_load_on_first_use(small, small_store):
    folder = export_onnx(small, small_store)
    onnx = OnnxEncoder(small, folder, preload=())
    assert onnx._sessions == {}
    onnx.encode_text(["a dog"])
    assert set(onnx._sessions) == {"textual"}
    onnx.encode_images(torch.zeros(1, 3, small.image_size, small.image_size))
    assert set(onnx._sessions) == {"textual", "visual"}


def test_export_false_uses_only_an_existing_export(small, tmp_path, count_exports):
    assert onnx_encoder_for(small, tmp_path, export=False) is small
    assert count_exports == [] and not list(tmp_path.iterdir())
    onnx_encoder_for(small, tmp_path)
    assert isinstance(onnx_encoder_for(small, tmp_path, export=False), OnnxEncoder)
    assert len(count_exports) == 2


def test_tower_failing_later_runs_in_pytorch(small, tmp_path, count_exports, caplog):
    folder = export_onnx(small, tmp_path)
    onnx = OnnxEncoder(small, folder, preload=("textual",))
    (folder / VISUAL).write_bytes(bytes((folder / VISUAL).stat().st_size))  # zeroed
    x = torch.randn(2, 3, small.image_size, small.image_size)
    with caplog.at_level(logging.WARNING, logger="clipgallery.core.models.onnx_export"):
        got = onnx.encode_images(x)
        again = onnx.encode_images(x)
    assert _cos(got, small.encode_images(x)).min() >= PARITY
    assert np.array_equal(got, again) and caplog.text.count("using PyTorch") == 1
    assert onnx.calls == 2 and onnx.images_encoded == 4
    assert _cos(onnx.encode_text(QUERIES), small.encode_text(QUERIES)).min() >= PARITY
    assert not (folder / INFO).exists()  # the next start exports again
    assert isinstance(onnx_encoder_for(small, tmp_path), OnnxEncoder)
    assert len(count_exports) == 4


# -- int8 ---------------------------------------------------------------------------------


def test_int8_image_model(small, small_store):
    onnx = onnx_encoder_for(small, small_store, quantize=True)
    info = json.loads((onnx.model_dir / INFO).read_text())
    assert (onnx.model_dir / VISUAL_INT8).is_file()
    cos = info["int8"]["min_cosine_vs_fp32"]
    assert info["int8"]["usable"] == (cos >= onnx_backend.MIN_INT8_COSINE)
    assert isinstance(onnx, OnnxEncoder) and onnx.int8 == info["int8"]["usable"]
    assert onnx.model_id == small.model_id
    x = torch.randn(4, 3, small.image_size, small.image_size)
    assert onnx.encode_images(x).shape == (4, small.dim)
    # The float32 model is still the default.
    assert not onnx_encoder_for(small, small_store).int8


def test_int8_vectors_match_float32_on_corpus_photos(pair, photos, store):
    """Fast indexing's promise, on real camera photos (tiny model and random ViT-B-32)."""
    enc, onnx = pair
    folder = export_onnx(enc, store, quantize=True)
    q = json.loads((folder / INFO).read_text())["int8"]
    i8 = OnnxEncoder(enc, folder, int8=True, preload=("visual",))
    batch = np.stack([onnx.preprocess_image(im) for im in photos])
    cos = _cos(i8.encode_images(batch), onnx.encode_images(batch))
    if q["usable"]:  # offered only when it holds; then it holds on photos too
        assert cos.min() >= onnx_backend.MIN_INT8_COSINE, (q, cos.min())


# -- in the indexer --------------------------------------------------------------------------


def test_indexer_stores_the_same_vectors_through_onnx(small, small_store, tmp_path):
    from clipgallery.core.indexing.indexer import Indexer
    from clipgallery.core.photos import imaging
    from clipgallery.core.store.library import Library

    folder = tmp_path / "photos"
    folder.mkdir()
    srcs = sorted(p for p in PHOTOS_DIR.glob("*.jpg") if p.name != "corrupted.jpg")[:4]
    if len(srcs) < 4:
        pytest.skip("corpus photos not found")
    for p in srcs:
        (folder / p.name).write_bytes(p.read_bytes())
    onnx = onnx_encoder_for(small, small_store)
    assert isinstance(onnx, OnnxEncoder)
    with Library.open(tmp_path / "lib", write=True) as lib:
        summary = Indexer(lib.catalog, lib.index_for(onnx), onnx, batch_size=3).run([folder])
        assert summary.indexed == 4 and onnx.images_encoded == 4 and onnx.calls == 2
        for p in folder.iterdir():
            row = lib.catalog.photo_by_path(p)
            stored = lib.catalog.embedding(row.id, small.model_id)
            dec = imaging.decode(p, min_side=small.image_size)
            ref = small.encode_images([small.preprocess_image(dec.image)])[0]
            assert _cos(stored, ref) >= PARITY
