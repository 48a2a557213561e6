"""The app's search tools, driven for real (issue #6): filters, "show more", stacks,
"what's in this photo", smart albums and good / bad marks.

Headless (QT_QPA_PLATFORM=offscreen), on temporary libraries, with the tiny test CLIP.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import numpy as np
from PySide6.QtCore import Qt

from tests import conftest_app as fixtures
from tests.conftest_app import NO_RED_CIRCLES, SPECS, copy_in
from tests.synthetic import make_folder
from tests.test_search_features import write_copies

app_model = fixtures.app_model
core_imported = fixtures.core_imported
make_window = fixtures.make_window

WAIT = 60_000


def wait_settled(qtbot, w, timeout: float = 120.0) -> None:
    """Wait for the window to settle; on a timeout, say which part did not."""
    try:
        qtbot.waitUntil(w.is_settled, timeout=int(timeout * 1000))
    except qtbot.TimeoutError:
        state = {
            "library": w.library_state, "model": w.model_state, "busy": w.worker_busy,
            "phase": w.index_status.phase, "timers": (w._refresh_timer.isActive(),
                                                      w._search_timer.isActive()),
            "tickets": (w._ticket, w._ticket_done), "search idle": w.search.idle,
            "query": (w.query, w.results.query), "thumbs": w.visible_thumbnails_ready(),
            "folders": w.folder_infos}
        raise AssertionError(f"the window did not settle: {state}") from None


def _all_items(w) -> list:
    """Every photo of the current answer: the grid's rows, then the hidden tail."""
    rs = w.results.result_set
    return list(w.results.items()) + (list(rs.more) if rs is not None else [])


def _names(items) -> list[str]:
    return [it.photo.path.name for it in items]


def _search(qtbot, w, text: str) -> None:
    w.search_edit.setText(text)
    w.search_now()
    qtbot.waitUntil(lambda: w.results.query.text == text and w.search.idle
                    and w._ticket_done == w._ticket, timeout=WAIT)


def _settle(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w._ticket_done == w._ticket and w.search.idle
                    and w.results.query == w.query, timeout=WAIT)


def test_filters_restrict_results_to_a_folder_and_a_file_type(qtbot, tmp_path, make_window):
    a, b = tmp_path / "trip", tmp_path / "home"
    make_folder(a, 8, 1, specs=SPECS)
    make_folder(b, 8, 2, specs=SPECS, fmt="png")
    w = make_window(folders=[str(a), str(b)])
    wait_settled(qtbot, w)
    assert w.results.rowCount() == 16

    qtbot.mouseClick(w.features.filter_button, Qt.MouseButton.LeftButton)
    bar = w.features.filter_bar
    assert bar.isVisible()
    qtbot.waitUntil(lambda: bar.folder.count() == 3, timeout=WAIT)

    # A folder alone lists that folder's photos.
    bar.folder.setCurrentIndex(bar.folder.findData(os.fsdecode(a)))
    _settle(qtbot, w)
    assert w.query.filters == (("folder", os.fsdecode(a)),)
    assert w.results.rowCount() == 8
    assert {it.photo.path.parent for it in _all_items(w)} == {a}
    assert w.features.filter_button.text() == "Filters (1)"

    # A query within the folder: every row (and the hidden tail) is from it.
    _search(qtbot, w, "a red circle")
    assert w.results.rowCount() > 0
    assert {it.photo.path.parent for it in _all_items(w)} == {a}
    assert "_red_circle_" in w.results.item(0).photo.path.name

    # File type: PNG only lives in the other folder, so nothing is left...
    bar.file_type.setCurrentIndex(bar.file_type.findData("png"))
    _settle(qtbot, w)
    assert _all_items(w) == []
    # ... and all folders with PNG gives the other folder's photos only.
    bar.folder.setCurrentIndex(0)
    _settle(qtbot, w)
    assert _all_items(w) and {it.photo.path.suffix for it in _all_items(w)} == {".png"}

    # A date range no photo was taken in (the synthetic photos have no date) empties it;
    # a half-typed date is not searched.
    bar.after.setText("2020-13")
    assert not bar.dates_valid()
    assert "after" not in dict(bar.filters())
    bar.reset()
    _settle(qtbot, w)
    assert w.query.filters == () and len(_all_items(w)) >= 8


