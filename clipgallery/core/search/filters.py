"""Search filters: one declared :class:`Filter` per field, and :class:`Filters` built from them.

A :class:`Filter` holds everything about one field in one place: its name (the
:class:`Filters` field and the smart-album JSON key), the label the app shows, the CLI
flag with its help and metavar (or choices), the parser that normalises a value (with
a :class:`~clipgallery.core.search.query.QueryError` meant for the user), the Python test of
one catalog row (:meth:`Filters.matches`) and the structured conditions
(:class:`~clipgallery.core.store.catalog.Condition`) that the catalog turns into SQL
(:meth:`Filters.conditions`; the catalog owns every SQL statement).  The CLI's filter
options, the app's filter bar and :class:`Filters` itself are all driven by
:data:`FILTERS`, so a new filter is one more declaration here.

Also defined once here: the sort orders (:data:`SORTS`, :data:`SORT_LABELS`; re-exported
by :mod:`clipgallery.core.search.searcher`) and the orientations (:data:`ORIENTATIONS`).

Pure: no model, no database; runs in whatever thread calls it.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass, fields

from clipgallery.core.photos import formats
from clipgallery.core.store.catalog import Condition, Photo, encode_path, path_prefix_range


class SearchError(Exception):
    """A search that cannot run; the message is for the user.

    Defined here (and re-exported by :mod:`clipgallery.core.search.query` and
    :mod:`clipgallery.core.search.searcher`) so that filters and the query parser can raise it
    without importing the search engine.
    """


class QueryError(SearchError):
    """The query text or the filters cannot be understood; the message is for the user."""


__all__ = ["Filter", "FILTERS", "FILTER_NAMES", "Filters", "ORIENTATIONS", "SORTS",
           "SORT_LABELS", "SQUARE_TOLERANCE", "normalise_file_type", "SearchError",
           "QueryError"]

# Width and height within 2 % of each other count as square.
SQUARE_TOLERANCE = 0.02
ORIENTATIONS = ("landscape", "portrait", "square")
# Result orders: relevance, "date" (newest first), "oldest"; labels for the app.
SORTS = ("relevance", "date", "oldest")
SORT_LABELS = {"relevance": "Relevance", "date": "Newest first", "oldest": "Oldest first"}


@dataclass(frozen=True)
class Filter:
    """One filter field.  ``parse`` turns what a user gave (str, date, None...) into the
    stored value or None (not set), raising :class:`QueryError`; ``test`` and
    ``conditions`` take a parsed, set value."""

    name: str
    label: str  # what the field is, in a word or two (the app)
    flag: str  # the CLI option
    help: str | None  # the CLI option's help
    parse: Callable[[object], object]
    test: Callable[[object, Photo], bool]
    conditions: Callable[[object], list[Condition]]
    describe: Callable[[object], str]
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    tooltip: str = ""  # the app's tooltip for the field
    placeholder: str = ""  # what the app shows while the field is not set
    annotation: str = "str | None"

    @property
    def dest(self) -> str:
        """The argparse attribute of :attr:`flag` (``--type`` → ``type``)."""
        return self.flag.lstrip("-").replace("-", "_")


# -- value parsers -----------------------------------------------------------------------


def _parse_folder(value: object) -> str | None:
    if value is None:
        return None
    s = os.fsdecode(os.fspath(value))  # type: ignore[arg-type]
    return os.path.abspath(s) if s else None


def _date_parser(flag: str) -> Callable[[object], _dt.date | None]:
    def parse(value: object) -> _dt.date | None:
        if value is None or value == "":
            return None
        if isinstance(value, _dt.datetime):
            return value.date()
        if isinstance(value, _dt.date):
            return value
        try:
            return _dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise QueryError(f"{flag} must be a date like 2024-06-30 (got {value!r}).") from None
    return parse


def _parse_camera(value: object) -> str | None:
    return (str(value) if value else "").strip() or None


def normalise_file_type(value: str) -> str:
    """'JPG', '.jpeg', 'jpeg' → 'jpeg'; 'tif' → 'tiff'; 'cr2' → 'raw'; else as given."""
    v = value.strip().lower().lstrip(".")
    if not v:
        raise QueryError("The file type is empty (e.g. jpeg, png, heic, raw).")
    if v in formats.kinds():
        return v
    return formats.kind_for("x." + v) if formats.is_image_path("x." + v) else v


def _parse_file_type(value: object) -> str | None:
    return normalise_file_type(str(value)) if value else None


def _parse_orientation(value: object) -> str | None:
    if not value:
        return None
    o = str(value).strip().lower()
    if o not in ORIENTATIONS:
        raise QueryError(f"Orientation must be landscape, portrait or square (got {value!r}).")
    return o


# -- row tests and conditions --------------------------------------------------------------


def _day_start(d: _dt.date) -> float:
    """Local midnight at the start of ``d`` as a POSIX timestamp (dates are local time,
    as the catalog's ``taken_at`` is, see :mod:`clipgallery.core.photos.metadata`)."""
    return _dt.datetime(d.year, d.month, d.day).timestamp()


def _after_ts(d: object) -> float:
    return _day_start(d)  # type: ignore[arg-type]


def _before_ts(d: object) -> float:
    """The first instant after day ``d`` (the before-day is included)."""
    return _day_start(d + _dt.timedelta(days=1))  # type: ignore[operator]


def _in_folder(folder: object, p: Photo) -> bool:
    lo, hi = path_prefix_range(str(folder))
    return lo <= encode_path(p.path) < hi


def _camera_text(p: Photo) -> str:
    return f"{p.camera_make or ''} {p.camera_model or ''}".lower()


def _shape(p: Photo) -> str | None:
    if not p.width or not p.height:
        return None
    tol = SQUARE_TOLERANCE * max(p.width, p.height)
    return ("square" if abs(p.width - p.height) <= tol else
            "landscape" if p.width > p.height else "portrait")


def _parse_place(value: object) -> str | None:
    return " ".join(str(value or "").split()) or None


def _at_place(name: object, p: Photo) -> bool:
    n = str(name).lower()
    return any(x is not None and x.lower() == n
               for x in (p.place_city, p.place_region, p.place_country))


FILTERS: tuple[Filter, ...] = (
    Filter(
        "folder", "Folder", "--folder", "only photos under this folder",
        parse=_parse_folder, test=_in_folder,
        conditions=lambda v: [Condition("in_range", "path", path_prefix_range(str(v)))],
        describe=lambda v: f"in {v}", metavar="DIR",
        tooltip="Only photos in this folder", placeholder="All folders"),
    Filter(
        "after", "Taken after", "--after", "taken on or after this day",
        parse=_date_parser("--after"),
        test=lambda v, p: p.taken_at is not None and p.taken_at >= _after_ts(v),
        conditions=lambda v: [Condition("ge", "taken_at", _after_ts(v))],
        describe=lambda v: f"from {v}", metavar="YYYY-MM-DD",
        tooltip="Taken on or after (YYYY-MM-DD)", placeholder="YYYY-MM-DD",
        annotation="datetime.date | None"),
    Filter(
        "before", "Taken before", "--before", "taken on or before this day",
        parse=_date_parser("--before"),
        test=lambda v, p: p.taken_at is not None and p.taken_at < _before_ts(v),
        conditions=lambda v: [Condition("lt", "taken_at", _before_ts(v))],
        describe=lambda v: f"until {v}", metavar="YYYY-MM-DD",
        tooltip="Taken on or before (YYYY-MM-DD)", placeholder="YYYY-MM-DD",
        annotation="datetime.date | None"),
    Filter(
        "camera", "Camera", "--camera",
        "camera make/model contains TEXT",
        parse=_parse_camera, test=lambda v, p: str(v).lower() in _camera_text(p),
        conditions=lambda v: [Condition("contains_nocase", ("camera_make", "camera_model"),
                                        str(v).lower())],
        describe=lambda v: f"camera '{v}'", metavar="TEXT",
        tooltip="Camera make or model contains (e.g. canon, iphone 12)",
        placeholder="any camera"),
    Filter(
        "file_type", "File type", "--type", "file type: jpeg, png, heic, raw, ...",
        parse=_parse_file_type, test=lambda v, p: p.file_type == v,
        conditions=lambda v: [Condition("eq", "file_type", v)],
        describe=str, metavar="TYPE", placeholder="Any type"),
    Filter(
        "orientation", "Orientation", "--orientation", None,
        parse=_parse_orientation, test=lambda v, p: _shape(p) == v,
        conditions=lambda v: [Condition("orientation", ("width", "height"),
                                        (v, SQUARE_TOLERANCE))],
        describe=str, choices=ORIENTATIONS, placeholder="Any shape"),
    Filter(
        "place", "Place", "--place",
        "taken in this city, region or country (from GPS; e.g. Lisbon, Portugal)",
        parse=_parse_place, test=_at_place,
        conditions=lambda v: [Condition("eq_any_nocase",
                                        ("place_city", "place_region", "place_country"), v)],
        describe=lambda v: f"in {v}", metavar="NAME",
        tooltip="City, region or country, from the photo's GPS (e.g. Lisbon, Portugal)",
        placeholder="anywhere"),
)
FILTER_NAMES = tuple(f.name for f in FILTERS)
_BY_NAME = {f.name: f for f in FILTERS}


def _declared(cls: type) -> type:
    """Give ``cls`` one optional field per declared filter (in :data:`FILTERS` order, so
    positional construction keeps working), then make it a dataclass."""
    cls.__annotations__ = {f.name: f.annotation for f in FILTERS}
    for f in FILTERS:
        setattr(cls, f.name, None)
    return dataclass(cls)


@_declared
class Filters:
    """What a search is restricted to.  Every field is optional; all given ones apply.

    One field per :data:`FILTERS` declaration:

    * ``folder``: photos under this folder (recursively);
    * ``after`` / ``before``: date taken, both days included (``YYYY-MM-DD`` strings or
      :class:`datetime.date`; local time, like the catalog's ``taken_at``);
    * ``camera``: case-insensitive substring of "make model" (e.g. ``canon``, ``iphone 12``);
    * ``file_type``: ``jpeg``, ``png``, ``heic``, ``tiff``, ``raw``, ... (``jpg``, ``.CR2``
      and friends are understood);
    * ``orientation``: ``landscape``, ``portrait`` or ``square`` (of the oriented image;
      within 2 % counts as square);
    * ``place``: city, region or country name (whole name, case-insensitive) of the
      place found from the photo's GPS (see :mod:`clipgallery.core.photos.places`).

    It turns into catalog conditions (:meth:`conditions`, which
    :meth:`clipgallery.core.store.catalog.Catalog.where` makes SQL of), can test one row in
    Python (:meth:`matches`, same semantics), and round-trips through JSON
    (:meth:`as_dict` / :meth:`from_dict`) for smart albums.
    """

    def __post_init__(self) -> None:
        for f in FILTERS:
            setattr(self, f.name, f.parse(getattr(self, f.name)))
        after, before = getattr(self, "after"), getattr(self, "before")  # noqa: B009
        if after and before and after > before:
            raise QueryError(f"--after {after} is later than --before {before}.")

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def _given(self) -> list[tuple[Filter, object]]:
        return [(f, v) for f in FILTERS if (v := getattr(self, f.name)) is not None]

    # -- serialising --------------------------------------------------------------------

    def as_dict(self) -> dict[str, str]:
        return {f.name: v.isoformat() if isinstance(v, _dt.date) else str(v)
                for f, v in self._given()}

    @classmethod
    def from_dict(cls, d: dict[str, object] | None) -> Filters:
        d = dict(d or {})
        return cls(**{k: v for k, v in d.items() if k in _BY_NAME})

    @classmethod
    def from_args(cls, args: object) -> Filters:
        """From parsed CLI options (each filter's :attr:`Filter.dest`)."""
        return cls(**{f.name: getattr(args, f.dest, None) for f in FILTERS})

    def describe(self) -> str:
        return ", ".join(f.describe(v) for f, v in self._given() if v)

    # -- applying -----------------------------------------------------------------------

    def conditions(self) -> list[Condition]:
        """The catalog conditions (all must hold) of the given filters."""
        return [c for f, v in self._given() for c in f.conditions(v)]

    def matches(self, p: Photo) -> bool:
        """The same test as :meth:`conditions`, for one row in memory."""
        return all(f.test(v, p) for f, v in self._given())
