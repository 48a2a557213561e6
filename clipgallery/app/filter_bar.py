"""The filter row under the toolbar: folder, date taken, camera, place, file type, orientation,
sort.

Runs in: the UI thread.  It only holds the user's choices; :meth:`FilterBar.filters`
gives them as ``(field, value)`` pairs for a :class:`~clipgallery.app.items.Query`
(the search thread turns them into a :class:`~clipgallery.core.search.query.Filters`).
Dates are checked here (``YYYY-MM-DD``) so a half-typed date never reaches a search.
Which fields there are, their tooltips and placeholders, the orientations and the sort
orders come from :mod:`clipgallery.core.search.filters` (each field's widget is the attribute
named like the field).
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from clipgallery.app import formatting
from clipgallery.app.flow_layout import FlowLayout
from clipgallery.core.photos import formats
from clipgallery.core.search.filters import FILTERS, ORIENTATIONS, SORT_LABELS, SORTS

FILE_TYPES = formats.kinds()
EDIT_DELAY_MS = 400
_DATE_FIELDS = ("after", "before")  # checked together (see dates_valid)


def _date(text: str) -> _dt.date | None:
    """A ``YYYY-MM-DD`` date, or None for an empty field; ValueError otherwise."""
    text = text.strip()
    return _dt.date.fromisoformat(text) if text else None


class FilterBar(QFrame):
    """The filter row (hidden until the toolbar's Filters button is checked)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self._build_fields()
        self._build_row()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(EDIT_DELAY_MS)
        self._timer.timeout.connect(self._emit_if_valid)
        for combo in (self.folder, self.file_type, self.orientation, self.sort):
            combo.currentIndexChanged.connect(self._emit_if_valid)
        for e in (self.after, self.before, self.camera, self.place):
            e.textChanged.connect(lambda _t: self._timer.start())
            e.returnPressed.connect(self._emit_if_valid)
        self._last: tuple[tuple[tuple[str, str], ...], str] = ((), "relevance")

    def _build_fields(self) -> None:
        """One widget per declared filter (named like its field), the sort and Reset."""
        self.folder = QComboBox()
        self.folder.setObjectName("filterFolder")
        self.after = QLineEdit()
        self.after.setObjectName("filterAfter")
        self.before = QLineEdit()
        self.before.setObjectName("filterBefore")
        for e in (self.after, self.before):
            e.setFixedWidth(92)
            e.setClearButtonEnabled(True)
        self.camera = QLineEdit()
        self.camera.setObjectName("filterCamera")
        self.camera.setFixedWidth(100)
        self.camera.setClearButtonEnabled(True)
        self.place = QLineEdit()
        self.place.setObjectName("filterPlace")
        self.place.setFixedWidth(100)
        self.place.setClearButtonEnabled(True)
        self.file_type = QComboBox()
        self.file_type.setObjectName("filterType")
        self.orientation = QComboBox()
        self.orientation.setObjectName("filterOrientation")
        self._declare_fields()
        for t in FILE_TYPES:
            self.file_type.addItem(t.upper(), t)
        for o in ORIENTATIONS:
            self.orientation.addItem(o.capitalize(), o)
        self.sort = QComboBox()
        self.sort.setObjectName("filterSort")
        self.sort.setToolTip("Sort the results")
        for value in SORTS:
            self.sort.addItem(SORT_LABELS[value], value)
        self.reset_button = QToolButton()
        self.reset_button.setText("Reset")
        self.reset_button.setAutoRaise(True)
        self.reset_button.setToolTip("Clear every filter")
        self.reset_button.clicked.connect(self.reset)

    def _build_row(self) -> None:
        """Lay the widgets out in a row that wraps onto a second one in a narrow window."""
        row = FlowLayout(self)
        row.setContentsMargins(16, 6, 12, 6)
        row.setSpacing(6)

        def label(text: str) -> QLabel:
            lb = QLabel(text)
            lb.setStyleSheet("color: #6b7078;")
            return lb

        for w in (self.folder, label("Taken"), self.after, label("–"), self.before,
                  self.camera, self.place, self.file_type, self.orientation):
            row.addWidget(w)
        row.add_stretch()
        row.addWidget(self.sort)
        row.addWidget(self.reset_button)
        for combo in (self.folder, self.file_type, self.orientation, self.sort):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def _declare_fields(self) -> None:
        """Name, tooltip, placeholder or empty choice of each declared filter's widget."""
        for f in FILTERS:
            w = self._widget(f.name)
            w.setAccessibleName(f.label)
            if f.tooltip:
                w.setToolTip(f.tooltip)
            if isinstance(w, QComboBox):
                w.addItem(f.placeholder, "")
            elif f.placeholder:
                w.setPlaceholderText(f.placeholder)

    def _widget(self, name: str) -> QComboBox | QLineEdit:
        """The widget of filter ``name`` (the attribute of that name)."""
        w = getattr(self, name)
        assert isinstance(w, QComboBox | QLineEdit), name
        return w

    # -- the choices --------------------------------------------------------------------

    def set_folders(self, folders: list[Path]) -> None:
        current = self.folder.currentData()
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem(next(f.placeholder for f in FILTERS if f.name == "folder"), "")
        for f in folders:
            self.folder.addItem(formatting.file_name(f), os.fsdecode(f))
            self.folder.setItemData(self.folder.count() - 1, formatting.display_path(f),
                                    Qt.ItemDataRole.ToolTipRole)
        i = self.folder.findData(current)
        self.folder.setCurrentIndex(max(0, i))
        self.folder.blockSignals(False)
        if i < 0 and current:
            self._emit_if_valid()  # the chosen folder is gone

    def dates_valid(self) -> bool:
        try:
            a, b = _date(self.after.text()), _date(self.before.text())
        except ValueError:
            return False
        return not (a and b and a > b)

    def filters(self) -> tuple[tuple[str, str], ...]:
        """The chosen filters as sorted (field, value) pairs (invalid dates left out)."""
        out: dict[str, str] = {}
        dates_ok = self.dates_valid()
        for f in FILTERS:
            if f.name in _DATE_FIELDS and not dates_ok:
                continue
            w = self._widget(f.name)
            value = str(w.currentData() or "") if isinstance(w, QComboBox) else w.text().strip()
            if value:
                out[f.name] = value
        return tuple(sorted(out.items()))

    def sort_order(self) -> str:
        return str(self.sort.currentData() or "relevance")

    def active_count(self) -> int:
        return len(self.filters()) + (self.sort_order() != "relevance")

    def set_state(self, filters: dict[str, str], sort: str = "relevance") -> None:
        """Show these choices (e.g. a saved album's) without emitting ``changed``."""
        widgets = [self._widget(f.name) for f in FILTERS]
        for w in (*widgets, self.sort):
            w.blockSignals(True)
        if self.folder.findData(filters.get("folder", "")) < 0:
            self.folder.addItem(formatting.file_name(Path(filters["folder"])), filters["folder"])
        for f, w in zip(FILTERS, widgets, strict=True):
            value = filters.get(f.name, "")
            if isinstance(w, QComboBox):
                w.setCurrentIndex(max(0, w.findData(value)))
            else:
                w.setText(value)
        self.sort.setCurrentIndex(max(0, self.sort.findData(sort)))
        for w in (*widgets, self.sort):
            w.blockSignals(False)
        self._timer.stop()
        self._last = (self.filters(), self.sort_order())
        self._show_validity()

    def reset(self) -> None:
        self.set_state({}, "relevance")
        self.changed.emit()

    def _show_validity(self) -> None:
        bad = "QLineEdit { border: 1px solid #d05050; }"
        ok = self.dates_valid()
        for e in (self.after, self.before):
            e.setStyleSheet("" if ok else bad)

    def _emit_if_valid(self, *_args: object) -> None:
        self._timer.stop()
        self._show_validity()
        state = (self.filters(), self.sort_order())
        if state != self._last:
            self._last = state
            self.changed.emit()
