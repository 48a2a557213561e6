"""The indexer: reconcile folders on disk with the catalog and encode what is new.

Threading: :meth:`Indexer.run` runs in the caller's thread (the CLI's main thread, or
the desktop app's indexing worker) and is the only writer of the catalog and the
vector index while it runs.  A bounded pool of decode threads reads, hashes, decodes
and preprocesses files ahead of it; the calling thread batches their output through
the encoder and commits each batch in one SQLite transaction, so a killed process
loses at most the batch in flight and the next run resumes where it stopped.

Reconciling, per file:

* unchanged size and mtime, already indexed (for this model) or skipped: nothing to do;
* size or mtime changed: hashed; same content → only the stat is updated, else re-encoded;
* new path whose content hash matches a photo that went missing: a move, the row keeps
  its id and vector and only its path changes (no re-encode);
* new path whose content matches a stored vector (a copy): the vector is reused;
* anything else new: decoded and encoded;
* known path no longer on disk (in a folder that is still there): marked missing and
  removed from search.  A folder that is gone entirely (an unplugged drive) is left
  alone: its photos stay in the library, reported as offline.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat as _stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from clipgallery.core.photos import guard, hashes, imaging, phash, places
from clipgallery.core.store.catalog import (
    INDEXED,
    MISSING,
    SKIPPED,
    Catalog,
    Photo,
    storage_error,
)
from clipgallery.core.store.vector_index import VectorIndex

if TYPE_CHECKING:  # torch and open_clip load only with a model
    from clipgallery.core.models.backends import Encoder

log = logging.getLogger(__name__)

# Files nobody means as photos: never recorded, not even as skipped.
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


# Above this many files a run loads all known content hashes at once.
_BULK_HASHES = 2000


class _HashLookup:
    """``hash in lookup``: is a vector of ``model_id`` stored for that content?  Asked of
    the catalog per file (an indexed lookup; the catalog serialises its connection)."""

    def __init__(self, catalog: Catalog, model_id: str) -> None:
        self.catalog, self.model_id = catalog, model_id

    def __contains__(self, content_hash: object) -> bool:
        return isinstance(content_hash, str) and self.catalog.has_vector_for_hash(
            content_hash, self.model_id)


@dataclass
class Progress:
    phase: str  # "scanning" | "indexing" | "done"
    done: int = 0
    total: int = 0
    current: Path | None = None
    rate: float = 0.0  # photos per second
    eta: float | None = None  # seconds left


@dataclass
class IndexSummary:
    indexed: int = 0
    unchanged: int = 0
    moved: int = 0
    copies: int = 0
    removed: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    offline_folders: list[Path] = field(default_factory=list)
    elapsed: float = 0.0
    cancelled: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "copies": self.copies,
            "removed": self.removed,
            "skipped": [{"path": os.fsdecode(p), "reason": r} for p, r in self.skipped],
            "offline_folders": [os.fsdecode(p) for p in self.offline_folders],
            "elapsed": round(self.elapsed, 3),
            "cancelled": self.cancelled,
        }


@dataclass
class _Job:
    path: Path
    size: int
    mtime_ns: int
    row: Photo | None  # the existing row for this path, if any
    force_encode: bool = False  # content unchanged but no vector for this model


@dataclass
class _Prepared:
    job: _Job
    content_hash: str | None = None
    # The stored digest of the old kind that this content matched (see photos.hashes):
    # lookups use it, the row is rewritten with ``content_hash``.
    legacy_match: str | None = None
    tensor: object | None = None
    meta: dict[str, object] = field(default_factory=dict)
    error: str | None = None
    vanished: bool = False
    same_content: bool = False


@dataclass(eq=False)
class _Run:
    """What one execution carries between its batches."""

    summary: IndexSummary
    total: int
    started: float
    done: int = 0
    pending: list[_Prepared] = field(default_factory=list)  # decoded, waiting to be encoded
    other: list[_Prepared] = field(default_factory=list)  # no encoding: moves, copies, skips
    gone_by_hash: dict[str, list[Photo]] = field(default_factory=dict)
    claimed: set[int] = field(default_factory=set)  # ids of gone photos a move took over


def default_decode_workers(device: str) -> int:
    """Decode threads (each drives one decoder process): on the CPU at most 8, since the
    model wants the cores too; with a GPU model every core, so that the GPU is fed."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = cores or os.cpu_count() or 1
    return max(1, cores if device not in ("cpu", "") else min(8, cores))


