"""The "Smart albums" list under the folders in the sidebar.

Runs in: the UI thread.  It shows what the tasks thread read from the catalog
(:meth:`AlbumsSidebar.set_albums`) and asks, by signals, for an album to be run or
removed.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from clipgallery.app.sidebar import section_header

NameRole = Qt.ItemDataRole.UserRole + 1


class AlbumsSidebar(QWidget):
    """Saved searches, by name; clicking one runs it."""

    album_clicked = Signal(str)  # name
    duplicates_clicked = Signal()
    remove_requested = Signal(str)  # name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("albumsSidebar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        header = section_header("SMART ALBUMS")
        self.duplicates_button = QToolButton()
        self.duplicates_button.setObjectName("duplicatesButton")
        self.duplicates_button.setText("Duplicates")
        self.duplicates_button.setAutoRaise(True)
        self.duplicates_button.setToolTip("Show near-identical photos (resized copies, "
                                          "RAW + JPEG, bursts) grouped")
        self.duplicates_button.clicked.connect(self.duplicates_clicked)
        header.addWidget(self.duplicates_button)
        layout.addLayout(header)
        self.list = QListWidget()
        self.list.setObjectName("albumList")
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.list.setVisible(False)
        layout.addWidget(self.list)
        self.hint = QLabel("Search, then “Save as Album” to keep it here.")
        self.hint.setObjectName("sidebarSummary")
        self.hint.setContentsMargins(12, 0, 12, 6)
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)

    def set_albums(self, albums: list[object]) -> None:
        """``albums``: :class:`~clipgallery.core.search.albums.Album` objects."""
        current = self.current_name()
        self.list.blockSignals(True)
        self.list.clear()
        for a in albums:
            item = QListWidgetItem("★  " + a.name)  # type: ignore[attr-defined]
            item.setData(NameRole, a.name)  # type: ignore[attr-defined]
            item.setToolTip(a.describe())  # type: ignore[attr-defined]
            self.list.addItem(item)
            if a.name == current:  # type: ignore[attr-defined]
                item.setSelected(True)
        self.list.blockSignals(False)
        rows = min(len(albums), 8)
        self.list.setFixedHeight(rows * max(self.list.sizeHintForRow(0), 1) + 4 if rows else 0)
        self.list.setVisible(bool(albums))
        self.hint.setVisible(not albums)

    def names(self) -> list[str]:
        return [self.list.item(i).data(NameRole) for i in range(self.list.count())]

    def current_name(self) -> str | None:
        items = self.list.selectedItems()
        return items[0].data(NameRole) if items else None

    def select(self, name: str | None) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        for i in range(self.list.count()):
            if self.list.item(i).data(NameRole) == name:
                self.list.item(i).setSelected(True)
        self.list.blockSignals(False)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.album_clicked.emit(item.data(NameRole))

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Show", lambda: self.album_clicked.emit(item.data(NameRole)))
        menu.addAction("Remove Album", lambda: self.remove_requested.emit(item.data(NameRole)))
        menu.exec(self.list.viewport().mapToGlobal(pos))
