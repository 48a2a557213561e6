"""A second, independent drawer of coloured shapes, used only to *evaluate* (never to train).

``tests/synthetic.py`` draws the pictures the tiny test CLIP is trained on.  Judging the
model (or the rules built on its vectors: stacks, negatives, cutoffs) on pictures from
that same generator would only measure how well it remembers them.  This module draws
the same vocabulary (colour x shape) in a style that training never sees: flat fills
of a slightly different hue on near-white paper, shapes anywhere in the frame (not only
the central square), any size, outlines as well as fills, and small rotations.  It
shares no code with ``synthetic.py``.

Pure and deterministic: everything is driven by an explicit ``random.Random``.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

# Hues chosen independently of synthetic.py's palette (a little off the pure colours).
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (214, 38, 44),
    "green": (46, 160, 67),
    "blue": (37, 78, 200),
    "yellow": (236, 200, 40),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")


@dataclass(frozen=True)
class Drawing:
    """What one drawing shows and where: enough to draw it again, or a copy of it."""

    colour: str
    shape: str
    cx: float  # centre, as a fraction of the width / height
    cy: float
    r: float  # radius, as a fraction of the shorter side
    angle: float  # degrees
    outline: bool
    paper: tuple[int, int, int]
    size: tuple[int, int]


def random_drawing(rng: random.Random, colour: str | None = None,
                   shape: str | None = None) -> Drawing:
    """A random drawing (of ``colour`` / ``shape`` when given)."""
    w = rng.choice((320, 360, 400))
    h = rng.choice((240, 270, 300, w))
    r = rng.uniform(0.08, 0.3)
    return Drawing(
        colour=colour or rng.choice(tuple(PALETTE)),
        shape=shape or rng.choice(SHAPES),
        cx=rng.uniform(r + 0.05, 0.95 - r), cy=rng.uniform(r + 0.05, 0.95 - r),
        r=r, angle=rng.uniform(-12, 12), outline=rng.random() < 0.2,
        paper=tuple(rng.randint(238, 252) for _ in range(3)),  # type: ignore[arg-type]
        size=(w, h),
    )


def _points(d: Drawing) -> list[tuple[float, float]]:
    w, h = d.size
    cx, cy, r = d.cx * w, d.cy * h, d.r * min(w, h)
    if d.shape == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        base = [(x * r * 0.85, y * r * 0.85) for x, y in corners]
    else:  # triangle
        base = [(r * math.cos(math.radians(a)), r * math.sin(math.radians(a)))
                for a in (-90, 30, 150)]
    t = math.radians(d.angle)
    return [(cx + x * math.cos(t) - y * math.sin(t), cy + x * math.sin(t) + y * math.cos(t))
            for x, y in base]


def render(d: Drawing) -> Image.Image:
    """The drawing as an RGB image."""
    im = Image.new("RGB", d.size, d.paper)
    g = ImageDraw.Draw(im)
    colour = PALETTE[d.colour]
    width = max(3, int(d.r * min(d.size) * 0.18))
    if d.shape == "circle":
        w, h = d.size
        cx, cy, r = d.cx * w, d.cy * h, d.r * min(w, h)
        box = [cx - r, cy - r, cx + r, cy + r]
        if d.outline:
            g.ellipse(box, outline=colour, width=width)
        else:
            g.ellipse(box, fill=colour)
    elif d.outline:
        pts = _points(d)
        g.line([*pts, pts[0]], fill=colour, width=width, joint="curve")
    else:
        g.polygon(_points(d), fill=colour)
    return im


def copy_of(im: Image.Image, scale: float = 0.75, quality: int = 70) -> Image.Image:
    """A resized, re-compressed copy of ``im`` (what a phone or a web export makes)."""
    small = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))),
                      Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