def walk(folder: Path, on_error: Callable[[Path, str], None] | None = None
         ) -> Iterable[tuple[Path, os.stat_result]]:
    """Every regular file below ``folder`` (symlinked folders are not followed)."""
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError as e:
            if on_error is not None and d != folder:
                on_error(d, f"cannot read folder: {e.strerror or e}")
            continue
        for e in entries:
            name = e.name
            if name.startswith(".") or name in IGNORED_NAMES:
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                    continue
                st = e.stat(follow_symlinks=True)
            except OSError:
                continue  # a dangling symlink or a file that vanished
            if _stat.S_ISREG(st.st_mode):
                yield Path(e.path), st


class Indexer:
    """Brings the catalog and vector index in step with folders on disk."""

    def __init__(self, catalog: Catalog, index: VectorIndex, encoder: Encoder, *,
                 batch_size: int = 32, decode_workers: int | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None,
                 max_pixels: int = imaging.DEFAULT_MAX_PIXELS,
                 save_every: float = 120.0,
                 on_decoded: Callable[[str | None, Image.Image], None] | None = None) -> None:
        if index.model_id != encoder.model_id:
            raise ValueError("vector index and encoder are for different models")
        self.catalog = catalog
        self.index = index
        self.encoder = encoder
        self.batch_size = max(1, batch_size)
        self.decode_workers = decode_workers or default_decode_workers(encoder.device)
        self.progress = progress or (lambda p: None)
        self.cancel = cancel or threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.max_pixels = max_pixels
        self.save_every = save_every
        # Called in the decode threads with each (content hash, reduced image) decoded
        # for the model: the text pass's spool (indexing.ocr_pass) keeps a copy.
        self.on_decoded = on_decoded
        self._full_run = True
        self._legacy_hashes = False  # set per run: does the library hold old digests?

    # -- control (any thread) -------------------------------------------------

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def _wait_if_paused(self) -> None:
        while not self._running.wait(0.2):
            if self.cancel.is_set():
                return

    # -- planning -------------------------------------------------------------

    def run(self, folders: Sequence[os.PathLike[str] | str]) -> IndexSummary:
        """Reconcile ``folders`` (recursively) with the catalog.

        Raises :class:`~clipgallery.core.store.catalog.StorageError` when the library's disk
        refuses a write; everything committed before stays consistent.
        """
        t0 = time.monotonic()
        summary = IndexSummary()
        model = self.encoder.model_id
        self._full_run = True
        self.progress(Progress("scanning"))
        jobs: list[_Job] = []
        gone: list[Photo] = []
        for folder in (Path(os.path.abspath(f)) for f in folders):
            if not folder.is_dir():
                summary.offline_folders.append(folder)
                continue
            known = {p.path: p for p in self.catalog.photos_under(folder)}
            with_vec = self._ids_with_vectors(known.values(), model)
            for path, st in walk(folder, lambda p, r: summary.skipped.append((p, r))):
                if self.cancel.is_set():
                    break
                row = known.pop(path, None)
                jobs_or_none = self._plan(path, st, row, row is not None and row.id in with_vec)
                if jobs_or_none is None:
                    summary.unchanged += 1
                else:
                    jobs.append(jobs_or_none)
            gone.extend(p for p in known.values() if p.status != MISSING)
        self.backfill_places()
        return self._execute(jobs, gone, summary, t0)

    def backfill_places(self) -> int:
        """Give a place to photos that have GPS but none yet (indexed before the catalog
        had places); runs at the start of every full run, cheap when there are none.
        Returns how many were filled."""
        todo = self.catalog.gps_without_place()
        found = places.available_lookup([(lat, lon) for _i, lat, lon in todo]) if todo else []
        if found is None:  # no gazetteer: they wait for one
            return 0
        self.catalog.set_places([(i, p.city, p.region, p.country)
                                 for (i, _a, _b), p in zip(todo, found, strict=True)])
        return len(todo)

    def run_paths(self, paths: Iterable[os.PathLike[str] | str]) -> IndexSummary:
        """Reconcile just these files (created, changed or deleted), e.g. from a watcher."""
        self._full_run = False
        t0 = time.monotonic()
        summary = IndexSummary()
        jobs: list[_Job] = []
        gone: list[Photo] = []
        for p in dict.fromkeys(Path(os.path.abspath(x)) for x in paths):
            row = self.catalog.photo_by_path(p)
            try:
                st = p.stat()
            except OSError:
                st = None
            if st is None or not _stat.S_ISREG(st.st_mode):
                if row is not None and row.status != MISSING:
                    gone.append(row)
                continue
            if p.name.startswith(".") or p.name in IGNORED_NAMES:
                continue
            has_vec = row is not None and self.catalog.embedding(
                row.id, self.encoder.model_id) is not None
            job = self._plan(p, st, row, has_vec)
            if job is None:
                summary.unchanged += 1
            else:
                jobs.append(job)
        return self._execute(jobs, gone, summary, t0)

    @staticmethod
    def _plan(path: Path, st: os.stat_result, row: Photo | None, has_vec: bool) -> _Job | None:
        """What to do with one file on disk; None when nothing."""
        if row is None:
            return _Job(path, st.st_size, st.st_mtime_ns, None)
        same_stat = row.size == st.st_size and row.mtime_ns == st.st_mtime_ns
        if same_stat and (row.status == SKIPPED or (row.status == INDEXED and has_vec)):
            return None
        # A row with no vector for this model (the model changed) must be encoded
        # even when its content is unchanged.
        force = row.status != SKIPPED and not has_vec
        return _Job(path, st.st_size, st.st_mtime_ns, row, force_encode=force)

    def _ids_with_vectors(self, photos: Iterable[Photo], model: str) -> set[int]:
        return self.catalog.ids_with_embedding(model, [p.id for p in photos])

    # -- executing ------------------------------------------------------------

    def _execute(self, jobs: list[_Job], gone: list[Photo], summary: IndexSummary,
                 t0: float) -> IndexSummary:
        try:
            return self._execute_unguarded(jobs, gone, summary, t0)
        except (OSError, sqlite3.OperationalError) as e:
            err = storage_error(e, self.catalog.path.parent)
            if err is None:
                raise
            raise err from e

    def _execute_unguarded(self, jobs: list[_Job], gone: list[Photo], summary: IndexSummary,
                           t0: float) -> IndexSummary:
        model = self.encoder.model_id
        # Old-kind digests (photos.hashes) are looked for only while the library has some.
        self._legacy_hashes = self.catalog.has_legacy_hashes()
        # Content we already hold a vector for: moved, renamed or copied files.  A big run
        # loads every such hash once; a small one (a watcher's batch in a library of a
        # million photos) asks the catalog per file instead.
        reusable: set[str] | _HashLookup = (
            self.catalog.hashes_with_vectors(model) if len(jobs) > _BULK_HASHES
            else _HashLookup(self.catalog, model))
        run = _Run(summary, len(jobs), time.monotonic())
        for p in gone:
            if p.content_hash:
                run.gone_by_hash.setdefault(p.content_hash, []).append(p)
        self.progress(Progress("indexing", 0, run.total))
        self._pipeline(jobs, reusable, run)
        if not summary.cancelled:
            self._mark_gone(gone, run.claimed, summary)
        # A full run ends with a save; a watcher's small runs save at most every
        # ``save_every`` seconds (the catalog's log covers what is not saved yet).
        self.index.save_if_due(self.catalog, self.save_every if len(jobs) < 1000 and
                               not self._full_run else 0.0)
        summary.elapsed = time.monotonic() - t0
        self.progress(Progress("done", run.done, run.total))
        return summary

    def _pipeline(self, jobs: list[_Job], reusable: set[str] | _HashLookup, run: _Run) -> None:
        """Decode ahead in the pool (a bounded window, in job order) and commit in
        batches; on cancel, what is already decoded is committed, then it stops."""
        window = max(2 * self.batch_size, 4 * self.decode_workers)
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode") as pool:
            inflight: deque[Future[_Prepared]] = deque()
            it = iter(jobs)
            exhausted = False
            while True:
                while not exhausted and len(inflight) < window and not self.cancel.is_set():
                    job = next(it, None)
                    if job is None:
                        exhausted = True
                        break
                    inflight.append(pool.submit(self._prepare, job, reusable))
                if not inflight:
                    break
                self._wait_if_paused()
                if self.cancel.is_set():
                    for f in inflight:
                        f.cancel()
                    run.summary.cancelled = True
                    break
                prep = inflight.popleft().result()
                (run.pending if prep.tensor is not None else run.other).append(prep)
                if len(run.pending) >= self.batch_size or len(run.other) >= 4 * self.batch_size:
                    self._flush(run)
            # Also when cancelled: work already decoded is not thrown away.
            self._flush(run)

    def _flush(self, run: _Run) -> None:
        """Encode the decoded photos in one batch and commit them, with the ones that
        need no encoding, in one transaction; then sync the index and report."""
        pending, other = run.pending, run.other
        if not pending and not other:
            return
        vectors = None
        if pending:
            vectors = self.encoder.encode_images([p.tensor for p in pending])
            places.place_meta(p.meta for p in pending)  # one batched look-up
        with self.catalog.transaction() as db:
            for i, prep in enumerate(pending):
                self._store(db, prep, vectors[i], run.summary)
            for prep in other:
                self._store_other(db, prep, run.gone_by_hash, run.claimed, run.summary)
        run.done += len(pending) + len(other)
        last = (pending or other)[-1].job.path
        pending.clear()
        other.clear()
        self.index.sync(self.catalog)
        elapsed = time.monotonic() - run.started
        rate = run.done / elapsed if elapsed > 0 else 0.0
        eta = (run.total - run.done) / rate if rate > 0 else None
        self.progress(Progress("indexing", run.done, run.total, last, rate, eta))
        self.index.save_if_due(self.catalog, self.save_every)

    def _mark_gone(self, gone: list[Photo], claimed: set[int], summary: IndexSummary) -> None:
        """Photos no longer on disk that no move claimed: marked missing."""
        leftover = [p.id for p in gone if p.id not in claimed]
        if leftover:
            with self.catalog.transaction() as db:
                self.catalog.mark_missing(db, leftover)
            summary.removed += len(leftover)
            self.index.sync(self.catalog)

    def _prepare(self, job: _Job, reusable: set[str] | _HashLookup) -> _Prepared:
        """Runs in a decode thread: read once, hash, and decode only if needed."""
        prep = _Prepared(job)
        try:
            data, stamp = guard.read_file(job.path)
        except FileNotFoundError:
            prep.vanished = True
            return prep
        except IsADirectoryError:
            prep.vanished = True
            return prep
        except OSError as e:
            prep.error = f"cannot read file: {e.strerror or e}"
            return prep
        prep.content_hash = hashes.content_hash(data)
        if job.row is not None and hashes.matches(job.row.content_hash, data, prep.content_hash) \
                and job.row.status in (INDEXED, MISSING) and not job.force_encode:
            prep.same_content = True
            return prep
        if not imaging.is_image_path(job.path):
            prep.error = f"not a supported image type ({job.path.suffix or 'no extension'})"
            return prep
        if prep.content_hash in reusable:
            return prep
        if self._legacy_hashes:
            old = hashes.legacy_hash(data)
            if old in reusable:
                prep.legacy_match = old
                return prep
        try:
            # In a child process with a time and memory budget: a hostile file costs
            # at most guard.DEFAULT_TIME_BUDGET seconds and never the files behind it.
            dec = guard.decode(job.path, data, min_side=self.encoder.image_size,
                               max_pixels=self.max_pixels, stamp=stamp,
                               digest=prep.content_hash)
            prep.tensor = self.encoder.preprocess_image(dec.image)
            prep.meta = dict(dec.meta)
            prep.meta["phash"] = phash.dhash(dec.image)
            if prep.meta.get("gps_lat") is not None:
                places.prefetch()  # ready by the time this batch is committed
            if self.on_decoded is not None:
                self.on_decoded(prep.content_hash, dec.image)
        except imaging.DecodeError as e:
            prep.error = e.reason
        except Exception as e:  # noqa: BLE001 - one bad file must never stop the queue
            log.exception("unexpected error decoding %s", job.path)
            prep.error = f"could not decode: {type(e).__name__}: {e}"
        return prep

    # -- storing (indexing thread, inside a transaction) ------------------------------

    def _store(self, db, prep: _Prepared, vector: np.ndarray, summary: IndexSummary) -> None:
        job = prep.job
        pid = self.catalog.upsert_photo(db, job.path, size=job.size, mtime_ns=job.mtime_ns,
                                        content_hash=prep.content_hash, status=INDEXED,
                                        meta=prep.meta)
        self.catalog.put_embedding(db, pid, self.encoder.model_id, vector)
        summary.indexed += 1

    def _store_other(self, db, prep: _Prepared, gone_by_hash: dict[str, list[Photo]],
                     claimed: set[int], summary: IndexSummary) -> None:
        job = prep.job
        cat = self.catalog
        model = self.encoder.model_id
        if prep.vanished:
            return
        if prep.error is not None:
            if job.row is not None and job.row.status == INDEXED:
                cat.drop_embeddings(db, job.row.id)
            cat.upsert_photo(db, job.path, size=job.size, mtime_ns=job.mtime_ns,
                             content_hash=prep.content_hash, status=SKIPPED,
                             skip_reason=prep.error,
                             meta={"file_type": imaging.file_type(job.path)})
            summary.skipped.append((job.path, prep.error))
            return
        if prep.same_content:
            cat.upsert_photo(db, job.path, size=job.size, mtime_ns=job.mtime_ns,
                             content_hash=prep.content_hash, status=INDEXED)
            summary.unchanged += 1
            return
        h = prep.legacy_match or prep.content_hash or ""
        # A move: the same content went missing elsewhere.  Keep the row (and its id,
        # vector and metadata); only its path changes.
        if job.row is None:
            for old in gone_by_hash.get(h, []) + cat.missing_by_hash(h):
                if old.id not in claimed and cat.embedding(old.id, model) is not None:
                    claimed.add(old.id)
                    cat.move_photo(db, old.id, job.path, size=job.size, mtime_ns=job.mtime_ns,
                                   content_hash=prep.content_hash)
                    summary.moved += 1
                    return
        # A copy (or an edit reverted to known content): reuse the stored vector.
        vec = cat.reusable_embedding(h, model)
        if vec is None:  # should not happen: the hash was in `reusable`
            cat.upsert_photo(db, job.path, size=job.size, mtime_ns=job.mtime_ns,
                             content_hash=None, status=SKIPPED,
                             skip_reason="internal: vector to reuse disappeared; will retry")
            return
        meta = self._meta_of_hash(h)
        pid = cat.upsert_photo(db, job.path, size=job.size, mtime_ns=job.mtime_ns,
                               content_hash=prep.content_hash, status=INDEXED, meta=meta)
        cat.put_embedding(db, pid, model, vec)
        summary.copies += 1

    def _meta_of_hash(self, h: str) -> dict[str, object]:
        return self.catalog.meta_of_hash(h)
