"""The SQLite catalog: the library's source of truth.

Files, sizes, mtimes, content hashes, metadata, skip reasons and every vector (per
model, as a float32 blob) live here.  The hnswlib index is a cache that can always be
rebuilt from it (see :mod:`clipgallery.core.store.vector_index`).

Threading: a :class:`Catalog` object is one SQLite connection.  The writer (the
indexer's thread) owns one; readers (search, the UI) open their own.  WAL mode lets
readers run while the writer commits.  Each object also serialises its own calls with
a lock, so a stray cross-thread call is slow rather than corrupting.

Paths are stored as BLOBs (``os.fsencode``) so that non-UTF-8 file names round-trip.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from clipgallery.core.photos.metadata import META_KEYS
from clipgallery.core.photos.places import PLACE_KEYS

SCHEMA_VERSION = 4

INDEXED = "indexed"
SKIPPED = "skipped"
MISSING = "missing"

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE folders(
        id INTEGER PRIMARY KEY,
        path BLOB UNIQUE NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE TABLE photos(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path BLOB UNIQUE NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT,
        width INTEGER,
        height INTEGER,
        status TEXT NOT NULL,
        skip_reason TEXT,
        file_type TEXT,
        taken_at REAL,
        camera_make TEXT,
        camera_model TEXT,
        lens TEXT,
        gps_lat REAL,
        gps_lon REAL,
        orientation INTEGER,
        added_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX photos_hash ON photos(content_hash);
    CREATE INDEX photos_status ON photos(status);
    CREATE TABLE embeddings(
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY(photo_id, model_id)
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_model ON embeddings(model_id);
    -- Every change that may alter what a vector index holds appends the photo id
    -- here, so a saved index file can be brought up to date by replaying the tail.
    CREATE TABLE vector_log(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER NOT NULL
    );
    """,
    2: """
    -- A perceptual hash (64-bit difference hash of the oriented image) finds
    -- near-duplicates without any model; smart albums are saved searches.
    ALTER TABLE photos ADD COLUMN phash INTEGER;
    CREATE TABLE albums(
        id INTEGER PRIMARY KEY,
        name TEXT UNIQUE NOT NULL,
        query TEXT NOT NULL,
        filters TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
    3: """
    -- The nearest gazetteer place of a photo's GPS position (see
    -- clipgallery.core.photos.places); NULL without GPS.  Libraries indexed before
    -- this version get theirs on the next indexing run (Catalog.gps_without_place).
    ALTER TABLE photos ADD COLUMN place_city TEXT;
    ALTER TABLE photos ADD COLUMN place_region TEXT;
    ALTER TABLE photos ADD COLUMN place_country TEXT;
    CREATE INDEX photos_place ON photos(place_country, place_region, place_city);
    """,
    4: """
    -- Text in photos (clipgallery.core.indexing.ocr_pass), by content hash: a moved or
    -- copied photo is never read again.  status: 'text' (lines below), 'none' (no text
    -- found) or 'failed' (reason).  Boxes are axis-aligned, relative to the oriented
    -- image (0..1).  ocr_fts finds words and prefixes (case and accents folded by
    -- unicode61); ocr_trigram finds substrings of the folded text (fold_text).
    CREATE TABLE ocr_reads(
        content_hash TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        reason TEXT,
        read_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE ocr_lines(
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,
        text TEXT NOT NULL,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        confidence REAL NOT NULL
    );
    CREATE INDEX ocr_lines_hash ON ocr_lines(content_hash);
    CREATE VIRTUAL TABLE ocr_fts USING fts5(
        text, tokenize='unicode61 remove_diacritics 2', prefix='2 3');
    CREATE VIRTUAL TABLE ocr_trigram USING fts5(folded, tokenize='trigram');
    """,
}

# Metadata columns a decoder may fill, plus the perceptual hash and the place (from GPS)
# that the indexer adds.
META_COLUMNS = (*META_KEYS, "phash", *PLACE_KEYS)


class CatalogError(Exception):
    """The catalog cannot be opened or written; the message is for the user."""


class StorageError(CatalogError):
    """The library's disk refused a write (full, read-only, no permission)."""


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                   getattr(errno, "EDQUOT", errno.ENOSPC)}


def _read_only(where: os.PathLike[str] | str) -> bool:
    """Whether the file system holding ``where`` refuses writes now (a write probe: a
    drive that failed may be switched to read-only without its mount flags saying so)."""
    try:
        if os.statvfs(where).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):
        pass
    try:
        with tempfile.TemporaryFile(dir=where):
            return False
    except OSError as e:
        return e.errno == errno.EROFS


def storage_error(e: BaseException, where: os.PathLike[str] | str) -> StorageError | None:
    """A clear StorageError for a failed write, or None if ``e`` is something else."""
    msg = str(e).lower()
    if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS:
        kind = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the disk is full (file too large)",
                errno.EROFS: "the disk is read-only"}.get(e.errno, "it is not writable")
    elif isinstance(e, sqlite3.OperationalError) and "full" in msg:
        kind = "the disk is full"
    elif isinstance(e, sqlite3.OperationalError) and "readonly" in msg:
        kind = "it is read-only"
    elif isinstance(e, sqlite3.OperationalError) and "disk i/o error" in msg:
        kind = "the disk is full or failing (SQLite reported an I/O error)"
    else:
        return None
    if kind != "the disk is read-only" and _read_only(where):
        kind = "the disk has become read-only (a failing drive is often switched to read-only)"
    if "read-only" in kind:
        advice = ("Indexing is paused and nothing was lost; what is indexed can still be "
                  "searched. Make the disk writable again (check it for errors, remount it) "
                  "and index again.")
    else:
        advice = ("Indexing is paused and nothing was lost; free some space (or fix the "
                  "permissions) and index again.")
    return StorageError(f"Cannot write to the library at {os.fsdecode(where)}: {kind}. {advice}")


