"""Content hashes: BLAKE3 for new photos, and libraries hashed the old way (blake2b)
keep working — moved, copied and touched photos recognised, nothing encoded again."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

from clipgallery.core.indexing.indexer import Indexer
from clipgallery.core.photos import hashes
from clipgallery.core.store.library import Library
from tests import synthetic


def _stored(library_dir: Path) -> dict[str, str]:
    db = sqlite3.connect(library_dir / "catalog.sqlite3")
    try:
        return {Path(os.fsdecode(p)).name: h for p, h in
                db.execute("SELECT path, content_hash FROM photos")}
    finally:
        db.close()


def _make_legacy(library_dir: Path) -> None:
    """Rewrite the stored digests as a library written before BLAKE3 holds them."""
    db = sqlite3.connect(library_dir / "catalog.sqlite3")
    with db:
        for pid, path in db.execute("SELECT id, path FROM photos").fetchall():
            data = Path(os.fsdecode(path)).read_bytes()
            db.execute("UPDATE photos SET content_hash=? WHERE id=?",
                       (hashlib.blake2b(data, digest_size=16).hexdigest(), pid))
    db.close()


def test_new_photos_get_blake3() -> None:
    data = b"x" * 1000
    h = hashes.content_hash(data)
    assert h.startswith("blake3:") and len(h) == len("blake3:") + 32
    assert not hashes.is_legacy(h) and hashes.is_legacy(hashes.legacy_hash(data))
    assert hashes.matches(hashes.legacy_hash(data), data, h) and hashes.matches(h, data, h)
    assert not hashes.matches(hashes.legacy_hash(b"y"), data, h)


def test_library_hashed_the_old_way_is_recognised_not_reencoded(tmp_path, library_dir,
                                                                 tiny_model) -> None:
    photos, other = tmp_path / "photos", tmp_path / "other"
    synthetic.make_folder(photos, 12, seed=99)
    other.mkdir()
    lib = Library.open(library_dir, write=True)
    enc = lib.load_encoder(tiny_model)
    idx = lib.index_for(enc)
    with lib:
        Indexer(lib.catalog, idx, enc).run([photos, other])
        assert all(h.startswith("blake3:") for h in _stored(library_dir).values())
        assert not lib.catalog.has_legacy_hashes()
    _make_legacy(library_dir)

    lib = Library.open(library_dir, write=True)
    enc = lib.load_encoder(tiny_model)
    idx = lib.index_for(enc)
    with lib:
        assert lib.catalog.has_legacy_hashes()
        files = sorted(photos.iterdir())
        touched, moved, copied = files[0], files[1], files[2]
        os.utime(touched, ns=(1, 10**18))  # same content, new mtime: compared by hash
        shutil.move(moved, other / "moved.jpg")
        shutil.copy(copied, other / "copy.jpg")
        before = enc.images_encoded
        s = Indexer(lib.catalog, idx, enc).run([photos, other])
        assert enc.images_encoded == before and s.indexed == 0, s
        assert (s.moved, s.copies, s.unchanged) == (1, 1, 11), s
        stored = _stored(library_dir)
        for name in (touched.name, "moved.jpg", "copy.jpg"):  # upgraded in place
            assert stored[name] == hashes.content_hash((
                photos / name if (photos / name).exists() else other / name).read_bytes())
        assert hashes.is_legacy(stored[files[3].name])  # untouched rows stay as they were
        assert len(idx) == lib.catalog.indexed_count(enc.model_id) == 13
