"""A slim progress bar for the status bar (UI thread).

QProgressBar.setValue() repaints synchronously, which flushes every pending paint of
the window (the whole thumbnail grid) at once; this one only schedules an update.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class ProgressStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = 0
        self._maximum = 0  # 0: busy, no known total
        self._phase = 0.0
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(160, 10)

    def set_range(self, maximum: int) -> None:
        self._maximum = max(0, maximum)
        self.update()

    def set_value(self, value: int) -> None:
        if value != self._value:
            self._value = value
            self.update()

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._maximum

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        radius = r.height() / 2
        p.setPen(QColor("#c5c9d0"))
        p.setBrush(QColor("#ffffff"))
        p.drawRoundedRect(r, radius, radius)
        p.setPen(QColor(0, 0, 0, 0))
        p.setBrush(QColor("#2f6fd0"))
        inner = r.adjusted(1.5, 1.5, -1.5, -1.5)
        if self._maximum > 0:
            frac = min(1.0, max(0.0, self._value / self._maximum))
            if frac > 0:
                inner.setWidth(max(inner.height(), inner.width() * frac))
                p.drawRoundedRect(inner, inner.height() / 2, inner.height() / 2)
        else:  # busy: a third of the bar
            inner.setWidth(inner.width() / 3)
            p.drawRoundedRect(inner, inner.height() / 2, inner.height() / 2)
        p.end()