def encode_path(path: str | os.PathLike[str]) -> bytes:
    return os.fsencode(os.fspath(path))


def decode_path(blob: bytes) -> Path:
    return Path(os.fsdecode(bytes(blob)))


def path_prefix_range(folder: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """BLOB range [lo, hi) holding every path strictly under ``folder``."""
    lo = encode_path(folder).rstrip(os.sep.encode()) + os.sep.encode()
    hi = lo[:-1] + bytes([lo[-1] + 1])
    return lo, hi


class Condition(NamedTuple):
    """One structured test on a ``photos`` row, which :meth:`Catalog.where` turns into SQL
    (the filters of :mod:`clipgallery.core.search.filters` are declared as these, so that no
    SQL is written outside this module).

    ``op`` is one of:

    * ``"in_range"``: ``lo <= column < hi`` (``value``: ``(lo, hi)``; e.g. a path prefix
      from :func:`path_prefix_range`);
    * ``"ge"`` / ``"lt"`` / ``"eq"``: ``column >= value``, ``< value``, ``= value``;
    * ``"contains_nocase"``: the columns of ``column`` (a tuple), joined by one space
      with NULL as empty, contain ``value`` ignoring case;
    * ``"eq_any_nocase"``: one of the columns of ``column`` (a tuple) equals ``value``
      ignoring case (ASCII case, as SQLite's NOCASE);
    * ``"orientation"``: ``column`` is ``(width, height)`` and ``value`` is
      ``(shape, tolerance)``: landscape, portrait or square within ``tolerance`` times
      the longer side (rows without both sizes never match).
    """

    op: str
    column: str | tuple[str, ...]
    value: object


@dataclass
class Photo:
    id: int
    path: Path
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str
    skip_reason: str | None = None
    width: int | None = None
    height: int | None = None
    file_type: str | None = None
    taken_at: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    orientation: int | None = None
    phash: int | None = None
    place_city: str | None = None
    place_region: str | None = None
    place_country: str | None = None

    @property
    def place(self) -> str | None:
        """"City, Region, Country", or None (no GPS)."""
        parts = [x for x in (self.place_city, self.place_region, self.place_country) if x]
        return ", ".join(dict.fromkeys(parts)) or None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Photo:
        d = {k: row[k] for k in row.keys() if k in cls.__dataclass_fields__}
        d["path"] = decode_path(row["path"])
        return cls(**d)


_PHOTO_COLS = (
    "id, path, size, mtime_ns, content_hash, status, skip_reason, " + ", ".join(META_COLUMNS)
)


# Columns a :class:`Condition` may name (anything else is refused, never pasted into SQL).
_CONDITION_COLUMNS = frozenset(("path", "size", "mtime_ns", "content_hash", "status",
                                *META_COLUMNS))


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _column(alias: str, name: object) -> str:
    if name not in _CONDITION_COLUMNS:
        raise ValueError(f"not a photos column: {name!r}")
    return f"{alias}{name}"


def _condition_sql(c: Condition, a: str) -> tuple[list[str], list[object]]:
    """SQL conditions (ANDed) and parameters for one :class:`Condition`; ``a``: the
    table alias with its dot, or empty."""
    if c.op == "in_range":
        col = _column(a, c.column)
        lo, hi = c.value  # type: ignore[misc]
        return [f"{col} >= ? AND {col} < ?"], [lo, hi]
    if c.op in ("ge", "lt", "eq"):
        sym = {"ge": ">=", "lt": "<", "eq": "="}[c.op]
        return [f"{_column(a, c.column)} {sym} ?"], [c.value]
    if c.op == "contains_nocase":
        joined = " || ' ' || ".join(f"COALESCE({_column(a, n)}, '')" for n in c.column)
        return ([f"LOWER({joined}) LIKE ? ESCAPE '\\'"],
                [f"%{_like_escape(str(c.value).lower())}%"])
    if c.op == "eq_any_nocase":
        return ["(" + " OR ".join(f"{_column(a, n)} = ? COLLATE NOCASE" for n in c.column)
                + ")"], [str(c.value)] * len(c.column)
    if c.op == "orientation":
        w, h = (_column(a, n) for n in c.column)
        shape, tolerance = c.value  # type: ignore[misc]
        tol = f"{float(tolerance)!r} * MAX({w}, {h})"
        test = {"square": f"ABS({w} - {h}) <= {tol}", "landscape": f"{w} - {h} > {tol}",
                "portrait": f"{h} - {w} > {tol}"}[shape]
        return [f"{w} IS NOT NULL AND {h} IS NOT NULL", test], []
    raise ValueError(f"unknown condition {c.op!r}")


def vector_to_blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype=np.float32).tobytes()


def blob_to_vector(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.float32)


