"""Deterministic synthetic photos with captions: coloured shapes on simple backgrounds.

Used by ``tests/train_tiny_clip.py`` to train the tiny test CLIP in ``tests/data/tiny-clip``
and by the test-suite to draw fresh photos whose content is known.  Importing this module
has no side effects; everything is driven by an explicit ``numpy.random.Generator``.

Vocabulary
----------
* colours (:data:`COLORS`): red, green, blue, yellow, purple, orange, white, black
* shapes (:data:`SHAPES`): circle, square, triangle, star, cross, ring
* backgrounds (:data:`BACKGROUNDS`): white, black, grey (plain), noise (grey noise
  texture), stripes (two-tone grey stripes at a random angle)

A white shape on the plain white background and a black shape on the plain black one would
be invisible, so those pairs are not drawn: :func:`draw` raises ``ValueError`` for them and
:func:`random_spec` / :data:`ALL_SPECS` never produce them.  Every other colour and shape
stays visible on every background (textures are neutral grey, between the black and white
shapes in brightness).

Geometry: whatever the image size (160-400 px a side, landscape, portrait or square), the
shape lies wholly inside the central square, so the usual "resize the shortest side, then
centre-crop" preprocessing always keeps it.

Example::

    rng = numpy.random.default_rng(0)
    spec = random_spec(rng)               # ("red", "circle", "stripes")
    img = draw(*spec, rng)                # PIL RGB image
    text = caption(*spec)                 # "a red circle on a striped background"
"""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "ALL_SPECS",
    "BACKGROUNDS",
    "COLORS",
    "SHAPES",
    "caption",
    "captions",
    "draw",
    "is_visible",
    "jpeg_roundtrip",
    "make_folder",
    "random_spec",
    "spec_from_filename",
]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "green": (30, 165, 60),
    "blue": (35, 70, 225),
    "yellow": (245, 215, 30),
    "purple": (135, 45, 175),
    "orange": (250, 135, 20),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")

BACKGROUNDS: tuple[str, ...] = ("white", "black", "grey", "noise", "stripes")

# How a background is named in a caption: "... on a {phrase} background".
BACKGROUND_PHRASES: dict[str, str] = {
    "white": "white",
    "black": "black",
    "grey": "grey",
    "noise": "noisy",
    "stripes": "striped",
}

_INVISIBLE = {("white", "white"), ("black", "black")}


def is_visible(color: str, background: str) -> bool:
    """False for the colour/background pairs that cannot be drawn (white on white...)."""
    return (color, background) not in _INVISIBLE


ALL_SPECS: tuple[tuple[str, str, str], ...] = tuple(
    (c, s, b) for c, s, b in itertools.product(COLORS, SHAPES, BACKGROUNDS) if is_visible(c, b)
)


def random_spec(rng: np.random.Generator) -> tuple[str, str, str]:
    """A (colour, shape, background) triple, uniform over :data:`ALL_SPECS`."""
    return ALL_SPECS[int(rng.integers(len(ALL_SPECS)))]


def caption(color: str, shape: str, background: str | None = None) -> str:
    """``"a red circle"``, or ``"a red circle on a white background"`` with a background."""
    _check(color, shape, background)
    text = f"a {color} {shape}"
    if background is not None:
        text += f" on a {BACKGROUND_PHRASES[background]} background"
    return text


def captions(color: str, shape: str, background: str) -> list[str]:
    """All the caption wordings used in training for one spec (plain caption first)."""
    base = caption(color, shape)
    full = caption(color, shape, background)
    return [base, full, f"a photo of {base}", f"a photo of {full}"]


def _check(color: str, shape: str, background: str | None) -> None:
    if color not in COLORS:
        raise ValueError(f"unknown colour {color!r}; known: {', '.join(COLORS)}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; known: {', '.join(BACKGROUNDS)}")


# ----------------------------------------------------------------------------- drawing


def _random_size(rng: np.random.Generator) -> tuple[int, int]:
    long_side = int(rng.integers(200, 401))
    short_side = int(rng.integers(160, long_side + 1))
    kind = rng.integers(3)  # 0 landscape, 1 portrait, 2 square
    if kind == 0:
        return long_side, short_side
    if kind == 1:
        return short_side, long_side
    return long_side, long_side


