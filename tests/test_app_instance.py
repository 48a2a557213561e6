"""A second start on the same library shows the first window instead of failing.

The first instance is a real window in this process; the second start is a real
``clipgallery gui`` process.  When the first cannot answer (stuck), the second start
falls back to the writer lock's refusal.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
from pathlib import Path

from PySide6.QtNetwork import QLocalServer
from PySide6.QtWidgets import QMessageBox

from clipgallery.app import single_instance
from tests import conftest_app as fixtures

ROOT = Path(__file__).resolve().parent.parent

app_model = fixtures.app_model
core_imported = fixtures.core_imported
make_window = fixtures.make_window


def _second_start(library: Path, tmp_path: Path) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CLIPGALLERY_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "clipgallery", "gui", "--library",
                             str(library)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_second_start_shows_the_first_window(qtbot, tmp_path, make_window):
    library = tmp_path / "library"
    w = make_window(library)
    qtbot.waitUntil(lambda: w.instance_server is not None, timeout=120_000)
    assert w.instance_server.listening
    w.showMinimized()
    proc = _second_start(library, tmp_path)
    try:
        # The event loop keeps running here, so this window answers the ping.
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "already open" in out
    assert w.instance_server.activations == 1
    assert w.isVisible() and not w.isMinimized()
    assert w.library_state == "open"  # the first window carries on


def test_other_libraries_do_not_answer(qtbot, tmp_path, make_window):
    w = make_window(tmp_path / "one")
    qtbot.waitUntil(lambda: w.instance_server is not None, timeout=120_000)
    assert not single_instance.ping(tmp_path / "two", timeout_ms=500)
    assert single_instance.server_name(tmp_path / "one") != \
        single_instance.server_name(tmp_path / "two")
    assert w.instance_server.activations == 0


def test_a_first_instance_that_does_not_answer_means_the_usual_refusal(qtbot, tmp_path,
                                                                        make_window):
    from clipgallery.core.store.library import Library

    library = tmp_path / "library"
    # Another process holds the library and its name, but never answers (it is stuck).
    stuck = QLocalServer()
    QLocalServer.removeServer(single_instance.server_name(library))
    assert stuck.listen(single_instance.server_name(library))
    try:
        with Library.open(library, write=True):
            assert not single_instance.ping(library, timeout_ms=500)
            w = make_window(library, interactive=True)
            qtbot.waitUntil(lambda: w.library_state == "locked", timeout=120_000)
            box = w.findChild(QMessageBox, "lockedMessage")
            assert box is not None and "in use" in box.text()
            assert w.instance_server is None  # only the lock holder listens
            box.close()
    finally:
        stuck.close()