class Catalog:
    """One connection to a library's SQLite catalog."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            immutable = self._immutable()
            if readonly or immutable:
                self.readonly = readonly = True
                uri = self.path.absolute().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30,
                                           isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                new = not self.path.exists()
                self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                                           isolation_level=None)
                if new:
                    os.chmod(self.path, 0o600)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"Cannot open the library catalog {self.path}: {e}") from e

    def _immutable(self) -> bool:
        """A catalog on a read-only disk that SQLite cannot open the usual way: a WAL
        database closed cleanly has no ``-shm`` file, and one cannot be created there.
        Nothing can change it, so it is opened as immutable (read-only, no locks)."""
        shm = self.path.with_name(self.path.name + "-shm")
        return self.path.is_file() and not shm.exists() and _read_only(self.path.parent)

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (BEGIN IMMEDIATE … COMMIT / ROLLBACK)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _q(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _x(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Execute one write; it commits at once unless inside ``transaction()``."""
        with self._lock:
            return self._db.execute(sql, params)

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"This library was written by a newer ClipGallery (schema {version}, "
                    f"this version knows {SCHEMA_VERSION}). Update ClipGallery to open it."
                )
            for v in range(version + 1, SCHEMA_VERSION + 1):
                self._db.executescript(
                    "BEGIN IMMEDIATE;\n" + _MIGRATIONS[v] + f"\nPRAGMA user_version={v};\nCOMMIT;"
                )

    @property
    def schema_version(self) -> int:
        return int(self._q("PRAGMA user_version")[0][0])

    # -- meta -------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        self._x("INSERT INTO meta(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    def delete_meta(self, key: str, *, only_if: str | None = None) -> None:
        """Forget ``key`` (with ``only_if``: only while its value is that)."""
        if only_if is None:
            self._x("DELETE FROM meta WHERE key=?", (key,))
        else:
            self._x("DELETE FROM meta WHERE key=? AND value=?", (key, only_if))

    def activate_model(self, spec: str, model_id: str) -> None:
        """In one transaction: ``spec``/``model_id`` become the library's model, and a
        pending switch to ``spec`` is done."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('model_spec', ?)", (spec,))
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('model_id', ?)",
                       (model_id,))
            db.execute("DELETE FROM meta WHERE key='next_model_spec' AND value=?", (spec,))

    @property
    def model_id(self) -> str | None:
        """The model whose vectors the library searches."""
        return self.get_meta("model_id")

    # -- folders ----------------------------------------------------------------

    def add_folder(self, path: str | os.PathLike[str]) -> Path:
        """Make ``path`` a library folder; returns the library folder that now covers it.

        Folders never nest: a folder inside a library folder is already covered (nothing
        is added), and a folder that holds library folders replaces them (their photos,
        keyed by path, stay as they are)."""
        new = encode_path(path).rstrip(os.sep.encode()) or os.sep.encode()
        sep = os.sep.encode()
        with self.transaction() as db:
            existing = [bytes(r[0]) for r in db.execute("SELECT path FROM folders")]
            for f in existing:
                if new == f or new.startswith(f.rstrip(sep) + sep):
                    return decode_path(f)
            for f in existing:
                if f.startswith(new.rstrip(sep) + sep):
                    db.execute("DELETE FROM folders WHERE path=?", (f,))
            db.execute("INSERT OR IGNORE INTO folders(path, added_at) VALUES(?, ?)",
                       (new, time.time()))
        return decode_path(new)

    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Forget a folder and its photos (the files themselves are never touched)."""
        lo, hi = path_prefix_range(path)
        with self.transaction() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM photos WHERE path >= ? AND path < ?", (lo, hi))]
            self._log(db, ids)
            db.execute("DELETE FROM photos WHERE path >= ? AND path < ?", (lo, hi))
            db.execute("DELETE FROM folders WHERE path=?", (encode_path(path),))
        return len(ids)

    def relocate_folder(self, old: str | os.PathLike[str], new: str | os.PathLike[str]) -> int:
        """Point a folder (and every photo under it) at a new location, e.g. a drive that
        came back under another mount point.  Vectors are kept: nothing is re-encoded."""
        old_b = encode_path(old).rstrip(os.sep.encode())
        new_b = encode_path(new).rstrip(os.sep.encode())
        lo, hi = path_prefix_range(old)
        with self.transaction() as db:
            rows = db.execute("SELECT id, path FROM photos WHERE path >= ? AND path < ?",
                              (lo, hi)).fetchall()
            for pid, path in rows:
                target = new_b + bytes(path)[len(old_b):]
                db.execute("DELETE FROM photos WHERE path=? AND id<>?", (target, pid))
                db.execute("UPDATE photos SET path=? WHERE id=?", (target, pid))
            self._log(db, [r[0] for r in rows])
            db.execute("UPDATE OR REPLACE folders SET path=? WHERE path=?", (new_b, old_b))
            if db.execute("SELECT changes()").fetchone()[0] == 0:
                db.execute("INSERT OR IGNORE INTO folders(path, added_at) VALUES(?, ?)",
                           (new_b, time.time()))
        return len(rows)

    def folders(self) -> list[Path]:
        return [decode_path(r[0]) for r in self._q("SELECT path FROM folders ORDER BY path")]

    def folder_counts(self, folder: str | os.PathLike[str]) -> dict[str, int]:
        lo, hi = path_prefix_range(folder)
        rows = self._q("SELECT status, COUNT(*) FROM photos WHERE path >= ? AND path < ? "
                       "GROUP BY status", (lo, hi))
        return {r[0]: r[1] for r in rows}

    # -- photos -----------------------------------------------------------------

    def photos_under(self, folder: str | os.PathLike[str]) -> list[Photo]:
        lo, hi = path_prefix_range(folder)
        rows = self._q(f"SELECT {_PHOTO_COLS} FROM photos WHERE path >= ? AND path < ?", (lo, hi))
        return [Photo.from_row(r) for r in rows]

    def photo_by_path(self, path: str | os.PathLike[str]) -> Photo | None:
        rows = self._q(f"SELECT {_PHOTO_COLS} FROM photos WHERE path=?", (encode_path(path),))
        return Photo.from_row(rows[0]) if rows else None

    def photos_by_id(self, ids: Iterable[int]) -> dict[int, Photo]:
        ids = list(ids)
        out: dict[int, Photo] = {}
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for r in self._q(f"SELECT {_PHOTO_COLS} FROM photos WHERE id IN ({marks})", chunk):
                out[r["id"]] = Photo.from_row(r)
        return out

    def photo_stamps(self) -> list[tuple[Path, int, int]]:
        """(path, mtime_ns, size) of every photo the library knows (any status)."""
        return [(decode_path(r[0]), int(r[1]), int(r[2]))
                for r in self._q("SELECT path, mtime_ns, size FROM photos")]

    def all_photos(self, status: str | None = None) -> list[Photo]:
        if status is None:
            rows = self._q(f"SELECT {_PHOTO_COLS} FROM photos ORDER BY id")
        else:
            rows = self._q(f"SELECT {_PHOTO_COLS} FROM photos WHERE status=? ORDER BY id",
                           (status,))
        return [Photo.from_row(r) for r in rows]

    def newest_first(self, status: str, limit: int) -> tuple[list[tuple[int, tuple]], int]:
        """The ``limit`` newest photos with ``status`` as (id, change stamp), and how many
        photos have it.

        Newest: by date taken, else by file time; ties by id, highest first.  The stamp
        changes whenever the row does (``updated_at``; path and file time too, which
        some updates change alone), so a caller can keep :class:`Photo` objects between
        calls and re-read only rows whose stamp changed (:meth:`photos_by_id`).
        """
        rows = self._q("SELECT id, updated_at, path, mtime_ns FROM photos WHERE status=? "
                       "ORDER BY COALESCE(NULLIF(taken_at, 0), mtime_ns / 1e9) DESC, id DESC "
                       "LIMIT ?", (status, limit))
        total = self._q("SELECT COUNT(*) FROM photos WHERE status=?", (status,))[0][0]
        return [(r[0], (r[1], r[2], r[3])) for r in rows], int(total)

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._q("SELECT status, COUNT(*) FROM photos GROUP BY status")}

    def skip_reasons(self) -> list[tuple[Path, str]]:
        rows = self._q("SELECT path, skip_reason FROM photos WHERE status=? ORDER BY path",
                       (SKIPPED,))
        return [(decode_path(r[0]), r[1] or "unknown") for r in rows]

    def skip_reasons_under(self, folder: str | os.PathLike[str],
                           limit: int = 20) -> list[tuple[Path, str]]:
        lo, hi = path_prefix_range(folder)
        rows = self._q("SELECT path, skip_reason FROM photos WHERE status=? AND path >= ? "
                       "AND path < ? ORDER BY path LIMIT ?", (SKIPPED, lo, hi, limit))
        return [(decode_path(r[0]), r[1] or "unknown") for r in rows]

    def hashes_with_vectors(self, model_id: str) -> set[str]:
        """Content hashes for which a vector of ``model_id`` is already stored."""
        rows = self._q("SELECT DISTINCT p.content_hash FROM photos p JOIN embeddings e "
                       "ON e.photo_id=p.id WHERE e.model_id=? AND p.content_hash IS NOT NULL",
                       (model_id,))
        return {r[0] for r in rows}

    def has_legacy_hashes(self) -> bool:
        """Whether some photo still holds a content digest of the kind written before
        BLAKE3 (no ``blake3:`` prefix; see :mod:`clipgallery.core.photos.hashes`).  Two
        range scans of the hash index, so cheap on any library."""
        return bool(self._q("SELECT 1 FROM photos WHERE content_hash < 'blake3:' "
                            "OR content_hash >= 'blake3;' LIMIT 1"))

    def missing_by_hash(self, content_hash: str) -> list[Photo]:
        rows = self._q(f"SELECT {_PHOTO_COLS} FROM photos WHERE status=? AND content_hash=?",
                       (MISSING, content_hash))
        return [Photo.from_row(r) for r in rows]

    def meta_of_hash(self, content_hash: str) -> dict[str, object]:
        """The metadata columns (:data:`META_COLUMNS`) of some photo with this content,
        or {} (a copy of a file takes its original's metadata)."""
        rows = self._q(f"SELECT {', '.join(META_COLUMNS)} FROM photos WHERE content_hash=? "
                       "LIMIT 1", (content_hash,))
        return dict(rows[0]) if rows else {}

    def gps_without_place(self) -> list[tuple[int, float, float]]:
        """(id, lat, lon) of photos with GPS but no place yet (indexed before places
        existed, schema 3)."""
        rows = self._q("SELECT id, gps_lat, gps_lon FROM photos WHERE gps_lat IS NOT NULL "
                       "AND gps_lon IS NOT NULL AND place_country IS NULL")
        return [(int(r[0]), float(r[1]), float(r[2])) for r in rows]

    def set_places(self, places: Sequence[tuple[int, str, str | None, str]]) -> None:
        """Store (id, city, region, country) for each photo, in one transaction."""
        with self.transaction() as db:
            db.executemany("UPDATE photos SET place_city=?, place_region=?, place_country=? "
                           "WHERE id=?", [(c, r, k, i) for i, c, r, k in places])

    def place_names(self) -> set[str]:
        """Every city, region and country name of the library's photos, lower case."""
        rows = self._q("SELECT DISTINCT place_city, place_region, place_country FROM photos "
                       "WHERE place_country IS NOT NULL")
        return {str(x).lower() for r in rows for x in r if x}

    # -- filtered lists (conditions: see :class:`Condition`) ----------------------------

    @staticmethod
    def where(conditions: Iterable[Condition], alias: str = "") -> tuple[str, list[object]]:
        """An SQL condition over ``photos`` (``"1"`` when there is none) and its
        parameters, for these :class:`Condition` s (all must hold)."""
        a = f"{alias}." if alias else ""
        conds: list[str] = []
        params: list[object] = []
        for c in conditions:
            sql, p = _condition_sql(c, a)
            conds += sql
            params += p
        return (" AND ".join(f"({c})" for c in conds) or "1"), params

    def ids_where(self, conditions: Iterable[Condition], status: str = INDEXED) -> list[int]:
        """Ids of the photos with ``status`` that meet every condition, in id order."""
        where, params = self.where(conditions)
        return [r[0] for r in self._q(f"SELECT id FROM photos WHERE status=? AND {where} "
                                      "ORDER BY id", [status, *params])]

    def count_with_vectors_where(self, model_id: str, conditions: Iterable[Condition]) -> int:
        """How many searchable photos (indexed, with a vector of ``model_id``) meet every
        condition."""
        where, params = self.where(conditions, "p")
        return int(self._q(
            f"SELECT COUNT(*) FROM photos p JOIN embeddings e ON e.photo_id=p.id "
            f"WHERE e.model_id=? AND p.status=? AND {where}", [model_id, INDEXED, *params])[0][0])

    def ids_by_date_where(self, conditions: Iterable[Condition], *, oldest_first: bool,
                          limit: int) -> list[int]:
        """At most ``limit`` ids of indexed photos meeting every condition, by date taken
        (newest first unless ``oldest_first``; undated last, ties by id)."""
        where, params = self.where(conditions)
        order = "ASC" if oldest_first else "DESC"
        rows = self._q(f"SELECT id FROM photos WHERE status=? AND {where} "
                       f"ORDER BY taken_at IS NULL, taken_at {order}, id LIMIT ?",
                       [INDEXED, *params, limit])
        return [r[0] for r in rows]

    # -- smart albums (rows: id, name, query, filters (JSON), created_at) -----------------

    def albums_by_name(self, name: str, *, nocase: bool = False) -> list[dict[str, object]]:
        """The album rows named ``name`` (with ``nocase``: ignoring case)."""
        sql = "SELECT * FROM albums WHERE name=?" + (" COLLATE NOCASE" if nocase else "")
        return [dict(r) for r in self._q(sql, (name,))]

    def all_albums(self) -> list[dict[str, object]]:
        """Every album row, by name ignoring case."""
        return [dict(r) for r in self._q("SELECT * FROM albums ORDER BY name COLLATE NOCASE")]

    def put_album(self, name: str, query: str, filters_json: str, *, replace: bool) -> bool:
        """Save an album (overwrite one of that exact name only with ``replace``); False,
        with nothing written, when one exists and ``replace`` is not given."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM albums WHERE name=?", (name,)).fetchone()
            if row is not None and not replace:
                return False
            if row is None:
                db.execute("INSERT INTO albums(name, query, filters, created_at) "
                           "VALUES(?,?,?,?)", (name, query, filters_json, time.time()))
            else:
                db.execute("UPDATE albums SET query=?, filters=? WHERE id=?",
                           (query, filters_json, row[0]))
        return True

    def delete_album(self, album_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM albums WHERE id=?", (album_id,))

    # -- consistency checks (``clipgallery check``) ----------------------------------------

    def integrity_check(self) -> str:
        """SQLite's own check: ``"ok"`` or the first problem found."""
        return str(self._q("PRAGMA integrity_check")[0][0])

    def orphan_embeddings_count(self) -> int:
        """Vectors whose photo row is gone."""
        return int(self._q("SELECT COUNT(*) FROM embeddings WHERE photo_id NOT IN "
                           "(SELECT id FROM photos)")[0][0])

    def drop_orphan_embeddings(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM embeddings WHERE photo_id NOT IN (SELECT id FROM photos)")

    def indexed_without_vector(self, model_id: str) -> list[int]:
        """Ids of photos marked indexed that have no vector of ``model_id``."""
        return [r[0] for r in self._q(
            "SELECT id FROM photos WHERE status=? AND id NOT IN "
            "(SELECT photo_id FROM embeddings WHERE model_id=?)", (INDEXED, model_id))]

    def requeue(self, ids: Sequence[int]) -> None:
        """Reset these photos' file time so that the next indexing run encodes them."""
        with self.transaction() as db:
            db.executemany("UPDATE photos SET mtime_ns=-1 WHERE id=?", [(i,) for i in ids])

    def vector_dim(self, model_id: str) -> int | None:
        """The length of ``model_id``'s stored vectors, or None when none is stored."""
        rows = self._q("SELECT LENGTH(vector) FROM embeddings WHERE model_id=? LIMIT 1",
                       (model_id,))
        return int(rows[0][0]) // 4 if rows else None

    # -- writes (call inside ``transaction()``) -------------------------------------

    @staticmethod
    def _log(db: sqlite3.Connection, ids: Iterable[int]) -> None:
        db.executemany("INSERT INTO vector_log(photo_id) VALUES(?)", [(i,) for i in ids])

    def upsert_photo(self, db: sqlite3.Connection, path: str | os.PathLike[str], *, size: int,
                     mtime_ns: int, content_hash: str | None, status: str,
                     skip_reason: str | None = None, meta: dict[str, object] | None = None) -> int:
        """Insert or update the row for ``path``; returns its id."""
        meta = {k: v for k, v in (meta or {}).items() if k in META_COLUMNS}
        now = time.time()
        cols = ["size", "mtime_ns", "content_hash", "status", "skip_reason", *meta]
        vals = [size, mtime_ns, content_hash, status, skip_reason, *meta.values()]
        blob = encode_path(path)
        row = db.execute("SELECT id FROM photos WHERE path=?", (blob,)).fetchone()
        if row is None:
            cur = db.execute(
                f"INSERT INTO photos(path, added_at, updated_at, {', '.join(cols)}) "
                f"VALUES(?, ?, ?, {', '.join('?' * len(cols))})", (blob, now, now, *vals))
            pid = int(cur.lastrowid)
        else:
            pid = int(row[0])
            sets = ", ".join(f"{c}=?" for c in cols)
            db.execute(f"UPDATE photos SET {sets}, updated_at=? WHERE id=?", (*vals, now, pid))
        self._log(db, [pid])
        return pid

    def put_embedding(self, db: sqlite3.Connection, photo_id: int, model_id: str,
                      vector: np.ndarray) -> None:
        db.execute("INSERT OR REPLACE INTO embeddings(photo_id, model_id, vector) VALUES(?,?,?)",
                   (photo_id, model_id, vector_to_blob(vector)))
        self._log(db, [photo_id])

    def drop_embeddings(self, db: sqlite3.Connection, photo_id: int) -> None:
        db.execute("DELETE FROM embeddings WHERE photo_id=?", (photo_id,))
        self._log(db, [photo_id])

    def move_photo(self, db: sqlite3.Connection, photo_id: int,
                   new_path: str | os.PathLike[str], *, size: int, mtime_ns: int,
                   content_hash: str | None = None) -> None:
        """The photo's file is now at ``new_path`` (its id, vector and metadata stay);
        ``content_hash``, if given, replaces the stored digest (same content, newer kind)."""
        db.execute("DELETE FROM photos WHERE path=? AND id<>?", (encode_path(new_path), photo_id))
        db.execute("UPDATE photos SET path=?, size=?, mtime_ns=?, status=?, skip_reason=NULL, "
                   "content_hash=COALESCE(?, content_hash), updated_at=? WHERE id=?",
                   (encode_path(new_path), size, mtime_ns, INDEXED, content_hash, time.time(),
                    photo_id))
        self._log(db, [photo_id])

    def mark_missing(self, db: sqlite3.Connection, ids: Sequence[int]) -> None:
        now = time.time()
        db.executemany("UPDATE photos SET status=?, updated_at=? WHERE id=?",
                       [(MISSING, now, i) for i in ids])
        self._log(db, ids)

    def embedding(self, photo_id: int, model_id: str) -> np.ndarray | None:
        rows = self._q("SELECT vector FROM embeddings WHERE photo_id=? AND model_id=?",
                       (photo_id, model_id))
        return blob_to_vector(rows[0][0]).copy() if rows else None

    def has_vector_for_hash(self, content_hash: str, model_id: str) -> bool:
        """Whether a vector of ``model_id`` is stored for some photo with this content."""
        return bool(self._q("SELECT 1 FROM photos p JOIN embeddings e ON e.photo_id=p.id "
                            "WHERE p.content_hash=? AND e.model_id=? LIMIT 1",
                            (content_hash, model_id)))

    def reusable_embedding(self, content_hash: str, model_id: str) -> np.ndarray | None:
        """A stored vector of any photo with this content (moved or copied files)."""
        rows = self._q("SELECT e.vector FROM photos p JOIN embeddings e ON e.photo_id=p.id "
                       "WHERE p.content_hash=? AND e.model_id=? LIMIT 1", (content_hash, model_id))
        return blob_to_vector(rows[0][0]).copy() if rows else None

    # -- what a vector index should hold ------------------------------------------------

    def indexed_vectors(self, model_id: str,
                        ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of searchable photos for ``model_id`` (optionally only ``ids``).

        Streams rows into one preallocated array, so a million vectors cost their own
        size in memory, not that again in Python objects.
        """
        sql = ("SELECT p.id, e.vector FROM photos p JOIN embeddings e ON e.photo_id=p.id "
               "WHERE e.model_id=? AND p.status=?")
        if ids is None:
            n = self.indexed_count(model_id)
            batches = [(sql + " ORDER BY p.id", (model_id, INDEXED))]
        else:
            ids = list(ids)
            n = len(ids)
            batches = []
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                batches.append((sql + f" AND p.id IN ({','.join('?' * len(chunk))})",
                                (model_id, INDEXED, *chunk)))
        out_ids = np.empty(n, dtype=np.int64)
        vecs: np.ndarray | None = None
        k = 0
        with self._lock:
            for q, params in batches:
                cur = self._db.execute(q, params)
                while rows := cur.fetchmany(4096):
                    for pid, blob in rows:
                        if vecs is None:
                            vecs = np.empty((n, len(blob) // 4), dtype=np.float32)
                        if k >= n:  # rows appeared since the count: grow
                            out_ids = np.resize(out_ids, 2 * n + 1)
                            vecs = np.resize(vecs, (2 * n + 1, vecs.shape[1]))
                            n = 2 * n + 1
                        out_ids[k] = pid
                        vecs[k] = np.frombuffer(blob, dtype=np.float32)
                        k += 1
        if vecs is None or k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return out_ids[:k], vecs[:k]

    def ids_with_embedding(self, model_id: str, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` have a stored vector for ``model_id`` (whatever their status)."""
        out: set[int] = set()
        ids = list(ids)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            out.update(r[0] for r in self._q(
                f"SELECT photo_id FROM embeddings WHERE model_id=? AND photo_id IN "
                f"({','.join('?' * len(chunk))})", (model_id, *chunk)))
        return out

    def indexed_count(self, model_id: str) -> int:
        return int(self._q("SELECT COUNT(*) FROM photos p JOIN embeddings e ON e.photo_id=p.id "
                           "WHERE e.model_id=? AND p.status=?", (model_id, INDEXED))[0][0])

    def log_head(self) -> int:
        return int(self._q("SELECT COALESCE(MAX(seq), 0) FROM vector_log")[0][0])

    def log_since(self, seq: int) -> tuple[int, list[int]]:
        """(head, distinct photo ids changed after ``seq``)."""
        rows = self._q("SELECT seq, photo_id FROM vector_log WHERE seq > ? ORDER BY seq", (seq,))
        head = rows[-1][0] if rows else max(seq, self.log_head())
        return head, list(dict.fromkeys(r[1] for r in rows))

    def log_floor(self) -> int:
        """Entries at or below this seq have been pruned and cannot be replayed."""
        return int(self.get_meta("log_pruned_upto", "0") or 0)

    def prune_log(self, upto: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM vector_log WHERE seq <= ?", (upto,))
            db.execute("INSERT INTO meta(key, value) VALUES('log_pruned_upto', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value=MAX(CAST(value AS INTEGER), "
                       "CAST(excluded.value AS INTEGER))", (str(upto),))

    # -- text in photos (OCR; see clipgallery.core.indexing.ocr_pass) --------------------

    def ocr_todo(self, limit: int, after_id: int = 0) -> list[tuple[int, str, Path]]:
        """Photos whose content was never read for text, oldest id first, one per content
        hash: ``(photo id, content hash, path)`` with ids above ``after_id``."""
        rows = self._q(
            "SELECT MIN(p.id), p.content_hash FROM photos p WHERE p.status=? AND "
            "p.content_hash IS NOT NULL AND p.id > ? AND NOT EXISTS (SELECT 1 FROM "
            "ocr_reads r WHERE r.content_hash=p.content_hash) GROUP BY p.content_hash "
            "ORDER BY MIN(p.id) LIMIT ?", (INDEXED, after_id, limit))
        paths = {r[0]: decode_path(r[1]) for r in self._q(
            f"SELECT id, path FROM photos WHERE id IN ({','.join('?' * len(rows))})",
            [r[0] for r in rows])} if rows else {}
        return [(int(r[0]), str(r[1]), paths[r[0]]) for r in rows]

    def ocr_counts(self) -> dict[str, int]:
        """Indexed photos by what their text read says: 'text', 'none', 'failed' and
        'unread' (not read yet)."""
        out = {"text": 0, "none": 0, "failed": 0, "unread": 0}
        for status, n in self._q(
                "SELECT COALESCE(r.status, 'unread'), COUNT(*) FROM photos p LEFT JOIN "
                "ocr_reads r ON r.content_hash=p.content_hash WHERE p.status=? "
                "GROUP BY 1", (INDEXED,)):
            out[str(status)] = int(n)
        return out

    def ocr_read_count(self) -> int:
        """Contents read for text so far (every status)."""
        return int(self._q("SELECT COUNT(*) FROM ocr_reads")[0][0])

    @staticmethod
    def put_ocr_read(db: sqlite3.Connection, content_hash: str, status: str,
                     lines: Sequence[OcrLine] = (), reason: str | None = None) -> None:
        """Record one content's read (inside ``transaction()``); a second read of the
        same content replaces the first."""
        old = [r[0] for r in db.execute("SELECT id FROM ocr_lines WHERE content_hash=?",
                                        (content_hash,))]
        if old:
            marks = ",".join("?" * len(old))
            for table in ("ocr_lines", "ocr_fts", "ocr_trigram"):
                key = "id" if table == "ocr_lines" else "rowid"
                db.execute(f"DELETE FROM {table} WHERE {key} IN ({marks})", old)
        db.execute("INSERT INTO ocr_reads(content_hash, status, reason, read_at) "
                   "VALUES(?, ?, ?, ?) ON CONFLICT(content_hash) DO UPDATE SET "
                   "status=excluded.status, reason=excluded.reason, read_at=excluded.read_at",
                   (content_hash, status, reason, time.time()))
        for ln in lines:
            cur = db.execute(
                "INSERT INTO ocr_lines(content_hash, text, x0, y0, x1, y1, confidence) "
                "VALUES(?, ?, ?, ?, ?, ?, ?)", (content_hash, ln.text, *ln.box, ln.confidence))
            db.execute("INSERT INTO ocr_fts(rowid, text) VALUES(?, ?)",
                       (cur.lastrowid, ln.text))
            db.execute("INSERT INTO ocr_trigram(rowid, folded) VALUES(?, ?)",
                       (cur.lastrowid, fold_text(ln.text)))

    def ocr_lines(self, content_hash: str) -> list[OcrLine]:
        """The text lines read from this content, top to bottom."""
        return [OcrLine(r[0], (r[1], r[2], r[3], r[4]), r[5]) for r in self._q(
            "SELECT text, x0, y0, x1, y1, confidence FROM ocr_lines WHERE content_hash=? "
            "ORDER BY y0, x0", (content_hash,))]

    def text_hits(self, words: str, limit: int = 1000) -> list[TextHit]:
        """Indexed photos whose text holds ``words``: each word as a word or a word's
        start (FTS5, case and accents folded), else as a substring of a line (trigram,
        words of 3 letters or more).  One hit per photo, the best line; ``kind`` is
        'word', 'prefix' or 'substring' (best first)."""
        tokens = fold_text(words).split()
        if not tokens:
            return []
        phrase = '"' + " ".join(t.replace('"', "") for t in tokens) + '"'
        found: dict[int, tuple[int, float]] = {}  # line id -> (kind rank, -confidence)
        for rank, match in ((0, phrase), (1, phrase + " *")):
            for lid, conf in self._q(
                    "SELECT f.rowid, l.confidence FROM ocr_fts f JOIN ocr_lines l ON "
                    "l.id=f.rowid WHERE ocr_fts MATCH ? LIMIT ?", (match, limit * 4)):
                found.setdefault(int(lid), (rank, -float(conf)))
        folded = " ".join(tokens)
        if len(folded) >= 3:
            for lid, conf in self._q(
                    "SELECT t.rowid, l.confidence FROM ocr_trigram t JOIN ocr_lines l ON "
                    "l.id=t.rowid WHERE ocr_trigram MATCH ? LIMIT ?",
                    ('"' + folded.replace('"', "") + '"', limit * 4)):
                found.setdefault(int(lid), (2, -float(conf)))
        if not found:
            return []
        ids = sorted(found, key=lambda i: found[i])
        marks = ",".join("?" * len(ids))
        per_line: dict[int, list[sqlite3.Row]] = {}
        for r in self._q(
                "SELECT l.id, p.id, l.text, l.x0, l.y0, l.x1, l.y1, l.confidence FROM "
                f"ocr_lines l JOIN photos p ON p.content_hash=l.content_hash WHERE l.id IN "
                f"({marks}) AND p.status=?", (*ids, INDEXED)):
            per_line.setdefault(int(r[0]), []).append(r)
        hits: dict[int, TextHit] = {}
        kinds = ("word", "prefix", "substring")
        for lid in ids:
            for r in per_line.get(lid, []):
                pid = int(r[1])
                if pid not in hits:
                    hits[pid] = TextHit(pid, str(r[2]), (r[3], r[4], r[5], r[6]),
                                        float(r[7]), kinds[found[lid][0]])
            if len(hits) >= limit:
                break
        return list(hits.values())

    def ocr_problems(self) -> list[str]:
        """What ``check`` finds wrong in the text tables (cheap counts)."""
        problems = []
        n_lines = int(self._q("SELECT COUNT(*) FROM ocr_lines")[0][0])
        for table in ("ocr_fts", "ocr_trigram"):
            n = int(self._q(f"SELECT COUNT(*) FROM {table}")[0][0])
            if n != n_lines:
                problems.append(f"text search table {table} holds {n} lines, not {n_lines}")
        orphans = int(self._q("SELECT COUNT(*) FROM ocr_lines l WHERE NOT EXISTS (SELECT 1 "
                              "FROM ocr_reads r WHERE r.content_hash=l.content_hash)")[0][0])
        if orphans:
            problems.append(f"{orphans} text lines belong to no read")
        return problems


class OcrLine(NamedTuple):
    """One line of text read from a photo: its box (x0, y0, x1, y1; 0..1 of the oriented
    image) and the recogniser's confidence (0..1)."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float


class TextHit(NamedTuple):
    """A photo whose text matched a search: the best matching line."""

    photo_id: int
    text: str
    box: tuple[float, float, float, float]
    confidence: float
    kind: str  # 'word' | 'prefix' | 'substring'

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "box": [round(float(v), 4) for v in self.box],
                "confidence": round(self.confidence, 4), "match": self.kind}


def fold_text(text: str) -> str:
    """Text as matched: case-folded, accents removed (NFKD without combining marks),
    every other character than letters and digits a space ("Bakery's" -> "bakery s")."""
    import unicodedata

    nfkd = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in nfkd if not unicodedata.combining(c))
    return " ".join("".join(c if c.isalnum() else " " for c in bare).split())
