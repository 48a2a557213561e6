"""Render the app icon set from the hand-drawn SVG.

    .venv/bin/python packaging/make_icons.py

Reads ``resources/icons/hicolor/scalable/apps/io.github.clipgallery.ClipGallery.svg`` and
writes, all derived from it (commit them; the build does not re-render):

* ``resources/icons/hicolor/<n>x<n>/apps/io.github.clipgallery.ClipGallery.png`` for
  n = 16, 32, 48, 64, 128, 256, 512 (the freedesktop hicolor theme layout),
* ``resources/clipgallery.png`` (256 px; the app's window icon),
* ``resources/icons/clipgallery.ico`` (Windows: 16-256 px in one file),
* ``resources/icons/clipgallery.icns`` (macOS).

Rendering uses Qt's own SVG renderer (QtSvg ships with PySide6-Essentials), headless,
so no extra tool is needed; the .ico and .icns are written by Pillow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.clipgallery.ClipGallery"
SVG = ROOT / "resources" / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def png_path(size: int) -> Path:
    return ROOT / "resources" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(os.fspath(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.convertToFormat(QImage.Format.Format_ARGB32).save(os.fspath(out), "PNG"):
        raise SystemExit(f"cannot write {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    for n in SIZES:
        render(SVG, n, png_path(n))
        print(f"wrote {png_path(n).relative_to(ROOT)}")
    window_icon = ROOT / "resources" / "clipgallery.png"
    window_icon.write_bytes(png_path(256).read_bytes())
    print(f"wrote {window_icon.relative_to(ROOT)}")

    big = Image.open(png_path(512)).convert("RGBA")
    ico = ROOT / "resources" / "icons" / "clipgallery.ico"
    # Pillow builds each .ico entry from the largest image; give it the exact renders.
    frames = [Image.open(png_path(n)).convert("RGBA") for n in (16, 32, 48, 64, 128, 256)]
    frames[-1].save(ico, format="ICO", sizes=[(n, n) for n in (16, 32, 48, 64, 128, 256)],
                    append_images=frames[:-1])
    print(f"wrote {ico.relative_to(ROOT)}")
    icns = ROOT / "resources" / "icons" / "clipgallery.icns"
    big.save(icns, format="ICNS",
             append_images=[Image.open(png_path(n)).convert("RGBA")
                            for n in (16, 32, 64, 128, 256)])
    print(f"wrote {icns.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
