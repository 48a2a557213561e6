"""The search query language and search filters (pure; no model, no database writes).

Query language
--------------
A query is one or more *terms*.  Plain words are one phrase: ``dog on a chair`` is a
single term, never four.  Operators only count at the start of a word (after a space
or at the very start), so ``t-shirt`` and ``sunset+boat`` are ordinary text:

==========================  ==============================================================
``beach -people``           ``-`` starts a *negative* term: photos that show it are pushed
                            down (see :mod:`clipgallery.core.ranking` for the exact rule)
``sunset + boat``           `` + `` separates positive terms; a photo should match both
``2:sunset + boat``         ``N:`` in front of a term weights it (0 < N <= 10; default 1)
``-0.5:people``             a weighted negative term
``"red + white" -"a dog"``  double quotes keep a phrase (and any ``+``/``-`` in it) together
==========================  ==============================================================

A term runs to the next operator, so ``beach at sunset -people -dogs`` is the positive
term "beach at sunset" and the negative terms "people" and "dogs".

Text is combined with an image by :meth:`clipgallery.core.search.Searcher.search`
(``image=`` a file, a library photo's path or its id): the image is one more positive
term ("like this photo, at night").

Errors (an unclosed quote, ``2:`` with nothing after it, a dangling ``+``/``-``, a query
of only negative terms) raise :class:`QueryError`, whose message is short and meant to be
shown to the user as is.

Filters
-------
:class:`Filters` restricts a search (or lists photos without any query) by folder, date
taken, camera, file type and orientation.  It turns into an SQL ``WHERE`` clause over the
catalog's ``photos`` table (:meth:`Filters.where`), can test one row in Python
(:meth:`Filters.matches`, same semantics), and round-trips through JSON
(:meth:`Filters.as_dict` / :meth:`Filters.from_dict`) for smart albums.

Example::

    q = parse_query('2:"red car" + street -people')
    [(t.text, t.weight, t.negative) for t in q.terms]
    # [('red car', 2.0, False), ('street', 1.0, False), ('people', 1.0, True)]
    f = Filters(folder="/photos/2023", after="2023-06-01", orientation="portrait")
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from clipgallery.core import imaging
from clipgallery.core.catalog import Photo, encode_path, path_prefix_range

__all__ = ["SearchError", "QueryError", "Term", "ParsedQuery", "parse_query", "Filters",
           "ORIENTATIONS", "SQUARE_TOLERANCE", "MAX_WEIGHT"]

MAX_WEIGHT = 10.0
# Width and height within 2 % of each other count as square.
SQUARE_TOLERANCE = 0.02
ORIENTATIONS = ("landscape", "portrait", "square")


class SearchError(Exception):
    """A search that cannot run; the message is for the user.

    Defined here (and re-exported by :mod:`clipgallery.core.search`) so that the query
    parser can raise it without importing the search engine.
    """


class QueryError(SearchError):
    """The query text or the filters cannot be understood; the message is for the user."""


@dataclass(frozen=True)
class Term:
    text: str
    weight: float = 1.0
    negative: bool = False

    def __str__(self) -> str:
        text = f'"{self.text}"' if re.search(r"\s[+-]|^[+-]|\d:", self.text) else self.text
        w = "" if self.weight == 1.0 else f"{self.weight:g}:"
        return ("-" if self.negative else "") + w + text


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...] = ()

    @property
    def positives(self) -> list[Term]:
        return [t for t in self.terms if not t.negative]

    @property
    def negatives(self) -> list[Term]:
        return [t for t in self.terms if t.negative]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __str__(self) -> str:
        pos = " + ".join(str(t) for t in self.positives)
        neg = " ".join(str(t) for t in self.negatives)
        return " ".join(x for x in (pos, neg) if x)


_WEIGHT_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+):(?!\d)")


def parse_query(text: str, *, require_positive: bool = True) -> ParsedQuery:
    """Parse a query (see the module docstring); raises :class:`QueryError`.

    An empty or blank query gives an empty :class:`ParsedQuery` when
    ``require_positive`` is false (a search by image or filters only), else an error.
    ``require_positive=False`` also accepts a query of only negative terms.
    """
    terms: list[Term] = []
    buf: list[str] = []
    negative = False
    weight: float | None = None
    pending: str | None = None  # the operator or weight that the current term must follow
    quoted_any = False
    i, n = 0, len(text)

    def finish() -> None:
        nonlocal buf, negative, weight, pending, quoted_any
        phrase = " ".join("".join(buf).split())
        if phrase:
            terms.append(Term(phrase, weight if weight is not None else 1.0, negative))
        elif quoted_any:
            raise QueryError("Empty quotes: put some words between them.")
        elif pending is not None:
            if pending[0].isdigit() or pending[0] == ".":
                raise QueryError(f"The weight {pending} has no words after it "
                                 f"(write e.g. {pending}sunset).")
            example = "beach -people" if pending == "-" else "sunset + boat"
            raise QueryError(f"Nothing after '{pending}': write e.g. {example}.")
        buf, negative, weight, pending, quoted_any = [], False, None, None, False

    while i < n:
        c = text[i]
        at_word_start = i == 0 or text[i - 1].isspace()
        term_empty = not "".join(buf).strip() and not quoted_any
        if c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError("A quote is not closed: add the missing \".")
            buf.append(" " + text[i + 1:end] + " ")
            quoted_any = True
            i = end + 1
            continue
        if at_word_start and c in "+-":
            finish_needed = not term_empty or pending is not None
            if finish_needed:
                finish()
            negative = c == "-"
            pending = c
            i += 1
            continue
        if term_empty and weight is None:
            m = _WEIGHT_RE.match(text, i)
            if m and (i == 0 or text[i - 1].isspace() or text[i - 1] in "+-"):
                w = float(m.group(1))
                if not 0 < w <= MAX_WEIGHT:
                    raise QueryError(f"A weight must be more than 0 and at most "
                                     f"{MAX_WEIGHT:g} (got {m.group(0)}).")
                weight = w
                pending = m.group(0)
                i = m.end()
                continue
        buf.append(c)
        i += 1
    finish()
    q = ParsedQuery(tuple(terms))
    if require_positive:
        if not q.terms:
            raise QueryError("Type a few words to search for.")
        if not q.positives:
            raise QueryError("Say what to look for, not only what to leave out "
                             "(e.g. beach -people).")
    return q


# ----------------------------------------------------------------------------- filters


def _parse_date(value: object, what: str) -> _dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise QueryError(f"{what} must be a date like 2024-06-30 (got {value!r}).") from None


def _day_start(d: _dt.date) -> float:
    """Local midnight at the start of ``d`` as a POSIX timestamp (dates are local time,
    as the catalog's ``taken_at`` is, see :mod:`clipgallery.core.metadata`)."""
    return _dt.datetime(d.year, d.month, d.day).timestamp()


def normalise_file_type(value: str) -> str:
    """'JPG', '.jpeg', 'jpeg' → 'jpeg'; 'tif' → 'tiff'; 'cr2' → 'raw'; else as given."""
    v = value.strip().lower().lstrip(".")
    if not v:
        raise QueryError("The file type is empty (e.g. jpeg, png, heic, raw).")
    known = set(imaging.FILE_TYPES)
    if v in known:
        return v
    return imaging.file_type("x." + v) if imaging.is_image_path("x." + v) else v


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class Filters:
    """What a search is restricted to.  Every field is optional; all given ones apply.

    * ``folder``: photos under this folder (recursively);
    * ``after`` / ``before``: date taken, both days included (``YYYY-MM-DD`` strings or
      :class:`datetime.date`; local time, like the catalog's ``taken_at``);
    * ``camera``: case-insensitive substring of "make model" (e.g. ``canon``, ``iphone 12``);
    * ``file_type``: ``jpeg``, ``png``, ``heic``, ``tiff``, ``raw``, ... (``jpg``, ``.CR2``
      and friends are understood);
    * ``orientation``: ``landscape``, ``portrait`` or ``square`` (of the oriented image;
      within 2 % counts as square).
    """

    folder: str | None = None
    after: _dt.date | None = None
    before: _dt.date | None = None
    camera: str | None = None
    file_type: str | None = None
    orientation: str | None = None

    def __post_init__(self) -> None:
        if self.folder is not None:
            self.folder = os.path.abspath(os.fsdecode(os.fspath(self.folder))) \
                if str(self.folder) else None
        self.after = _parse_date(self.after, "--after")
        self.before = _parse_date(self.before, "--before")
        if self.after and self.before and self.after > self.before:
            raise QueryError(f"--after {self.after} is later than --before {self.before}.")
        self.camera = (self.camera or "").strip() or None
        self.file_type = normalise_file_type(self.file_type) if self.file_type else None
        if self.orientation:
            o = self.orientation.strip().lower()
            if o not in ORIENTATIONS:
                raise QueryError(f"Orientation must be landscape, portrait or square "
                                 f"(got {self.orientation!r}).")
            self.orientation = o
        else:
            self.orientation = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    # -- serialising --------------------------------------------------------------------

    def as_dict(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v.isoformat() if isinstance(v, _dt.date) else str(v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, object] | None) -> Filters:
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = []
        if self.folder:
            parts.append(f"in {self.folder}")
        if self.after:
            parts.append(f"from {self.after}")
        if self.before:
            parts.append(f"until {self.before}")
        if self.camera:
            parts.append(f"camera '{self.camera}'")
        if self.file_type:
            parts.append(self.file_type)
        if self.orientation:
            parts.append(self.orientation)
        return ", ".join(parts)

    # -- applying -----------------------------------------------------------------------

    def _range(self) -> tuple[float | None, float | None]:
        lo = _day_start(self.after) if self.after else None
        hi = _day_start(self.before + _dt.timedelta(days=1)) if self.before else None
        return lo, hi

    def where(self, alias: str = "") -> tuple[str, list[object]]:
        """An SQL condition (``"1"`` when empty) and its parameters, over ``photos``."""
        a = f"{alias}." if alias else ""
        conds: list[str] = []
        params: list[object] = []
        if self.folder:
            lo, hi = path_prefix_range(self.folder)
            conds.append(f"{a}path >= ? AND {a}path < ?")
            params += [lo, hi]
        tlo, thi = self._range()
        if tlo is not None:
            conds.append(f"{a}taken_at >= ?")
            params.append(tlo)
        if thi is not None:
            conds.append(f"{a}taken_at < ?")
            params.append(thi)
        if self.camera:
            conds.append(f"LOWER(COALESCE({a}camera_make, '') || ' ' || "
                         f"COALESCE({a}camera_model, '')) LIKE ? ESCAPE '\\'")
            params.append(f"%{_like_escape(self.camera.lower())}%")
        if self.file_type:
            conds.append(f"{a}file_type = ?")
            params.append(self.file_type)
        if self.orientation:
            w, h = f"{a}width", f"{a}height"
            tol = f"{SQUARE_TOLERANCE!r} * MAX({w}, {h})"
            conds.append(f"{w} IS NOT NULL AND {h} IS NOT NULL")
            if self.orientation == "square":
                conds.append(f"ABS({w} - {h}) <= {tol}")
            elif self.orientation == "landscape":
                conds.append(f"{w} - {h} > {tol}")
            else:
                conds.append(f"{h} - {w} > {tol}")
        return (" AND ".join(f"({c})" for c in conds) or "1"), params

    def matches(self, p: Photo) -> bool:
        """The same test as :meth:`where`, for one row in memory."""
        if self.folder:
            lo, hi = path_prefix_range(self.folder)
            if not lo <= encode_path(p.path) < hi:
                return False
        tlo, thi = self._range()
        if tlo is not None and (p.taken_at is None or p.taken_at < tlo):
            return False
        if thi is not None and (p.taken_at is None or p.taken_at >= thi):
            return False
        if self.camera:
            cam = f"{p.camera_make or ''} {p.camera_model or ''}".lower()
            if self.camera.lower() not in cam:
                return False
        if self.file_type and p.file_type != self.file_type:
            return False
        if self.orientation:
            if not p.width or not p.height:
                return False
            tol = SQUARE_TOLERANCE * max(p.width, p.height)
            o = ("square" if abs(p.width - p.height) <= tol else
                 "landscape" if p.width > p.height else "portrait")
            if o != self.orientation:
                return False
        return True


def as_path_or_id(value: str | int | os.PathLike[str]) -> int | Path:
    """A photo reference from the command line: an id (all digits, and no such file) or a
    path."""
    if isinstance(value, int):
        return value
    s = os.fsdecode(os.fspath(value))
    if s.isdigit() and not os.path.exists(s):
        return int(s)
    return Path(os.path.abspath(s))
