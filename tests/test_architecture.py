"""Architecture rules that import-linter cannot check.

* The catalog owns every SQL statement: no string constant in any module of
  ``clipgallery/`` other than ``core/store/catalog.py`` may hold SQL, and nobody outside it
  reaches into a catalog's private query helpers (``._q(`` / ``._x(``) or its connection.
* The filters are declared once (:data:`clipgallery.core.search.filters.FILTERS`), and the CLI,
  the app's filter bar and :class:`~clipgallery.core.search.filters.Filters` follow them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "clipgallery"
CATALOG = PACKAGE / "core" / "store" / "catalog.py"

# A statement keyword followed, in the same string, by the word that SQL puts after it
# (SELECT ... FROM, INSERT INTO, UPDATE ... SET, DELETE FROM, CREATE TABLE/INDEX), in
# upper case as the project writes SQL; PRAGMA alone; or a piece of a WHERE clause.  Prose ("select a folder",
# "update the index") is lower case and does not match.
SQL_RE = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)\b[\s\S]*?"
                    r"\b(FROM|INTO|SET|TABLE|INDEX|WHERE)\b|\bPRAGMA\b"
                    # WHERE-clause fragments built outside the catalog:
                    r"|\bLIKE \?|\bESCAPE '|\bIS NOT NULL\b|\bCOLLATE NOCASE\b")
PRIVATE = {"_q", "_x", "_db", "_migrate"}


def _constants(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant, with f-strings joined into one string (``{...}`` as ``?``)."""
    out: list[tuple[int, str]] = []
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                           else "?" for v in node.values)
            out.append((node.lineno, text))
            inside.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in inside:
            out.append((node.lineno, node.value))
    return out


