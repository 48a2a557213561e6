"""``clipgallery gui``: create the QApplication, show the window, run the event loop.

Runs in: the main (UI) thread.  Nothing imported here loads torch: the window is on
screen before the indexing worker starts importing the model.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from clipgallery.app import style
from clipgallery.app.window import MainWindow


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "clipgallery"])
    assert isinstance(app, QApplication)
    app.setApplicationName("ClipGallery")
    app.setOrganizationName("ClipGallery")
    app.setApplicationDisplayName("ClipGallery")
    icon = Path(__file__).resolve().parents[2] / "resources" / "clipgallery.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(os.fspath(icon)))
    style.apply(app)
    return app


def create_window(args: argparse.Namespace) -> MainWindow:
    screenshot = getattr(args, "screenshot", None)
    return MainWindow(getattr(args, "library", None), model=getattr(args, "model", None),
                      device=getattr(args, "device", None),
                      folders=list(getattr(args, "folder", None) or []),
                      query=getattr(args, "query", None), interactive=not screenshot)


def run_app(args: argparse.Namespace) -> int:
    """Open the main window; returns the process exit code."""
    app = _application()
    screenshot = getattr(args, "screenshot", None)
    if not screenshot:
        from clipgallery.app import single_instance
        from clipgallery.core.store import paths as core_paths

        root = core_paths.resolve(getattr(args, "library", None)).root
        if single_instance.ping(root):
            print(f"ClipGallery is already open for the library {os.fsdecode(root)}: "
                  "showing its window.")
            return 0
    window = create_window(args)
    driver = None
    if screenshot:
        from clipgallery.app.screenshot import ScreenshotDriver

        driver = ScreenshotDriver(window, Path(screenshot))
    window.show()
    # Start the threads once the window is on screen.
    QTimer.singleShot(0, window.start)
    if driver is not None:
        QTimer.singleShot(0, driver.start)
    code = app.exec()
    window.close()  # idempotent: saves settings and stops the threads
    # Closing the last window posts a Quit event (Qt 6 quits asynchronously).  With
    # exec() over it would stay queued, and the next event loop in this process (a test
    # session's) would run it and then return at once, forever: drop it.
    QCoreApplication.removePostedEvents(app, QEvent.Type.Quit)
    if driver is not None and driver.exit_code is not None:
        return driver.exit_code
    return int(window.exit_code or code)
