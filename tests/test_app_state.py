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

from clipgallery.app.items import FolderInfo, IndexStatus, Query, ResultSet
from clipgallery.app.state import AppState
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
