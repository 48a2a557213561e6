"""Dates typed into a query: "2019", "July 2023", "summer 2021", "christmas 2020",
"last year", "in March" become a range of days taken, and leave the text sent to CLIP.

Table-driven (English): :data:`MONTHS`, :data:`SEASONS`, :data:`HOLIDAYS` and
:data:`RELATIVE` say what each word means; :data:`PATTERNS` says which word sequences
are understood, each with a function that turns its match into a :class:`DateSpan`.
To add a language or a holiday, add rows to the tables.  A leading "in", "from",
"during" or "taken in" belongs to the date ("dog in July 2023" → "dog").  Text
inside double quotes is never read as a date (``"1984"`` stays CLIP text).

A month without a year ("in March") means the latest March that has begun; a season is
the northern one (winter 2021 = December 2021 to February 2022).

Pure: no database, no model; ``today`` can be given (tests).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DateSpan", "find_date", "MONTHS", "SEASONS", "HOLIDAYS", "RELATIVE", "PATTERNS"]

MONTHS: dict[str, int] = {name.lower(): i for i, name in enumerate(calendar.month_name) if i}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if i})
MONTHS["sept"] = 9

# season → (first month, number of months); winter starts in December of its year.
SEASONS: dict[str, tuple[int, int]] = {
    "spring": (3, 3), "summer": (6, 3), "autumn": (9, 3), "fall": (9, 3), "winter": (12, 3),
}

# holiday → (month, first day, last day), fixed-date holidays only.
HOLIDAYS: dict[str, tuple[int, int, int]] = {
    "christmas": (12, 24, 26), "xmas": (12, 24, 26), "christmas eve": (12, 24, 24),
    "new year's eve": (12, 31, 31), "new years eve": (12, 31, 31),
    "new year's day": (1, 1, 1), "new year": (1, 1, 1), "halloween": (10, 31, 31),
    "valentine's day": (2, 14, 14), "valentines day": (2, 14, 14),
    "independence day": (7, 4, 4), "bastille day": (7, 14, 14),
}


@dataclass(frozen=True)
class DateSpan:
    """Days taken, both included, and how to say it ("July 2023")."""

    start: _dt.date
    end: _dt.date
    label: str
    text: str = ""  # the words of the query it came from

    @property
    def description(self) -> str:
        return f"taken in {self.label}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": "date", "text": self.text, "label": self.description,
                "after": self.start.isoformat(), "before": self.end.isoformat()}


def _month_span(year: int, month: int, label: str) -> DateSpan:
    last = calendar.monthrange(year, month)[1]
    return DateSpan(_dt.date(year, month, 1), _dt.date(year, month, last), label)


def _months_span(year: int, month: int, count: int, label: str) -> DateSpan:
    end_m = month + count - 1
    end_y, end_m = year + (end_m - 1) // 12, (end_m - 1) % 12 + 1
    return DateSpan(_dt.date(year, month, 1),
                    _dt.date(end_y, end_m, calendar.monthrange(end_y, end_m)[1]), label)


def _year(y: int) -> DateSpan:
    return DateSpan(_dt.date(y, 1, 1), _dt.date(y, 12, 31), str(y))


def _latest_month(month: int, today: _dt.date) -> int:
    """The year of the latest ``month`` that has begun by ``today``."""
    return today.year if month <= today.month else today.year - 1


# relative phrase → span, given today.
RELATIVE: dict[str, Callable[[_dt.date], DateSpan]] = {
    "this year": lambda t: _year(t.year),
    "last year": lambda t: _year(t.year - 1),
    "this month": lambda t: _month_span(t.year, t.month, f"{calendar.month_name[t.month]} "
                                        f"{t.year}"),
    "last month": lambda t: (lambda y, m: _month_span(y, m, f"{calendar.month_name[m]} {y}"))(
        t.year - (t.month == 1), 12 if t.month == 1 else t.month - 1),
    "today": lambda t: DateSpan(t, t, t.isoformat()),
    "yesterday": lambda t: (lambda d: DateSpan(d, d, d.isoformat()))(t - _dt.timedelta(1)),
}


def _alternatives(words: object) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))  # type: ignore[arg-type]


_YEAR = r"(?P<year>(?:19|20)\d\d)"
_LEAD = r"(?:\b(?:taken\s+)?(?:in|from|during|on|at)\s+)?"


def _on_month_year(m: re.Match[str], today: _dt.date) -> DateSpan:
    month = MONTHS[m["month"].lower()]
    year = int(m["year"]) if m["year"] else _latest_month(month, today)
    return _month_span(year, month, f"{calendar.month_name[month]} {year}" if m["year"]
                       else calendar.month_name[month])


def _on_season(m: re.Match[str], today: _dt.date) -> DateSpan:
    first, count = SEASONS[m["season"].lower()]
    return _months_span(int(m["year"]), first, count, f"{m['season'].lower()} {m['year']}")


def _on_holiday(m: re.Match[str], today: _dt.date) -> DateSpan:
    month, d1, d2 = HOLIDAYS[m["holiday"].lower()]
    y = int(m["year"])
    return DateSpan(_dt.date(y, month, d1), _dt.date(y, month, d2),
                    f"{m['holiday'].lower().capitalize()} {y}")


# (regex, builder), tried in order; the first that matches wins.
PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str], _dt.date], DateSpan]]] = [
    (re.compile(_LEAD + rf"(?P<holiday>{_alternatives(HOLIDAYS)})\s+{_YEAR}", re.I),
     _on_holiday),
    (re.compile(_LEAD + rf"(?P<season>{_alternatives(SEASONS)})\s+(?:of\s+)?{_YEAR}", re.I),
     _on_season),
    (re.compile(_LEAD + rf"(?P<month>{_alternatives(MONTHS)})\.?(?:\s+(?:of\s+)?{_YEAR})?", re.I),
     _on_month_year),
    (re.compile(_LEAD + rf"(?P<rel>{_alternatives(RELATIVE)})", re.I),
     lambda m, t: RELATIVE[m["rel"].lower()](t)),
    (re.compile(_LEAD + _YEAR, re.I), lambda m, t: _year(int(m["year"]))),
]

# A month name alone is a date only after a lead word ("in March") or before a year:
# "may" and "march" are also ordinary words.
_LEAD_RE = re.compile(r"^(?:taken\s+)?(?:in|from|during|on|at)\s", re.I)


def _matches(segment: str, today: _dt.date) -> tuple[int, int, DateSpan] | None:
    for rx, build in PATTERNS:
        for m in rx.finditer(segment):
            start, end = m.span()
            before = segment[start - 1] if start else " "
            after = segment[end] if end < len(segment) else " "
            if before.isalnum() or after.isalnum() or before in "-:":
                continue  # inside a word, or a negative / weighted term
            if "month" in rx.groupindex and not m["year"] and not _LEAD_RE.match(m[0]):
                continue
            return start, end, build(m, today)
    return None


def find_date(text: str, today: _dt.date | None = None) -> tuple[str, DateSpan | None]:
    """The query without its first date, and that date (or the text as is, and None).

    Quoted parts are left alone.
    """
    today = today or _dt.date.today()
    parts = text.split('"')
    for i in range(0, len(parts), 2):  # even parts are outside quotes
        found = _matches(parts[i], today)
        if found:
            start, end, span = found
            words = parts[i][start:end].strip()
            parts[i] = parts[i][:start] + " " + parts[i][end:]
            rest = '"'.join(parts)
            return " ".join(rest.split()), DateSpan(span.start, span.end, span.label, words)
    return text, None
