"""No text is cut off: every dialog and panel, in an 800x500 window and at scale factor 2.

The scenes (welcome and notice panels, the main window with results, the filter row and
a preview, the Models dialog, the download dialog after an offline failure, the import
dialog) are opened for real by ``tests/cut_text_probe.py`` in a subprocess, so that each
run gets a fresh QApplication with its own ``QT_SCALE_FACTOR``.  Each label, button and
check box is measured against the room its layout gave it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scale", ["1", "2"])
def test_no_text_is_cut_off(tmp_path, scale):
    out = tmp_path / "report.json"
    shots = tmp_path / "shots"
    shots.mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=scale,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "tests.cut_text_probe", str(tmp_path / "lib"),
                           str(out), str(shots)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    report = json.loads(out.read_text())
    # The offline download failed with the whole explanation, and it fits.
    assert report["outcome"] == "failed"
    assert "Download it on another computer and bring the file here" in report["error"]
    assert set(report["scenes"]) >= {"welcome", "model-error", "window-welcome",
                                     "window-results", "window-preview", "models",
                                     "download-failed", "import"}
    cut = {name: found for name, found in report["scenes"].items() if found}
    assert cut == {}
    assert len(list(shots.glob("*.png"))) == len(report["scenes"])
