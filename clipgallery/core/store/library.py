"""A library on disk: its catalog, its vector indexes and the writer lock.

Only one process writes a library at a time.  The writer (``clipgallery index``, or
the desktop app) holds an exclusive lock on ``writer.lock``; a second writer is
refused with a message naming the holder, and readers (``clipgallery search``) never
need the lock because SQLite's WAL mode lets them read while the writer commits.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from clipgallery.core.models.devices import DEVICES, ENV_DEVICE, check_device
from clipgallery.core.models.specs import ModelUnavailable
from clipgallery.core.store import paths as _paths
from clipgallery.core.store.catalog import Catalog, StorageError, storage_error
from clipgallery.core.store.vector_index import VectorIndex

if TYPE_CHECKING:
    from clipgallery.core.models.backends import Encoder

DEFAULT_MODEL = "ViT-B-32-256:datacomp_s34b_b86k"
ENV_MODEL = "CLIPGALLERY_MODEL"
# Where a packaged app ships a model, its launcher names it here: the model a library
# with none of its own starts with (unlike CLIPGALLERY_MODEL, it never overrides one).
ENV_DEFAULT_MODEL = "CLIPGALLERY_DEFAULT_MODEL"
ENV_ONNX_CACHE = "CLIPGALLERY_ONNX_CACHE"
# "1"/"0": index on the CPU with the int8 image model (when its check passed) or not;
# overrides the library's own setting (meta "fast_indexing", default on).
ENV_FAST_INDEXING = "CLIPGALLERY_FAST_INDEXING"


def default_model() -> str:
    return os.environ.get(ENV_DEFAULT_MODEL) or DEFAULT_MODEL


class LibraryLocked(Exception):
    """Another process is writing this library."""


class WriterLock:
    """An exclusive, process-wide lock on a library, released when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+b")
        except OSError as e:  # a read-only or full disk: say so clearly
            err = storage_error(e, self.path.parent)
            if err is None:
                raise
            raise err from e
        try:
            if sys.platform == "win32":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().decode(errors="replace").strip() or "another process"
            fh.close()
            raise LibraryLocked(
                f"The library {self.path.parent} is in use by {holder}. Close the other "
                "ClipGallery window or wait for its indexing to finish.") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"ClipGallery (pid {os.getpid()})".encode())
        fh.flush()
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None


