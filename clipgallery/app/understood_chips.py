"""What the search understood in the typed query, as removable labels: "taken in July
2023 ×", "in Lisbon ×" (see :mod:`clipgallery.core.search.understand`).

Clicking a label emits :attr:`UnderstoodChips.removed` with the query words it came from;
the window takes them out of the search field (:func:`without_words`) and searches again.
The row is never hidden (inside a toolbar a hidden widget's action is disabled); without
labels it is empty and takes no room.
GUI thread only.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

__all__ = ["UnderstoodChips", "without_words"]


def without_words(query: str, words: str) -> str:
    """``query`` without the first whole-word occurrence of ``words`` (any case)."""
    if not words:
        return query
    rx = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words.split())) + r"(?!\w)", re.I)
    return " ".join(rx.sub(" ", query, count=1).split())


class UnderstoodChips(QWidget):
    """A row of buttons, one per understood item (``{"label", "text", ...}`` dicts)."""

    removed = Signal(str)  # the query words of the label clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("understoodChips")
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(6, 0, 0, 0)
        self._row.setSpacing(4)
        self.chips: list[QToolButton] = []  # none: the row takes no room

    def show_items(self, items: list[dict[str, str]]) -> None:
        for b in self.chips:
            self._row.removeWidget(b)
            b.deleteLater()
        self.chips = []
        for item in items:
            b = QToolButton(self)
            b.setObjectName("understoodChip")
            b.setText(f"{item['label']} ×")
            b.setToolTip(f"Understood from “{item['text']}”; click to search without it")
            b.setAutoRaise(True)
            b.clicked.connect(lambda _c=False, words=item["text"]: self.removed.emit(words))
            self._row.addWidget(b)
            self.chips.append(b)
