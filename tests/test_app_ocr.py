"""The app reads text after indexing (progress in the status bar), finds photos by it,
highlights the matched text's box in the preview, and has a switch to turn it off."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests import conftest_app as fixtures
from tests.conftest import CORPUS
from tests.conftest_app import wait_settled
from tests.ocr_pictures import font_path, make_pictures

app_model = fixtures.app_model
core_imported = fixtures.core_imported
make_window = fixtures.make_window

pytestmark = [
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}"),
    pytest.mark.skipif(font_path() is None, reason="no DejaVu font on this computer"),
]


def test_text_is_read_found_highlighted_and_can_be_switched_off(qtbot, tmp_path,
                                                                make_window, monkeypatch):
    monkeypatch.delenv("CLIPGALLERY_OCR", raising=False)
    with_text, plain = make_pictures(CORPUS, tmp_path / "all")
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(with_text[0].path, photos / "sign.jpg")  # BAKERY'S
    shutil.copy(plain[0].path, photos / "plain.jpg")
    w = make_window(folders=[str(photos)], start=False)
    phases: list[str] = []
    texts: list[str] = []
    w.worker.status_changed.connect(lambda st: phases.append(st.phase))
    w.worker.status_changed.connect(lambda st: texts.append(w.progress_label.text()))
    w.start()
    assert w.act_read_text.isCheckable() and w.act_read_text.isChecked()
    wait_settled(qtbot, w)
    catalog = tmp_path / "library" / "catalog.sqlite3"

    def reads() -> int:
        db = sqlite3.connect(catalog)
        try:
            return db.execute("SELECT COUNT(*) FROM ocr_reads").fetchone()[0]
        finally:
            db.close()

    qtbot.waitUntil(lambda: reads() == 2, timeout=60_000)
    assert "text" in phases
    assert any(t.startswith("Reading text in") for t in texts), texts  # the status bar

    w.search_edit.setText("text:bakery")
    w.search_now()
    qtbot.waitUntil(lambda: w.results.query.text == "text:bakery", timeout=20_000)
    qtbot.waitUntil(lambda: w.results.rowCount() == 1, timeout=20_000)
    item = w.results.item(0)
    assert item.photo.path.name == "sign.jpg" and "BAKERY" in item.text
    assert [b.text() for b in w.understood_chips.chips] == ["with the text “bakery” ×"]
    w.preview.show_item(item, 0, 1, None)
    assert w.preview.fields["Text"].text() == f"“{item.text}”"
    assert w.preview.canvas.highlight == item.text_box
    from PySide6.QtGui import QPixmap

    w.preview.canvas.set_pixmap(QPixmap(800, 600))
    w.preview.canvas.grab()  # paints
    r, img = w.preview.canvas.highlight_rect, w.preview.canvas.image_rect
    assert r is not None and img is not None
    # The outline is where the words were drawn (relative to the painted photo).
    got = ((r.left() + 4 - img.left()) / img.width(), (r.top() + 4 - img.top()) / img.height(),
           (r.right() - 4 - img.left()) / img.width(), (r.bottom() - 4 - img.top()) / img.height())
    assert all(abs(a - b) < 0.04 for a, b in zip(got, with_text[0].box, strict=True)), got

    w.act_read_text.trigger()  # off: saved in the library
    assert not w.act_read_text.isChecked()

    def setting() -> str | None:
        db = sqlite3.connect(catalog)
        try:
            row = db.execute("SELECT value FROM meta WHERE key='ocr'").fetchone()
            return row[0] if row else None
        finally:
            db.close()

    qtbot.waitUntil(lambda: setting() == "off", timeout=20_000)
    assert w.worker.text_pass is None
