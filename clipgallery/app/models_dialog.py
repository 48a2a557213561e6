"""The Models dialog, the download progress dialog and the import dialog.

Runs in: the UI thread.  Every slow step (listing what is installed, downloading,
checking and copying an imported file) runs in a :class:`~.model_jobs.ModelJob`
thread and comes back by signals; switching the library's model is asked of the
indexing worker (the ``use_requested`` signal; the window owns the dialog and asks), which re-encodes in the background while
search keeps the old vectors.  No dialog here blocks in ``exec()``: each is opened
with ``open()`` so the window (and the tests driving it) keep running.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clipgallery.app import model_jobs
from clipgallery.app.model_jobs import ModelJob, ModelsInfo
from clipgallery.core.store.paths import LibraryPaths


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def _error_box(parent: QWidget, title: str, text: str, name: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Close,
                      parent)
    box.setObjectName(name)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class DownloadDialog(QDialog):
    """Downloads one model with a progress bar, bytes, speed and Cancel."""

    done = Signal(str, object)  # outcome ("ok" | "failed" | "cancelled"), result or message

    def __init__(self, paths: LibraryPaths, spec: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadDialog")
        self.setWindowTitle("Downloading a Model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.spec = spec
        self.outcome: str | None = None
        self.result_path: Path | None = None
        self.error = ""
        self.updates = 0  # progress reports shown
        lay = QVBoxLayout(self)
        self.title = QLabel(f"Downloading <b>{spec}</b>…")
        self.title.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.detail = QLabel("Connecting to the model hub…")
        self.detail.setObjectName("downloadDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        for w in (self.title, self.bar, self.detail, self.buttons):
            lay.addWidget(w)
        self.setMinimumWidth(460)
        self.job = ModelJob(lambda job: model_jobs.download_model(paths, spec, job), self)
        self.job.progress.connect(self._on_progress)
        self.job.succeeded.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)

    def start(self) -> None:
        self.open()
        self.job.start()

    def _on_progress(self, p: object) -> None:
        done = int(getattr(p, "done", 0))
        total = getattr(p, "total", None)
        speed = float(getattr(p, "speed", 0.0))
        self.updates += 1
        if total:
            # QProgressBar holds ints: count in KiB so that multi-GB files fit
            self.bar.setRange(0, max(1, total // 1024))
            self.bar.setValue(done // 1024)
        text = f"{_mb(done)}" + (f" of {_mb(total)}" if total else "") + \
            f" · {_mb(speed)}/s"
        if total and speed > 0 and done < total:
            secs = (total - done) / speed
            text += f" · about {secs / 60:.0f} min left" if secs >= 90 else \
                f" · about {secs:.0f} s left"
        resumed = int(getattr(p, "resumed_from", 0))
        if resumed:
            text += f" (resumed at {_mb(resumed)})"
        self.detail.setText(text)

    def _finish(self, outcome: str) -> None:
        self.outcome = outcome
        self.job.wait()

    def _on_done(self, path: object) -> None:
        self.result_path = Path(str(path))
        self._finish("ok")
        self.done.emit("ok", self.result_path)
        self.accept()

    def _on_failed(self, message: str) -> None:
        self.error = message
        self._finish("failed")
        self.title.setText(f"<b>{self.spec}</b> could not be downloaded.")
        self.detail.setText(message)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self._fit_text()
        self.done.emit("failed", message)

    def _fit_text(self) -> None:
        """Grow to the new text's wrapped height (a shown dialog does not grow by itself)."""
        lay = self.layout()
        lay.activate()
        self.resize(self.width(), max(self.height(), lay.totalHeightForWidth(self.width())))

    def _on_cancelled(self) -> None:
        self._finish("cancelled")
        self.done.emit("cancelled", None)
        super().reject()

    def reject(self) -> None:  # Cancel, Escape, or Close after a failure
        if self.job.isRunning():
            self.job.cancel.set()
            self.cancel_button.setEnabled(False)
            self.detail.setText("Cancelling… (what was downloaded is kept, so a later "
                                "download resumes)")
            return
        super().reject()


