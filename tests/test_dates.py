"""Dates in the query: the parser's table, and "<concept> <month> <year>" on the tiny
model returns only photos of that concept taken in that month (EXIF dates written into
synthetic photos)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PIL import Image

from clipgallery.core.search.dates import find_date
from clipgallery.core.search.understand import understand
from tests import synthetic

TODAY = dt.date(2026, 2, 10)
D = dt.date


@pytest.mark.parametrize(("query", "text", "start", "end", "label"), [
    ("2019", "", D(2019, 1, 1), D(2019, 12, 31), "2019"),
    ("beach July 2023", "beach", D(2023, 7, 1), D(2023, 7, 31), "July 2023"),
    ("beach in jul 2023", "beach", D(2023, 7, 1), D(2023, 7, 31), "July 2023"),
    ("summer 2021", "", D(2021, 6, 1), D(2021, 8, 31), "summer 2021"),
    ("snow winter 2021", "snow", D(2021, 12, 1), D(2022, 2, 28), "winter 2021"),
    ("christmas 2020 tree", "tree", D(2020, 12, 24), D(2020, 12, 26), "Christmas 2020"),
    ("dog last year", "dog", D(2025, 1, 1), D(2025, 12, 31), "2025"),
    ("cat this year", "cat", D(2026, 1, 1), D(2026, 12, 31), "2026"),
    ("cat in March", "cat", D(2025, 3, 1), D(2025, 3, 31), "March"),  # the latest March
    ("cat in February", "cat", D(2026, 2, 1), D(2026, 2, 28), "February"),
    ("party last month", "party", D(2026, 1, 1), D(2026, 1, 31), "January 2026"),
    ("dog in Lisbon 2019", "dog in Lisbon", D(2019, 1, 1), D(2019, 12, 31), "2019"),
    ("2:sunset + boat taken in 2020", "2:sunset + boat", D(2020, 1, 1), D(2020, 12, 31),
     "2020"),
])
def test_dates_understood(query, text, start, end, label):
    rest, span = find_date(query, TODAY)
    assert span is not None
    assert (rest, span.start, span.end, span.label) == (text, start, end, label)
    assert span.description == f"taken in {label}"


@pytest.mark.parametrize("query", [
    "may the force be with you",  # a month name alone is a word
    "march of the penguins",
    '"1984" poster',  # quoted: CLIP text
    "a circle -red",
    "t-2019x",
    "route 66",
    "born in 1850",  # not a year of photos
    "summer dress",
])
def test_not_dates(query):
    assert find_date(query, TODAY) == (query, None)


def test_date_and_place_together():
    u = understand("sign in Lisbon summer 2019", {"lisbon"}, today=TODAY)
    assert (u.text, u.place, u.date.label) == ("sign", "Lisbon", "summer 2019")
    assert u.describe() == "taken in summer 2019, in Lisbon"


def _dated(folder, name, spec, when: dt.datetime, seed: int):
    img = synthetic.draw(*spec, np.random.default_rng(seed), size=(320, 240))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")
    img.save(folder / name, quality=90, exif=exif)


def test_concept_month_year_on_the_tiny_model(cli, tmp_path, library_dir, tiny_model):
    photos = tmp_path / "photos"
    synthetic.make_folder(photos / "undated", 24, seed=77)
    dated = photos / "dated"
    dated.mkdir()
    july = [dt.datetime(2023, 7, d, 12) for d in (1, 15, 31)]
    other = [dt.datetime(2023, 6, 30, 23), dt.datetime(2023, 8, 1, 1), dt.datetime(2022, 7, 10)]
    want = set()
    for k, when in enumerate(july):
        _dated(dated, f"july{k}_red_circle.jpg", ("red", "circle", "white"), when, 100 + k)
        want.add(str(dated / f"july{k}_red_circle.jpg"))
        _dated(dated, f"july{k}_blue_square.jpg", ("blue", "square", "white"), when, 200 + k)
    for k, when in enumerate(other):
        _dated(dated, f"other{k}_red_circle.jpg", ("red", "circle", "white"), when, 300 + k)
    cli.json("index", photos, "--library", library_dir, "--model", tiny_model)

    rows = cli.json("search", "a red circle July 2023", "--library", library_dir, "--all")
    assert {r["path"] for r in rows} <= {str(p) for p in dated.glob("july*")}
    assert {r["path"] for r in rows if r["best"]} == want
    assert rows[0]["understood"] == [{"kind": "date", "text": "July 2023",
                                      "label": "taken in July 2023",
                                      "after": "2023-07-01", "before": "2023-07-31"}]
    assert rows[0]["why"]["date"].startswith("2023-07-")
    code, out, err = cli("search", "a red circle July 2023", "--library", library_dir)
    assert code == 0 and "taken in July 2023" in err
    assert {line.split("\t")[1] for line in out.splitlines() if "\t" in line} == want
