"""Window settings (size, position, thumbnail size), stored inside the library folder.

Runs in: the UI thread.  Keeping them in ``<library>/settings.ini`` means a test on a
temporary library never touches the user's own settings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

THUMB_MIN = 64
THUMB_MAX = 320
THUMB_DEFAULT = 160


class WindowSettings:
    def __init__(self, library_root: Path) -> None:
        library_root.mkdir(parents=True, exist_ok=True)
        self.qs = QSettings(str(library_root / "settings.ini"), QSettings.Format.IniFormat)

    def geometry(self) -> QByteArray | None:
        v = self.qs.value("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def state(self) -> QByteArray | None:
        v = self.qs.value("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def splitter(self) -> QByteArray | None:
        v = self.qs.value("window/splitter")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def thumbnail_size(self) -> int:
        try:
            v = int(self.qs.value("view/thumbnail_size", THUMB_DEFAULT))
        except (TypeError, ValueError):
            v = THUMB_DEFAULT
        return max(THUMB_MIN, min(THUMB_MAX, v))

    def save(self, geometry: QByteArray, state: QByteArray, splitter: QByteArray,
             thumbnail_size: int) -> None:
        self.qs.setValue("window/geometry", geometry)
        self.qs.setValue("window/state", state)
        self.qs.setValue("window/splitter", splitter)
        self.qs.setValue("view/thumbnail_size", int(thumbnail_size))
        self.qs.sync()
