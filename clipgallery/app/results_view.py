"""The thumbnail grid: a QListView in icon mode with a painting delegate.

Runs in: the UI thread.  Uniform item sizes keep layout O(1) per row, so tens of
thousands of results scroll smoothly; only painted rows ask the model for a
thumbnail, and rows that scroll away have their pending requests dropped.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPalette, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from clipgallery.app.items import ResultItem
from clipgallery.app.results_model import ResultsModel, ScoreRole, StateRole

LABEL_LINES = 1
PADDING = 8


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a thumbnail, centred in its cell, with the file name under it."""

    def __init__(self, view: ResultsView) -> None:
        super().__init__(view)
        self.view = view
        self.show_scores = False

    def cell_size(self) -> QSize:
        side = self.view.thumbnail_size
        fm = self.view.fontMetrics()
        return QSize(side + 2 * PADDING, side + 2 * PADDING + fm.height() * LABEL_LINES + 4)

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size()

    def image_rect(self, cell: QRect, size: QSize | None) -> QRect:
        """Where a thumbnail of ``size`` (any scale; None: square) is drawn in a cell."""
        side = self.view.thumbnail_size
        box = QRect(cell.left() + PADDING, cell.top() + PADDING, side, side)
        if size is None or size.isEmpty():
            return box
        s = QSize(size)
        s.scale(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, s.width(), s.height())
        target.moveCenter(box.center())
        return target

    def badge_rect(self, cell: QRect, count: int, size: QSize | None = None) -> QRect:
        """Where a stack's count badge sits: the picture's top-right corner."""
        fm = self.view.fontMetrics()
        w = fm.horizontalAdvance(f"▣ {count}") + 12
        h = fm.height() + 4
        img = self.image_rect(cell, size)
        return QRect(img.right() - w - 4, img.top() + 4, w, h)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self._paint_cell(painter, option)
        side = self.view.thumbnail_size
        box = QRect(option.rect.left() + PADDING, option.rect.top() + PADDING, side, side)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        m0 = self.view.results_model()
        it0 = m0.item(index.row()) if m0 is not None else None
        stacked = it0 is not None and it0.count > 1
        if isinstance(pm, QPixmap) and not pm.isNull():
            if stacked:  # two cards peek out behind the picture
                self._paint_cards(painter, option.rect, pm)
            self._paint_picture(painter, box, pm, index.data(StateRole) == "ready")
        if stacked:  # a stack of near-identical photos: its count
            assert it0 is not None
            self._paint_badge(painter, option.rect, it0)
        self._paint_name(painter, option, index, box)
        painter.restore()

    def _paint_cell(self, painter: QPainter, option: QStyleOptionViewItem) -> None:
        """The cell's background: a frame when selected, a shade under the mouse."""
        rect: QRect = option.rect.adjusted(3, 3, -3, -3)
        if option.state & QStyle.StateFlag.State_Selected:
            hl = option.palette.color(QPalette.ColorRole.Highlight)
            fill = QColor(hl)
            fill.setAlpha(60)
            painter.setPen(QPen(hl, 2))
            painter.setBrush(fill)
            painter.drawRoundedRect(rect, 6, 6)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 18))
            painter.drawRoundedRect(rect, 6, 6)

    def _paint_cards(self, painter: QPainter, cell: QRect, pm: QPixmap) -> None:
        under = self.image_rect(cell, pm.deviceIndependentSize().toSize())
        painter.setPen(QPen(QColor(0, 0, 0, 60), 1))
        for k, shade in ((6, 215), (3, 235)):
            painter.setBrush(QColor(shade, shade, shade))
            painter.drawRect(under.translated(k, -k).adjusted(0, 0, -1, -1))

    @staticmethod
    def _paint_picture(painter: QPainter, box: QRect, pm: QPixmap, ready: bool) -> None:
        """The thumbnail fitted and centred in ``box``; a thin frame once it is loaded."""
        size = pm.deviceIndependentSize().toSize()
        size.scale(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(box.center())
        painter.drawPixmap(target, pm)
        if ready:
            painter.setPen(QPen(QColor(0, 0, 0, 28), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(0, 0, -1, -1))

    def _paint_badge(self, painter: QPainter, cell: QRect, item: ResultItem) -> None:
        size = QSize(item.photo.width or 0, item.photo.height or 0)
        badge = self.badge_rect(cell, item.count, size)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 24, 32, 210))
        painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, f"▣ {item.count}")

    def _paint_name(self, painter: QPainter, option: QStyleOptionViewItem,
                    index: QModelIndex | QPersistentModelIndex, box: QRect) -> None:
        """The file name under the picture (with the score when scores are shown)."""
        fm = option.fontMetrics
        text_rect = QRect(option.rect.left() + PADDING, box.bottom() + 4,
                          option.rect.width() - 2 * PADDING, fm.height())
        name = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        score = index.data(ScoreRole)
        if self.show_scores and score is not None:
            name = f"{score:.2f}  {name}"
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         fm.elidedText(name, Qt.TextElideMode.ElideMiddle, text_rect.width()))


