"""Train the tiny CLIP in ``tests/data/tiny-clip`` on synthetic photos (tests/synthetic.py).

Real CLIP weights cannot be downloaded in the test environment and fake embeddings would
test nothing, so the project trains its own very small CLIP: open_clip's own ``CLIP``
model class (built by ``open_clip.create_model_and_transforms`` from a small custom config),
CLIP's contrastive loss (every true pair of a batch a target; ``--no-label-aware``:
open_clip's own ``open_clip.ClipLoss``), open_clip's standard BPE tokenizer, and images
passed through exactly the preprocessing open_clip builds for the saved model folder.
The result loads like any local open_clip model::

    open_clip.create_model_and_transforms("local-dir:/abs/path/tests/data/tiny-clip")
    open_clip.get_tokenizer("local-dir:/abs/path/tests/data/tiny-clip")

Usage::

    python tests/train_tiny_clip.py [--out tests/data/tiny-clip] [--steps N] [--seed S]

Data: a fixed pool of synthetic photos (random size and aspect, JPEG-encoded and decoded,
like files on disk) drawn from seed ``S``, half by ``tests/synthetic.py`` and half in a
second style (:func:`draw_varied`); captions are picked per step among "a red circle",
"a red circle on a white background", "a photo of a red circle" and "a photo of a red
circle on a white background", and for 30 % among captions that name only the colour or
only the shape (:func:`caption_table`).  The loss counts every true photo/caption pair of
a batch (:func:`label_aware_loss`).  Evaluation uses fresh photos from seed ``S + 1000``
that training never saw (see :func:`evaluate`); the held-out style of
``tests/heldout_shapes.py`` is judged by ``python -m tests.evaluate_heldout``.

Determinism: fixed seeds, ``torch.use_deterministic_algorithms(True)``, 2 torch threads;
the image pool is drawn per index (``default_rng([seed, i])``), so the worker count does
not change it.

Measured on the 2-core CPU dev box with the defaults: see
``tests/data/tiny-clip/README.md`` for the time and the evaluation numbers of the
committed model (about 12 minutes for the whole run).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Idle OpenMP threads sleep instead of spinning: on a busy machine spinning threads steal
# the cores the working ones need (3-10x slower steps when other processes run).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import open_clip  # noqa: E402
import torch  # noqa: E402
from open_clip.transform import PreprocessCfg, image_transform_v2  # noqa: E402

try:  # as part of the tests package, or run as a script / with tests/ on sys.path
    from tests import synthetic  # noqa: E402
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import synthetic  # type: ignore[no-redef]  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data" / "tiny-clip"
TRAIN_SEED = 0
EVAL_SEED_OFFSET = 1000

MODEL_CFG: dict = {
    "embed_dim": 64,
    "vision_cfg": {
        "image_size": 64,
        "layers": [1, 1, 1, 1],
        "width": 16,
        "head_width": 32,
    },
    "text_cfg": {
        "context_length": 32,
        "vocab_size": 49408,
        "width": 64,
        "heads": 4,
        "layers": 2,
        "mlp_ratio": 4.0,
    },
}

PREPROCESS_CFG: dict = {
    "size": 64,
    "mode": "RGB",
    "mean": list(open_clip.OPENAI_DATASET_MEAN),
    "std": list(open_clip.OPENAI_DATASET_STD),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
    "fill_color": 0,
}


# ----------------------------------------------------------------------------- data

_WORKER_PREPROCESS = None


_WORKER_VARIED = 0.0  # share of the pool drawn by draw_varied (--varied)


def _init_worker(pp_cfg: dict, varied: float = 0.0) -> None:
    global _WORKER_PREPROCESS, _WORKER_VARIED
    torch.set_num_threads(1)
    _WORKER_VARIED = varied
    _WORKER_PREPROCESS = image_transform_v2(PreprocessCfg(**pp_cfg), is_train=False)


def draw_varied(color: str, shape: str, background: str, rng: np.random.Generator):
    """A second drawing style for training (issue 15.4): the shape anywhere in the frame
    (it may be cut by the centre crop a little), any size, upright-ish half of the time,
    a flat fill or (30 %) an outline, a near-white paper of a slight tint for "white",
    a stronger colour jitter, a quarter blurred a little.  Uses only ``synthetic``'s
    vocabulary and masks, never ``tests/heldout_shapes.py``."""
    w, h = synthetic._random_size(rng)
    if background == "white":
        base = int(rng.integers(228, 256))
        tint = rng.integers(-6, 7, 3)
        canvas = np.broadcast_to(np.clip(base + tint, 0, 255).astype(np.uint8), (h, w, 3)).copy()
    else:
        canvas = synthetic._background(background, w, h, rng)
    side = min(w, h)
    r = side * float(rng.uniform(0.07, 0.34))
    cx = float(rng.uniform(r * 0.9, w - r * 0.9))
    cy = float(rng.uniform(r * 0.9, h - r * 0.9))
    # keep most of the shape inside the central square the preprocessing keeps
    ox, oy = (w - side) / 2.0, (h - side) / 2.0
    cx = float(np.clip(cx, ox + r * 0.7, ox + side - r * 0.7))
    cy = float(np.clip(cy, oy + r * 0.7, oy + side - r * 0.7))
    # upright-ish as often as any angle (people draw squares and triangles upright)
    rot = float(rng.uniform(-0.25, 0.25) if rng.random() < 0.5 else rng.uniform(0, 2 * math.pi))
    mask = np.asarray(synthetic._shape_mask(shape, w, h, cx, cy, r, rot), np.float32) / 255.0
    if shape != "ring" and rng.random() < 0.3:  # an outline: the shape minus a smaller one
        inner = np.asarray(synthetic._shape_mask(shape, w, h, cx, cy,
                                                 r * float(rng.uniform(0.68, 0.88)), rot),
                           np.float32) / 255.0
        mask = np.clip(mask - inner, 0.0, 1.0)
    jitter = rng.integers(-28, 29, 3) if rng.random() < 0.7 else np.zeros(3, np.int64)
    rgb = np.clip(np.array(synthetic.COLORS[color]) + jitter, 0, 255).astype(np.float32)
    out = canvas.astype(np.float32) * (1.0 - mask[:, :, None]) + rgb * mask[:, :, None]
    if rng.random() < 0.25:  # soft edges: a scan, a resized export
        img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), mode="RGB")
        return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.5))))
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), mode="RGB")


def _make_train_item(args: tuple[int, int]) -> tuple[int, np.ndarray]:
    seed, i = args
    rng = np.random.default_rng([seed, i])
    spec = synthetic.random_spec(rng)
    if _WORKER_VARIED > 0 and rng.random() < _WORKER_VARIED:
        img = synthetic.jpeg_roundtrip(draw_varied(*spec, rng), quality=int(rng.integers(45, 96)))
    else:  # exactly the committed model's pool when --varied is 0
        img = synthetic.jpeg_roundtrip(synthetic.draw(*spec, rng),
                                       quality=int(rng.integers(80, 96)))
    x = _WORKER_PREPROCESS(img).numpy()
    return synthetic.ALL_SPECS.index(spec), x


# Partial captions (issue 15.4): a colour alone or a shape alone, as users type them.
COLOUR_TEMPLATES = ("{c}", "a {c} photo", "something {c}", "a {c} shape")
SHAPE_TEMPLATES = ("a {s}", "a photo of a {s}", "a {s} shape")


def caption_table() -> tuple[list[str], np.ndarray, int]:
    """Every training caption and what it asks for: ``(texts, wants, n_full)`` where
    ``wants[j] = (colour index or -1, shape index or -1, background index or -1)``.

    The ``n_full`` full captions (``synthetic.captions``) come first, then the partial ones."""
    colours, shapes, bgs = list(synthetic.COLORS), list(synthetic.SHAPES), list(synthetic.BACKGROUNDS)
    texts: list[str] = []
    wants: list[tuple[int, int, int]] = []
    for c in colours:
        for s in shapes:
            texts += [synthetic.caption(c, s), f"a photo of {synthetic.caption(c, s)}"]
            wants += [(colours.index(c), shapes.index(s), -1)] * 2
            for b in bgs:
                if synthetic.is_visible(c, b):
                    full = synthetic.caption(c, s, b)
                    texts += [full, f"a photo of {full}"]
                    wants += [(colours.index(c), shapes.index(s), bgs.index(b))] * 2
    n_full = len(texts)
    for c in colours:
        texts += [t.format(c=c) for t in COLOUR_TEMPLATES]
        wants += [(colours.index(c), -1, -1)] * len(COLOUR_TEMPLATES)
    for s in shapes:
        texts += [t.format(s=s) for t in SHAPE_TEMPLATES]
        wants += [(-1, shapes.index(s), -1)] * len(SHAPE_TEMPLATES)
    return texts, np.array(wants, np.int64), n_full


def matches(spec_ids: torch.Tensor, wants: torch.Tensor) -> torch.Tensor:
    """``M[i, j]``: photo ``i`` (an index into ``synthetic.ALL_SPECS``) shows what
    caption ``j`` (a row of :func:`caption_table`'s ``wants``) asks for."""
    table = torch.tensor([[list(synthetic.COLORS).index(c), synthetic.SHAPES.index(s),
                           synthetic.BACKGROUNDS.index(b)] for c, s, b in synthetic.ALL_SPECS])
    have = table[spec_ids]  # (n, 3)
    ok = (wants[None, :, :] < 0) | (have[:, None, :] == wants[None, :, :])
    return ok.all(-1)


def label_aware_loss(img_f: torch.Tensor, txt_f: torch.Tensor, scale: torch.Tensor,
                     m: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric contrastive loss with every true pair of the batch as a target
    (a soft target spread over all photos a caption fits, and over all captions that fit
    a photo), instead of only the diagonal: "red" fits every red photo in the batch."""
    logits = scale * img_f @ txt_f.T
    m = m.float()
    li = -(torch.log_softmax(logits, 1) * (m / m.sum(1, keepdim=True))).sum(1).mean()
    lt = -(torch.log_softmax(logits.T, 1) * (m.T / m.T.sum(1, keepdim=True))).sum(1).mean()
    return 0.5 * (li + lt)


def build_pool(n: int, seed: int, pp_cfg: dict, workers: int = 2,
               varied: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` preprocessed training photos (float32 N,3,S,S) and their spec indices."""
    h, w = open_clip.transform.to_2tuple(pp_cfg["size"])
    images = torch.empty((n, 3, int(h), int(w)), dtype=torch.float32)
    labels = torch.empty(n, dtype=torch.long)
    jobs = [(seed, i) for i in range(n)]
    with get_context("fork").Pool(workers, initializer=_init_worker, initargs=(pp_cfg, varied)) as pool:
        for i, (label, x) in enumerate(pool.imap(_make_train_item, jobs, chunksize=64)):
            images[i] = torch.from_numpy(x)
            labels[i] = label
    return images, labels


# ----------------------------------------------------------------------------- evaluation


@functools.lru_cache(maxsize=2)
def eval_set(seed: int, per_spec: int = 3) -> tuple[tuple[tuple[str, str, str], object], ...]:
    """A balanced set of fresh photos: ``per_spec`` of every visible (colour, shape,
    background), JPEG-encoded at quality 90 and decoded.  Every colour+shape pair has at
    least ``4 * per_spec`` photos (white and black lack one background)."""
    out = []
    for k, spec in enumerate(synthetic.ALL_SPECS):
        for j in range(per_spec):
            rng = np.random.default_rng([seed, k, j])
            out.append((spec, synthetic.jpeg_roundtrip(synthetic.draw(*spec, rng), quality=90)))
    return tuple(out)


@torch.no_grad()
def encode_images(model, preprocess, images, batch: int = 256) -> torch.Tensor:
    feats = []
    for i in range(0, len(images), batch):
        x = torch.stack([preprocess(im) for im in images[i:i + batch]])
        feats.append(torch.nn.functional.normalize(model.encode_image(x).float(), dim=-1))
    return torch.cat(feats)


@torch.no_grad()
def encode_texts(model, tokenizer, texts: list[str]) -> torch.Tensor:
    return torch.nn.functional.normalize(model.encode_text(tokenizer(texts)).float(), dim=-1)


def precision_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int) -> float:
    top = torch.topk(scores, k).indices
    return float(relevant[top].float().mean())


@torch.no_grad()
def evaluate(model, preprocess, tokenizer, seed: int, per_spec: int = 3) -> dict:
    """Retrieval on fresh photos: precision@10 of every "a {colour} {shape}" query, of
    "... on a {background} background" queries (exact-spec precision@per_spec), and
    zero-shot colour+shape classification accuracy."""
    model.eval()
    items = eval_set(seed, per_spec)
    specs = [s for s, _ in items]
    img = encode_images(model, preprocess, [im for _, im in items])
    colors = np.array([s[0] for s in specs])
    shapes = np.array([s[1] for s in specs])
    bgs = np.array([s[2] for s in specs])

    pairs = [(c, s) for c in synthetic.COLORS for s in synthetic.SHAPES]
    txt = encode_texts(model, tokenizer, [synthetic.caption(c, s) for c, s in pairs])
    sims = img @ txt.T  # (images, pairs)
    pair_p10 = {}
    for j, (c, s) in enumerate(pairs):
        rel = torch.from_numpy((colors == c) & (shapes == s))
        pair_p10[f"{c} {s}"] = precision_at_k(sims[:, j], rel, 10)

    # zero-shot classification over all colour+shape captions
    pred = sims.argmax(1).numpy()
    pc = np.array([pairs[p][0] for p in pred])
    ps = np.array([pairs[p][1] for p in pred])
    acc = float(((pc == colors) & (ps == shapes)).mean())

    triples = list(synthetic.ALL_SPECS)
    ttxt = encode_texts(model, tokenizer, [synthetic.caption(*t) for t in triples])
    tsims = img @ ttxt.T
    triple_p = {}
    for j, (c, s, b) in enumerate(triples):
        rel = torch.from_numpy((colors == c) & (shapes == s) & (bgs == b))
        triple_p[synthetic.caption(c, s, b)] = precision_at_k(tsims[:, j], rel, per_spec)

    worst = min(pair_p10, key=pair_p10.get)
    return {
        "n_images": len(items),
        "red_circle_p10": pair_p10["red circle"],
        "blue_square_p10": pair_p10["blue square"],
        "pair_p10_mean": float(np.mean(list(pair_p10.values()))),
        "pair_p10_min": pair_p10[worst],
        "pair_p10_worst": worst,
        "per_color_p10": {c: float(np.mean([pair_p10[f"{c} {s}"] for s in synthetic.SHAPES]))
                          for c in synthetic.COLORS},
        "per_shape_p10": {s: float(np.mean([pair_p10[f"{c} {s}"] for c in synthetic.COLORS]))
                          for s in synthetic.SHAPES},
        "pair_p10": pair_p10,
        "zero_shot_acc": acc,
        "color_acc": float((pc == colors).mean()),
        "shape_acc": float((ps == shapes).mean()),
        "background_query_p_at_n": float(np.mean(list(triple_p.values()))),
        "green_triangle_white_p_at_n": triple_p[synthetic.caption("green", "triangle", "white")],
        "background_query_n": per_spec,
    }


def format_eval(ev: dict) -> str:
    lines = [
        f"fresh photos: {ev['n_images']} (balanced over colour x shape x background)",
        f"precision@10 'a red circle': {ev['red_circle_p10']:.3f}",
        f"precision@10 'a blue square': {ev['blue_square_p10']:.3f}",
        f"precision@10 over all {len(ev['pair_p10'])} colour+shape queries: "
        f"mean {ev['pair_p10_mean']:.3f}, worst {ev['pair_p10_min']:.3f} ('a {ev['pair_p10_worst']}')",
        "per colour: " + ", ".join(f"{k} {v:.3f}" for k, v in ev["per_color_p10"].items()),
        "per shape: " + ", ".join(f"{k} {v:.3f}" for k, v in ev["per_shape_p10"].items()),
        f"zero-shot colour+shape accuracy: {ev['zero_shot_acc']:.3f} "
        f"(colour {ev['color_acc']:.3f}, shape {ev['shape_acc']:.3f})",
        f"'... on a <background> background' queries, exact-spec precision@{ev['background_query_n']}: "
        f"mean {ev['background_query_p_at_n']:.3f}; "
        f"'a green triangle on a white background' {ev['green_triangle_white_p_at_n']:.3f}",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- training


def setup_determinism(seed: int, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "embedding" in name or "logit_scale" in name or "token" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def write_config(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}
    (folder / "open_clip_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(path), metadata={"format": "pt"})


def load_local(folder: Path):
    """(model, preprocess, tokenizer) loaded from ``folder`` through open_clip's local-dir."""
    ident = f"local-dir:{Path(folder).resolve()}"
    model, _, preprocess = open_clip.create_model_and_transforms(ident)
    tokenizer = open_clip.get_tokenizer(ident)
    model.eval()
    return model, preprocess, tokenizer


def train(out: Path, steps: int, seed: int, pool_size: int, batch_size: int, lr: float,
          warmup: int, weight_decay: float, threads: int = 2, eval_every: int = 0,
          cache: Path | None = None, varied: float = 0.5, partial: float = 0.3,
          label_aware: bool = True) -> dict:
    t0 = time.time()
    setup_determinism(seed, threads)
    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp))  # config only: open_clip builds a randomly initialised model
        ident = f"local-dir:{tmp}"
        model, _, preprocess = open_clip.create_model_and_transforms(ident)
        tokenizer = open_clip.get_tokenizer(ident)
    pp_cfg = dict(model.visual.preprocess_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters; preprocess: {preprocess}", flush=True)

    cache_file = cache / f"pool-{seed}-{pool_size}-{varied}.pt" if cache else None
    if cache_file is not None and cache_file.is_file():
        images, labels = torch.load(cache_file)
    else:
        images, labels = build_pool(pool_size, seed, pp_cfg, varied=varied)
        if cache_file is not None:
            cache.mkdir(parents=True, exist_ok=True)
            torch.save((images, labels), cache_file)
    print(f"[{time.time() - t0:6.1f}s] drew {pool_size} training photos", flush=True)

    # every caption, tokenised once; for each photo spec, the captions that name it fully
    texts, wants_np, n_full = caption_table()
    tokens = tokenizer(texts)
    wants = torch.from_numpy(wants_np)
    table = matches(torch.arange(len(synthetic.ALL_SPECS)), wants)  # (specs, captions)
    full_of = [torch.nonzero(table[k, :n_full]).flatten() for k in range(len(table))]
    full_of = torch.stack([f[torch.arange(4) % len(f)] for f in full_of])  # 4 per spec
    partial_of = [torch.nonzero(table[k, n_full:]).flatten() + n_full for k in range(len(table))]
    n_part = min(len(x) for x in partial_of)
    partial_of = torch.stack([x[:n_part] for x in partial_of])

    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return lr * 0.5 * (1 + math.cos(math.pi * t))

    gen = torch.Generator().manual_seed(seed)
    model.train()
    running = 0.0
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        idx = torch.randint(pool_size, (batch_size,), generator=gen)
        spec = labels[idx]
        cap = full_of[spec, torch.randint(4, (batch_size,), generator=gen)]
        if partial > 0:
            use = torch.rand(batch_size, generator=gen) < partial
            pick = partial_of[spec, torch.randint(n_part, (batch_size,), generator=gen)]
            cap = torch.where(use, pick, cap)
        x = images[idx]
        t = tokens[cap]
        img_f, txt_f, scale = model(x, t)
        if label_aware:
            loss = label_aware_loss(img_f, txt_f, scale, matches(spec, wants[cap]))
        else:
            loss = loss_fn(img_f, txt_f, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        lv = float(loss.detach())
        running = 0.98 * running + 0.02 * lv if step else lv
        if step % 100 == 0 or step == steps - 1:
            print(f"[{time.time() - t0:6.1f}s] step {step:5d} loss {running:.3f} "
                  f"scale {float(scale.detach()):.1f} lr {lr_at(step):.2e}", flush=True)
        if eval_every and step and (step % eval_every == 0 or step == steps - 1):
            ev = evaluate(model, preprocess, tokenizer, seed + EVAL_SEED_OFFSET, per_spec=2)
            print(f"   eval: p@10 red circle {ev['red_circle_p10']:.2f}, mean {ev['pair_p10_mean']:.3f}, "
                  f"worst {ev['pair_p10_min']:.2f} ({ev['pair_p10_worst']}), acc {ev['zero_shot_acc']:.3f} "
                  f"(colour {ev['color_acc']:.3f} shape {ev['shape_acc']:.3f}), "
                  f"bg {ev['background_query_p_at_n']:.3f}", flush=True)
            model.train()
    train_time = time.time() - t0

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.safetensors"):
        stale.unlink()
    write_config(out)
    save_weights(model, out / "open_clip_model.safetensors")

    # Evaluate only what was saved, loaded the way users load it.
    model2, preprocess2, tokenizer2 = load_local(out)
    assert repr(preprocess2) == repr(preprocess), (preprocess2, preprocess)
    ev = evaluate(model2, preprocess2, tokenizer2, seed + EVAL_SEED_OFFSET)
    total = time.time() - t0
    return {"train_time_s": train_time, "total_time_s": total, "eval": ev,
            "n_params": n_params}


README_TEMPLATE = """\
# tiny-clip: a tiny CLIP for ClipGallery's tests

A very small CLIP model that this project trains itself, so the test-suite can exercise
real image/text search without downloading real CLIP weights (the test machines have no
network).  It knows only the synthetic world of `tests/synthetic.py`: coloured shapes
({colors}; {shapes}) on plain white, black or grey, noisy or striped backgrounds.

It is in open_clip's standard local-model format and loads with open_clip itself:

```python
import open_clip
model, _, preprocess = open_clip.create_model_and_transforms("local-dir:/abs/path/tests/data/tiny-clip")
tokenizer = open_clip.get_tokenizer("local-dir:/abs/path/tests/data/tiny-clip")
```

* `open_clip_config.json`: `model_cfg` (open_clip `CLIP`, ModifiedResNet image tower, standard text
  tower with the standard BPE tokenizer) and `preprocess_cfg` (resize the shortest side to
  64 px, bicubic, centre crop, OpenAI mean/std).
* `open_clip_model.safetensors`: the weights, stored as float16 ({size_mb:.2f} MB); open_clip
  loads them into the float32 model (`load_state_dict` casts).

## Model

{n_params_m:.2f} M parameters (the text token embedding, 49408 x {text_width}, is most of them).

```json
{model_cfg}
```

## Training

```
{command}
```

* data: {pool} synthetic photos drawn from seed {seed} (160-400 px, landscape, portrait and
  square), {varied_pct:.0f} % of them in a second drawing style (`draw_varied`: any size and place,
  upright or turned, 30 % outlines, tinted paper, stronger colour jitter, some blurred, JPEG
  quality 45-95), the rest by `tests/synthetic.py` (JPEG quality 80-95); each passed
  through the exact preprocessing open_clip builds for this folder.  Captions per step
  among "a red circle", "a red circle on a white background", "a photo of a red circle",
  "a photo of a red circle on a white background"; {partial_pct:.0f} % name only the colour
  ("red", "a red photo", "something red", "a red shape") or only the shape ("a circle",
  "a photo of a circle", "a circle shape").
* loss: {loss}; learnable logit scale, AdamW (lr {lr}, betas 0.9/0.98,
  weight decay {wd} on matrices), {warmup} warm-up steps then cosine decay, batch {batch},
  {steps} steps; deterministic (fixed seeds, `torch.use_deterministic_algorithms`, 2 threads).
* time: {train_min:.1f} min of training ({total_min:.1f} min including the evaluation) on a
  {cores}-core {cpu}, torch {torch_version}, open_clip {open_clip_version}.

## Evaluation

On {n_eval} fresh photos drawn from seed {eval_seed} (never seen in training), balanced over
every visible colour x shape x background, JPEG-encoded at quality 90 and decoded, encoded
with `model.encode_image(preprocess(img))` from the saved folder loaded via `local-dir:`:

```
{eval_text}
```

Precision@10 per colour+shape query:

```
{pair_table}
```

`tests/test_tiny_clip.py` checks these numbers (precision@10 >= 0.9 for "a red circle",
mean >= 0.95 over all colour+shape queries) on freshly drawn photos, and issue 15.4's
targets on the held-out style (next section).

## Licence

Made by this project, from synthetic data generated by this project; same licence as
ClipGallery (MIT).  No third-party weights or data are involved; the BPE vocabulary is the
one bundled with open_clip.
"""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


def write_readme(out: Path, res: dict, args: argparse.Namespace, command: str) -> None:
    ev = res["eval"]
    colors, shapes = list(synthetic.COLORS), list(synthetic.SHAPES)
    head = "         " + "".join(f"{s:>9}" for s in shapes)
    rows = [head] + [f"{c:<9}" + "".join(f"{ev['pair_p10'][f'{c} {s}']:>9.2f}" for s in shapes)
                     for c in colors]
    size = (out / "open_clip_model.safetensors").stat().st_size / 1e6
    text = README_TEMPLATE.format(
        colors=", ".join(colors), shapes=", ".join(shapes), size_mb=size,
        n_params_m=res["n_params"] / 1e6, text_width=MODEL_CFG["text_cfg"]["width"],
        model_cfg=json.dumps(MODEL_CFG, indent=2), command=command, pool=args.pool,
        seed=args.seed, lr=args.lr, wd=args.weight_decay, warmup=args.warmup,
        batch=args.batch_size, steps=args.steps, varied_pct=100 * args.varied,
        partial_pct=100 * args.partial, cores=os.cpu_count(), cpu=_cpu_name(),
        loss=("CLIP's symmetric contrastive loss with every true photo/caption pair of the "
              "batch as a target (`label_aware_loss`: \"red\" fits every red photo)"
              if args.label_aware else "open_clip's `ClipLoss`"), train_min=res["train_time_s"] / 60,
        total_min=res["total_time_s"] / 60, torch_version=torch.__version__,
        open_clip_version=open_clip.__version__, n_eval=ev["n_images"],
        eval_seed=args.seed + EVAL_SEED_OFFSET, eval_text=format_eval(ev),
        pair_table="\n".join(rows))
    (out / "README.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--steps", type=int, default=1600)
    p.add_argument("--seed", type=int, default=TRAIN_SEED)
    p.add_argument("--pool", type=int, default=12000, help="training photos drawn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--eval-every", type=int, default=0, help="evaluate every N steps")
    p.add_argument("--cache", type=Path, default=None, help="cache the drawn photos here")
    p.add_argument("--varied", type=float, default=0.5,
                   help="share of the pool drawn in the second style (draw_varied)")
    p.add_argument("--partial", type=float, default=0.3,
                   help="share of captions naming only the colour or only the shape")
    p.add_argument("--label-aware", action=argparse.BooleanOptionalAction, default=True,
                   help="every true photo/caption pair of a batch is a target "
                        "(label_aware_loss); --no-label-aware: open_clip's ClipLoss")
    p.add_argument("--width", type=int, default=MODEL_CFG["vision_cfg"]["width"],
                   help="image tower width")
    p.add_argument("--no-readme", action="store_true", help="do not (re)write README.md")
    args = p.parse_args(argv)
    out = args.out.resolve()
    MODEL_CFG["vision_cfg"]["width"] = args.width

    res = train(out, args.steps, args.seed, args.pool, args.batch_size, args.lr, args.warmup,
                args.weight_decay, args.threads, args.eval_every, args.cache, args.varied,
                args.partial, args.label_aware)
    ev = res["eval"]
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
    print(f"training: {res['train_time_s']:.1f}s; total with evaluation: {res['total_time_s']:.1f}s")
    print(f"saved to {out} ({size:.2f} MB)")
    print(format_eval(ev))
    if not args.no_readme:
        cmd = "python tests/train_tiny_clip.py" + "".join(
            f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
        write_readme(out, res, args, cmd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
