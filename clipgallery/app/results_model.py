"""The grid's model: search results, with thumbnails fetched only for painted rows.

Runs in: the UI thread.  ``data(DecorationRole)`` is asked only for rows the view
paints, so that is where a thumbnail is requested from the (LIFO, off-thread)
:class:`~clipgallery.app.image_loader.ThumbnailLoader`; until it arrives the row shows
a placeholder.  Loaded QImages become QPixmaps here, in a bounded LRU cache.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

from clipgallery.app import formatting
from clipgallery.app.image_loader import ImageKey, ThumbnailLoader
from clipgallery.app.items import Query, ResultItem, ResultSet, rows_by_path

PhotoRole = Qt.ItemDataRole.UserRole + 1  # the catalog Photo
ScoreRole = Qt.ItemDataRole.UserRole + 2  # float | None
StateRole = Qt.ItemDataRole.UserRole + 3  # "loading" | "ready" | "failed"

_Index = QModelIndex | QPersistentModelIndex

PIXMAP_CACHE = 600  # thumbnails kept as pixmaps (a few screens' worth)


class ResultsModel(QAbstractListModel):
    """Rows of :class:`ResultItem`, best match first."""

    thumbnail_arrived = Signal()

    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.query: Query = Query.browse()
        self.result_set: ResultSet | None = None
        self._items: list[ResultItem] = []
        self._rows_by_path: dict[Path, list[int]] = {}
        self._pixmaps: OrderedDict[ImageKey, QPixmap] = OrderedDict()
        self._failed: dict[ImageKey, str] = {}
        self._pixels = 160
        self._dpr = 1.0
        self._placeholder: QPixmap | None = None
        self._broken: QPixmap | None = None
        self.requests = 0  # thumbnail requests made (tests check laziness)
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)

    # -- contents -----------------------------------------------------------------

    def set_results(self, results: ResultSet) -> None:
        """Replace the rows (stale thumbnail requests are dropped)."""
        self.beginResetModel()
        self.result_set = results
        self.query = results.query
        self._items = list(results.items)
        self._rows_by_path = (results.rows_by_path if results.rows_by_path is not None
                              else rows_by_path(self._items))
        self.endResetModel()
        self.loader.clear()

    def clear(self) -> None:
        self.set_results(ResultSet(Query.browse()))

    def item(self, row: int) -> ResultItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[ResultItem]:
        return list(self._items)

    def row_of_photo(self, photo_id: int) -> int | None:
        for row, it in enumerate(self._items):
            if it.photo.id == photo_id:
                return row
        return None

    # -- thumbnails ---------------------------------------------------------------

    @property
    def thumbnail_pixels(self) -> int:
        return self._pixels

    def set_thumbnail_size(self, pixels: int, device_pixel_ratio: float = 1.0) -> None:
        if pixels == self._pixels and device_pixel_ratio == self._dpr:
            return
        self._pixels = pixels
        self._dpr = device_pixel_ratio
        self._pixmaps.clear()
        self._failed.clear()
        self._placeholder = None
        self._broken = None
        self.loader.clear()
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1),
                                  [Qt.ItemDataRole.DecorationRole])

    def key_for(self, item: ResultItem) -> ImageKey:
        p = item.photo
        return ImageKey(p.path, p.mtime_ns, p.size, int(round(self._pixels * self._dpr)))

    def thumbnail_state(self, row: int) -> str:
        item = self.item(row)
        if item is None:
            return "failed"
        key = self.key_for(item)
        if key in self._pixmaps:
            return "ready"
        if key in self._failed:
            return "failed"
        return "loading"

    def cached_pixmap(self, row: int) -> QPixmap | None:
        item = self.item(row)
        return None if item is None else self._pixmaps.get(self.key_for(item))

    def keys_for_rows(self, rows: range) -> list[ImageKey]:
        return [self.key_for(self._items[r]) for r in rows if 0 <= r < len(self._items)]

    def _on_loaded(self, key: ImageKey, image: QImage) -> None:
        if key.pixels != int(round(self._pixels * self._dpr)):
            return  # asked for at another size
        rows = self._rows_for_key(key)
        if not rows:
            return  # results changed meanwhile
        pm = QPixmap.fromImage(image)
        pm.setDevicePixelRatio(self._dpr)
        self._pixmaps[key] = pm
        while len(self._pixmaps) > PIXMAP_CACHE:
            self._pixmaps.popitem(last=False)
        for row in rows:
            ix = self.index(row)
            self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])
        self.thumbnail_arrived.emit()

    def _on_failed(self, key: ImageKey, reason: str) -> None:
        rows = self._rows_for_key(key)
        if not rows:
            return
        self._failed[key] = reason
        for row in rows:
            ix = self.index(row)
            self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])
        self.thumbnail_arrived.emit()

    def _rows_for_key(self, key: ImageKey) -> list[int]:
        return [r for r in self._rows_by_path.get(key.path, [])
                if self._items[r].photo.mtime_ns == key.mtime_ns
                and self._items[r].photo.size == key.size]

    def _make_placeholder(self, broken: bool) -> QPixmap:
        side = max(8, int(self._pixels * 0.75 * self._dpr))
        pm = QPixmap(side, side)
        pm.setDevicePixelRatio(self._dpr)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#e4e6ea") if not broken else QColor("#f3e3e3"))
        s = side / self._dpr
        p.drawRoundedRect(0, 0, s, s, 6, 6)
        if broken:
            p.setPen(QColor("#b05050"))
            f = p.font()
            f.setPointSizeF(max(7.0, s / 12))
            p.setFont(f)
            p.drawText(pm.rect().adjusted(0, 0, 0, 0), Qt.AlignmentFlag.AlignCenter,
                       "Cannot\nshow")
        p.end()
        return pm

    # -- Qt model API -------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            key = self.key_for(item)
            pm = self._pixmaps.get(key)
            if pm is not None:
                self._pixmaps.move_to_end(key)
                return pm
            if key in self._failed:
                if self._broken is None:
                    self._broken = self._make_placeholder(broken=True)
                return self._broken
            self.requests += 1
            self.loader.request(key)
            if self._placeholder is None:
                self._placeholder = self._make_placeholder(broken=False)
            return self._placeholder
        if role == Qt.ItemDataRole.DisplayRole:
            return formatting.file_name(item.photo.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            p = item.photo
            lines = [formatting.display_path(p.path)]
            if p.width and p.height:
                lines.append(f"{p.width} × {p.height}, {formatting.file_size(p.size)}")
            if p.taken_at:
                lines.append(f"Taken {formatting.taken(p.taken_at)}")
            if item.score is not None:
                lines.append(f"Match {item.score:.3f}")
            return "\n".join(lines)
        if role == PhotoRole:
            return item.photo
        if role == ScoreRole:
            return item.score
        if role == StateRole:
            return self.thumbnail_state(index.row())
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        """The photos as files, for dragging into other apps."""
        mime = QMimeData()
        rows = sorted({ix.row() for ix in indexes if ix.isValid()})
        paths = [self._items[r].photo.path for r in rows if 0 <= r < len(self._items)]
        mime.setUrls([QUrl.fromLocalFile(os.fspath(p)) for p in paths])
        mime.setText("\n".join(os.fsdecode(p) for p in paths))
        return mime