class ImportDialog(QDialog):
    """Choose a model file (or folder) and its architecture; checked and copied off-thread."""

    imported = Signal(str, str)  # spec, model id

    def __init__(self, paths: LibraryPaths, architectures: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importModelDialog")
        self.setWindowTitle("Import a Model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.paths = paths
        self.job: ModelJob | None = None
        self.error = ""
        self.error_box: QMessageBox | None = None
        self.result: tuple[str, str] | None = None
        lay = QVBoxLayout(self)
        intro = QLabel("Import an open_clip model: a weights file (.safetensors, or a .bin/.pt "
                       "state dict, read without running code) with its architecture, or a "
                       "model folder (config + weights). It is checked before anything is "
                       "copied into the library.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.source_edit = QLineEdit()
        self.source_edit.setObjectName("importSource")
        self.file_button = pick_file = QPushButton("File…")
        pick_file.clicked.connect(self.choose_file)
        pick_dir = QPushButton("Folder…")
        pick_dir.clicked.connect(self.choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.source_edit, 1)
        row.addWidget(pick_file)
        row.addWidget(pick_dir)
        form.addRow("Model:", row)
        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("importArch")
        self.arch_combo.setEditable(True)
        self.arch_combo.addItems(architectures)
        self.arch_combo.setCurrentText(architectures[0] if architectures else "")
        self.config_button = pick_cfg = QPushButton("Config File…")
        pick_cfg.clicked.connect(self.choose_config)
        row = QHBoxLayout()
        row.addWidget(self.arch_combo, 1)
        row.addWidget(pick_cfg)
        form.addRow("Architecture:", row)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("(from the file name)")
        form.addRow("Name:", self.name_edit)
        lay.addLayout(form)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(520)

    def set_source(self, path: Path) -> None:
        self.source_edit.setText(os.fsdecode(path))

    def choose_file(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Choose a Model File", os.path.expanduser("~"),
                                           "Model weights (*.safetensors *.bin *.pt *.pth);;"
                                           "All files (*)")
        if f:
            self.set_source(Path(f))

    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a Model Folder",
                                             os.path.expanduser("~"))
        if d:
            self.set_source(Path(d))

    def choose_config(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Choose the Model's Config",
                                           os.path.expanduser("~"), "JSON (*.json)")
        if f:
            self.arch_combo.setCurrentText(f)

    def start_import(self) -> None:
        if self.job is not None and self.job.isRunning():
            return
        text = self.source_edit.text().strip()
        if not text:
            self._show_error("Choose a model file or folder first.")
            return
        source = Path(os.path.expanduser(text))
        arch = None if source.is_dir() else (self.arch_combo.currentText().strip() or None)
        name = self.name_edit.text().strip() or None
        paths = self.paths
        self.job = ModelJob(lambda _job: model_jobs.import_model(paths, source, arch, name),
                            self)
        self.job.succeeded.connect(self._on_imported)
        self.job.failed.connect(self._on_failed)
        self.import_button.setEnabled(False)
        self.status.setText("Checking the model… (loading it and computing a test vector)")
        self.job.start()

    def _on_imported(self, result: object) -> None:
        assert self.job is not None
        self.job.wait()
        spec, model_id = result  # type: ignore[misc]
        self.result = (str(spec), str(model_id))
        self.status.setText(f"Imported {model_id}.")
        self.imported.emit(str(spec), str(model_id))
        self.accept()

    def _on_failed(self, message: str) -> None:
        assert self.job is not None
        self.job.wait()
        self.import_button.setEnabled(True)
        self.status.setText("")
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.error_box = _error_box(
            self, "The model was not imported",
            f"{message}\n\nNothing was added to the library.", "importModelError")


class ModelsDialog(QDialog):
    """Curated and installed models, which one the library uses, and what to do next."""

    use_requested = Signal(str)

    COLUMNS = ("Model", "Kind", "Size", "Status")

    def __init__(self, paths: LibraryPaths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.paths = paths
        self.info: ModelsInfo | None = None
        self.job: ModelJob | None = None
        self.download_dialog: DownloadDialog | None = None
        self.import_dialog: ImportDialog | None = None
        self.error_box: QMessageBox | None = None
        self.loads = 0  # completed listings (tests wait on it)
        self._select_next: str | None = None
        self._refresh_again = False
        lay = QVBoxLayout(self)
        self.using_label = QLabel("Reading the model store…")
        self.using_label.setObjectName("modelsUsing")
        self.using_label.setWordWrap(True)
        lay.addWidget(self.using_label)
        self.tree = QTreeWidget()
        self.tree.setObjectName("modelsList")
        self.tree.setColumnCount(len(self.COLUMNS))
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        lay.addWidget(self.tree, 1)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        other = QHBoxLayout()
        self.other_edit = QLineEdit()
        self.other_edit.setObjectName("otherModel")
        self.other_edit.setPlaceholderText("Another model: NAME:PRETRAINED (open_clip) or "
                                           "hf-hub:ORGANISATION/REPOSITORY")
        self.other_button = QPushButton("Download")
        self.other_button.clicked.connect(self.download_other)
        other.addWidget(self.other_edit, 1)
        other.addWidget(self.other_button)
        lay.addLayout(other)
        row = QHBoxLayout()
        self.download_button = QPushButton("Download Selected")
        self.download_button.clicked.connect(self.download_selected)
        self.use_button = QPushButton("Use This Model")
        self.use_button.clicked.connect(self.use_selected)
        self.import_button = QPushButton("Import Model File…")
        self.import_button.clicked.connect(self.import_file)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        for b in (self.download_button, self.use_button, self.import_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        lay.addLayout(row)
        self.resize(760, 420)
        self._update_buttons()

    # -- listing ----------------------------------------------------------------------

    def refresh(self) -> None:
        if self.job is not None and self.job.isRunning():
            self._refresh_again = True  # what it reads may be stale already
            return
        self._refresh_again = False
        paths = self.paths
        self.job = ModelJob(lambda _job: model_jobs.list_models(paths), self)
        self.job.succeeded.connect(self._on_listed)
        self.job.failed.connect(self._on_list_failed)
        self.job.start()

    def _on_list_failed(self, message: str) -> None:
        if self.job is not None:
            self.job.wait()
        self.using_label.setText(f"The model store cannot be read: {message}")

    def _on_listed(self, info: object) -> None:
        if self.job is not None:
            self.job.wait()
        assert isinstance(info, ModelsInfo)
        keep = self._select_next or self.selected_spec()
        self._select_next = None
        self.info = info
        imp = self.import_dialog
        if imp is not None and imp.arch_combo.count() == 0 and info.architectures:
            imp.arch_combo.addItems(info.architectures)
            imp.arch_combo.setCurrentText(info.architectures[0])
        using = info.using or "no model yet (the first indexing run sets it)"
        text = f"This library searches with <b>{using}</b>."
        if info.switching_to:
            text += (f" It is switching to <b>{info.switching_to}</b>: photos are being "
                     "re-encoded in the background and search keeps the current model "
                     "until that is complete.")
        self.using_label.setText(text)
        self.tree.clear()
        for r in info.rows:
            if r.spec == info.switching_to:
                status = "switching to"
            elif r.spec == info.using:
                status = "in use"
            else:
                status = "installed" if r.installed else "not downloaded"
            size = f"{r.size_mb:,.0f} MB" if r.size_mb else ""
            item = QTreeWidgetItem([r.title, r.role, size, status])
            item.setData(0, Qt.ItemDataRole.UserRole, r.spec)
            item.setToolTip(0, f"{r.spec}\n{r.note}" if r.note else r.spec)
            self.tree.addTopLevelItem(item)
            if r.spec == keep:
                self.tree.setCurrentItem(item)
        for c in range(1, len(self.COLUMNS)):
            self.tree.resizeColumnToContents(c)
        self.loads += 1
        self._update_buttons()
        if self._refresh_again:
            self.refresh()

    def rows(self) -> list[tuple[str, str]]:
        """(spec, status) per line, for tests and accessibility."""
        return [(str(self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)),
                 self.tree.topLevelItem(i).text(3)) for i in range(self.tree.topLevelItemCount())]

    def select(self, spec: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == spec:
                self.tree.setCurrentItem(item)
                return
        raise KeyError(spec)

    def selected_spec(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else str(item.data(0, Qt.ItemDataRole.UserRole))

    def _selected_row(self) -> model_jobs.ModelRow | None:
        spec = self.selected_spec()
        rows = self.info.rows if self.info else []
        return next((r for r in rows if r.spec == spec), None)

    def _update_buttons(self) -> None:
        r = self._selected_row()
        self.download_button.setEnabled(r is not None and not r.installed)
        self.use_button.setEnabled(r is not None and r.installed and self.info is not None
                                   and r.spec not in (self.info.using, self.info.switching_to))
        self.note.setText(r.note if r else "")

    # -- actions -------------------------------------------------------------------------

    def download_selected(self) -> DownloadDialog | None:
        spec = self.selected_spec()
        if spec is None:
            return None
        return self.download(spec)

    def download_other(self) -> DownloadDialog | None:
        spec = self.other_edit.text().strip()
        return self.download(spec) if spec else None

    def stop_jobs(self, wait_ms: int = 60_000) -> None:
        """Cancel what can be cancelled and wait for every job (the window is closing)."""
        dialogs = (self, self.download_dialog, self.import_dialog)
        jobs = [d.job for d in dialogs if d is not None and d.job is not None]
        for j in jobs:
            j.cancel.set()
        for j in jobs:
            j.wait(wait_ms)

    def download(self, spec: str) -> DownloadDialog:
        dlg = DownloadDialog(self.paths, spec, self)
        dlg.done.connect(self._on_download_done)
        self.download_dialog = dlg
        dlg.start()
        return dlg

    def _on_download_done(self, outcome: str, _result: object) -> None:
        if outcome == "ok":
            self.refresh()

    def use_selected(self) -> None:
        r = self._selected_row()
        if r is None or not r.installed:
            return
        self.use(r.spec)

    def use(self, spec: str) -> None:
        self.use_requested.emit(spec)
        self.using_label.setText(f"Switching to <b>{spec}</b>…")
        self.use_button.setEnabled(False)

    def import_file(self) -> ImportDialog:
        archs = self.info.architectures if self.info else []
        dlg = ImportDialog(self.paths, archs, self)
        dlg.imported.connect(lambda spec, _mid: self._on_imported(spec))
        self.import_dialog = dlg
        dlg.open()
        return dlg

    def _on_imported(self, spec: str) -> None:
        self._select_next = spec
        self.refresh()

    def model_ready(self, _encoder: object, _index: object, _label: str) -> None:
        """The search model changed (a switch completed): show it."""
        if self.isVisible():
            self.refresh()

    def switch_done(self, spec: str, error: str) -> None:
        """The indexing worker's answer to :meth:`use`."""
        if error:
            self.error_box = _error_box(self, "The model cannot be used", error,
                                        "useModelError")
        self.refresh()
