"""Search that photographers trust (issue #6): compound queries, filters, the relevance
cutoff, stacks and duplicates, labels, smart albums and "more like these".

Real components throughout: the tiny test CLIP, SQLite, hnswlib, generated photos and the
shared real corpus.  One indexed library is built per module and shared by the tests.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipgallery.core.indexing.indexer import Indexer
from clipgallery.core.photos import phash
from clipgallery.core.search import duplicates, ranking
from clipgallery.core.search.albums import AlbumError, album_results, get_album, save_album
from clipgallery.core.search.duplicates import find_duplicates
from clipgallery.core.search.labels import VOCABULARY, top_labels
from clipgallery.core.search.query import Filters, QueryError, parse_query
from clipgallery.core.search.searcher import Searcher, SearchError
from clipgallery.core.store.library import Library
from tests import synthetic
from tests.conftest import CORPUS, TINY_CLIP

N_MAIN = 500
CANON_DAY = dt.date(2021, 7, 4)
NIKON_DAY = dt.date(2019, 3, 2)


def main_specs(seed: int = 11) -> list[tuple[str, str, str]]:
    """500 photos: 10 red circles, 12 blue circles, 12 blue squares, the rest other
    colour/shape pairs; backgrounds at random."""
    rng = np.random.default_rng(seed)

    def bg(colour: str) -> str:
        return str(rng.choice([b for b in synthetic.BACKGROUNDS
                               if synthetic.is_visible(colour, b)]))

    specs = [("red", "circle", bg("red")) for _ in range(10)]
    specs += [("blue", "circle", bg("blue")) for _ in range(12)]
    specs += [("blue", "square", bg("blue")) for _ in range(12)]
    reserved = {("red", "circle"), ("blue", "circle"), ("blue", "square")}
    while len(specs) < N_MAIN:
        c, s, b = synthetic.random_spec(rng)
        if (c, s) not in reserved:
            specs.append((c, s, b))
    rng.shuffle(specs)
    return [tuple(x) for x in specs]


def kind(path: str | Path) -> str:
    """'red_circle' for '00012_red_circle_white.jpg'."""
    parts = Path(path).stem.split("_")
    return f"{parts[1]}_{parts[2]}" if len(parts) >= 3 else Path(path).stem


def write_copies(folder: Path) -> list[Path]:
    """Five resized / re-compressed copies of one photo (a green star on noise), plus
    three other photos, in ``folder``."""
    folder.mkdir(parents=True)
    base = synthetic.draw("green", "star", "noise", np.random.default_rng([5, 5]),
                          size=(400, 300))
    out = []
    for k, (w, q) in enumerate([(400, 95), (360, 85), (320, 75), (240, 60), (200, 40)]):
        p = folder / f"copy{k}.jpg"
        base.resize((w, w * 3 // 4), Image.Resampling.LANCZOS).save(p, quality=q)
        out.append(p)
    for k, spec in enumerate([("green", "star", "stripes"), ("yellow", "ring", "noise"),
                              ("green", "cross", "noise")]):
        synthetic.draw(*spec, np.random.default_rng([6, k]), size=(400, 300)).save(
            folder / f"other{k}_{'_'.join(spec)}.jpg", quality=90)
    return out


def write_camera_photos(folder: Path) -> None:
    """Photos with EXIF camera and date: three 'Canon' ones, three 'NIKON' ones."""
    folder.mkdir(parents=True)
    for k in range(6):
        canon = k < 3
        img = synthetic.draw("orange", "triangle", "grey", np.random.default_rng([7, k]))
        exif = Image.Exif()
        exif[0x010F] = "Canon" if canon else "NIKON CORPORATION"
        exif[0x0110] = "Canon EOS 5D Mark IV" if canon else "NIKON D750"
        day = CANON_DAY if canon else NIKON_DAY
        exif.get_ifd(0x8769)[0x9003] = f"{day:%Y:%m:%d} {10 + k}:00:00"
        img.save(folder / f"{k:05d}_orange_triangle_grey.jpg", quality=90, exif=exif)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    assert (TINY_CLIP / "open_clip_config.json").is_file(), "tests/data/tiny-clip is missing"
    root = tmp_path_factory.mktemp("gallery")
    photos = root / "photos"
    synthetic.make_folder(photos / "main", N_MAIN, seed=2024, specs=main_specs())
    copies = write_copies(photos / "copies")
    write_camera_photos(photos / "camera")
    synthetic.make_folder(photos / "png", 4, seed=31, fmt="png",
                          specs=[("purple", "ring", "white")])
    album_dir = photos / "album"
    synthetic.make_folder(album_dir, 3, seed=41, specs=[("yellow", "square", "black")])
    lib = Library.open(root / "library", write=True)
    enc = lib.load_encoder(str(TINY_CLIP))
    idx = lib.index_for(enc)
    summary = Indexer(lib.catalog, idx, enc, batch_size=64).run([photos])
    assert summary.skipped == [] and summary.indexed == N_MAIN + 8 + 6 + 4 + 3
    lib.activate_model(enc, str(TINY_CLIP))
    searcher = Searcher(lib.catalog, idx, enc)
    yield types.SimpleNamespace(lib=lib, enc=enc, idx=idx, searcher=searcher, photos=photos,
                                main=photos / "main", copies=copies, album_dir=album_dir,
                                library=root / "library")
    lib.close()


def ids_of(gallery, pattern: str) -> list[int]:
    return [p.id for p in gallery.lib.catalog.photos_under(gallery.main)
            if kind(p.path) == pattern]


# ----------------------------------------------------------------------------- parsing


def test_query_language_parses_and_errors_are_friendly(cli, gallery):
    q = parse_query('2:"red car" + street at night -people -0.5:"a dog"')
    assert [(t.text, t.weight, t.negative) for t in q.terms] == [
        ("red car", 2.0, False), ("street at night", 1.0, False), ("people", 1.0, True),
        ("a dog", 0.5, True)]
    assert [t.text for t in parse_query("dog on a chair").terms] == ["dog on a chair"]
    assert [t.text for t in parse_query("t-shirt").terms] == ["t-shirt"]
    assert [t.text for t in parse_query("10:30 meeting").terms] == ["10:30 meeting"]
    for bad, words in [("2:", "weight 2: has no words"), ('"red circle', "quote is not closed"),
                       ("-people", "not only what to leave out"), ("beach -", "Nothing after '-'"),
                       ("sunset + ", "Nothing after '+'"), ("20:x", "at most 10"),
                       ("", "Type a few words")]:
        with pytest.raises(QueryError, match=re.escape(words)):
            parse_query(bad)
    assert issubclass(QueryError, SearchError)
    with pytest.raises(QueryError, match="date like"):
        Filters(after="yesterday")
    with pytest.raises(QueryError, match="landscape, portrait or square"):
        Filters(orientation="diagonal")
    # The command line reports them in one line, without a traceback.
    for bad in ("2:", '"red circle', "-people beach"):
        code, out, err = cli("search", bad, "--library", gallery.library)
        assert code == 2 and err.startswith("clipgallery: ") and "Traceback" not in err, err
    code, out, err = cli("search", "x", "--after", "2021-13-01", "--library", gallery.library)
    assert code == 2 and "date like" in err


# ----------------------------------------------------------------------------- ranking


def test_cutoff_shows_the_rare_concept_and_hides_the_rest(cli, gallery):
    res = gallery.searcher.search("a red circle", filters=Filters(folder=gallery.main))
    # (a stack of near-identical photos counts with all its photos)
    best = [kind(m.path) for r in res.best for m in (r.stack or [r])]
    assert best.count("red_circle") >= 8, best
    assert len(best) - best.count("red_circle") <= 5, best
    assert all(b == "red_circle" for b in best[:8]), best
    assert res.more > 0 and len(res) == 100 and res.exact
    assert all(r.best == (r in res.best) for r in res)
    # A concept that is not in the library at all: nothing stands out much.
    flat = gallery.searcher.search("a red circle", filters=Filters(folder=gallery.album_dir))
    assert flat.best == []
    # The command line shows the best matches and says how many more there are.
    code, out, err = cli("search", "a red circle", "--folder", gallery.main,
                         "--library", gallery.library)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-1].endswith("more (use --all)")
    assert len(lines) - 1 == len(res.best)
    rows = cli.json("search", "a red circle", "--folder", gallery.main, "--library",
                    gallery.library, "--limit", "30")
    assert len(rows) == 30 and sum(r["best"] for r in rows) == len(res.best)
    code, out, err = cli("search", "a red circle", "--all", "--folder", gallery.main,
                         "--library", gallery.library, "--limit", "30")
    assert len(out.strip().splitlines()) == 30


def test_negative_terms_remove_the_excluded_concept(gallery):
    s = gallery.searcher
    main = Filters(folder=gallery.main)

    def top(query, n=20):
        return [kind(r.path) for r in s.search(query, filters=main, limit=40, stack=False)][:n]

    both = top("a red circle + a red square")
    assert both.count("red_circle") >= 6 and both.count("red_square") >= 6, both
    without = s.search('a red circle + a red square -"a red square"', filters=main,
                       limit=40, stack=False)
    kinds = [kind(r.path) for r in without]
    assert "red_square" not in kinds[:20], kinds
    assert kinds[:8].count("red_circle") >= 6, kinds
    assert not any(kind(r.path) == "red_square" for r in without.best)
    # Only what is excluded goes: other circles stay.
    assert "red_circle" in top("a circle", 40)
    rest = top('a circle -"a red circle"', 40)
    assert "red_circle" not in rest and all(k.endswith("_circle") for k in rest[:10]), rest


def test_weights_change_the_ranking(gallery):
    s = gallery.searcher
    main = Filters(folder=gallery.main)

    def top(query):
        return [kind(r.path) for r in s.search(query, filters=main, stack=False)][:10]

    red_first = top("3:a red circle + a blue square")
    blue_first = top("a red circle + 3:a blue square")
    assert red_first.count("red_circle") >= 7 and "blue_square" not in red_first, red_first
    assert blue_first.count("blue_square") >= 5 and "red_circle" not in blue_first, blue_first


def test_more_like_these_refines_the_query(cli, gallery):
    s = gallery.searcher
    main = Filters(folder=gallery.main)
    query = "a red circle + a blue circle"
    before = s.search(query, filters=main, limit=60, stack=False)
    blue = [r for r in before if kind(r.path) == "blue_circle"]
    red = [r for r in before if kind(r.path) == "red_circle"]
    good, bad = [blue[-1].photo.id, blue[-2].photo.id], [red[0].photo.id]
    after = s.search(query, filters=main, limit=60, stack=False, good=good, bad=bad)

    def mean_rank(resp, k):
        ranks = [i for i, r in enumerate(resp) if kind(r.path) == k]
        return sum(ranks) / max(len(ranks), 1)

    assert mean_rank(after, "blue_circle") < mean_rank(before, "blue_circle")
    top = [kind(r.path) for r in after][:12]
    assert top.count("blue_circle") >= 10, top
    assert bad[0] not in [r.photo.id for r in after]
    # The same from the command line, by path and by id.
    rows = cli.json("search", query, "--folder", gallery.main, "--good", str(blue[-1].path),
                    "--good", str(good[1]), "--bad", str(bad[0]), "--library", gallery.library,
                    "--limit", "12", "--no-stack")
    assert [r["id"] for r in rows] == [r.photo.id for r in after][:12]
    # Rocchio itself.
    q, g, b = np.eye(3, dtype=np.float32)
    v = ranking.refine(q, np.stack([g]), np.stack([b]), alpha=1, beta=0.75, gamma=0.25)
    np.testing.assert_allclose(v, np.array([1, 0.75, -0.25]) / np.linalg.norm([1, .75, .25]),
                               rtol=1e-5)


def test_text_and_image_together(gallery):
    s = gallery.searcher
    main = Filters(folder=gallery.main)
    red = ids_of(gallery, "red_circle")
    res = s.search("a red circle", image=red[0], filters=main, stack=False)
    assert red[0] not in [r.photo.id for r in res]  # the example itself is left out
    top = [kind(r.path) for r in res][:8]
    assert top.count("red_circle") >= 7, top
    # An image file from outside the library works too.
    outside = gallery.photos.parent / "query.jpg"
    synthetic.draw("blue", "square", "white", np.random.default_rng(77)).save(outside)
    top = [kind(r.path) for r in s.search(image=outside, filters=main, stack=False)][:5]
    assert all(k.startswith("blue_") for k in top) and "blue_square" in top, top
    with pytest.raises(SearchError, match="not in the library and is not a file"):
        s.search("x", image=gallery.photos / "nope.jpg")


# ----------------------------------------------------------------------------- filters


def test_filters_restrict_results(cli, gallery):
    s, cat = gallery.searcher, gallery.lib.catalog
    by_folder = s.search("a green star", filters=Filters(folder=gallery.photos / "copies"))
    assert {p.path.parent for r in by_folder for p in [m.photo for m in (r.stack or [r])]} == \
        {gallery.photos / "copies"}
    portrait = s.search("a circle", filters=Filters(orientation="portrait"), limit=1000,
                        stack=False)
    assert portrait and all(r.photo.height > r.photo.width for r in portrait)
    n_portrait = cat._q("SELECT COUNT(*) FROM photos WHERE height > width * 1.02")[0][0]
    assert len(portrait) == n_portrait
    square = s.search("a circle", filters=Filters(orientation="square"), limit=1000,
                      stack=False)
    assert square and all(abs(r.photo.width - r.photo.height) <= 0.02 * r.photo.width
                          for r in square)
    png = s.search("a red circle", filters=Filters(file_type="PNG"), stack=False)
    assert sorted(r.path.name for r in png) == sorted(p.name for p in
                                                     (gallery.photos / "png").iterdir())
    canon = s.search("a triangle", filters=Filters(camera="canon"), stack=False)
    assert len(canon) == 3 and all(r.photo.camera_make == "Canon" for r in canon)
    dated = s.search("a triangle", filters=Filters(after="2019-01-01", before="2019-12-31"),
                     stack=False)
    assert len(dated) == 3 and all("NIKON" in r.photo.camera_make for r in dated)
    one_day = s.search("a triangle", filters=Filters(after=CANON_DAY, before=CANON_DAY))
    assert len(one_day.photos()) == 3
    # Filters alone list photos, newest first (or oldest first).
    listing = s.search(filters=Filters(folder=gallery.photos / "camera"), sort="date",
                       stack=False)
    taken = [r.photo.taken_at for r in listing]
    assert len(taken) == 6 and taken == sorted(taken, reverse=True)
    oldest = s.search(filters=Filters(folder=gallery.photos / "camera"), sort="oldest",
                      stack=False)
    assert [r.photo.id for r in oldest] == [r.photo.id for r in listing][::-1]
    # Sorting a search by date keeps its results, in date order.
    by_date = s.search("a triangle", filters=Filters(folder=gallery.photos / "camera"),
                       sort="date", stack=False)
    assert [r.photo.id for r in by_date] == [r.photo.id for r in listing]
    # The command line: the same answers.
    rows = cli.json("search", "a triangle", "--camera", "nikon", "--library", gallery.library)
    assert len(rows) == 3 and all("NIKON" in r["camera"] for r in rows)
    rows = cli.json("search", "--type", "png", "--library", gallery.library)
    assert len(rows) == 4 and all(r["path"].endswith(".png") for r in rows)
    rows = cli.json("search", "a circle", "--orientation", "landscape", "--limit", "50",
                    "--library", gallery.library)
    assert rows and all(r["width"] > r["height"] for r in rows)


def test_large_library_paths_agree_with_exact_scoring(gallery):
    """Above EXACT_MAX the index is over-fetched (or, for a selective filter, the
    matching photos are scored exactly); both agree with scoring every vector."""
    exact = gallery.searcher
    approx = Searcher(gallery.lib.catalog, gallery.idx, gallery.enc)
    approx.exact_max = 0
    approx.sample_size = 200
    for query, filters in [("a red circle", None),
                           ('a red circle + a blue circle -"a red circle"', None),
                           ("a blue square", Filters(orientation="square")),
                           ("a star", Filters(folder=gallery.photos / "copies"))]:
        want = exact.search(query, filters=filters, limit=10, stack=False)
        for selective_max in (0, 100_000):
            approx.selective_max = selective_max
            got = approx.search(query, filters=filters, limit=10, stack=False)
            assert not got.exact
            overlap = {r.photo.id for r in got} & {r.photo.id for r in want}
            assert len(overlap) >= min(9, len(want)), (query, filters, selective_max)
            assert [r.best for r in got][:3] == [r.best for r in want][:3]


# ----------------------------------------------------------------------------- stacks


def test_resized_copies_show_as_one_stack_of_five(cli, gallery):
    s = gallery.searcher
    res = s.search("a green star", filters=Filters(folder=gallery.photos / "copies"))
    stacks = [r for r in res if r.count > 1]
    assert len(stacks) == 1 and stacks[0].count == 5
    assert sorted(m.path for m in stacks[0].stack) == sorted(gallery.copies)
    assert stacks[0].stack[0] is stacks[0]  # the best-scoring copy represents it
    assert stacks[0].score == max(m.score for m in stacks[0].stack)
    assert len(res) == 1 + 3  # the stack and the three other photos
    # Without stacking, all eight separately; the JSON marks each copy's stack.
    assert len(s.search("a green star", filters=Filters(folder=gallery.photos / "copies"),
                        stack=False)) == 8
    rows = cli.json("search", "a green star", "--folder", gallery.photos / "copies",
                    "--library", gallery.library)
    stacked = [r for r in rows if r["stack"] is not None]
    assert len(stacked) == 5 and {r["stack_size"] for r in stacked} == {5}
    assert len({r["stack"] for r in stacked}) == 1
    code, out, err = cli("search", "a green star", "--folder", gallery.photos / "copies",
                         "--all", "--library", gallery.library)
    assert "[+4 near-identical]" in out
    # Distinct synthetic photos are not stacked together.
    big = s.search("a circle", filters=Filters(folder=gallery.main), limit=200)
    assert sum(r.count for r in big) == 200 or len(big.photos()) >= 200
    assert sum(r.count - 1 for r in big) <= 4, [[m.path.name for m in r.stack] for r in big
                                                if r.stack]


def test_hdr_pairs_are_duplicates_and_distinct_photos_are_not(cli, tmp_path_factory):
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    jpg = CORPUS / "exif-samples" / "jpg"
    library = tmp_path_factory.mktemp("corpus-lib")
    with Library.open(library, write=True) as lib:
        enc = lib.load_encoder(str(TINY_CLIP))
        Indexer(lib.catalog, lib.index_for(enc), enc).run([jpg])
        lib.activate_model(enc, str(TINY_CLIP))
        groups = find_duplicates(lib.catalog)
        hashes = {p.path.name: p.phash for p in lib.catalog.photos_under(jpg / "hdr")}
        # Search results stack the same photos, and only those.
        res = Searcher(lib.catalog, lib.index_for(enc), enc).search("a photo", limit=500)
        stacks = sorted(sorted(str(m.path.relative_to(jpg)) for m in r.stack)
                        for r in res if r.stack)
    # The hash distances measured when the threshold was chosen.
    assert phash.distance(hashes["canon_hdr_NO.jpg"], hashes["canon_hdr_YES.jpg"]) <= 8
    assert phash.distance(hashes["iphone_hdr_NO.jpg"], hashes["iphone_hdr_YES.jpg"]) <= 6
    names = [sorted(str(p.path.relative_to(jpg)) for p in g.photos) for g in groups]
    assert ["hdr/canon_hdr_NO.jpg", "hdr/canon_hdr_YES.jpg"] in names
    assert ["hdr/iphone_hdr_NO.jpg", "hdr/iphone_hdr_YES.jpg"] in names
    # Nothing else is grouped, except the EXIF-orientation copies of one picture
    # (eight files that look the same once their orientation is applied).
    for g in names:
        if g[0].startswith("hdr/"):
            assert len(g) == 2 and g[0][:9] == g[1][:9]
        else:
            assert all(n.startswith("orientation/") for n in g), g
            assert len({n.split("/")[1].split("_")[0] for n in g}) == 1, g
    assert stacks == sorted(names)
    rows = cli.json("duplicates", "--library", library)
    assert sorted(sorted(p["path"] for p in g["photos"]) for g in rows) == sorted(
        sorted(str(jpg / n) for n in g) for g in names)


def test_near_identical_rule_and_multi_index():
    from clipgallery.core.store.catalog import Photo

    def photo(i, h, w=400, hh=300, name=None):
        return Photo(id=i, path=Path(f"/p/{name or i}.jpg"), size=1, mtime_ns=0,
                     content_hash=None, status="indexed", width=w, height=hh, phash=h)

    rng = np.random.default_rng(3)
    detailed = 0x0F0F0F0F0F0F0F0F
    assert duplicates.detail(detailed) >= duplicates.MIN_DETAIL
    flip = lambda h, k: h ^ sum(1 << b for b in range(k))  # noqa: E731
    assert duplicates.near_identical(photo(1, detailed), photo(2, flip(detailed, 10)))
    assert not duplicates.near_identical(photo(1, detailed), photo(2, flip(detailed, 12)))
    # Same picture, other aspect ratio: not near-identical.
    assert not duplicates.near_identical(photo(1, detailed), photo(2, detailed, 300, 300))
    # A low-detail (mostly flat) hash needs the vectors to agree.
    assert not duplicates.near_identical(photo(1, 0), photo(2, 1))
    assert not duplicates.near_identical(photo(1, 0), photo(2, 1), cos=0.99)
    assert duplicates.near_identical(photo(1, 0), photo(2, 1), cos=0.996)
    # RAW + JPEG: same folder and stem.
    raw = Photo(id=3, path=Path("/p/IMG_1.CR2"), size=1, mtime_ns=0, content_hash=None,
                status="indexed")
    assert duplicates.near_identical(raw, photo(4, None, name="IMG_1"))
    # The multi-index finds exactly the pairs a brute-force comparison finds.
    base = rng.integers(0, 2**63, size=300, dtype=np.int64).astype(np.uint64)
    h = np.concatenate([base, base[:100] ^ np.uint64(0b1011011011), base[:50] ^ np.uint64(
        (1 << 64) - 1 - 2**40)])  # neighbours within 6 bits, and far ones
    pairs = {tuple(p) for p in duplicates._mih_pairs(h, 10).tolist()}
    d = np.bitwise_count(h[:, None] ^ h[None, :])
    brute = {(i, j) for i, j in zip(*np.nonzero(d <= 10), strict=True) if i < j}
    assert pairs == brute and len(pairs) >= 100


# ----------------------------------------------------------------------------- labels


def test_labels_of_a_red_circle(cli, gallery):
    assert len(VOCABULARY) >= 300 and "a dog" in VOCABULARY and "a red circle" in VOCABULARY
    red = ids_of(gallery, "red_circle")
    cache = gallery.lib.paths.cache
    hits = 0
    for pid in red[:5]:
        _, vec = gallery.searcher.photo_vector(pid)
        labels = top_labels(gallery.enc, vec, k=3, cache_dir=cache)
        assert len(labels) == 3 and labels[0][1] >= labels[1][1] >= labels[2][1]
        hits += any(lab == "red circle" for lab, _ in labels)
    assert hits >= 4
    cached = list((cache / "labels").glob("*.npy"))
    assert len(cached) == 1 and stat.S_IMODE(cached[0].stat().st_mode) == 0o600
    photo = gallery.lib.catalog.photos_by_id([red[0]])[red[0]]
    out = cli.json("labels", photo.path, "--library", gallery.library, "-k", "3")
    assert out[0]["photo"] == str(photo.path)
    assert "red circle" in [lab["label"] for lab in out[0]["labels"]]
    assert abs(sum(lab["probability"] for lab in out[0]["labels"])) <= 1.0001


# ----------------------------------------------------------------------------- albums


def test_smart_album_gains_a_newly_indexed_photo(cli, gallery):
    cat, s = gallery.lib.catalog, gallery.searcher
    album = save_album(cat, "Red circles", "a red circle", Filters(folder=gallery.album_dir))
    assert get_album(cat, "red circles").id == album.id  # names are found case-insensitively
    with pytest.raises(AlbumError, match="already an album"):
        save_album(cat, "Red circles", "a blue square")
    with pytest.raises(QueryError):
        save_album(cat, "Broken", '"a red circle')
    assert [r.photo.id for r in album_results(s, album).best] == []
    new = gallery.album_dir / "new_red_circle_white.jpg"
    synthetic.draw("red", "circle", "white", np.random.default_rng(99)).save(new, quality=90)
    try:
        Indexer(cat, gallery.idx, gallery.enc).run([gallery.album_dir])
        best = album_results(s, get_album(cat, "Red circles")).best
        assert [r.path for r in best] == [new]
        # The command line: add, list, show, remove.
        out = cli.json("album", "add", "Squares", "a yellow square", "--folder",
                       gallery.album_dir, "--orientation", "square", "--library",
                       gallery.library)
        assert out["filters"] == {"folder": str(gallery.album_dir), "orientation": "square"}
        names = [a["name"] for a in cli.json("album", "list", "--library", gallery.library)]
        assert names == ["Red circles", "Squares"]
        rows = cli.json("album", "show", "Red circles", "--library", gallery.library)
        assert [r["path"] for r in rows if r["best"]] == [str(new)]
        code, out, err = cli("album", "show", "Red circles", "--library", gallery.library)
        assert code == 0 and out.splitlines()[0].endswith(str(new))
        code, out, err = cli("album", "remove", "Squares", "--library", gallery.library)
        assert code == 0
        code, out, err = cli("album", "show", "Squares", "--library", gallery.library)
        assert code == 2 and "no album named 'Squares'" in err
    finally:
        new.unlink()
        Indexer(cat, gallery.idx, gallery.enc).run([gallery.album_dir])


def test_warm_up_does_the_first_searchs_slow_part(gallery):
    from clipgallery.core.search import searcher as search_mod

    s = gallery.searcher
    with search_mod._CACHE_LOCK:
        search_mod._SNAPSHOTS.pop(s.index, None)
    s.warm_up()
    with search_mod._CACHE_LOCK:
        snap = search_mod._SNAPSHOTS.get(s.index)
    assert snap is not None and snap.ids.size == len(s.index)
