"""A layout that lays its widgets out in a row and wraps them onto more rows when narrow.

Runs in: the UI thread (like every layout).

Qt has no flow layout among its widgets; this is the one from Qt's own "Flow Layout"
example, with one addition: a *stretch* marker (:meth:`FlowLayout.add_stretch`) after
which the rest of a row is pushed to the right edge while everything fits on one row
(the filter row's sort box and Reset button), and simply flows on when it does not.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QSizePolicy, QStyle, QWidget


class FlowLayout(QLayout):
    """Left to right, top to bottom; ``heightForWidth`` tells the parent how tall it gets."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._stretch_at: int | None = None  # index of the first right-aligned item
        self.setSpacing(spacing)

    # -- QLayout's interface ---------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802
        self._items.append(item)

    def add_stretch(self) -> None:
        """Items added after this sit at the right edge while the row has room."""
        self._stretch_at = len(self._items)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        if 0 <= index < len(self._items):
            if self._stretch_at is not None and index < self._stretch_at:
                self._stretch_at -= 1
            return self._items.pop(index)
        return None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._do_layout(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._do_layout(rect, apply=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        """One row holding everything (what the layout asks for when it has room)."""
        m = self.contentsMargins()
        visible = [it for it in self._items if not it.isEmpty()]
        w = sum(it.sizeHint().width() for it in visible) + self._gap() * max(0, len(visible) - 1)
        h = max((it.sizeHint().height() for it in visible), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest single item: anything wider wraps onto another row."""
        size = QSize()
        for it in self._items:
            size = size.expandedTo(it.minimumSize())
        m: QMargins = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    # -- the layout itself -----------------------------------------------------------

    def _gap(self) -> int:
        if self.spacing() >= 0:
            return self.spacing()
        parent = self.parentWidget()
        return parent.style().pixelMetric(QStyle.PixelMetric.PM_LayoutHorizontalSpacing) \
            if parent else 6

    def _rows(self, width: int) -> list[list[QLayoutItem]]:
        rows: list[list[QLayoutItem]] = [[]]
        used = 0
        for it in self._items:
            if it.isEmpty():
                continue
            w = it.sizeHint().width()
            if rows[-1] and used + self._gap() + w > width:
                rows.append([])
                used = 0
            used += (self._gap() if rows[-1] else 0) + w
            rows[-1].append(it)
        return rows

    def _do_layout(self, rect: QRect, *, apply: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        rows = self._rows(area.width())
        tail = set(self._items[self._stretch_at:]) if self._stretch_at is not None else set()
        y = area.y()
        for row in rows:
            height = max(it.sizeHint().height() for it in row) if row else 0
            if apply:
                self._place_row(row, tail if len(rows) == 1 else set(), area, y, height)
            y += height + self._gap()
        return y - self._gap() - rect.y() + m.bottom() if rows and rows[0] else 0

    def _place_row(self, row: list[QLayoutItem], tail: set[QLayoutItem], area: QRect, y: int,
                   height: int) -> None:
        total = sum(it.sizeHint().width() for it in row) + self._gap() * max(0, len(row) - 1)
        push = max(0, area.width() - total)  # the stretch's share, given to the tail
        x = area.x()
        for it in row:
            if it in tail:
                x += push
                push = 0
            hint = it.sizeHint()
            dy = (height - hint.height()) // 2
            it.setGeometry(QRect(QPoint(x, y + dy), hint))
            x += hint.width() + self._gap()


def fixed(widget: QWidget) -> QWidget:
    """A widget that keeps its size hint (what a flow layout gives every item)."""
    widget.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    return widget
