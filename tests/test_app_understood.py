"""The app shows what it understood in the query ("taken in July 2023 ×"), and clicking
the label searches without those words; the preview shows a photo's place."""

from __future__ import annotations

import datetime as dt
import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests import conftest_app as fixtures
from tests.conftest_app import wait_settled
from tests.test_dates import _dated

app_model = fixtures.app_model
core_imported = fixtures.core_imported
make_window = fixtures.make_window


def test_understood_date_is_a_removable_label(qtbot, tmp_path, make_window):
    from clipgallery.app.understood_chips import without_words

    photos = tmp_path / "photos"
    photos.mkdir()
    for k, when in enumerate([dt.datetime(2023, 7, 3), dt.datetime(2023, 7, 9),
                              dt.datetime(2022, 1, 5)]):
        _dated(photos, f"p{k}_red_circle.jpg", ("red", "circle", "white"), when, 10 + k)
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    w.search_edit.setText("a red circle July 2023")
    w.search_now()
    qtbot.waitUntil(lambda: w.results.query.text == "a red circle July 2023", timeout=20_000)
    qtbot.waitUntil(lambda: bool(w.understood_chips.chips), timeout=20_000)
    assert [b.text() for b in w.understood_chips.chips] == ["taken in July 2023 ×"]
    assert all(b.isVisible() and b.isEnabled() for b in w.understood_chips.chips)
    names = sorted(w.results.item(r).photo.path.name for r in range(w.results.rowCount()))
    assert names == ["p0_red_circle.jpg", "p1_red_circle.jpg"]

    w.understood_chips.chips[0].click()
    assert w.search_edit.text() == "a red circle"
    qtbot.waitUntil(lambda: w.results.query.text == "a red circle", timeout=20_000)
    qtbot.waitUntil(lambda: not w.understood_chips.chips, timeout=20_000)
    assert without_words("dog in Lisbon at night", "in lisbon") == "dog at night"
    assert without_words("Lisbonia in Lisbon", "Lisbon") == "Lisbonia in"


def test_preview_shows_the_place(qtbot, tmp_path, make_window, corpus):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(corpus / "exif-samples/jpg/gps/DSCN0010.jpg", photos / "arezzo.jpg")
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    qtbot.waitUntil(lambda: w.results.rowCount() == 1, timeout=20_000)
    w.preview.show_item(w.results.item(0), 0, 1, None)
    assert w.preview.fields["Place"].text() == "Arezzo, Tuscany, Italy"
    assert w.preview.form.isRowVisible(w.preview.fields["Place"])
