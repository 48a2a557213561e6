"""Dropping a photo file on the window searches by it, for every registered kind:
a camera RAW and a HEIC from the shared corpus, through a real QDropEvent."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests import conftest_app as fixtures
from tests.conftest_app import SPECS, wait_settled
from tests.synthetic import make_folder

app_model = fixtures.app_model
make_window = fixtures.make_window
core_imported = fixtures.core_imported


def _drop(w, paths: list[Path]) -> bool:
    """Drop ``paths`` on ``w`` as a file manager would; whether the window accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    event.setAccepted(False)
    w.dropEvent(event)
    return event.isAccepted()  # (the event must not outlive ``mime``)


def _corpus_file(corpus: Path, pattern: str) -> Path:
    found = sorted(p for p in corpus.rglob(pattern) if p.is_file())
    if not found:
        pytest.skip(f"no {pattern} in the corpus")
    return found[0]


@pytest.mark.parametrize("pattern", ["*.KDC", "*.HEIC"], ids=["raw", "heic"])
def test_dropping_a_raw_or_heic_file_searches_by_it(qtbot, tmp_path, make_window, corpus,
                                                     pattern):
    photos = tmp_path / "photos"
    make_folder(photos, 4, 21, specs=SPECS)
    w = make_window(folders=[str(photos)])
    qtbot.waitUntil(lambda: w.model_state == "ready", timeout=120_000)
    wait_settled(qtbot, w)
    assert w.results.query.kind == "browse"

    dropped = tmp_path / "outside" / _corpus_file(corpus, pattern).name
    dropped.parent.mkdir()
    shutil.copyfile(_corpus_file(corpus, pattern), dropped)
    assert _drop(w, [dropped]), f"the window ignored a dropped {dropped.suffix} file"
    qtbot.waitUntil(lambda: w.results.query.kind == "image", timeout=10_000)
    assert w.results.query.path == dropped
    wait_settled(qtbot, w)
    assert w.results.rowCount() > 0  # the search by that photo ran and answered


def test_dropping_a_file_of_no_registered_type_is_ignored(qtbot, tmp_path, make_window):
    w = make_window()
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    assert not _drop(w, [text])
    assert w.results.query.kind != "image"