class ResultsView(QListView):
    """The grid of results."""

    activated_row = Signal(int)  # Enter / Space / double-click: preview it
    context_menu_requested = Signal(object)  # global QPoint
    visible_rows_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnail_size = 160
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setWrapping(True)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        # Results can be dragged out as files; nothing is dropped *into* the grid
        # (drops of folders and images go to the window).
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(
            lambda pos: self.context_menu_requested.emit(self.viewport().mapToGlobal(pos)))
        self.doubleClicked.connect(lambda ix: self.activated_row.emit(ix.row()))
        self.delegate = ThumbnailDelegate(self)
        self.setItemDelegate(self.delegate)
        self._apply_grid()
        self._prune_timer = QTimer(self)
        self._prune_timer.setSingleShot(True)
        self._prune_timer.setInterval(120)
        self._prune_timer.timeout.connect(self._prune_requests)
        self.verticalScrollBar().valueChanged.connect(self._schedule_prune)

    def results_model(self) -> ResultsModel | None:
        m = self.model()
        return m if isinstance(m, ResultsModel) else None

    def set_thumbnail_size(self, side: int) -> None:
        self.thumbnail_size = side
        m = self.results_model()
        if m is not None:
            m.set_thumbnail_size(side, self.devicePixelRatioF())
        self._apply_grid()

    def _apply_grid(self) -> None:
        """Spread the columns over the whole width (no ragged gap on the right)."""
        cell = self.delegate.cell_size()
        avail = self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width()
        cols = max(1, avail // max(1, cell.width() + self.spacing()))
        width = max(cell.width(), avail // cols - self.spacing())
        size = QSize(width, cell.height())
        if size != self.gridSize():
            self.setGridSize(size)
        self.setIconSize(QSize(self.thumbnail_size, self.thumbnail_size))
        self.scheduleDelayedItemsLayout()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._apply_grid()

    def current_row(self) -> int:
        ix = self.currentIndex()
        return ix.row() if ix.isValid() else -1

    def selected_rows(self) -> list[int]:
        rows = sorted({ix.row() for ix in self.selectionModel().selectedIndexes()}) \
            if self.selectionModel() else []
        if not rows and self.current_row() >= 0:
            rows = [self.current_row()]
        return rows

    def visible_rows(self) -> range:
        """Rows whose cells intersect the viewport (a contiguous range in a grid)."""
        m = self.model()
        if m is None or m.rowCount() == 0:
            return range(0)
        vp = self.viewport().rect()
        first = self.indexAt(vp.topLeft() + self._inset())
        if not first.isValid():
            first = self.indexAt(vp.topLeft() + self._inset() * 3)
        start = first.row() if first.isValid() else 0
        cell = self.gridSize()
        cols = max(1, vp.width() // max(1, cell.width()))
        rows = vp.height() // max(1, cell.height()) + 2
        end = min(m.rowCount(), start + cols * rows)
        return range(start, end)

    def fully_visible_rows(self) -> list[int]:
        vp = self.viewport().rect()
        return [r for r in self.visible_rows()
                if vp.intersects(self.visualRect(self.model().index(r, 0)))]

    @staticmethod
    def _inset():  # a point a few pixels inside the top-left cell
        from PySide6.QtCore import QPoint

        return QPoint(PADDING, PADDING)

    def _schedule_prune(self) -> None:
        self._prune_timer.start()
        self.visible_rows_changed.emit()

    def _prune_requests(self) -> None:
        m = self.results_model()
        if m is not None:
            m.loader.retain(m.keys_for_rows(self.visible_rows()))
            self.viewport().update()  # re-request what is visible now

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) \
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            row = self.current_row()
            if row < 0 and self.model() is not None and self.model().rowCount():
                row = 0
                self.setCurrentIndex(self.model().index(0, 0))
            if row >= 0:
                self.activated_row.emit(row)
            event.accept()
            return
        super().keyPressEvent(event)