class Library:
    """An open library.  ``write=True`` takes the writer lock."""

    def __init__(self, location: _paths.LibraryPaths, *, write: bool = False) -> None:
        self.paths = location
        self.writable = write
        self.lock = WriterLock(location.lock)
        if write:
            location.ensure()
            self.lock.acquire()
        elif not location.catalog.exists():
            location.ensure()
        try:
            self.catalog = Catalog(location.catalog)
        except Exception:
            self.lock.release()
            raise
        self._indexes: dict[str, VectorIndex] = {}
        self._index_lock = threading.Lock()

    @classmethod
    def open(cls, library: str | os.PathLike[str] | None = None, *, write: bool = False) -> Library:
        return cls(_paths.resolve(library), write=write)

    @classmethod
    def open_best(cls, library: str | os.PathLike[str] | None = None) -> Library:
        """Writable when no other process writes it (so repairs are saved), else read-only."""
        try:
            return cls.open(library, write=True)
        except (LibraryLocked, StorageError):  # another writer, or a read-only disk
            return cls.open(library, write=False)

    def close(self) -> None:
        with self._index_lock:
            if self.writable:
                for idx in self._indexes.values():
                    try:
                        idx.save(self.catalog)
                    except (OSError, sqlite3.Error, StorageError) as e:
                        # The saved index is a cache: the catalog's log rebuilds it at the
                        # next open. A full disk must not turn a clear error into a crash.
                        logging.getLogger(__name__).warning(
                            "could not save the vector index (%s); it is rebuilt from the "
                            "catalog next time", e)
            self._indexes.clear()
        self.catalog.close()
        self.lock.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def root(self) -> Path:
        return self.paths.root

    def model_spec(self, override: str | None = None) -> str:
        """The model to index with: an explicit choice, $CLIPGALLERY_MODEL, the model the
        library is switching to, the library's model, or the default."""
        return (override or os.environ.get(ENV_MODEL) or self.catalog.get_meta("next_model_spec")
                or self.catalog.get_meta("model_spec") or default_model())

    def search_spec(self, override: str | None = None) -> str:
        """The model to search with: while a switch is under way, the old (complete) one."""
        return (override or os.environ.get(ENV_MODEL) or self.catalog.get_meta("model_spec")
                or self.catalog.get_meta("next_model_spec") or default_model())

    def switch_model(self, spec: str) -> None:
        """Start using ``spec``: the next indexing run re-encodes the library with it, and
        search keeps using the current vectors until that run is complete."""
        if self.catalog.get_meta("model_spec") in (None, spec):
            self.catalog.set_meta("model_spec", spec)
            self.catalog.delete_meta("next_model_spec")
        else:
            self.catalog.set_meta("next_model_spec", spec)

    def vector_index(self, model_id: str, dim: int) -> VectorIndex:
        """The (shared, opened and synced) vector index of ``model_id``."""
        with self._index_lock:
            idx = self._indexes.get(model_id)
            if idx is None:
                idx = VectorIndex(self.paths.index_dir, model_id, dim)
                # A reader never writes the library: it loads what it can and
                # rebuilds in memory when the file is stale.
                idx.open(self.catalog, persist=self.writable)
                self._indexes[model_id] = idx
            else:
                idx.sync(self.catalog)
            return idx

    # -- models -------------------------------------------------------------------

    @property
    def hub_cache(self) -> Path:
        return self.paths.models / "hub"

    @property
    def onnx_store(self) -> Path:
        """ONNX exports of models: one per computer, in the user's cache (keyed by model
        id and a checksum of the weights), shared by every library, so a second library
        with the same model starts at once; ``$CLIPGALLERY_ONNX_CACHE`` names another
        folder.  A cache: a missing or damaged export is converted again."""
        return Path(os.environ.get(ENV_ONNX_CACHE) or _paths.user_cache() / "onnx")

    @property
    def fast_indexing(self) -> bool:
        """Index on the CPU with the int8 image model (about 3x faster than float32 on
        CPUs with VNNI), used only where its vectors match float32's (cosine >= 0.99,
        checked when it is made).  On unless turned off for the library or by
        $CLIPGALLERY_FAST_INDEXING=0."""
        env = os.environ.get(ENV_FAST_INDEXING, "").strip().lower()
        if env:
            return env not in ("0", "off", "no", "false")
        return self.catalog.get_meta("fast_indexing") != "off"

    def set_fast_indexing(self, on: bool) -> None:
        self.catalog.set_meta("fast_indexing", "on" if on else "off")

    @property
    def device(self) -> str:
        """Where models run: "auto" (CUDA, else Apple MPS, else CPU) or a fixed device;
        $CLIPGALLERY_DEVICE overrides the library's setting, ``--device`` both."""
        value = (os.environ.get(ENV_DEVICE) or self.catalog.get_meta("device") or "auto").lower()
        return value if value in DEVICES else "auto"

    def set_device(self, device: str) -> None:
        """Keep ``device`` (one of :data:`~clipgallery.core.models.devices.DEVICES`);
        ValueError for another name."""
        self.catalog.set_meta("device", check_device(device))

    def load_encoder(self, spec: str | None = None, device: str | None = None, *,
                     purpose: str = "index", progress=None,
                     warm: Sequence[str] | None = None) -> Encoder:
        """Load ``spec`` (default: the model to index with); raises ModelUnavailable.

        The backend and device are chosen by :func:`clipgallery.core.models.backends.
        select` (``device``: an explicit choice, else the library's :attr:`device`): on
        the CPU the towers run through ONNX Runtime (as fast as eager PyTorch or up to 2x
        faster in float32, 4x with the int8 image model), converted once per model
        (``purpose="index"``; a search only uses an existing conversion), cached and
        checked, any failure falling back to PyTorch with a logged reason; once
        converted, a start needs no torch at all.  On a GPU, PyTorch in half precision.
        Indexing uses the int8 image model if :attr:`fast_indexing`.
        ``$CLIPGALLERY_BACKEND=torch`` keeps PyTorch.  ``warm``: the towers of a quick
        start loaded in the background at once (default: the one ``purpose`` needs; the
        others load on first use).
        """
        from clipgallery.core.models import backends

        spec = self.model_spec(spec)
        indexing = purpose == "index"
        preload = ("visual",) if indexing else ("textual",)
        options = backends.LoadOptions(
            hub_cache=self.hub_cache, onnx_store=self.onnx_store,
            int8=indexing and self.fast_indexing, export=indexing, preload=preload,
            warm=preload if warm is None else tuple(warm), progress=progress)
        try:
            choice = backends.select(spec, device or self.device)
        except ValueError as e:  # an unknown device name
            raise ModelUnavailable(str(e)) from e
        return choice.load(spec, options)

    def index_for(self, encoder: Encoder) -> VectorIndex:
        return self.vector_index(encoder.model_id, encoder.dim)

    def activate_model(self, encoder: Encoder, spec: str) -> None:
        """Make ``encoder``'s vectors the ones the library searches."""
        self.catalog.activate_model(spec, encoder.model_id)
