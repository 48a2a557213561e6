"""Photo metadata (date taken, camera, lens, GPS, orientation) read from EXIF.

Called from worker threads (the indexer's decode pool) through
:func:`clipgallery.core.photos.imaging.decode`: everything here is pure and thread-safe and
touches no module state after import.

EXIF written by cameras and phones is often broken (bad offsets, wrong types, zero
denominators, blank dates, NUL padding).  Nothing in this module raises on bad EXIF:
a value that cannot be read is ``None``.

``taken_at`` is a POSIX timestamp (float).  EXIF dates carry no time zone, so a date
is read as *naive local time* of the machine doing the indexing, unless the photo
also records its UTC offset (``OffsetTimeOriginal`` and friends, EXIF 2.31), which is
then used.  Without any EXIF date it is the file's modification time.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image

from clipgallery.core.photos import formats

__all__ = ["META_KEYS", "read_metadata", "empty_metadata", "parse_exif_datetime",
           "gps_decimal", "exif_orientation", "clean_text"]

META_KEYS: tuple[str, ...] = (
    "width",
    "height",
    "file_type",
    "taken_at",
    "camera_make",
    "camera_model",
    "lens",
    "gps_lat",
    "gps_lon",
    "orientation",
)

# EXIF tag numbers (see PIL.ExifTags).
_IFD_EXIF = 0x8769
_IFD_GPS = 0x8825
_MAKE = 0x010F
_MODEL = 0x0110
_ORIENTATION = 0x0112
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_OFFSET_TIME = 0x9010
_OFFSET_TIME_ORIGINAL = 0x9011
_OFFSET_TIME_DIGITIZED = 0x9012
_SUBSEC_TIME = 0x9290
_SUBSEC_TIME_ORIGINAL = 0x9291
_SUBSEC_TIME_DIGITIZED = 0x9292
_LENS_MODEL = 0xA434
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

# Dates outside this range are treated as garbage (e.g. "0000:00:00 00:00:00").
_MIN_YEAR, _MAX_YEAR = 1826, 2200
_MAX_TEXT = 200

_DATE_RE = re.compile(
    r"^\s*(\d{4})[:\-/. ](\d{1,2})[:\-/. ](\d{1,2})"
    r"(?:[ T]+(\d{1,2})[:.](\d{1,2})(?:[:.](\d{1,2}))?)?"
)
_OFFSET_RE = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


def empty_metadata() -> dict[str, object]:
    """A metadata dict with every key of :data:`META_KEYS` set to ``None``."""
    return dict.fromkeys(META_KEYS)


def read_metadata(img: Image.Image, path: os.PathLike | str | bytes, *,
                  fallback_mtime: float | None = None,
                  size: tuple[int, int] | None = None) -> dict[str, object]:
    """Read the metadata of an opened image; never raises on bad EXIF.

    ``size`` is the stored (un-oriented) pixel size of the original when ``img`` was
    already reduced (draft mode); by default ``img.size``.  ``width``/``height`` in the
    result are that size after the EXIF orientation is applied.  ``fallback_mtime``
    becomes ``taken_at`` when the EXIF has no usable date.
    """
    meta = empty_metadata()
    try:
        meta["file_type"] = formats.kind_for(path)
    except Exception:  # noqa: BLE001 - a weird path must not stop metadata
        meta["file_type"] = None
    ifd0, exif_ifd, gps = _exif_dicts(img)

    applied = exif_orientation(ifd0)  # what imaging will apply to these pixels
    try:
        w, h = size if size is not None else img.size
        if applied in (5, 6, 7, 8):
            w, h = h, w
        meta["width"], meta["height"] = int(w), int(h)
    except Exception:  # noqa: BLE001
        pass

    # pillow-heif applies the HEIF transforms itself and resets EXIF orientation to 1,
    # keeping what the file said in info["original_orientation"].
    info = getattr(img, "info", None) or {}
    if "original_orientation" in info:
        meta["orientation"] = _valid_orientation(_get(info, "original_orientation"))
    else:
        meta["orientation"] = _valid_orientation(_get(ifd0, _ORIENTATION))

    meta["camera_make"] = clean_text(_get(ifd0, _MAKE))
    meta["camera_model"] = clean_text(_get(ifd0, _MODEL))
    meta["lens"] = clean_text(_get(exif_ifd, _LENS_MODEL)) or clean_text(_get(ifd0, _LENS_MODEL))
    meta["taken_at"] = _taken_at(ifd0, exif_ifd)
    if meta["taken_at"] is None and fallback_mtime is not None:
        meta["taken_at"] = _float_or_none(fallback_mtime)
    lat, lon = _gps(gps)
    meta["gps_lat"], meta["gps_lon"] = lat, lon
    return meta


# -- EXIF access ------------------------------------------------------------------------

def _exif_dicts(img: Image.Image) -> tuple[dict, dict, dict]:
    """IFD0, Exif IFD and GPS IFD as plain dicts; empty on any failure."""
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - Pillow raises many things on broken EXIF
        return {}, {}, {}
    try:
        ifd0 = dict(exif.items())
    except Exception:  # noqa: BLE001
        ifd0 = {}
    return ifd0, _sub_ifd(exif, _IFD_EXIF), _sub_ifd(exif, _IFD_GPS)


def _sub_ifd(exif: Image.Exif, tag: int) -> dict:
    try:
        ifd = exif.get_ifd(tag)
        return dict(ifd.items()) if ifd else {}
    except Exception:  # noqa: BLE001
        return {}


def _get(d: Any, key: Any) -> Any:
    try:
        return d.get(key)
    except Exception:  # noqa: BLE001
        return None


def clean_text(value: Any) -> str | None:
    """A clean one-line string from an EXIF ASCII value (NULs, padding removed), or None."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value).replace(b"\x00", b" ")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ")
    value = " ".join(value.split())
    if not value or not value.isprintable():
        value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value[:_MAX_TEXT] or None


