"""The sidebar: the library's folders, each with its photo count and state.

Runs in: the UI thread.  It only displays :class:`FolderInfo` values sent by the
indexing worker and asks for changes through its signals.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from clipgallery.app import formatting
from clipgallery.app.items import INDEXING, OFFLINE, QUEUED, FolderInfo

InfoRole = Qt.ItemDataRole.UserRole + 1

_STATE_COLORS = {INDEXING: "#2f6fd0", QUEUED: "#8a6d1f", OFFLINE: "#b04040"}


def folder_summary(info: FolderInfo) -> str:
    parts = [formatting.count(info.indexed, "photo")]
    state = info.state
    if info.watch == "polling" and state not in (INDEXING, OFFLINE):
        state = f"{state}, checked every minute"
    parts.append(state)
    return " · ".join(parts)


def section_header(title: str) -> QHBoxLayout:
    """A sidebar section's header row: its title, then room for buttons on the right."""
    header = QHBoxLayout()
    header.setContentsMargins(12, 0, 6, 0)
    label = QLabel(title)
    label.setObjectName("sidebarTitle")
    header.addWidget(label)
    header.addStretch(1)
    return header


class _FolderDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        fm = option.fontMetrics
        return QSize(180, fm.height() * 2 + 14)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        info: FolderInfo | None = index.data(InfoRole)
        if info is None:
            return
        painter.save()
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        if selected:
            painter.fillRect(r, pal.color(QPalette.ColorRole.Highlight))
        icon = option.widget.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon) \
            if option.widget else None
        x = r.left() + 10
        if icon is not None:
            icon.paint(painter, QRect(x, r.top() + (r.height() - 20) // 2, 20, 20))
            x += 28
        fm = option.fontMetrics
        width = r.right() - x - 8
        name_font = QFont(option.font)
        name_font.setBold(True)
        painter.setFont(name_font)
        text_color = pal.color(QPalette.ColorRole.HighlightedText if selected
                               else QPalette.ColorRole.Text)
        painter.setPen(text_color)
        top = r.top() + 6
        painter.drawText(QRect(x, top, width, fm.height()), Qt.AlignmentFlag.AlignLeft,
                         fm.elidedText(info.name, Qt.TextElideMode.ElideRight, width))
        painter.setFont(option.font)
        color = QColor(_STATE_COLORS.get(info.state, "#666a70"))
        painter.setPen(text_color if selected else color)
        painter.drawText(QRect(x, top + fm.height() + 2, width, fm.height()),
                         Qt.AlignmentFlag.AlignLeft,
                         fm.elidedText(folder_summary(info), Qt.TextElideMode.ElideRight, width))
        painter.restore()


class FolderSidebar(QWidget):
    """Folder list with Add / Remove buttons."""

    add_requested = Signal()
    remove_requested = Signal(object)  # Path
    rescan_requested = Signal()
    reveal_requested = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setMinimumWidth(190)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(4)
        header = section_header("FOLDERS")
        self.add_button = QToolButton()
        self.add_button.setText("+")
        self.add_button.setToolTip("Add a folder to the library")
        self.add_button.setAutoRaise(True)
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button = QToolButton()
        self.remove_button.setText("−")
        self.remove_button.setToolTip("Remove the selected folder from the library")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self._remove_selected)
        header.addWidget(self.add_button)
        header.addWidget(self.remove_button)
        layout.addLayout(header)
        self.list = QListWidget()
        self.list.setObjectName("folderList")
        self.list.setItemDelegate(_FolderDelegate(self.list))
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(self.selected_folder() is not None))
        layout.addWidget(self.list, 1)
        self.summary = QLabel("")
        self.summary.setObjectName("sidebarSummary")
        self.summary.setContentsMargins(12, 4, 12, 8)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self._infos: list[FolderInfo] = []

    def set_folders(self, infos: list[FolderInfo]) -> None:
        selected = self.selected_folder()
        self._infos = list(infos)
        self.list.clear()
        for info in infos:
            item = QListWidgetItem(info.name)
            item.setData(InfoRole, info)
            item.setToolTip(f"{formatting.display_path(info.path)}\n"
                            f"{info.indexed:,} indexed, {info.skipped:,} skipped"
                            + (f", {info.missing:,} missing" if info.missing else "")
                            + (f"\nWatching: {info.watch}" if info.watch else "")
                            + "".join(f"\nSkipped {name}: {reason}"
                                      for name, reason in info.skip_reasons)
                            + ("\n…" if info.skipped > len(info.skip_reasons) > 0 else ""))
            self.list.addItem(item)
            if selected is not None and info.path == selected:
                item.setSelected(True)
        total = sum(i.indexed for i in infos)
        self.summary.setText(formatting.count(total, "photo") + " in "
                             + formatting.count(len(infos), "folder") if infos else "")
        self.remove_button.setEnabled(self.selected_folder() is not None)

    def add_section(self, widget: QWidget) -> None:
        """Add a section (e.g. the smart albums) below the folders."""
        self.layout().addWidget(widget)  # type: ignore[union-attr]

    def folders(self) -> list[FolderInfo]:
        return list(self._infos)

    def selected_folder(self) -> Path | None:
        items = self.list.selectedItems()
        if not items:
            return None
        info: FolderInfo = items[0].data(InfoRole)
        return info.path

    def _remove_selected(self) -> None:
        folder = self.selected_folder()
        if folder is not None:
            self.remove_requested.emit(folder)

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        info: FolderInfo = item.data(InfoRole)
        menu = QMenu(self)
        menu.addAction("Show in File Manager", lambda: self.reveal_requested.emit(info.path))
        menu.addAction("Check for Changes Now", self.rescan_requested)
        menu.addSeparator()
        menu.addAction(f"Remove “{info.name}” from Library",
                       lambda: self.remove_requested.emit(info.path))
        menu.exec(self.list.viewport().mapToGlobal(pos))


def folder_label(path: Path) -> str:
    return os.fsdecode(path.name) or os.fsdecode(path)
