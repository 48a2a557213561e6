"""Search that photographers trust: filters, "show more", stacks, labels, smart albums
and good / bad marks.

Runs in: the UI thread.  :class:`SearchFeatures` makes its widgets (a filter row and its
button, header buttons, the albums list, photo actions, an "In this photo" value for the
preview), which the window places in its own layouts, and owns the
:class:`~clipgallery.app.library_tasks.LibraryTasks` thread (labels, albums).  It hears
the library's news through the window's :class:`~clipgallery.app.state.AppState` and
talks to the window through the small :class:`SearchHost` protocol only.  The window
asks it to build queries (:meth:`SearchFeatures.compose`) and to lay out each answer
before it is shown (:meth:`SearchFeatures.present`: the hidden tail and expanded stacks).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence, QMouseEvent
from PySide6.QtWidgets import QInputDialog, QLabel, QToolButton

from clipgallery.app.albums_sidebar import AlbumsSidebar
from clipgallery.app.filter_bar import FilterBar
from clipgallery.app.items import Query, ResultItem, ResultSet
from clipgallery.app.library_tasks import LibraryTasks

if TYPE_CHECKING:
    from clipgallery.app.results_model import ResultsModel
    from clipgallery.app.results_view import ResultsView
    from clipgallery.app.state import AppState
    from clipgallery.core.store.catalog import Photo


class SearchHost(Protocol):
    """What :class:`SearchFeatures` needs of its window (and nothing more)."""

    state: AppState
    interactive: bool  # False: no dialogs (screenshots)
    grid: ResultsView
    results: ResultsModel

    def set_query(self, query: Query) -> None: ...

    def search_now(self) -> None: ...

    def show_message(self, message: str) -> None: ...

    def target_photos(self) -> list[Photo]:
        """The previewed photo, else the selected ones."""
        ...

    def previewed_photo_id(self) -> int | None: ...

    def clear_search_text(self) -> None:
        """Empty the search bar without searching."""
        ...

    def refresh_results_view(self) -> None:
        """The rows changed (not the query): update the header and the page."""
        ...


class SearchFeatures(QObject):
    """The search tools of one main window."""

    def __init__(self, host: SearchHost, catalog_path: Path, cache_dir: Path | None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.state = host.state
        self.tasks = LibraryTasks(catalog_path, cache_dir, self)
        self.labels: dict[int, list[tuple[str, float]]] = {}
        self.albums: list[object] = []
        self._raw: ResultSet | None = None  # the latest answer, as the search thread sent it
        self._show_all: Query | None = None  # the query whose hidden tail is shown
        self._expanded: tuple[Query | None, set[int]] = (None, set())  # stacks opened

        self._build_filters()
        self._build_header()
        self._build_albums()
        self._build_actions()
        self._build_preview()

        self.state.observe(self._on_state)
        self.tasks.labels_ready.connect(self._on_labels)
        self.tasks.labels_failed.connect(self._on_labels_failed)
        self.tasks.albums_changed.connect(self._on_albums)
        self.tasks.album_saved.connect(self._on_album_saved)
        self.tasks.album_failed.connect(host.show_message)

    # -- building (the window places these widgets) --------------------------------------

    def _build_filters(self) -> None:
        self.filter_bar = FilterBar()
        self.filter_bar.setVisible(False)
        self.filter_bar.changed.connect(self._on_filters_changed)
        self.filter_button = QToolButton()
        self.filter_button.setObjectName("filterButton")
        self.filter_button.setText("Filters")
        self.filter_button.setCheckable(True)
        self.filter_button.setAutoRaise(True)
        self.filter_button.setToolTip("Restrict the search to a folder, dates, a camera, a "
                                      "file type or an orientation; sort by date")
        self.filter_button.toggled.connect(self.filter_bar.setVisible)

    def _build_header(self) -> None:
        self.more_button = QToolButton()
        self.more_button.setObjectName("showMoreButton")
        self.more_button.setAutoRaise(True)
        self.more_button.setToolTip("Show the weaker matches below the cut-off too")
        self.more_button.clicked.connect(self.show_more)
        self.more_button.setVisible(False)
        self.marks_button = QToolButton()
        self.marks_button.setObjectName("marksButton")
        self.marks_button.setAutoRaise(True)
        self.marks_button.setToolTip("Forget the photos marked good or bad")
        self.marks_button.clicked.connect(self.clear_marks)
        self.marks_button.setVisible(False)
        self.save_button = QToolButton()
        self.save_button.setObjectName("saveAlbumButton")
        self.save_button.setText("Save as Album…")
        self.save_button.setAutoRaise(True)
        self.save_button.setToolTip("Keep this search (with its filters) as a smart album "
                                    "that updates as photos are added")
        self.save_button.clicked.connect(lambda: self.save_album())
        self.save_button.setVisible(False)
        self.header_buttons = (self.more_button, self.marks_button, self.save_button)
        self.host.results.modelReset.connect(self._update_header)

    def _build_albums(self) -> None:
        self.albums_list = AlbumsSidebar()
        self.albums_list.album_clicked.connect(self.open_album)
        self.albums_list.remove_requested.connect(self.tasks.request_remove_album)
        self.albums_list.duplicates_clicked.connect(self.show_duplicates)

    def _build_actions(self) -> None:
        """The photo actions (the window adds them to its grid and context menu)."""
        host = self.host
        self.act_good = self._action("Mark as Good Match", "G", lambda: self.mark(True),
                                     "More like this: refine the search (G)")
        self.act_bad = self._action("Mark as Bad Match", "B", lambda: self.mark(False),
                                    "Less like this: drop it and refine the search (B)")
        self.act_expand = self._action("Expand Stack", "E", self.toggle_stack,
                                       "Show every photo of a stack of near-identical ones (E)")
        self.photo_actions = [self.act_good, self.act_bad, self.act_expand]
        host.grid.selectionModel().selectionChanged.connect(self._update_actions)
        host.results.modelReset.connect(self._update_actions)
        self._update_actions()

    def _action(self, text: str, key: str, slot, tip: str) -> QAction:
        a = QAction(text, self)
        a.setShortcut(QKeySequence(key))
        a.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # while the grid has focus
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.triggered.connect(lambda _checked=False: slot())
        return a

    def _build_preview(self) -> None:
        self.labels_value = QLabel("–")
        self.labels_value.setObjectName("previewValue")
        self.labels_value.setWordWrap(True)
        self.labels_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def shutdown(self) -> None:
        self.tasks.stop()

    # -- queries -----------------------------------------------------------------------

    def compose(self, text: str) -> Query:
        """The query for the search bar's text with the chosen filters and sort."""
        base = Query.for_text(text)
        filters, sort = self.filter_bar.filters(), self.filter_bar.sort_order()
        if base.kind == Query.BROWSE:
            if not filters:
                return base  # browsing is newest first already
            base = Query(Query.TEXT, "")
        return dataclasses.replace(base, filters=filters, sort=sort)

    def with_filters(self, query: Query) -> Query:
        """``query`` with the chosen filters and sort (e.g. "Find Similar" in a folder)."""
        return dataclasses.replace(query, filters=self.filter_bar.filters(),
                                   sort=self.filter_bar.sort_order())

    def _on_filters_changed(self) -> None:
        n = self.filter_bar.active_count()
        self.filter_button.setText(f"Filters ({n})" if n else "Filters")
        q = self.state.query
        if q.kind == Query.ALBUM:  # the album's own filters gave way to these
            self.albums_list.select(None)
        if q.kind in (Query.IMAGE, Query.SIMILAR):  # keep searching by the photo
            self.host.set_query(dataclasses.replace(q, filters=self.filter_bar.filters(),
                                                    sort=self.filter_bar.sort_order()))
        else:
            self.host.search_now()

    def reset_filters(self) -> None:
        self.filter_bar.set_state({}, "relevance")
        self.filter_button.setText("Filters")
        self.albums_list.select(None)

    # -- answers -----------------------------------------------------------------------

    def present(self, rs: ResultSet) -> ResultSet:
        """An answer as the grid shows it: the tail if asked for, open stacks opened."""
        self._raw = rs
        if self._show_all is not None and self._show_all != rs.query:
            self._show_all = None
        if self._expanded[0] != rs.query:
            self._expanded = (rs.query, set())
        items = list(rs.items)
        more = list(rs.more)
        if self._show_all is not None:
            items, more = items + more, []
        opened = self._expanded[1]
        if opened:
            out: list[ResultItem] = []
            for it in items:
                if it.stack and it.photo.id in opened:
                    out += [dataclasses.replace(m, best=it.best) for m in it.stack]
                else:
                    out.append(it)
            items = out
        if items == list(rs.items):
            return dataclasses.replace(rs, items=items, more=more)
        # Other rows than the search thread's: the model maps paths to rows itself.
        return dataclasses.replace(rs, items=items, more=more, rows_by_path=None)

    def _reshow(self) -> None:
        if self._raw is None:
            return
        grid, results = self.host.grid, self.host.results
        scroll = grid.verticalScrollBar().value()
        current = grid.current_row()
        results.set_results(self.present(self._raw))
        if 0 <= current < results.rowCount():
            grid.setCurrentIndex(results.index(current))
        grid.doItemsLayout()
        grid.verticalScrollBar().setValue(scroll)
        self.host.refresh_results_view()

    def show_more(self) -> None:
        """Show the matches below this query's cut-off too."""
        if self._raw is not None and self._raw.more:
            self._show_all = self._raw.query
            self._reshow()

    def hidden_count(self) -> int:
        rs = self.host.results.result_set
        return len(rs.more) if rs is not None else 0

    def _update_header(self) -> None:
        rs = self.host.results.result_set
        q = self.host.results.query
        more = len(rs.more) if rs is not None else 0
        self.more_button.setText(f"Show {more:,} more")
        self.more_button.setVisible(more > 0)
        marks = []
        if q.good:
            marks.append(f"{len(q.good)} good")
        if q.bad:
            marks.append(f"{len(q.bad)} bad")
        self.marks_button.setText(" · ".join(marks) + "  ✕")
        self.marks_button.setVisible(bool(marks))
        self.save_button.setVisible(q.kind in (Query.TEXT, Query.IMAGE, Query.SIMILAR))

    # -- stacks ------------------------------------------------------------------------

    def toggle_stack(self, row: int | None = None) -> None:
        """Open the stack at ``row`` (the current row) into its photos, or close it."""
        grid, results = self.host.grid, self.host.results
        row = grid.current_row() if row is None else row
        item = results.item(row)
        if item is None or self._raw is None:
            return
        opened = self._expanded[1]
        if item.stack:
            opened.add(item.photo.id)
        else:  # a member of an open stack: close it
            rep = next((it for it in self._raw.items + self._raw.more
                        if it.stack and it.photo.id in opened
                        and any(m.photo.id == item.photo.id for m in it.stack)), None)
            if rep is None:
                return
            opened.discard(rep.photo.id)
        self._expanded = (self._raw.query, opened)
        self._reshow()

    def badge_rect(self, row: int) -> QRect:
        """Where the count badge of the stack at ``row`` is painted (viewport pixels)."""
        grid, results = self.host.grid, self.host.results
        item = results.item(row)
        if item is None or not item.stack:
            return QRect()
        size = QSize(item.photo.width or 0, item.photo.height or 0)
        return grid.delegate.badge_rect(grid.visualRect(results.index(row)), item.count, size)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        # On the grid's viewport (the window installs it): a click on a stack's count
        # badge opens the stack.
        if event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent) \
                and event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            ix = self.host.grid.indexAt(pos)
            item = self.host.results.item(ix.row()) if ix.isValid() else None
            if item is not None and item.stack and self.badge_rect(ix.row()).contains(pos):
                self.toggle_stack(ix.row())
                return True
        return super().eventFilter(obj, event)

    # -- good / bad marks --------------------------------------------------------------

    def mark(self, good: bool, photo_ids: list[int] | None = None) -> None:
        """Mark photos (the selected ones) as good or bad matches and search again."""
        ids = photo_ids if photo_ids is not None else [p.id for p in self.host.target_photos()]
        if not ids:
            return
        q = self.state.query
        if q.kind == Query.BROWSE:
            q = Query(Query.TEXT, "")
        g = [i for i in q.good if i not in ids]
        b = [i for i in q.bad if i not in ids]
        (g if good else b).extend(i for i in ids if i not in (g if good else b))
        self.host.set_query(dataclasses.replace(q, good=tuple(g), bad=tuple(b)))

    def clear_marks(self) -> None:
        q = dataclasses.replace(self.state.query, good=(), bad=())
        if q.kind == Query.TEXT and not q.text and not q.filters:
            q = Query.browse()
        self.host.set_query(q)

    def _update_actions(self, *_args: object) -> None:
        rows = self.host.grid.selected_rows()
        ready = self.state.model == "ready"
        self.act_good.setEnabled(bool(rows) and ready)
        self.act_bad.setEnabled(bool(rows) and ready)
        item = self.host.results.item(rows[0]) if rows else None
        stacked = item is not None and (bool(item.stack) or self._in_open_stack(item))
        self.act_expand.setEnabled(stacked)
        self.act_expand.setText("Collapse Stack" if stacked and item is not None
                                and not item.stack else "Expand Stack")

    def _in_open_stack(self, item: ResultItem) -> bool:
        return self._raw is not None and any(
            it.stack and it.photo.id in self._expanded[1]
            and any(m.photo.id == item.photo.id for m in it.stack)
            for it in self._raw.items + self._raw.more)

    # -- labels ------------------------------------------------------------------------

    def on_preview(self, item: ResultItem) -> None:
        pid = item.photo.id
        if pid in self.labels:
            self._show_labels(self.labels[pid])
            return
        self.labels_value.setText("Looking…")
        self.tasks.request_labels(pid)

    def _on_labels(self, photo_id: int, labels: list[tuple[str, float]]) -> None:
        self.labels[photo_id] = labels
        if self.host.previewed_photo_id() == photo_id:
            self._show_labels(labels)

    def _on_labels_failed(self, photo_id: int, message: str) -> None:
        if self.host.previewed_photo_id() == photo_id:
            self.labels_value.setText(message)

    def _show_labels(self, labels: list[tuple[str, float]]) -> None:
        self.labels_value.setText("\n".join(f"{lab}  {p:.0%}" for lab, p in labels) or "–")

    def shown_labels(self) -> list[str]:
        """The labels the preview shows now (for tests)."""
        text = self.labels_value.text()
        return [line.rsplit("  ", 1)[0] for line in text.splitlines() if "  " in line]

    # -- albums ------------------------------------------------------------------------

    def _on_state(self, changed: frozenset[str]) -> None:
        st = self.state
        if "library" in changed and st.library == "open":
            if not self.tasks.isRunning():
                self.tasks.start()
            self.tasks.request_albums()
        if "engine" in changed and st.engine is not None:
            self.tasks.set_engine(*st.engine)
        if "model" in changed:
            self._update_actions()
        if "folders" in changed and st.folders is not None:
            self.filter_bar.set_folders([i.path for i in st.folders])

    def _on_albums(self, albums: list[object]) -> None:
        self.albums = list(albums)
        self.albums_list.set_albums(self.albums)
        q = self.state.query
        if q.kind == Query.ALBUM:
            self.albums_list.select(q.text)

    def _on_album_saved(self, name: str) -> None:
        self.host.show_message(f"Saved the album “{name}”. It updates as photos are added.")

    def save_album(self, name: str | None = None) -> None:
        """Save the current search (with its filters, sort and marks) as a smart album."""
        q = self.state.query
        if q.kind not in (Query.TEXT, Query.IMAGE, Query.SIMILAR):
            return
        if name is None:
            if not self.host.interactive:
                return
            suggestion = q.text or (os.fsdecode(q.path.stem) if q.path else "")
            name, ok = QInputDialog.getText(self.save_button.window(), "Save as Album", "Album name:", text=suggestion)
            if not ok or not name.strip():
                return
        image: str | int | None = None
        if q.kind == Query.SIMILAR and q.photo_id is not None:
            image = q.photo_id
        elif q.path is not None:
            image = os.fsdecode(q.path)
        self.tasks.request_save_album(name.strip(), q.text, dict(q.filters), q.sort,
                                      q.good, q.bad, image)

    def show_duplicates(self) -> None:
        """Near-identical photos of the library (of the chosen folder), grouped."""
        self.host.clear_search_text()
        folder = dict(self.filter_bar.filters()).get("folder")
        self.albums_list.select(None)
        self.host.set_query(dataclasses.replace(Query.duplicates(),
                                        filters=(("folder", folder),) if folder else ()))

    def open_album(self, name: str) -> None:
        """Show a smart album (its search runs again now)."""
        self.host.clear_search_text()
        self.reset_filters()
        self.albums_list.select(name)
        self.host.set_query(Query.album(name))
