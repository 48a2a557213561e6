"""The on-disk hnswlib index: a rebuildable cache of the catalog's vectors.

Labels are photo ids.  The file lives beside the catalog, one per model, with a small
JSON sidecar recording which point of the catalog's ``vector_log`` it reflects and the
checksum of the index file.  On open the index is loaded and brought up to date by
replaying the log tail; when the file is missing, corrupt, for another model, or too
stale to replay, it is rebuilt from the catalog's vectors.

Threading: hnswlib must never add, resize and query at once, so every call on a
:class:`VectorIndex` takes its lock.  The indexer's thread writes; any thread may
query.  Saves go to a temporary file and are renamed into place (hnswlib's
``save_index`` is not atomic), and ``ef`` is set after every load (it is not saved).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import hnswlib
import numpy as np

from clipgallery.core.store.catalog import Catalog

log = logging.getLogger(__name__)

M = 16
EF_CONSTRUCTION = 200
EF_SEARCH = 200
_GROW = 1.5
_MIN_CAPACITY = 1024


def index_filename(model_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60]
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:10]
    return f"{slug}-{digest}.hnsw"


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class VectorIndex:
    """An hnswlib index of one model's vectors, kept in step with the catalog."""

    def __init__(self, directory: Path, model_id: str, dim: int) -> None:
        self.directory = Path(directory)
        self.model_id = model_id
        self.dim = dim
        self.path = self.directory / index_filename(model_id)
        self.sidecar = self.path.with_suffix(".json")
        self._lock = threading.RLock()
        self._index: hnswlib.Index | None = None
        self._labels: set[int] = set()  # searchable photo ids
        self._present: set[int] = set()  # every label in the hnswlib graph, deleted too
        self._seq = 0
        self.rebuilt_reason: str | None = None
        self._saved_seq = -1
        self._saved_at = 0.0

    # -- opening --------------------------------------------------------------

    def open(self, catalog: Catalog, *, persist: bool = True) -> VectorIndex:
        """Load the file and replay the log, or rebuild from the catalog.

        ``persist=False`` (a reader that does not hold the writer lock) never writes:
        a rebuilt index then lives in memory only.
        """
        with self._lock:
            reason = self._try_load(catalog)
            if reason is None:
                self.sync(catalog)
                if len(self._labels) != catalog.indexed_count(self.model_id):
                    reason = "index disagrees with the catalog"
            if reason is not None:
                log.info("rebuilding vector index %s: %s", self.path.name, reason)
                self.rebuilt_reason = reason
                self.rebuild(catalog, persist=persist)
        return self

    def _try_load(self, catalog: Catalog) -> str | None:
        if not self.path.exists() or not self.sidecar.exists():
            return "no index file"
        try:
            info = json.loads(self.sidecar.read_text())
            if info.get("model_id") != self.model_id or info.get("dim") != self.dim:
                return "index file is for another model"
            if info.get("size") != self.path.stat().st_size or info.get("digest") != _file_digest(
                    self.path):
                return "index file is corrupt or was not saved completely"
            if int(info["seq"]) < catalog.log_floor():
                return "index file is too old to bring up to date"
            idx = hnswlib.Index(space="cosine", dim=self.dim)
            idx.load_index(str(self.path), max_elements=int(info["capacity"]),
                           allow_replace_deleted=True)
            idx.set_ef(EF_SEARCH)
            idx.set_num_threads(1)
            labels = set(int(x) for x in idx.get_ids_list())
            deleted = set(int(x) for x in info.get("deleted", []))
        except Exception as e:  # noqa: BLE001 - any failure means "rebuild"
            return f"index file unreadable ({e})"
        self._index = idx
        self._present = labels
        self._labels = labels - deleted
        self._seq = int(info["seq"])
        return None

    def _new(self, capacity: int) -> hnswlib.Index:
        idx = hnswlib.Index(space="cosine", dim=self.dim)
        idx.init_index(max_elements=max(capacity, _MIN_CAPACITY), ef_construction=EF_CONSTRUCTION,
                       M=M, allow_replace_deleted=True)
        idx.set_ef(EF_SEARCH)
        idx.set_num_threads(1)
        return idx

    def rebuild(self, catalog: Catalog, *, persist: bool = True) -> None:
        with self._lock:
            head = catalog.log_head()
            ids, vecs = catalog.indexed_vectors(self.model_id)
            idx = self._new(int(len(ids) * _GROW) + 1)
            if len(ids):
                idx.set_num_threads(max(1, os.cpu_count() or 1))
                idx.add_items(vecs, ids)
                idx.set_num_threads(1)
            self._index = idx
            self._labels = set(int(i) for i in ids)
            self._present = set(self._labels)
            self._seq = head
            if persist:
                self.save(catalog)

    # -- keeping in step ------------------------------------------------------

    def sync(self, catalog: Catalog) -> int:
        """Apply every catalog change since the last sync; returns how many photos."""
        with self._lock:
            head, changed = catalog.log_since(self._seq)
            if changed:
                ids, vecs = catalog.indexed_vectors(self.model_id, changed)
                present = set(int(i) for i in ids)
                gone = [i for i in changed if i not in present and i in self._labels]
                if len(ids):
                    self._add(ids, vecs)
                for i in gone:
                    self._index.mark_deleted(i)
                    self._labels.discard(i)
            self._seq = head
            return len(changed)

    def _add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        idx = self._index
        assert idx is not None
        ids = np.asarray(ids, dtype=np.int64)
        known = np.fromiter((int(i) in self._present for i in ids), dtype=bool, count=len(ids))
        if known.any():
            # An existing label is updated in place; a deleted one is unmarked first
            # (hnswlib refuses to update deleted points when replacement is enabled).
            for i in ids[known]:
                if int(i) not in self._labels:
                    idx.unmark_deleted(int(i))
            idx.add_items(vecs[known], ids[known], replace_deleted=False)
        if (~known).any():
            fresh = int((~known).sum())
            need = idx.get_current_count() + fresh
            if need > idx.get_max_elements():
                idx.resize_index(max(int(need * _GROW), _MIN_CAPACITY))
            # New labels reuse the slots of deleted points (mark_deleted keeps memory).
            had_deleted = len(self._present) > len(self._labels)
            idx.add_items(vecs[~known], ids[~known], replace_deleted=True)
            if had_deleted:  # some deleted labels were replaced: ask which are left
                self._present = set(int(x) for x in idx.get_ids_list())
            else:  # the common case, without an O(n) walk per batch
                self._present.update(int(i) for i in ids[~known])
        self._labels.update(int(i) for i in ids)

    def _deleted_labels(self) -> set[int]:
        return self._present - self._labels

    # -- persistence ---------------------------------------------------------

    def save(self, catalog: Catalog | None = None) -> None:
        """Write the index atomically (temp file, fsync, rename), then its sidecar."""
        with self._lock:
            assert self._index is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            self._index.save_index(str(tmp))
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            info = {
                "model_id": self.model_id,
                "dim": self.dim,
                "seq": self._seq,
                "capacity": self._index.get_max_elements(),
                "size": self.path.stat().st_size,
                "digest": _file_digest(self.path),
                "deleted": sorted(self._deleted_labels()),
            }
            stmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
            stmp.write_text(json.dumps(info))
            os.chmod(stmp, 0o600)
            os.replace(stmp, self.sidecar)
            self._saved_seq = self._seq
            self._saved_at = time.monotonic()
        if catalog is not None and not catalog.readonly:
            catalog.prune_log(self._seq)

    def save_if_due(self, catalog: Catalog, min_interval: float) -> bool:
        """Save when there are unsaved changes and the last save is ``min_interval`` s old.

        Between saves the catalog's log is the journal: a crash costs a replay of its
        tail at the next open, never a lost vector.  This keeps a watcher's stream of
        small changes from rewriting a large index file each time.
        """
        with self._lock:
            if self._seq == self._saved_seq:
                return False
            if time.monotonic() - self._saved_at < min_interval:
                return False
            self.save(catalog)
            return True

    # -- queries -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def seq(self) -> int:
        return self._seq

    def query(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest photo ids with cosine similarity, best first."""
        with self._lock:
            n = len(self._labels)
            if n == 0 or k <= 0 or self._index is None:
                return []
            k = min(k, n)
            self._index.set_ef(max(EF_SEARCH, k))
            q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
            while True:
                try:
                    labels, dist = self._index.knn_query(q, k=k)
                    break
                except RuntimeError:
                    # Too few reachable points for k (deleted ones take room): ask for less.
                    if k <= 1:
                        return []
                    k = max(1, k // 2)
            return [(int(lab), float(1.0 - d)) for lab, d in zip(labels[0], dist[0], strict=True)]

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._labels)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        with self._lock:
            assert self._index is not None
            return np.asarray(self._index.get_items(list(ids)), dtype=np.float32)