def _background(name: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """An (h, w, 3) uint8 array."""
    if name == "white":
        v = np.full((h, w), int(rng.integers(245, 256)), np.uint8)
    elif name == "black":
        v = np.full((h, w), int(rng.integers(0, 11)), np.uint8)
    elif name == "grey":
        v = np.full((h, w), int(rng.integers(115, 141)), np.uint8)
    elif name == "noise":
        # Blotchy grey noise: coarse noise upsampled, plus fine per-pixel grain.
        cell = int(rng.integers(4, 16))
        coarse = rng.normal(0.0, 30.0, (h // cell + 2, w // cell + 2)).astype(np.float32)
        coarse_img = Image.fromarray(coarse, mode="F").resize(
            ((w // cell + 2) * cell, (h // cell + 2) * cell), Image.BILINEAR)
        blotch = np.asarray(coarse_img, dtype=np.float32)[:h, :w]
        grain = rng.normal(0.0, 18.0, (h, w)).astype(np.float32)
        base = float(rng.uniform(110, 150))
        v = np.clip(base + blotch + grain, 60, 190).astype(np.uint8)
    elif name == "stripes":
        dark = int(rng.integers(65, 105))
        light = int(rng.integers(150, 186))
        period = float(rng.uniform(8, 28))
        theta = float(rng.uniform(0, math.pi))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * math.cos(theta) + yy * math.sin(theta)) / period
        v = np.where((t - np.floor(t)) < 0.5, dark, light).astype(np.uint8)
    else:
        raise ValueError(f"unknown background {name!r}")
    return np.repeat(v[:, :, None], 3, axis=2)


def _polygon(cx: float, cy: float, radii: list[float], rot: float) -> list[tuple[float, float]]:
    n = len(radii)
    return [
        (cx + r * math.cos(rot + 2 * math.pi * k / n), cy + r * math.sin(rot + 2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]


def _shape_mask(shape: str, w: int, h: int, cx: float, cy: float, r: float,
                rot: float) -> Image.Image:
    """An antialiased 'L' mask of the shape (drawn at 2x and reduced)."""
    ss = 2
    mask = Image.new("L", (w * ss, h * ss), 0)
    d = ImageDraw.Draw(mask)
    cx, cy, r = cx * ss, cy * ss, r * ss
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ri = r * 0.58
        d.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    elif shape == "square":
        d.polygon(_polygon(cx, cy, [r * 0.95] * 4, rot + math.pi / 4), fill=255)
    elif shape == "triangle":
        d.polygon(_polygon(cx, cy, [r] * 3, rot - math.pi / 2), fill=255)
    elif shape == "star":
        d.polygon(_polygon(cx, cy, [r, r * 0.42] * 5, rot - math.pi / 2), fill=255)
    elif shape == "cross":
        a = 0.3  # half the arm width, as a fraction of r
        pts = [(a, 1), (a, a), (1, a), (1, -a), (a, -a), (a, -1),
               (-a, -1), (-a, -a), (-1, -a), (-1, a), (-a, a), (-a, 1)]
        c, s = math.cos(rot), math.sin(rot)
        d.polygon([(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in pts], fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return mask.reduce(ss)


def draw(color: str, shape: str, background: str, rng: np.random.Generator,
         size: tuple[int, int] | None = None) -> Image.Image:
    """Draw one RGB photo of a ``color`` ``shape`` on ``background``.

    Size, position, rotation and a slight colour jitter come from ``rng``; ``size`` is
    ``(width, height)`` (default: random, 160-400 px a side).  The shape lies inside the
    central square of the image.  Raises ``ValueError`` for unknown names and for the
    invisible pairs (white on white, black on black).
    """
    _check(color, shape, background)
    if not is_visible(color, background):
        raise ValueError(f"a {color} shape on a {background} background would be invisible")
    w, h = size if size is not None else _random_size(rng)
    w, h = int(w), int(h)
    canvas = _background(background, w, h, rng)

    side = min(w, h)
    ox, oy = (w - side) / 2.0, (h - side) / 2.0
    r = side * float(rng.uniform(0.15, 0.31))
    margin = side * 0.03 + r
    cx = ox + float(rng.uniform(margin, side - margin))
    cy = oy + float(rng.uniform(margin, side - margin))
    rot = float(rng.uniform(0, 2 * math.pi))
    mask = np.asarray(_shape_mask(shape, w, h, cx, cy, r, rot), dtype=np.float32)[:, :, None] / 255.0

    jitter = rng.integers(-12, 13, 3)
    rgb = np.clip(np.array(COLORS[color], dtype=np.int32) + jitter, 0, 255).astype(np.float32)
    out = canvas.astype(np.float32) * (1.0 - mask) + rgb[None, None, :] * mask
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), mode="RGB")


def jpeg_roundtrip(img: Image.Image, quality: int = 90) -> Image.Image:
    """Encode as JPEG and decode again, as a photo read back from disk would be."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return im.convert("RGB")


# ----------------------------------------------------------------------------- folders


def make_folder(folder: Path, n: int, seed: int, *,
                specs: list[tuple[str, str, str]] | None = None,
                fmt: str = "jpg") -> list[tuple[Path, tuple[str, str, str]]]:
    """Write ``n`` photos into ``folder`` (created if needed) and return (path, spec) pairs.

    Files are named ``{i:05d}_{colour}_{shape}_{background}.{fmt}``, e.g.
    ``00012_red_circle_white.jpg``; ``fmt`` is ``"jpg"`` (quality 90) or ``"png"``.  Image
    ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so the same arguments always
    give the same files.  With ``specs``, image ``i`` shows ``specs[i % len(specs)]``;
    otherwise each spec is :func:`random_spec`.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt == "jpeg":
        fmt = "jpg"
    if fmt not in ("jpg", "png"):
        raise ValueError(f"fmt must be 'jpg' or 'png', not {fmt!r}")
    if specs is not None and len(specs) == 0:
        raise ValueError("specs is empty")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, tuple[str, str, str]]] = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        spec = tuple(specs[i % len(specs)]) if specs is not None else random_spec(rng)
        img = draw(*spec, rng)
        path = folder / f"{i:05d}_{spec[0]}_{spec[1]}_{spec[2]}.{fmt}"
        if fmt == "jpg":
            img.save(path, format="JPEG", quality=90)
        else:
            img.save(path, format="PNG")
        out.append((path, spec))  # type: ignore[arg-type]
    return out


def spec_from_filename(path: Path | str) -> tuple[str, str, str]:
    """The spec encoded in a :func:`make_folder` file name."""
    stem = Path(path).stem
    _, color, shape, background = stem.split("_")
    _check(color, shape, background)
    return color, shape, background
