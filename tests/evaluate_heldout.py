"""Judge the tiny test CLIP on pictures of a style that training never sees.

``python -m tests.evaluate_heldout [--model DIR] [--per-pair N] [--seed S]``

The pictures come from :mod:`tests.heldout_shapes` (an independent drawer that
``tests/train_tiny_clip.py`` never imports).  They are encoded by the project's own
encoder (``clipgallery.core.models.torch_backend.load_encoder``, the code path of any
local model) and every query is scored by the project's own ranking
(:func:`clipgallery.core.search.ranking.build_scorer`, exactly what the searcher runs
for a library of this size), so the numbers are what a user of a library of these
pictures would see.

Printed: precision@10 per colour ("red", "a red photo"), per shape ("a circle"), per
colour x shape ("a red circle") and their mean; and negatives: for every
"a <shape> -<colour>", how many pictures of the excluded colour reach the top 8, and
how many of the top 8 show the shape, for the rule in ``ranking`` and for the
rules compared with it in issue 15 point 5 (see :func:`negative_rules`).

Runs in the main thread only; a few seconds on a CPU.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from clipgallery.core.models.torch_backend import load_encoder
from clipgallery.core.search import ranking
from tests import heldout_shapes as hs

TINY_CLIP = Path(__file__).resolve().parent / "data" / "tiny-clip"
K = 10
NEG_K = 8


def heldout_set(per_pair: int, seed: int) -> tuple[list[tuple[str, str]], list]:
    """``per_pair`` drawings of every colour x shape of the held-out drawer; one in four
    goes through a resize and a JPEG pass (like a photo exported from a phone)."""
    rng = random.Random(seed)
    labels, images = [], []
    for colour in hs.PALETTE:
        for shape in hs.SHAPES:
            for i in range(per_pair):
                im = hs.render(hs.random_drawing(rng, colour, shape))
                if i % 4 == 3:
                    im = hs.copy_of(im, rng.uniform(0.6, 0.9), quality=rng.randint(60, 85))
                labels.append((colour, shape))
                images.append(im)
    return labels, images


def encode(model: Path, images: list) -> tuple[object, np.ndarray]:
    enc = load_encoder(str(Path(model).resolve()), device="cpu")
    X = np.concatenate([enc.encode_images([enc.preprocess_image(im) for im in images[i:i + 128]])
                        for i in range(0, len(images), 128)])
    return enc, X


def _p_at(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    return float(relevant[np.argsort(-scores, kind="stable")[:k]].mean())


def retrieval(enc, X: np.ndarray, labels: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """precision@10 of colour, shape and colour x shape queries, scored by ``ranking``."""
    colours = np.array([c for c, _ in labels])
    shapes = np.array([s for _, s in labels])
    queries: dict[str, tuple[str, np.ndarray]] = {}
    for c in hs.PALETTE:
        queries[f"colour:{c}"] = (c, colours == c)
        queries[f"colour-photo:{c}"] = (f"a {c} photo", colours == c)
    for s in hs.SHAPES:
        queries[f"shape:{s}"] = (f"a {s}", shapes == s)
    for c in hs.PALETTE:
        for s in hs.SHAPES:
            queries[f"pair:{c} {s}"] = (f"a {c} {s}", (colours == c) & (shapes == s))
    texts = [t for t, _ in queries.values()]
    T = enc.encode_text(texts)
    out: dict[str, dict[str, float]] = {"colour": {}, "colour-photo": {}, "shape": {}, "pair": {}}
    for (key, (_, rel)), v in zip(queries.items(), T, strict=True):
        kind, name = key.split(":")
        scores = ranking.build_scorer([(v, 1.0)], [], X).score(X)
        out[kind][name] = _p_at(scores, rel, K)
    return out


Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _u(s: np.ndarray) -> np.ndarray:
    med = float(np.median(s))
    return (s - med) / max(float(s.max()) - med, 1e-4)


def negative_rules() -> dict[str, Rule]:
    """Scores for "positive -negative" under each rule: ``f(X, p, n)`` -> scores.

    * ``ranking``: the project's rule (``ranking.build_scorer``).
    * ``subtract``: rclip's way, rank by ``x . normalise(p - n)``.
    * ``among-matches``: like ``ranking`` (penalty when ``u_n`` exceeds a slack) but
      ``u_n`` is judged among the 10 % of the library best for the positive term, with
      slack 0: the photo's closeness to the negative term relative to the other photos
      that match the positive one.
    """
    def current(X, p, n):
        return ranking.build_scorer([(p, 1.0)], [(n, 1.0)], X).score(X)

    def subtract(X, p, n):
        q = p - n
        return X @ (q / np.linalg.norm(q))

    def among_matches(X, p, n, pool=0.1, slack=0.0):
        sp, sn = X @ p, X @ n
        rng = max(float(sp.max()) - float(np.median(sp)), 1e-4)
        top = np.argsort(-sp)[:max(20, int(pool * len(sp)))]
        med = float(np.median(sn[top]))
        un = (sn - med) / max(float(sn[top].max()) - med, 1e-4)
        return sp - rng * np.maximum((un - slack) / (1 - slack), 0.0)

    return {"ranking": current, "subtract": subtract, "among-matches": among_matches}


def negatives(enc, X: np.ndarray, labels: list[tuple[str, str]],
              rules: dict[str, Rule] | None = None) -> dict[str, dict[str, float]]:
    """For each rule: over all "a <shape> -<colour>" queries, the excluded-colour
    pictures in the top 8 (total, and queries with any), and the share of the top 8 that
    shows the shape in an allowed colour; plus "a circle -red" alone."""
    rules = rules or negative_rules()
    colours = np.array([c for c, _ in labels])
    shapes = np.array([s for _, s in labels])
    T = {t: v for t, v in zip([*(f"a {s}" for s in hs.SHAPES), *hs.PALETTE],
                              enc.encode_text([*(f"a {s}" for s in hs.SHAPES), *hs.PALETTE]),
                              strict=True)}
    out: dict[str, dict[str, float]] = {}
    for name, rule in rules.items():
        leaked, leaky, good, circle_red = 0, 0, [], -1
        for s in hs.SHAPES:
            for c in hs.PALETTE:
                top = np.argsort(-rule(X, T[f"a {s}"], T[c]), kind="stable")[:NEG_K]
                bad = int((colours[top] == c).sum())
                leaked += bad
                leaky += bad > 0
                good.append(float(((shapes[top] == s) & (colours[top] != c)).mean()))
                if (s, c) == ("circle", "red"):
                    circle_red = int(((colours[top] == c) & (shapes[top] == s)).sum())
        out[name] = {"queries": len(good), "excluded_in_top8": leaked,
                     "queries_with_leak": leaky, "wanted_share_top8": float(np.mean(good)),
                     "circle_minus_red_red_circles": circle_red}
    return out


def report(ret: dict[str, dict[str, float]], neg: dict[str, dict[str, float]], n: int) -> str:
    pair = ret["pair"]
    lines = [f"held-out pictures: {n} ({len(hs.PALETTE)} colours x {len(hs.SHAPES)} shapes)",
             "precision@10 colour ('red'): " + ", ".join(f"{k} {v:.2f}" for k, v in ret["colour"].items())
             + f"; mean {np.mean(list(ret['colour'].values())):.3f}",
             "precision@10 colour ('a red photo'): "
             + ", ".join(f"{k} {v:.2f}" for k, v in ret["colour-photo"].items())
             + f"; mean {np.mean(list(ret['colour-photo'].values())):.3f}",
             "precision@10 shape ('a circle'): " + ", ".join(f"{k} {v:.2f}" for k, v in ret["shape"].items())
             + f"; mean {np.mean(list(ret['shape'].values())):.3f}",
             "precision@10 colour x shape ('a red circle'): "
             + ", ".join(f"{k} {v:.2f}" for k, v in pair.items()),
             f"  mean {np.mean(list(pair.values())):.3f}, worst {min(pair.values()):.2f} "
             f"('a {min(pair, key=pair.get)}')"]
    for name, r in neg.items():
        lines.append(
            f"negatives [{name}] 'a <shape> -<colour>' x{r['queries']}: excluded colour in top "
            f"{NEG_K}: {r['excluded_in_top8']} pictures, {r['queries_with_leak']} queries leak; "
            f"wanted share of top {NEG_K} {r['wanted_share_top8']:.3f}; "
            f"'a circle -red': {r['circle_minus_red_red_circles']} red circles in top {NEG_K}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=TINY_CLIP)
    p.add_argument("--per-pair", type=int, default=24)
    p.add_argument("--seed", type=int, default=15)
    args = p.parse_args(argv)
    labels, images = heldout_set(args.per_pair, args.seed)
    enc, X = encode(args.model, images)
    print(report(retrieval(enc, X, labels), negatives(enc, X, labels), len(labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
