"""Real corpus photos with words drawn on them in a real TrueType font (DejaVu, shipped
with opencv-python, which the OCR engine needs), for the text-in-photos tests.

Each picture records where its words were drawn (a box relative to the picture, 0..1),
so that a test can check that the box the reader found overlaps it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CORPUS_JPG = Path("exif-samples") / "jpg"
SIZE = (800, 600)

# (file, base photo, words, kind): a sign, a shirt-like patch, a page, text turned 90°,
# small text; and photos without text (checked: the reader finds none in them).
WITH_TEXT = [
    ("sign.jpg", "hdr/canon_hdr_NO.jpg", "BAKERY'S", "sign"),
    ("shirt.jpg", "tests/22-canon_tags.jpg", "MARATHON", "shirt"),
    ("page.jpg", "mobile/jolla.jpg", "Invoice", "page"),
    ("turned.jpg", "gps/DSCN0010.jpg", "PHARMACY", "rotated"),
    ("small.jpg", "hdr/iphone_hdr_NO.jpg", "Café Fénix", "small"),
]
WITHOUT_TEXT = ["gps/DSCN0021.jpg", "tests/45-gps_ifd.jpg", "exif-org/nikon-e950.jpg"]


def font_path() -> str | None:
    """A DejaVu Sans Bold on this computer (opencv-python ships one), or None."""
    try:
        import cv2

        p = Path(cv2.__file__).parent / "qt" / "fonts" / "DejaVuSans-Bold.ttf"
        if p.is_file():
            return str(p)
    except ImportError:
        pass
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
              "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"):
        if os.path.isfile(p):
            return p
    return None


@dataclass
class Picture:
    path: Path
    words: str
    kind: str
    box: tuple[float, float, float, float] | None  # where the words are (0..1)


def _base(corpus: Path, rel: str) -> Image.Image:
    with Image.open(corpus / CORPUS_JPG / rel) as im:
        return im.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)


def _draw(img: Image.Image, words: str, kind: str, font: str) -> tuple[float, ...]:
    w, h = img.size
    d = ImageDraw.Draw(img)
    if kind == "page":  # a sheet of paper filling most of the frame, several lines
        d.rectangle((120, 40, 680, 560), fill=(245, 245, 240))
        f = ImageFont.truetype(font, 34)
        body = ImageFont.truetype(font, 22)
        d.text((160, 80), words, font=f, fill=(20, 20, 20))
        x0, y0, x1, y1 = d.textbbox((160, 80), words, font=f)
        for i, line in enumerate(("Total amount due", "Payment within 30 days",
                                  "Thank you for your order")):
            d.text((160, 170 + 60 * i), line, font=body, fill=(40, 40, 40))
        return (x0 / w, y0 / h, x1 / w, y1 / h)
    if kind == "rotated":  # a sign turned on its side
        f = ImageFont.truetype(font, 56)
        tw, th = d.textbbox((0, 0), words, font=f)[2:]
        patch = Image.new("RGB", (tw + 40, th + 40), (250, 250, 250))
        ImageDraw.Draw(patch).text((20, 14), words, font=f, fill=(10, 60, 10))
        patch = patch.rotate(90, expand=True)
        img.paste(patch, (60, 40))
        return (60 / w, 40 / h, (60 + patch.width) / w, (40 + patch.height) / h)
    size, fill, bg, at = {"sign": (64, (20, 20, 20), (250, 250, 250), (90, 90)),
                          "shirt": (48, (255, 255, 255), (200, 30, 40), (260, 280)),
                          "small": (26, (0, 0, 0), (235, 235, 235), (480, 500))}[kind]
    f = ImageFont.truetype(font, size)
    x0, y0, x1, y1 = d.textbbox(at, words, font=f)
    pad = 18
    if kind == "shirt":
        d.rounded_rectangle((x0 - 60, y0 - 50, x1 + 60, y1 + 90), radius=30, fill=bg)
    else:
        d.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=bg)
    d.text(at, words, font=f, fill=fill)
    return (x0 / w, y0 / h, x1 / w, y1 / h)


def make_pictures(corpus: Path, folder: Path) -> tuple[list[Picture], list[Picture]]:
    """Write the pictures into ``folder``: (with text, without text)."""
    font = font_path()
    assert font, "no DejaVu font found"
    folder.mkdir(parents=True, exist_ok=True)
    with_text = []
    for name, rel, words, kind in WITH_TEXT:
        img = _base(corpus, rel)
        box = _draw(img, words, kind, font)
        img.save(folder / name, quality=92)
        with_text.append(Picture(folder / name, words, kind, box))
    plain = []
    for i, rel in enumerate(WITHOUT_TEXT):
        _base(corpus, rel).save(folder / f"plain{i}.jpg", quality=92)
        plain.append(Picture(folder / f"plain{i}.jpg", "", "none", None))
    return with_text, plain
