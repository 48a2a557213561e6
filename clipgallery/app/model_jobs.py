"""Model jobs: listing, downloading and importing models, off the UI thread.

Runs in: each :class:`ModelJob` is a :class:`QThread` of its own that runs one function
(``list_models``, ``download_model`` or ``import_model`` below) and reports to the UI
thread by signals only.  These functions import the core's model code (open_clip and
torch), which the UI thread never does.  They touch only the library's model store and
read the catalog through their own reader connection; switching the library's model is
the indexing worker's job (it owns the writer connection).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from clipgallery.core.store.paths import LibraryPaths

log = logging.getLogger(__name__)


@dataclass
class ModelRow:
    """One line of the Models dialog."""

    spec: str  # what "Use" and "Download" are given
    title: str
    role: str  # curated role, or "imported" / "downloaded"
    size_mb: float
    installed: bool
    note: str = ""
    model_id: str = ""


@dataclass
class ModelsInfo:
    rows: list[ModelRow] = field(default_factory=list)
    using: str | None = None  # the spec the library searches with
    switching_to: str | None = None
    architectures: list[str] = field(default_factory=list)  # for the import dialog


class ModelJob(QThread):
    """Runs ``fn(job)`` in its own thread; ``job.cancel`` and ``job.report`` are for fn."""

    progress = Signal(object)  # core.models.DownloadProgress
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[[ModelJob], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.cancel = threading.Event()
        self.outcome: str | None = None  # "ok" | "failed" | "cancelled", once finished

    def report(self, p: object) -> None:
        self.progress.emit(p)

    def run(self) -> None:
        try:
            from clipgallery.core.models.model_store import DownloadCancelled
            from clipgallery.core.models.torch_backend import ModelUnavailable

            try:
                result = self.fn(self)
            except DownloadCancelled:
                self.outcome = "cancelled"
                self.cancelled.emit()
                return
            except ModelUnavailable as e:
                self.outcome = "failed"
                self.failed.emit(str(e))
                return
            except OSError as e:
                self.outcome = "failed"
                self.failed.emit(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))
                return
        except Exception as e:  # noqa: BLE001 - a job must never take the app down
            log.exception("model job failed")
            self.outcome = "failed"
            self.failed.emit(f"{type(e).__name__}: {e}")
            return
        self.outcome = "ok"
        self.succeeded.emit(result)


# -- the jobs' functions (run in a ModelJob's thread) ----------------------------------


def list_models(paths: LibraryPaths) -> ModelsInfo:
    import open_clip

    from clipgallery.core.models import model_store as models
    from clipgallery.core.store.catalog import Catalog

    info = ModelsInfo()
    if paths.catalog.exists():
        with Catalog(paths.catalog, readonly=True) as reader:
            info.using = reader.get_meta("model_spec")
            info.switching_to = reader.get_meta("next_model_spec")
    installed = models.installed(paths.models)
    have = {m.spec: m for m in installed}
    for c in models.CURATED:
        m = have.pop(c.spec, None)
        info.rows.append(ModelRow(
            c.spec, f"{c.name} ({c.pretrained})", c.role,
            m.size_mb if m else float(c.download_mb), m is not None,
            f"{c.dim}-d · {c.speed} on a CPU · ImageNet {c.imagenet_top1} % · {c.licence}"
            f" · {c.note}", m.model_id if m else c.spec))
    for m in have.values():
        info.rows.append(ModelRow(m.spec, Path(m.path).name if m.kind == "imported" else m.spec,
                                  m.kind, m.size_mb, True, m.path, m.model_id))
    if info.using and info.using not in {r.spec for r in info.rows}:
        # e.g. a model folder given with --model: shown so "in use" has a line
        info.rows.append(ModelRow(info.using, Path(info.using).name or info.using, "in use",
                                  0.0, True, info.using))
    curated_arch = [c.name for c in models.CURATED]
    info.architectures = curated_arch + sorted(set(open_clip.list_models()) - set(curated_arch))
    return info


def download_model(paths: LibraryPaths, spec: str, job: ModelJob) -> Path:
    from clipgallery.core.models import model_store as models

    return models.download(spec, paths.models / "hub", job.report, job.cancel,
                           store=paths.models)


def import_model(paths: LibraryPaths, source: Path, arch: str | None,
                 name: str | None) -> tuple[str, str]:
    from clipgallery.core.models import model_store as models

    return models.import_model(source, paths.models, arch=arch or None, name=name or None)
