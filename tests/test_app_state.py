"""The app's state object (clipgallery/app/state.py): Qt-free, observed by the widgets.

No window and no Qt here: the state is tested on its own, and a subprocess proves that
it imports without Qt (with PySide6 made unimportable).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from clipgallery.app.items import FolderInfo, IndexStatus, Query, ResultItem, ResultSet
from clipgallery.app.state import AppState
from clipgallery.core.store.catalog import INDEXED, Photo
from tests.conftest import ROOT


def test_state_imports_and_works_without_qt() -> None:
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None  # any Qt import now fails\n"
        "sys.modules['shiboken6'] = None\n"
        "from clipgallery.app.state import AppState\n"
        "from clipgallery.app.items import Query\n"
        "s = AppState()\n"
        "seen = []\n"
        "s.observe(seen.append)\n"
        "s.update(library='open', query=Query.for_text('a dog'))\n"
        "assert seen == [frozenset({'library', 'query'})], seen\n"
        "assert not any(m.startswith(('PySide6', 'shiboken6')) and sys.modules[m] is not None\n"
        "               for m in sys.modules)\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_observers_hear_each_update_once_with_what_changed() -> None:
    s = AppState()
    heard: list[frozenset[str]] = []
    s.observe(heard.append)
    status = IndexStatus("indexing", done=3, total=10)
    assert s.update(model="ready", model_label="tiny", index_status=status) == {
        "model", "model_label", "index_status"}
    assert heard == [frozenset({"model", "model_label", "index_status"})]
    assert (s.model, s.model_label, s.index_status) == ("ready", "tiny", status)
    # Equal values are no change: nobody is told.
    assert s.update(model="ready", index_status=IndexStatus("indexing", done=3, total=10)) \
        == frozenset()
    assert len(heard) == 1
    # Only what changed is named.
    s.update(model="ready", searchable=7)
    assert heard[-1] == frozenset({"searchable"})


def test_folders_results_and_engine() -> None:
    s = AppState()
    heard: list[frozenset[str]] = []
    s.observe(heard.append)
    assert s.folders is None  # not known yet
    s.update(folders=[FolderInfo(Path("/photos"), 3)])
    s.update(folders=[FolderInfo(Path("/photos"), 3)])  # the same list again
    assert heard == [frozenset({"folders"})]
    # Results and the engine are compared by identity: a new answer is always news.
    rs = ResultSet(Query.browse(), [])
    s.update(results=rs)
    s.update(results=ResultSet(Query.browse(), []))
    s.update(results=s.results)
    assert heard[1:] == [frozenset({"results"})] * 2
    engine = (object(), object())
    s.update(engine=engine)
    s.update(engine=engine)
    assert heard[-1] == frozenset({"engine"}) and len(heard) == 4


def test_queries_wait_for_the_model() -> None:
    s = AppState()
    text, browse = Query.for_text("a red circle"), Query.browse()
    assert not s.can_run(browse) and not s.can_run(text)  # the library is opening
    s.update(library="open")
    assert s.can_run(browse) and not s.can_run(text)  # browsing needs no model
    assert not s.searching_possible
    s.update(model="ready")
    assert s.can_run(text) and s.searching_possible
    s.update(model="failed", model_error="no model")
    assert not s.can_run(text) and s.can_run(browse)


def test_bad_updates_are_refused_and_observers_can_leave() -> None:
    s = AppState()
    heard: list[frozenset[str]] = []
    undo = s.observe(heard.append)
    with pytest.raises(AttributeError, match="colour"):
        s.update(colour="red")
    with pytest.raises(ValueError, match="library"):
        s.update(library="half-open")
    with pytest.raises(ValueError, match="model"):
        s.update(model="warming")
    assert s.library == "opening" and s.model == "loading" and heard == []
    s.update(selection=(4, 2))
    undo()
    undo()  # twice is harmless
    s.update(selection=(1,))
    assert heard == [frozenset({"selection"})] and s.selection == (1,)


def test_the_page_shown() -> None:
    s = AppState()
    assert s.page(has_folders=False) == "opening"
    s.update(library="open")
    assert s.page(has_folders=True) == "opening"  # the folder list is not known yet
    s.update(folders=[])
    assert s.page(has_folders=False) == "welcome"
    assert s.page(has_folders=True) == "results"  # a folder asked for, not yet listed
    s.update(model="failed")
    assert s.page(has_folders=True) == "model"
    assert s.page(has_folders=False) == "welcome"
    s.update(library="locked")
    assert s.page(has_folders=True) == "error"


def test_status_line_follows_the_library_and_the_model() -> None:
    s = AppState()
    assert s.status_text() == "Opening the library…"
    s.update(library="open", model_label="tiny-clip")
    assert s.status_text() == "Loading the search model tiny-clip… you can browse meanwhile."
    s.update(model="ready", searchable=1234)
    assert s.status_text() == "Search ready · 1,234 photos searchable · model tiny-clip"
    assert s.status_text(storage_error=True).endswith(
        " · indexing paused: the library's disk refused a write")
    s.update(model="failed")
    assert s.status_text() == "Search unavailable: the model could not be loaded."
    s.update(library="locked")
    assert "in use" in s.status_text()


def test_progress_while_indexing() -> None:
    s = AppState(library="open", model="ready")
    s.update(worker_busy=True, index_status=IndexStatus("scanning"))
    assert s.indexing and s.progress_text() == "Checking folders for changes…"
    s.update(index_status=IndexStatus("indexing", done=40, total=1200, rate=12.5, eta=90.0))
    text = s.progress_text()
    assert text.startswith("Indexing 40 of 1,200 · 12.5 photos/s · ") and text.endswith(" left")
    assert s.progress_text(paused=True) == "Paused · Indexing 40 of 1,200"
    s.update(worker_busy=False)
    assert not s.indexing
    s.update(worker_busy=True, model="loading")  # nothing is indexed without the model
    assert not s.indexing


def _item(i: int, best: bool, stack: int = 0) -> ResultItem:
    photo = Photo(i, Path(f"/photos/{i}.jpg"), 1, 1, None, INDEXED)
    members = tuple(ResultItem(Photo(100 * i + k, Path(f"/photos/{i}-{k}.jpg"), 1, 1, None,
                                     INDEXED)) for k in range(stack))
    return ResultItem(photo, 0.5, best, members)


def test_results_header_and_empty_grid() -> None:
    s = AppState()
    assert s.results_header() == ("", "")
    q = Query.for_text("a red circle")
    s.update(results=ResultSet(q, [_item(1, True), _item(2, True), _item(3, False)]))
    assert s.results_header() == ("2 best matches", "  for “a red circle”, then 1 more")
    s.update(results=ResultSet(q, [_item(1, False)]))
    assert s.results_header()[0] == "1 photo"
    assert s.results_header()[1].endswith(" · no close match, nearest first")
    s.update(results=ResultSet(Query.duplicates(), [_item(1, True, 3), _item(2, True, 2)]))
    assert s.results_header() == ("2 groups of duplicates",
                                  "  5 near-identical photos · click ▣ to see a group")
    s.update(results=ResultSet(Query.browse(), []), worker_busy=True)
    assert s.results_header() == ("All photos", "")
    assert s.empty_text().startswith("No photos indexed yet.")
    s.update(results=ResultSet(q, []), worker_busy=False)
    assert s.results_header()[0] == "No photos"
    assert s.empty_text().startswith("No photos found for") and "\n" not in s.empty_text()
    s.update(search_error="The library is still opening.")
    assert s.empty_text() == "The library is still opening."


def test_no_private_reach_ins_in_the_app() -> None:
    """App code reads another object's attributes only through its public names
    (``self._x`` is fine; ``window._x`` is not)."""
    bad = []
    for path in sorted((ROOT / "clipgallery" / "app").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                bad.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert bad == []
