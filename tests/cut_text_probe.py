"""Open every dialog and panel, and report each piece of text that does not fit its widget.

    python -m tests.cut_text_probe LIBRARY OUT.json [SHOT_DIR]

Run by ``tests/test_cut_text.py`` in a subprocess, so that the scale factor
(``QT_SCALE_FACTOR``) is read by a fresh QApplication.  The main window is 800x500;
dialogs open at the size they ask for (capped to the window's screen).  For every
visible label, button and check box the needed size (``heightForWidth`` for
word-wrapped text, the size hint otherwise) is compared with the size the layout gave
it.  Screenshots of each scene go to SHOT_DIR when given (look at them).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QApplication,
    QLabel,
    QWidget,
)


def _wait(cond: Callable[[], bool], timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _settle(w: QWidget) -> None:
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.02)
    w.repaint()


def cut_texts(root: QWidget) -> list[dict[str, object]]:
    """Each visible label / button under ``root`` whose text needs more room than it has."""
    out = []
    widgets = [root, *root.findChildren(QWidget)]
    for w in widgets:
        if not w.isVisibleTo(root) and w is not root:
            continue
        if isinstance(w, QLabel):
            text = w.text()
            if not text or w.pixmap() is not None and not w.pixmap().isNull():
                continue
            if w.wordWrap():
                need = w.heightForWidth(w.width())
                have = w.height()
            else:
                need, have = w.sizeHint().width(), w.width()
        elif isinstance(w, QAbstractButton):
            text = w.text()
            if not text:
                continue
            # The text itself (and its icon) against the button: a flat button's size
            # hint adds padding that the style does not need.
            need = w.fontMetrics().horizontalAdvance(text.replace("&", ""))
            if not w.icon().isNull():
                need += w.iconSize().width() + 4
            have = w.width()
        else:
            continue
        if need > have + 1:
            out.append({"widget": w.objectName() or type(w).__name__, "text": text[:120],
                        "need": need, "have": have})
    return out


def window_scenes(library: Path, scene: Callable[[str, QWidget], None]) -> None:
    """The main window at 800x500: welcome, results with the filter row, a preview."""
    from clipgallery.app.window import MainWindow
    from tests.conftest import TINY_CLIP
    from tests.synthetic import make_folder

    w = MainWindow(library, model=str(TINY_CLIP), interactive=False)
    w.resize(800, 500)
    w.show()
    w.start()
    _wait(w.is_settled, 120)
    scene("window-welcome", w)
    photos = library.parent / "photos"
    make_folder(photos, 12, 5)
    w.add_folder(photos)
    _wait(lambda: w.searchable >= 12 and w.is_settled(), 180)
    w.search_edit.setText("a red circle")
    w.search_now()
    button = getattr(getattr(w, "features", None), "filter_button", None)
    if button is not None:
        button.setChecked(True)
    _wait(w.is_settled, 60)
    scene("window-results", w)
    w.show_preview(0)
    _wait(w.is_settled, 60)
    scene("window-preview", w)
    w.close()


def main() -> None:
    library, out_json = Path(sys.argv[1]), Path(sys.argv[2])
    shots = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    os.environ["CLIPGALLERY_HUB_ENDPOINT"] = "http://127.0.0.1:9"  # offline, at once
    app = QApplication.instance() or QApplication([])
    from clipgallery.app import panels, style
    from clipgallery.app.models_dialog import DownloadDialog, ImportDialog, ModelsDialog
    from clipgallery.core.store import paths as _paths

    style.apply(app)
    lib_paths = _paths.resolve(library)
    report: dict[str, list[dict[str, object]]] = {}

    def scene(name: str, w: QWidget) -> None:
        _settle(w)
        report[name] = cut_texts(w)
        if w.isWindow() and name.startswith("window") and (w.width() > 800 or w.height() > 500):
            report[name].append({"widget": "window", "text": "does not fit 800x500",
                                 "need": [w.width(), w.height()], "have": [800, 500]})
        if shots is not None:
            w.grab().save(str(shots / f"{name}.png"))

    holder = QWidget()
    holder.resize(800, 500)
    for name, make in (("welcome", panels.welcome_panel), ("model-error", panels.model_error_panel)):
        p = make(holder)
        if name == "model-error":
            p.set_text("Search is not available",
                       "The model could not be loaded: its file is damaged. Choose another "
                       "model in File ▸ Models…, or import one from a file.")
        p.resize(800, 500)
        p.show()
        scene(name, p)
        p.hide()

    window_scenes(library, scene)

    md = ModelsDialog(lib_paths)
    md.refresh()
    md.show()
    _wait(lambda: md.loads >= 1)
    scene("models", md)

    dd = DownloadDialog(lib_paths, "ViT-B-32-256:datacomp_s34b_b86k")
    dd.start()
    _wait(lambda: dd.outcome is not None, 30)
    scene("download-failed", dd)

    imp = ImportDialog(lib_paths, ["ViT-B-32-256", "ViT-B-16", "ViT-L-14"])
    imp.show()
    scene("import", imp)

    md.stop_jobs()
    out_json.write_text(json.dumps({"outcome": dd.outcome, "error": dd.error,
                                    "scenes": report}, indent=1))
    app.quit()


if __name__ == "__main__":
    main()
