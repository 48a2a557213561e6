"""The empty query ("all photos"): rows kept between refreshes stay right."""

from __future__ import annotations

from pathlib import Path

from clipgallery.app.items import Query
from clipgallery.app.search_worker import SearchWorker
from clipgallery.core.store.catalog import INDEXED, MISSING, Catalog


def _add(cat: Catalog, path: Path, mtime_s: float, taken: float | None = None) -> int:
    with cat.transaction() as db:
        return cat.upsert_photo(db, path, size=10, mtime_ns=int(mtime_s * 1e9),
                                content_hash=path.name, status=INDEXED,
                                meta={"taken_at": taken} if taken else None)


def _expected(cat: Catalog) -> list[int]:
    photos = cat.all_photos(INDEXED)
    photos.sort(key=lambda p: (p.taken_at or p.mtime_ns / 1e9, p.id), reverse=True)
    return [p.id for p in photos]


def test_browse_refresh_reuses_rows_and_sees_every_change(tmp_path):
    cat = Catalog(tmp_path / "catalog.sqlite3")
    worker = SearchWorker(tmp_path / "catalog.sqlite3")  # never started: _search is direct
    root = tmp_path / "photos"
    cat.add_folder(root)
    ids = [_add(cat, root / f"p{i}.jpg", 1000 + i % 3, taken=5000 if i == 4 else None)
           for i in range(8)]

    def browse():
        rs = worker._search(cat, None, Query.browse())
        assert rs.searched_photos == len(_expected(cat))
        assert [it.photo.id for it in rs.items] == _expected(cat)
        assert rs.rows_by_path == {it.photo.path: [r] for r, it in enumerate(rs.items)}
        return {it.photo.id: it for it in rs.items}

    first = browse()
    assert next(iter(first)) == ids[4]  # taken_at wins over file times
    again = browse()
    assert all(again[i] is first[i] for i in ids)  # nothing re-read

    new = _add(cat, root / "new.jpg", 9000)
    _add(cat, root / "p1.jpg", 1001, taken=7000)  # metadata changed (updated_at moves)
    with cat.transaction() as db:
        cat.mark_missing(db, [ids[2]])
    third = browse()
    assert next(iter(third)) == new
    assert third[ids[1]].photo.taken_at == 7000 and third[ids[1]] is not first[ids[1]]
    assert ids[2] not in third
    assert third[ids[0]] is first[ids[0]]

    # A folder moved: only the path changes (updated_at does not).
    cat.relocate_folder(root, tmp_path / "moved")
    fourth = browse()
    assert all(it.photo.path.parent == tmp_path / "moved" for it in fourth.values())
    assert MISSING not in {it.photo.status for it in fourth.values()}
    cat.close()
