"""The search tools without a window: :class:`SearchFeatures` on a minimal
:class:`SearchHost` (real Qt widgets offscreen, a real results model and grid; no main
window, no indexing worker, no search thread).

This is what the seam buys: marks, stacks, "show more", filters and the library's news
(through :class:`AppState`) are driven and checked here directly.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QItemSelectionModel

from clipgallery.app.image_loader import ThumbnailLoader
from clipgallery.app.items import FolderInfo, Query, ResultItem, ResultSet
from clipgallery.app.results_model import ResultsModel
from clipgallery.app.results_view import ResultsView
from clipgallery.app.search_features import SearchFeatures, SearchHost
from clipgallery.app.state import AppState
from clipgallery.app.thumbnail_cache import ThumbnailCache
from clipgallery.core.store.catalog import INDEXED, Photo


class Host:
    """The least a window must offer the search tools."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = AppState(model="ready")
        self.interactive = False
        self.loader = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbs"), threads=1)
        self.results = ResultsModel(self.loader)
        self.grid = ResultsView()
        self.grid.setModel(self.results)
        self.asked: list[Query] = []
        self.messages: list[str] = []
        self.refreshed = 0

    def set_query(self, query: Query) -> None:
        self.asked.append(query)
        self.state.update(query=query)

    def search_now(self) -> None:
        self.asked.append(Query.for_text("<search bar>"))

    def show_message(self, message: str) -> None:
        self.messages.append(message)

    def target_photos(self) -> list[Photo]:
        return [self.results.item(r).photo for r in self.grid.selected_rows()]

    def previewed_photo_id(self) -> int | None:
        return None

    def clear_search_text(self) -> None:
        pass

    def refresh_results_view(self) -> None:
        self.refreshed += 1


def _photo(i: int) -> Photo:
    return Photo(i, Path(f"/nowhere/{i}.jpg"), 1, 1, None, INDEXED)


@pytest.fixture
def tools(qtbot, tmp_path: Path):
    host = Host(tmp_path)
    qtbot.addWidget(host.grid)
    features = SearchFeatures(host, tmp_path / "catalog.db", tmp_path / "cache")
    host_typed: SearchHost = host  # the protocol is met
    assert host_typed is host
    yield host, features
    features.shutdown()
    host.loader.stop()
    # Let these Qt objects die here, in this test and in the UI thread, rather than in a
    # later garbage collection (which may run in any thread of the next test's window).
    host.grid.setModel(None)
    del features, host
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


def test_marks_refine_the_query_through_the_host(tools) -> None:
    host, features = tools
    query = Query.for_text("a red circle")
    host.state.update(query=query)
    host.results.set_results(ResultSet(query, [ResultItem(_photo(i), 0.5, True)
                                               for i in (1, 2, 3)]))
    sm = host.grid.selectionModel()
    for row in (0, 2):
        sm.select(host.results.index(row), QItemSelectionModel.SelectionFlag.Select)
    assert features.act_good.isEnabled() and features.act_bad.isEnabled()
    features.mark(True)
    assert host.asked[-1] == Query(Query.TEXT, "a red circle", good=(1, 3))
    features.mark(False, [3])  # from good to bad
    assert host.asked[-1] == Query(Query.TEXT, "a red circle", good=(1,), bad=(3,))
    features.clear_marks()
    assert host.asked[-1] == Query(Query.TEXT, "a red circle")
    host.state.update(model="loading")  # no refining without the model
    assert not features.act_good.isEnabled()


def test_stacks_and_show_more_without_a_window(tools) -> None:
    host, features = tools
    query = Query.for_text("a waterfall")
    stack = tuple(ResultItem(_photo(10 + k), 0.6, True) for k in range(3))
    answer = ResultSet(query, [ResultItem(_photo(10), 0.6, True, stack),
                               ResultItem(_photo(20), 0.5, True)],
                       more=[ResultItem(_photo(30), 0.1)])
    host.results.set_results(features.present(answer))
    assert host.results.rowCount() == 2 and features.hidden_count() == 1
    assert features.more_button.text() == "Show 1 more"
    features.show_more()
    assert host.results.rowCount() == 3 and features.hidden_count() == 0
    assert host.refreshed == 1
    features.toggle_stack(0)  # the stack opens into its three photos
    ids = [host.results.item(r).photo.id for r in range(host.results.rowCount())]
    assert ids == [10, 11, 12, 20, 30]
    assert host.refreshed == 2
    features.toggle_stack(1)  # a member closes it again
    assert [host.results.item(r).photo.id for r in range(host.results.rowCount())] \
        == [10, 20, 30]


def test_filters_and_the_library_news_come_through_the_state(tools, tmp_path) -> None:
    host, features = tools
    folder = tmp_path / "Holidays"
    host.state.update(folders=[FolderInfo(folder, 4)])
    combo = features.filter_bar.folder
    assert [combo.itemData(i) for i in range(combo.count())] == ["", os.fsdecode(folder)]
    features.filter_bar.set_state({"folder": os.fsdecode(folder)}, "date")
    q = features.compose("a dog")
    assert (q.kind, q.text, dict(q.filters), q.sort) == (
        Query.TEXT, "a dog", {"folder": os.fsdecode(folder)}, "date")
    # Browsing with a filter becomes a filtered search; without, stays browsing.
    assert features.compose("").kind == Query.TEXT
    features.reset_filters()
    assert features.compose("") == Query.browse()
    # A filter change while searching by a photo keeps searching by that photo.
    like = Query.like(_photo(7))
    host.state.update(query=like)
    features.filter_bar.set_state({"folder": os.fsdecode(folder)})
    features.filter_bar.changed.emit()
    assert host.asked[-1].kind == like.kind and host.asked[-1].photo_id == 7
    assert dict(host.asked[-1].filters) == {"folder": os.fsdecode(folder)}
