"""The project's tiny test CLIP (tests/data/tiny-clip) really retrieves what it is asked for.

Loads the saved folder the way users load it (open_clip ``local-dir:``) and checks retrieval
on photos freshly drawn from a seed that neither training nor the README's evaluation used.
Retrain with ``python tests/train_tiny_clip.py`` (see tests/data/tiny-clip/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from tests import synthetic
from tests.train_tiny_clip import EVAL_SEED_OFFSET, TRAIN_SEED, evaluate, load_local

TINY_CLIP = Path(__file__).resolve().parent / "data" / "tiny-clip"
TEST_SEED = 4242  # neither the training seed nor the README's evaluation seed
assert TEST_SEED not in (TRAIN_SEED, TRAIN_SEED + EVAL_SEED_OFFSET)


@pytest.fixture(scope="module")
def loaded():
    assert (TINY_CLIP / "open_clip_config.json").is_file(), "tests/data/tiny-clip is missing"
    return load_local(TINY_CLIP)


@pytest.fixture(scope="module")
def results(loaded):
    model, preprocess, tokenizer = loaded
    return evaluate(model, preprocess, tokenizer, seed=TEST_SEED, per_spec=3)


def test_files_are_small_and_in_open_clip_format():
    files = {p.name: p.stat().st_size for p in TINY_CLIP.iterdir() if p.is_file()}
    assert {"open_clip_config.json", "open_clip_model.safetensors", "README.md"} <= set(files)
    assert sum(files.values()) <= 10_000_000, files  # issue 15.4: <= 10 MB
    cfg = json.loads((TINY_CLIP / "open_clip_config.json").read_text())
    assert set(cfg) == {"model_cfg", "preprocess_cfg"}
    pp = cfg["preprocess_cfg"]
    assert pp["resize_mode"] == "shortest" and pp["interpolation"] == "bicubic"
    assert len(pp["mean"]) == len(pp["std"]) == 3


def test_loads_through_local_dir_as_float32(loaded):
    model, preprocess, tokenizer = loaded
    assert isinstance(model, open_clip.CLIP)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    ident = f"local-dir:{TINY_CLIP}"
    assert type(tokenizer) is type(open_clip.get_tokenizer(ident))
    img = synthetic.draw("red", "circle", "white", np.random.default_rng(0))
    with torch.no_grad():
        f = model.encode_image(preprocess(img)[None])
        t = model.encode_text(tokenizer(["a red circle"]))
    assert f.shape == t.shape == (1, model.text_projection.shape[1])
    assert torch.isfinite(f).all() and torch.isfinite(t).all()


def test_red_circle_query(results):
    assert results["red_circle_p10"] >= 0.9, results["pair_p10"]


def test_all_colour_shape_queries(results):
    assert results["pair_p10_mean"] >= 0.95, results["pair_p10"]
    assert results["blue_square_p10"] >= 0.9, results["pair_p10"]
    assert results["pair_p10_min"] >= 0.25, (results["pair_p10_worst"], results["pair_p10"])


def test_background_queries(results):
    # exact (colour, shape, background) among all photos, precision@3 (3 photos per spec)
    assert results["background_query_p_at_n"] >= 0.5, results
    assert results["green_triangle_white_p_at_n"] >= 2 / 3, results


def test_heldout_style_is_retrieved_as_measured_in_the_readme():
    """On tests/heldout_shapes.py pictures (a style training never sees), through the
    project's encoder and ranking: issue 15.4's targets (colour x shape precision@10
    >= 0.95; "a circle -red" shows no red circle in its top 8), as in the README."""
    from tests import evaluate_heldout as ev

    labels, images = ev.heldout_set(per_pair=24, seed=15)
    enc, X = ev.encode(TINY_CLIP, images)
    ret = ev.retrieval(enc, X, labels)
    assert np.mean(list(ret["colour-photo"].values())) >= 0.95, ret["colour-photo"]
    assert np.mean(list(ret["pair"].values())) >= 0.95, ret["pair"]
    assert min(ret["pair"].values()) >= 0.7, ret["pair"]
    assert ret["shape"]["circle"] >= 0.9, ret["shape"]
    neg = ev.negatives(enc, X, labels, {"ranking": ev.negative_rules()["ranking"]})["ranking"]
    assert neg["circle_minus_red_red_circles"] == 0, neg
    assert neg["excluded_in_top8"] <= 2, neg
