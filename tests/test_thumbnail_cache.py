"""The disk thumbnail cache: keyed by path + mtime + size, pruned of stale and
least-recently-used files, never of photos the library still knows (offline ones too).
Real photos, a real catalog, real files."""

from __future__ import annotations

import os
import shutil
import time

from clipgallery.app.thumbnail_cache import ThumbnailCache, live_keys
from clipgallery.core.store.library import Library
from tests import synthetic


def test_prune_drops_stale_keeps_known_and_offline(tmp_path):
    photos = tmp_path / "photos"
    files = [p for p, _ in synthetic.make_folder(photos, 4, seed=41)]
    cache = ThumbnailCache(tmp_path / "thumbs")

    def thumb(p):
        st = p.stat()
        return cache.get_or_make(p, st.st_mtime_ns, st.st_size)[0]

    made = {p: thumb(p) for p in files}
    edited = files[0]
    synthetic.draw("red", "circle", "white", __import__("numpy").random.default_rng(1)).save(
        edited)
    os.utime(edited, ns=(1, 10**18))
    new_thumb = thumb(edited)
    assert new_thumb != made[edited] and made[edited].exists()  # the old one is stale now
    (cache.directory / new_thumb.parent.name / "left.tmp").write_bytes(b"x")
    os.utime(cache.directory / new_thumb.parent.name / "left.tmp", (1, 1))

    with Library.open(tmp_path / "lib", write=True) as lib:
        with lib.catalog.transaction() as db:
            for p in files:
                st = p.stat()
                lib.catalog.upsert_photo(db, p, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                         content_hash=p.name, status="indexed", meta={})
        # an unplugged drive: the file is gone, its row (and so its thumbnail) stays
        offline = files[1]
        shutil.move(offline, tmp_path / "elsewhere.jpg")
        keys = live_keys(lib.catalog.photo_stamps())
    removed, freed = cache.prune(keys)
    assert removed == 2 and freed > 0  # the stale thumbnail and the old temp file
    assert not made[edited].exists() and new_thumb.exists()
    assert all(made[p].exists() for p in files[1:])  # offline photo's thumbnail kept


def test_prune_over_the_cap_removes_least_recently_used(tmp_path):
    photos = tmp_path / "photos"
    files = [p for p, _ in synthetic.make_folder(photos, 5, seed=42)]
    cache = ThumbnailCache(tmp_path / "thumbs")
    thumbs = []
    for i, p in enumerate(files):
        st = p.stat()
        t = cache.get_or_make(p, st.st_mtime_ns, st.st_size)[0]
        old = time.time() - 10 * 86400 + i * 3600  # files[0] least recently used
        os.utime(t, (old, old))
        thumbs.append(t)
    # A hit on the oldest marks it as used: it is pruned last now.
    st = files[0].stat()
    assert cache.get_or_make(files[0], st.st_mtime_ns, st.st_size) == (thumbs[0], True)
    sizes = [t.stat().st_size for t in thumbs]
    keys = live_keys((p, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    cap = sizes[0] + sizes[4] + 1
    removed, _ = cache.prune(keys, max_bytes=cap)
    assert removed == 3
    assert [t.exists() for t in thumbs] == [True, False, False, False, True]