def _implicit_concatenations(source: str, tree: ast.AST) -> list[tuple[int, str]]:
    """Adjacent literals are one constant already; ``"a " + "b"`` chains are joined too."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            seg = ast.get_source_segment(source, node) or ""
            out.append((node.lineno, re.sub(r"[\"'+\s]+", " ", seg)))
    return out


def sql_violations(root: Path) -> list[str]:
    """``path:line: text`` for each SQL string or private catalog access outside the
    catalog module, under ``root`` (a ``clipgallery`` package folder)."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "catalog.py" and path.parent.name in ("core", "store"):
            continue
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
        rel = path.relative_to(root.parent)
        for line, text in _constants(tree) + _implicit_concatenations(source, tree):
            if SQL_RE.search(text):
                bad.append(f"{rel}:{line}: SQL {text.strip()[:70]!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
                bad.append(f"{rel}:{node.lineno}: private catalog access .{node.attr}")
    return bad


def test_sql_only_in_the_catalog() -> None:
    assert sql_violations(PACKAGE) == []


def test_the_rule_catches_sql_and_private_access(tmp_path: Path) -> None:
    """The scan fails on the kinds of code it forbids (and lets prose through)."""
    pkg = tmp_path / "clipgallery"
    (pkg / "core").mkdir(parents=True)
    (pkg / "core" / "catalog.py").write_text('X = "SELECT id FROM photos"\n')
    (pkg / "core" / "ok.py").write_text(
        '"""Select a folder from the list, then update the index; delete from disk."""\n'
        'HELP = "Create an index of the photos"\n')
    (pkg / "core" / "bad.py").write_text(
        'def f(cat, where):\n'
        '    rows = cat._q(f"SELECT id FROM photos WHERE {where}")\n'
        '    cat._x("DELETE FROM meta WHERE key=?", ("k",))\n'
        '    s = ("UPDATE photos "\n'
        '         "SET mtime_ns=-1")\n'
        '    t = "SELECT COUNT(*) " + "FROM embeddings"\n'
        '    return cat._db.execute("PRAGMA integrity_check"), rows, s, t\n')
    bad = sql_violations(pkg)
    assert all("bad.py" in b for b in bad), bad
    assert sum("SQL" in b for b in bad) >= 5, bad
    assert {b.rsplit(".", 1)[1] for b in bad if "private" in b} == {"_q", "_x", "_db"}


# -- filters: one declaration drives Filters, the CLI and the filter bar ----------------


def test_filters_follow_the_declarations() -> None:
    from dataclasses import fields

    from clipgallery.cli import build_parser
    from clipgallery.core.search.filters import FILTERS, Filters

    assert [f.name for f in fields(Filters)] == [f.name for f in FILTERS]
    parser = build_parser()
    args = parser.parse_args(["search", "x", "--folder", "/p", "--after", "2024-01-02",
                              "--before", "2024-02-03", "--camera", " Canon ", "--type",
                              "JPG", "--orientation", "portrait"])
    f = Filters.from_args(args)
    assert f.as_dict() == {"folder": "/p", "after": "2024-01-02", "before": "2024-02-03",
                           "camera": "Canon", "file_type": "jpeg", "orientation": "portrait"}
    assert Filters.from_dict(f.as_dict()) == f
    assert f.describe() == "in /p, from 2024-01-02, until 2024-02-03, camera 'Canon', " \
                           "jpeg, portrait"


def test_one_list_of_sorts_and_orientations() -> None:
    """No module keeps its own copy of the sort orders or the orientations."""
    copies = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "filters.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                vals = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if {"relevance", "oldest"} <= vals or {"landscape", "portrait"} <= vals:
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert copies == []


def test_catalog_conditions_agree_with_python_tests(tmp_path: Path) -> None:
    """Each declared filter's SQL (via the catalog) selects exactly the rows its Python
    test accepts, on a real SQLite catalog."""
    import datetime as dt

    from clipgallery.core.search.filters import Filters
    from clipgallery.core.store.catalog import INDEXED, Catalog

    rows = [  # (relative path, meta)
        ("a/1.jpg", dict(width=400, height=300, file_type="jpeg", camera_make="Canon",
                         camera_model="EOS R5", taken_at=dt.datetime(2024, 1, 2, 10).timestamp(),
                         place_city="Lisbon", place_region="Lisbon", place_country="Portugal")),
        ("a/b/2.png", dict(width=300, height=400, file_type="png", camera_make=None,
                           camera_model="iPhone 12", taken_at=dt.datetime(2024, 2, 3).timestamp(),
                           place_city="Porto", place_region="Porto", place_country="Portugal")),
        ("ab/3.heic", dict(width=500, height=505, file_type="heic", camera_make="100%_x",
                           camera_model=None, taken_at=None)),
        ("c/4.jpg", dict(width=None, height=None, file_type="jpeg", camera_make="canon",
                         camera_model=None, taken_at=dt.datetime(2023, 12, 31, 23).timestamp())),
    ]
    with Catalog(tmp_path / "lib.sqlite") as cat:
        with cat.transaction() as db:
            for rel, meta in rows:
                cat.upsert_photo(db, tmp_path / rel, size=1, mtime_ns=1, content_hash=rel,
                                 status=INDEXED, meta=meta)
        photos = cat.all_photos()
        cases = [Filters(folder=tmp_path / "a"), Filters(after="2024-01-01"),
                 Filters(before="2024-01-02"), Filters(camera="canon"),
                 Filters(camera="100%_"), Filters(camera="iphone 12"),
                 Filters(file_type="JPG"), Filters(orientation="landscape"),
                 Filters(orientation="portrait"), Filters(orientation="square"),
                 Filters(after="2024-01-02", before="2024-02-03", orientation="portrait"),
                 Filters(place="lisbon"), Filters(place="Portugal"), Filters(place="Lisb"),
                 Filters()]
        for f in cases:
            want = sorted(p.id for p in photos if f.matches(p))
            assert cat.ids_where(f.conditions()) == want, f
        assert len(cat.ids_where(Filters(camera="canon").conditions())) == 2


def _device_lists(root: Path) -> list[str]:
    """``path:line`` of each literal tuple/list/set naming two devices or more, outside the
    device registry (core/models/devices.py)."""
    names = {"auto", "cpu", "cuda", "mps"}
    bad = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() == "core/models/devices.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                found = {e.value for e in node.elts if isinstance(e, ast.Constant)} & names
                if len(found) >= 2 and not isinstance(getattr(node, "ctx", None), ast.Store):
                    bad.append(f"{path.relative_to(root.parent)}:{node.lineno}: {sorted(found)}")
    return bad


def test_one_list_of_devices() -> None:
    """The devices are listed once (core/models/devices.py); the CLI's ``--device``, the
    ``settings device`` command and ``backends.select`` use that list."""
    from clipgallery.cli import build_parser
    from clipgallery.core.models.devices import DEVICES

    assert _device_lists(PACKAGE) == []
    actions = [a for a in build_parser()._actions if "--device" in a.option_strings]
    assert actions and all(tuple(a.choices) == DEVICES for a in actions)
    assert "auto" in DEVICES


def test_the_backend_is_chosen_in_one_place() -> None:
    """Outside core/models/, nothing builds an encoder itself: the loaders of each backend
    are called only by ``backends`` (through ``Library.load_encoder``)."""
    loaders = {"fast_onnx_encoder", "onnx_encoder_for", "OnnxEncoder", "load_encoder"}
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("core/models/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "clipgallery.core.models"):
                bad += [f"{rel}:{node.lineno}: {a.name}" for a in node.names
                        if a.name in loaders]
    assert bad == []
