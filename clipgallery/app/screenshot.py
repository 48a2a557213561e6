"""``--screenshot FILE``: wait until the window has settled, save it, exit.

Runs in: the UI thread (a QTimer polls the window's state; nothing blocks).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from clipgallery.app.window import MainWindow

DEFAULT_TIMEOUT = 600.0  # seconds; $CLIPGALLERY_SCREENSHOT_TIMEOUT overrides
POLL_MS = 100
STABLE_POLLS = 3  # settled this many polls in a row


class ScreenshotDriver(QObject):
    def __init__(self, window: MainWindow, target: Path, timeout: float | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.target = Path(target)
        if timeout is None:
            try:
                timeout = float(os.environ.get("CLIPGALLERY_SCREENSHOT_TIMEOUT", DEFAULT_TIMEOUT))
            except ValueError:
                timeout = DEFAULT_TIMEOUT
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.exit_code: int | None = None
        self._stable = 0
        window.fatal_error.connect(self._fail)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

    def start(self) -> None:
        self.timer.start()

    def _finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.timer.stop()
        self.window.exit_code = code
        self.window.close()
        app = QApplication.instance()
        if app is not None:
            app.exit(code)

    def _fail(self, message: str, code: int) -> None:
        print(f"clipgallery: {message}", file=sys.stderr)
        self._finish(code)

    def _poll(self) -> None:
        if self.exit_code is not None:
            return
        if time.monotonic() > self.deadline:
            print(f"clipgallery: gave up after {self.timeout:.0f} s waiting for indexing, the "
                  "search and thumbnails to finish", file=sys.stderr)
            self._finish(3)
            return
        if not self.window.is_settled():
            self._stable = 0
            return
        self._stable += 1
        if self._stable < STABLE_POLLS:
            return
        image = self.window.grab()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(os.fspath(self.target)):
            print(f"clipgallery: cannot write the screenshot {self.target}", file=sys.stderr)
            self._finish(2)
            return
        self._finish(0)
