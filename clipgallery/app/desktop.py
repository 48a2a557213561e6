"""Handing photos to the rest of the desktop: open, show in folder, copy path.

Runs in: the UI thread.  Nothing here blocks: external programs are started
asynchronously with QProcess.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication


def file_uri(path: Path) -> str:
    """``path`` as a file:// URI, percent-encoded from its bytes: names that are not valid
    UTF-8 (kept by Python as surrogate escapes) survive, which QUrl.fromLocalFile's
    UTF-16 string cannot promise."""
    return "file://" + urllib.parse.quote(os.fsencode(os.path.abspath(path)), safe="/")


def _qurl(path: Path) -> QUrl:
    return QUrl.fromEncoded(file_uri(path).encode("ascii"))


def open_file(path: Path) -> bool:
    """Open a photo in the system's default viewer."""
    return QDesktopServices.openUrl(_qurl(path))


def copy_paths(paths: Sequence[Path]) -> str:
    text = "\n".join(os.fsdecode(p) for p in paths)
    QGuiApplication.clipboard().setText(text)
    return text


def show_in_folder(path: Path, parent: QObject | None = None) -> None:
    """Reveal ``path`` in the file manager, selected where the platform allows."""
    path = Path(path)
    if sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", os.fspath(path)])
        return
    if sys.platform == "win32":
        QProcess.startDetached("explorer", [f"/select,{os.path.normpath(path)}"])
        return
    dbus = shutil.which("dbus-send")
    if dbus is None:
        _open_parent(path)
        return
    proc = QProcess(parent)
    uri = file_uri(path)
    args = ["--session", "--print-reply", "--dest=org.freedesktop.FileManager1",
            "--type=method_call", "/org/freedesktop/FileManager1",
            "org.freedesktop.FileManager1.ShowItems", f"array:string:{uri}", "string:"]

    def done(code: int, _status: QProcess.ExitStatus) -> None:
        if code != 0:
            _open_parent(path)
        proc.deleteLater()

    proc.finished.connect(done)
    proc.errorOccurred.connect(lambda _e: (_open_parent(path), proc.deleteLater())
                               if proc.state() == QProcess.ProcessState.NotRunning else None)
    proc.start(dbus, args)


def _open_parent(path: Path) -> None:
    target = path if path.is_dir() else path.parent
    QDesktopServices.openUrl(_qurl(target))