def _float_or_none(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return f if math.isfinite(f) else None


# -- orientation ------------------------------------------------------------------------

def _valid_orientation(value: Any) -> int | None:
    try:
        o = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return o if 1 <= o <= 8 else None


def exif_orientation(exif: Any) -> int:
    """The EXIF Orientation (1–8) in an EXIF mapping, 1 when absent or invalid."""
    return _valid_orientation(_get(exif, _ORIENTATION)) or 1


# -- dates ------------------------------------------------------------------------------

def parse_exif_datetime(value: Any, offset: Any = None, subsec: Any = None) -> float | None:
    """POSIX timestamp of an EXIF date ("YYYY:MM:DD HH:MM:SS"), or None if unusable.

    With a valid ``offset`` ("+01:00") the date is exact; otherwise it is taken as naive
    local time.  ``subsec`` ("054") adds the fraction of a second.
    """
    text = clean_text(value)
    if not text:
        return None
    m = _DATE_RE.match(text)
    if not m:
        return None
    try:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        hh, mm, ss = (int(m[i]) if m[i] else 0 for i in (4, 5, 6))
        if not _MIN_YEAR <= y <= _MAX_YEAR:
            return None
        if ss == 60:  # leap second, or sloppy firmware
            ss = 59
        dt = datetime(y, mo, d, hh, mm, ss)
        frac = _subsec(subsec)
        tz = _offset(offset)
        if tz is not None:
            dt = dt.replace(tzinfo=tz)
        ts = dt.timestamp()  # naive: local time
    except (ValueError, OverflowError, OSError):
        return None
    return ts + frac


def _subsec(value: Any) -> float:
    text = clean_text(value)
    if not text:
        return 0.0
    digits = text.strip()
    if not digits.isdigit():
        return 0.0
    return int(digits) / 10 ** len(digits)


def _offset(value: Any) -> timezone | None:
    text = clean_text(value)
    if not text:
        return None
    m = _OFFSET_RE.match(text)
    if not m:
        return None
    hours, minutes = int(m[2]), int(m[3])
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if m[1] == "-" else delta)


def _taken_at(ifd0: dict, exif_ifd: dict) -> float | None:
    """DateTimeOriginal, else DateTimeDigitized, else DateTime (IFD0)."""
    for date_tag, offset_tag, subsec_tag in (
        (_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _SUBSEC_TIME_ORIGINAL),
        (_DATETIME_DIGITIZED, _OFFSET_TIME_DIGITIZED, _SUBSEC_TIME_DIGITIZED),
    ):
        # Some TIFF-based files (e.g. Kodak RAW) put Exif tags straight into IFD0.
        for ifd in (exif_ifd, ifd0):
            ts = parse_exif_datetime(_get(ifd, date_tag), _get(ifd, offset_tag),
                                     _get(ifd, subsec_tag))
            if ts is not None:
                return ts
    return parse_exif_datetime(_get(ifd0, _DATETIME), _get(exif_ifd, _OFFSET_TIME),
                               _get(exif_ifd, _SUBSEC_TIME))


# -- GPS --------------------------------------------------------------------------------

def _ref(value: Any) -> str:
    text = clean_text(value)
    return text[0].upper() if text else ""


def gps_decimal(value: Any, ref: Any, negative: str, positive: str,
                limit: float) -> float | None:
    """Signed decimal degrees from EXIF (degrees, minutes, seconds) rationals and a ref.

    A missing ref counts as positive; an unknown ref, a non-finite or out-of-range
    value gives None.
    """
    r = _ref(ref)
    if r and r not in (negative, positive):
        return None
    if isinstance(value, (int, float)) or hasattr(value, "numerator"):
        parts = [value]
    else:
        try:
            parts = list(value)
        except TypeError:
            return None
    if not 1 <= len(parts) <= 3:
        return None
    nums = []
    for p in parts:
        if isinstance(p, tuple) and len(p) == 2:  # raw (numerator, denominator)
            p = p[0] / p[1] if p[1] else math.nan
        f = _float_or_none(p)
        if f is None:
            return None
        nums.append(f)
    deg = abs(nums[0]) + sum(abs(v) / 60 ** i for i, v in enumerate(nums[1:], start=1))
    if nums[0] < 0:
        deg = -deg
    if r == negative:
        deg = -deg
    if not math.isfinite(deg) or abs(deg) > limit:
        return None
    return deg


def _gps(gps: dict) -> tuple[float | None, float | None]:
    if not gps:
        return None, None
    lat = gps_decimal(_get(gps, _GPS_LAT), _get(gps, _GPS_LAT_REF), "S", "N", 90.0)
    lon = gps_decimal(_get(gps, _GPS_LON), _get(gps, _GPS_LON_REF), "W", "E", 180.0)
    if lat is None or lon is None:
        return None, None
    if lat == 0.0 and lon == 0.0:  # "no fix" written as zeros
        return None, None
    return lat, lon