def test_show_more_reveals_the_hidden_tail(qtbot, tmp_path, make_window):
    photos = tmp_path / "photos"
    make_folder(photos, 48, 1, specs=SPECS)
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    _search(qtbot, w, "a red circle")
    shown, hidden = w.results.rowCount(), w.features.hidden_count()
    assert shown > 0 and hidden > 0, (shown, hidden)
    assert all(w.results.item(r).best for r in range(shown))
    button = w.features.more_button
    assert button.isVisible() and button.text() == f"Show {hidden:,} more"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert w.results.rowCount() == shown + hidden
    assert not button.isVisible()
    assert f"{hidden:,} more" in w.results_detail.text()
    # The tail stays shown when the same query is answered again (new photos indexed).
    w._refresh_results()
    _settle(qtbot, w)
    assert w.results.rowCount() == shown + hidden
    # A new query hides its tail again.
    _search(qtbot, w, "a blue square")
    assert w.features.hidden_count() > 0


def test_near_identical_photos_stack_and_expand(qtbot, tmp_path, make_window):
    photos = tmp_path / "photos"
    copies = write_copies(photos)
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    _search(qtbot, w, "a green star")
    w.features.show_more()
    stacks = [r for r in range(w.results.rowCount()) if w.results.item(r).count > 1]
    assert len(stacks) == 1, _names(w.results.items())
    row = stacks[0]
    item = w.results.item(row)
    assert item.count == 5
    assert sorted(m.photo.path for m in item.stack) == sorted(copies)
    assert w.results.rowCount() == 4  # the stack and the three other photos

    # The badge is painted; the filters row is shown (a screenshot for a person to check).
    w.features.filter_button.setChecked(True)
    w.grid.scrollTo(w.results.index(row))
    qtbot.waitUntil(w.visible_thumbnails_ready, timeout=WAIT)
    shot = w.grab()
    assert not shot.isNull()
    shot.save(os.fspath(tmp_path / "filters-and-stacks.png"))

    # Clicking the count badge opens the stack: its five photos, in a row.
    badge = w.features.badge_rect(row)
    assert w.grid.visualRect(w.results.index(row)).contains(badge)
    qtbot.mouseClick(w.grid.viewport(), Qt.MouseButton.LeftButton, pos=badge.center())
    qtbot.waitUntil(lambda: w.results.rowCount() == 8, timeout=WAIT)
    members = [w.results.item(r).photo.path for r in range(row, row + 5)]
    assert sorted(members) == sorted(copies)
    assert all(w.results.item(r).count == 1 for r in range(w.results.rowCount()))

    # "Collapse Stack" on a member (E) closes it again.
    w.grid.setFocus()
    w.grid.setCurrentIndex(w.results.index(row + 2))
    assert w.features.act_expand.text() == "Collapse Stack"
    w.features.act_expand.trigger()
    assert w.results.rowCount() == 4
    assert w.results.item(row).count == 5

    # The Duplicates view lists the group (and nothing else: the others differ).
    qtbot.mouseClick(w.features.albums_list.duplicates_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.results.query.kind == "duplicates", timeout=WAIT)
    _settle(qtbot, w)
    assert w.results.rowCount() == 1 and w.results.item(0).count == 5
    assert sorted(m.photo.path for m in w.results.item(0).stack) == sorted(copies)
    assert "1 group of duplicates" in w.results_title.text()
    w.features.toggle_stack(0)
    assert w.results.rowCount() == 5


def test_preview_says_whats_in_the_photo(qtbot, tmp_path, make_window):
    photos = tmp_path / "photos"
    made = make_folder(photos, 24, 3, specs=SPECS)
    reds = {p.name for p, s in made if s[:2] == ("red", "circle")}
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    hits = 0
    for row in range(w.results.rowCount()):
        if w.results.item(row).photo.path.name not in reds:
            continue
        w.show_preview(row)
        assert w.pages.currentWidget() is w.preview
        qtbot.waitUntil(lambda: w.features.shown_labels() != [], timeout=WAIT)
        labels = w.features.shown_labels()
        assert len(labels) == 5
        hits += "red circle" in labels
        w.close_preview()
    assert hits >= len(reds) - 1, hits
    # Labels are remembered: showing a photo again needs no new work.
    w.show_preview(0)
    assert w.features.shown_labels() or w.features.labels_value.text() == "Looking…"


