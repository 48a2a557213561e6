"""The preview: one photo fitted to the window, with its details beside it.

Runs in: the UI thread.  The photo is decoded by a
:class:`~clipgallery.app.image_loader.PreviewLoader` thread; until it arrives the
grid's thumbnail is shown scaled up, so arrow-key browsing never waits.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeyEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from clipgallery.app import formatting
from clipgallery.app.image_loader import ImageKey, PreviewLoader
from clipgallery.app.items import ResultItem


class ImageCanvas(QWidget):
    """Paints a pixmap scaled to fit, centred, on a dark background."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewCanvas")
        self.pixmap: QPixmap | None = None
        self.note = ""
        # The matched text's box (0..1 of the photo), outlined over it; and where it was
        # last painted, in widget pixels (tests read it).
        self.highlight: tuple[float, float, float, float] | None = None
        self.highlight_rect: QRect | None = None
        self.image_rect: QRect | None = None  # where the photo was last painted
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)

    def set_pixmap(self, pm: QPixmap | None, note: str = "") -> None:
        self.pixmap = pm
        self.note = note
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1e1f22"))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect().adjusted(16, 16, -16, -16)
        if self.pixmap is not None and not self.pixmap.isNull():
            size = self.pixmap.deviceIndependentSize().toSize()
            if size.width() > area.width() or size.height() > area.height() or self.note:
                size.scale(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(area.center())
            p.drawPixmap(target, self.pixmap)
            self._paint_highlight(p, target)
        if self.note:
            p.setPen(QColor("#d0d0d0"))
            p.drawText(self.rect().adjusted(0, 0, 0, -12),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, self.note)
        p.end()


    def _paint_highlight(self, p: QPainter, target: QRect) -> None:
        self.highlight_rect = None
        self.image_rect = target
        if self.highlight is None:
            return
        x0, y0, x1, y1 = self.highlight
        pad = 4
        r = QRect(round(target.x() + x0 * target.width()) - pad,
                  round(target.y() + y0 * target.height()) - pad,
                  round((x1 - x0) * target.width()) + 2 * pad,
                  round((y1 - y0) * target.height()) + 2 * pad)
        pen = QPen(QColor("#ffcc33"))
        pen.setWidth(3)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(r, 4, 4)
        self.highlight_rect = r


class PreviewPage(QWidget):
    """The preview page of the main window's central stack."""

    close_requested = Signal()
    step_requested = Signal(int)  # -1 previous, +1 next

    def __init__(self, loader: PreviewLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewPage")
        self.loader = loader
        self.item: ResultItem | None = None
        self.key: ImageKey | None = None
        self.full_loaded = False
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._build_bar())
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        self.canvas = ImageCanvas()
        body.addWidget(self.canvas, 1)
        body.addWidget(self._build_info())
        outer.addLayout(body, 1)

    def _build_bar(self) -> QFrame:
        """The bar above the photo: back, the file name, its position, previous / next."""
        bar = QFrame()
        bar.setObjectName("previewBar")
        bl = QHBoxLayout(bar)
        bl.setContentsMargins(8, 4, 8, 4)
        self.back = QToolButton()
        self.back.setText("‹ Back to Results")
        self.back.setToolTip("Close the preview (Esc)")
        self.back.setAutoRaise(True)
        self.back.clicked.connect(self.close_requested)
        self.title = QLabel()
        self.title.setObjectName("previewTitle")
        self.position = QLabel()
        self.position.setObjectName("previewPosition")
        self.prev_button = QToolButton()
        self.prev_button.setText("◀")
        self.prev_button.setToolTip("Previous photo (Left arrow)")
        self.prev_button.setAutoRaise(True)
        self.prev_button.clicked.connect(lambda: self.step_requested.emit(-1))
        self.next_button = QToolButton()
        self.next_button.setText("▶")
        self.next_button.setToolTip("Next photo (Right arrow)")
        self.next_button.setAutoRaise(True)
        self.next_button.clicked.connect(lambda: self.step_requested.emit(1))
        for w in (self.back, self.prev_button, self.next_button):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bl.addWidget(self.back)
        bl.addSpacing(12)
        bl.addWidget(self.title, 1)
        bl.addWidget(self.position)
        bl.addSpacing(8)
        bl.addWidget(self.prev_button)
        bl.addWidget(self.next_button)
        return bar

    def _build_info(self) -> QFrame:
        """The details beside the photo: one titled row per field."""
        info = QFrame()
        info.setObjectName("previewInfo")
        info.setFixedWidth(270)
        form = self.form = QFormLayout(info)
        form.setContentsMargins(16, 16, 16, 16)
        form.setVerticalSpacing(10)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.fields: dict[str, QLabel] = {}
        for name in ("Taken", "Place", "Text", "Camera", "Dimensions", "File size", "Match",
                     "Path"):
            value = QLabel("–")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName("previewValue")
            label = QLabel(name.upper())
            label.setObjectName("previewLabel")
            form.addRow(label, value)
            self.fields[name] = value
        form.setRowVisible(self.fields["Place"], False)  # shown for photos with a place
        form.setRowVisible(self.fields["Text"], False)  # shown when the query asked for text
        return info

    def insert_field(self, row: int, title: str, value: QLabel) -> None:
        """Add a detail row (e.g. the photo's labels) at ``row`` of the details."""
        label = QLabel(title.upper())
        label.setObjectName("previewLabel")
        self.form.insertRow(row, label, value)

    # -- showing a photo --------------------------------------------------------------

    def show_item(self, item: ResultItem, row: int, total: int,
                  thumbnail: QPixmap | None) -> None:
        self.item = item
        p = item.photo
        self.title.setText(formatting.file_name(p.path))
        self.position.setText(f"{row + 1:,} of {total:,}")
        self.prev_button.setEnabled(row > 0)
        self.next_button.setEnabled(row < total - 1)
        self.fields["Taken"].setText(formatting.taken(p.taken_at))
        self.fields["Place"].setText(p.place or "–")
        # Only photos with GPS have the row (the panel must fit 800×500 without it).
        self.form.setRowVisible(self.fields["Place"], p.place is not None)
        self.fields["Text"].setText(f"“{item.text}”" if item.text else "–")
        self.form.setRowVisible(self.fields["Text"], item.text is not None)
        self.canvas.highlight = item.text_box
        self.fields["Camera"].setText(formatting.camera(p.camera_make, p.camera_model))
        self.fields["Dimensions"].setText(formatting.pixels(p.width, p.height))
        self.fields["File size"].setText(formatting.file_size(p.size))
        self.fields["Match"].setText("–" if item.score is None else f"{item.score:.3f}")
        self.fields["Path"].setText(formatting.display_path(p.path))
        self.fields["Path"].setToolTip(os.fsdecode(p.path))
        screen = QGuiApplication.primaryScreen()
        side = 2048
        if screen is not None:
            g = screen.size() * screen.devicePixelRatio()
            side = max(1024, min(4096, max(g.width(), g.height())))
        self.key = ImageKey(p.path, p.mtime_ns, p.size, side)
        self.full_loaded = False
        self.canvas.set_pixmap(thumbnail, "Loading…")
        self.loader.clear()
        self.loader.request(self.key)

    def _on_loaded(self, key: ImageKey, image: QImage) -> None:
        if key != self.key:
            return
        pm = QPixmap.fromImage(image)
        pm.setDevicePixelRatio(self.devicePixelRatioF())
        self.full_loaded = True
        self.canvas.set_pixmap(pm)

    def _on_failed(self, key: ImageKey, reason: str) -> None:
        if key != self.key:
            return
        self.full_loaded = True
        self.canvas.set_pixmap(self.canvas.pixmap, f"Cannot show this photo: {reason}")

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(900, 600)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key.Key_Escape, Qt.Key.Key_Space, Qt.Key.Key_Backspace):
            self.close_requested.emit()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.step_requested.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.step_requested.emit(1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
