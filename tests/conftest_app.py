"""Helpers for the desktop app's tests (imported by ``tests/test_app*.py``).

Not a pytest conftest (it is imported explicitly), so the rest of the suite never
imports Qt.  Every window runs on a temporary library with the tiny test model.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import TINY_CLIP

# A palette of specs where a handful of photos are red circles and the rest differ in
# colour, shape or both, so "a red circle" has clear right answers.
SPECS = [
    ("red", "circle", "white"),
    ("blue", "square", "grey"),
    ("green", "triangle", "black"),
    ("yellow", "star", "white"),
    ("purple", "cross", "grey"),
    ("orange", "ring", "black"),
    ("blue", "circle", "white"),
    ("red", "square", "grey"),
]

NO_RED_CIRCLES = [s for s in SPECS if s[:2] != ("red", "circle")]


def model_spec() -> str:
    """The tiny test CLIP (``CLIPGALLERY_APP_TEST_MODEL`` may point elsewhere)."""
    override = os.environ.get("CLIPGALLERY_APP_TEST_MODEL")
    if override:
        return override
    if not (TINY_CLIP / "open_clip_config.json").is_file():
        pytest.skip("tests/data/tiny-clip is missing")
    return str(TINY_CLIP)


@pytest.fixture
def app_model() -> str:
    return model_spec()


@pytest.fixture
def make_window(qtbot, tmp_path: Path, app_model: str,
                core_imported: None) -> Iterator[Callable[..., object]]:
    """``make_window(**kwargs)``: a started MainWindow on a temporary library."""
    from clipgallery.app.window import MainWindow

    windows: list[MainWindow] = []
    _reset_event_loop()

    def make(library: Path | None = None, *, start: bool = True, **kwargs: object) -> MainWindow:
        kwargs.setdefault("model", app_model)
        kwargs.setdefault("interactive", False)
        w = MainWindow(library or tmp_path / "library", **kwargs)  # type: ignore[arg-type]
        qtbot.addWidget(w)
        w.resize(1100, 760)
        w.show()
        if start:
            w.start()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def _reset_event_loop() -> None:
    """Run the application's event loop once, briefly.

    After an in-process ``run_app`` (``app.exec()`` ended by ``app.exit()``), signals
    queued from worker threads to a new window were never delivered while pytest-qt
    waited (``library_opened`` never arrived: every later window test timed out); one
    more ``exec()`` clears that state.
    """
    from PySide6.QtCore import QCoreApplication, QEvent, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        QTimer.singleShot(0, app.quit)
        app.exec()
        # A window of the last test deleted in that loop (its deferred deletes run
        # there) posts a Quit event (Qt 6 quits on the last window asynchronously); left
        # queued, it would end every later event loop at once: pytest-qt's waits would
        # then never deliver the worker's signals.  run_app drops it the same way.
        QCoreApplication.removePostedEvents(app, QEvent.Type.Quit)


@pytest.fixture(scope="session")
def core_imported() -> None:
    """Import torch and open_clip once, up front (seconds on a busy machine), so the
    first window's waits measure the app, not the import."""
    import clipgallery.core.search.searcher  # noqa: F401
    import clipgallery.core.store.library  # noqa: F401


def wait_settled(qtbot, window, timeout: float = 120.0) -> None:
    qtbot.waitUntil(window.is_settled, timeout=int(timeout * 1000))


def result_names(window, n: int | None = None) -> list[str]:
    m = window.results
    rows = m.rowCount() if n is None else min(n, m.rowCount())
    return [m.item(r).photo.path.name for r in range(rows)]


def copy_in(src: Path, dst: Path) -> None:
    """Copy a file in the way a user would: write elsewhere, then move into place."""
    tmp = dst.parent.parent / (".incoming-" + dst.name)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class GapMeter:
    """Measures how long the UI event loop goes without running a 10 ms timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.max_gap = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        now = time.monotonic()
        if self.last:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        self.last = time.monotonic()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