def test_smart_album_is_listed_runs_and_updates(qtbot, tmp_path, make_window):
    photos = tmp_path / "photos"
    make_folder(photos, 12, 4, specs=NO_RED_CIRCLES)
    extra = make_folder(tmp_path / "elsewhere", 1, 5, specs=[("red", "circle", "white")])
    lib = tmp_path / "library"
    w = make_window(lib, folders=[str(photos)])
    wait_settled(qtbot, w)
    w.features.filter_button.setChecked(True)
    bar = w.features.filter_bar
    qtbot.waitUntil(lambda: bar.folder.count() == 2, timeout=WAIT)
    bar.folder.setCurrentIndex(1)
    _search(qtbot, w, "a red circle")
    assert w.query.filters == (("folder", os.fsdecode(photos)),)
    assert w.features.save_button.isVisible()
    w.features.save_album("Red circles")
    albums = w.features.albums_list
    qtbot.waitUntil(lambda: albums.names() == ["Red circles"], timeout=WAIT)

    # Back to all photos, then a click on the album runs its search (with its filter).
    w.clear_query()
    _settle(qtbot, w)
    assert bar.filters() == ()
    item = albums.list.item(0)
    rect = albums.list.visualItemRect(item)
    qtbot.mouseClick(albums.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.results.query.kind == "album", timeout=WAIT)
    _settle(qtbot, w)
    assert "Red circles" in w.results_detail.text()
    before = _names(_all_items(w))
    assert before and not any("_red_circle_" in n for n in before)

    # A new red circle in the folder joins the album by itself, as the best match.
    new = photos / "zz_new_red_circle_white.jpg"
    copy_in(extra[0][0], new)
    qtbot.waitUntil(lambda: new.name in _names(_all_items(w)), timeout=WAIT)
    assert _names(w.results.items())[0] == new.name
    w.close()

    # The album is kept in the library.
    w2 = make_window(lib)
    qtbot.waitUntil(lambda: w2.features.albums_list.names() == ["Red circles"], timeout=WAIT)


def test_marking_good_and_bad_refines_the_ranking(qtbot, tmp_path, make_window):
    photos = tmp_path / "photos"
    made = make_folder(photos, 40, 6, specs=SPECS)
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    _search(qtbot, w, "a circle")
    w.features.show_more()

    def rank_of(kind: str) -> float:
        names = _names(w.results.items())
        return float(np.mean([i for i, n in enumerate(names) if kind in n]))

    order0 = _names(w.results.items())
    blue_before = rank_of("_blue_circle_")
    top = w.results.item(0).photo
    # B on the top result: it leaves the results and the query is refined.
    w.grid.setFocus()
    w.grid.setCurrentIndex(w.results.index(0))
    qtbot.keyClick(w.grid, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: w.results.query.bad == (top.id,), timeout=WAIT)
    _settle(qtbot, w)
    w.features.show_more()
    assert top.path.name not in _names(_all_items(w))
    assert w.features.marks_button.isVisible() and "1 bad" in w.features.marks_button.text()

    # Good on a blue circle (context menu action): blue circles move up.
    blue = next(r for r in range(w.results.rowCount())
                if "_blue_circle_" in w.results.item(r).photo.path.name)
    w.grid.setCurrentIndex(w.results.index(blue))
    # The window's state follows what is shown and selected.
    assert w.state.selection == (w.results.item(blue).photo.id,)
    assert w.state.results is w.results.result_set and w.state.query == w.results.query
    w.features.act_good.trigger()
    qtbot.waitUntil(lambda: len(w.results.query.good) == 1, timeout=WAIT)
    _settle(qtbot, w)
    w.features.show_more()
    assert rank_of("_blue_circle_") < blue_before
    assert _names(w.results.items()) != order0
    assert "_blue_circle_" in w.results.item(0).photo.path.name
    assert len([p for p, s in made if s[:2] == ("blue", "circle")]) >= 2

    # Forgetting the marks brings the first ranking back.
    w.features.clear_marks()
    _settle(qtbot, w)
    w.features.show_more()
    assert _names(w.results.items()) == order0
