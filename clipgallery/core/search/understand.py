"""What a typed query says besides what CLIP sees: text in the photo, a date taken, a place.

Text in the photo (read by the text pass, :mod:`clipgallery.core.indexing.ocr_pass`) is
asked for with a cue: ``text:bakery``, ``text:"two words"``, "sign that says bakery",
"that reads OPEN", "saying hello", "with the text fish market" (unquoted, the words up
to the next ``+``/``-`` operator or the end).  ``text:`` and quoted forms are read
first (so ``text:2019`` is text, not a date); unquoted cue forms last, after the date
and the place ("sign that says bakery in Lisbon 2019": text "bakery", in Lisbon, 2019).

:func:`understand` takes the raw query text and returns an :class:`Understood`: the text
left for CLIP, the date (:mod:`clipgallery.core.search.dates`) and the place.  A place
is a name that stands alone ("Portugal") or follows "in"/"at" ("dog in Lisbon",
"beach at Nazaré") and that is known: a country name (or a common alias: USA, UK,
Holland...) or a city, region or country that a photo of this library was placed in
(the names stored by :mod:`clipgallery.core.photos.places`, all from the gazetteer).
Limiting cities to the library's own places keeps ordinary words out ("beach at
sunset" is not Sunset, Louisiana, unless you have photos there).  Text in double
quotes is never read as a date or a place: ``dog "in Lisbon"`` is all CLIP text.

:meth:`Understood.apply` turns it into :class:`~clipgallery.core.search.filters.Filters`
fields; a field the caller already set wins, and the words then stay CLIP text.

Pure: the caller gives the known place names; runs in whatever thread calls it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass

from clipgallery.core.photos.places import known_country
from clipgallery.core.search.dates import DateSpan, find_date
from clipgallery.core.search.filters import Filters

__all__ = ["Understood", "understand", "find_place", "find_text", "TEXT_CUES"]

#: Cues that introduce the text to find in photos (regular expressions, any case).
TEXT_CUES = (r"(?:that|which)\s+(?:says|reads|said|read|spells)", r"saying",
             r"with\s+(?:the\s+)?(?:text|words?|writing)")

_CUES = ("in", "at")
_MAX_NAME_WORDS = 4


@dataclass(frozen=True)
class Understood:
    text: str  # what is left for CLIP
    date: DateSpan | None = None
    place: str | None = None
    place_words: str = ""  # the words of the query it came from
    words: str | None = None  # text to find in the photos (OCR)
    words_text: str = ""  # the words of the query it came from ("that says bakery")

    def __bool__(self) -> bool:
        return self.date is not None or self.place is not None or bool(self.words)

    def items(self) -> list[dict[str, str]]:
        """What was understood, for the CLI's JSON and the app's labels."""
        out = []
        if self.words:
            out.append({"kind": "text", "text": self.words_text,
                        "label": f"with the text “{self.words}”", "words": self.words})
        out += [self.date.as_dict()] if self.date else []
        if self.place:
            out.append({"kind": "place", "text": self.place_words,
                        "label": f"in {self.place}", "place": self.place})
        return out

    def describe(self) -> str:
        """'taken in July 2023, in Lisbon' (empty when nothing was understood)."""
        return ", ".join(i["label"] for i in self.items())

    def apply(self, filters: Filters | None) -> Filters | None:
        """``filters`` with the understood date and place added (fields already set win)."""
        f = filters if filters is not None else Filters()
        changes: dict[str, object] = {}
        if self.date and f.after is None and f.before is None:  # type: ignore[attr-defined]
            changes.update(after=self.date.start, before=self.date.end)
        if self.place and f.place is None:  # type: ignore[attr-defined]
            changes["place"] = self.place
        if not changes:
            return filters
        return dataclasses.replace(f, **changes)  # type: ignore[type-var]


def _place_name(words: list[str], names: set[str]) -> str | None:
    """The place these words name (as it will be filtered on), or None."""
    if words and words[0].lower() == "the":  # "in the USA", "in the Netherlands"
        words = words[1:]
    name = " ".join(words).strip(",.;!?")
    if not name:
        return None
    if name.lower() in names:
        return name
    return known_country(name)


def find_place(text: str, names: set[str]) -> tuple[str, str | None, str]:
    """(text without the place, the place or None, the words removed).

    ``names``: known city, region and country names in lower case (countries are always
    known, see :func:`~clipgallery.core.photos.places.known_country`).
    """
    if '"' not in text and text.strip() and text.strip()[0] not in "+-":
        alone = _place_name(text.split(), names)
        if alone:
            return "", alone, text.strip()
    parts = text.split('"')
    for p in range(0, len(parts), 2):  # outside quotes
        words = parts[p].split(" ")
        for i, w in enumerate(words):
            if w.lower() not in _CUES:
                continue
            for j in range(min(len(words), i + 1 + _MAX_NAME_WORDS), i + 1, -1):
                place = _place_name(words[i + 1:j], names)
                if place:
                    removed = " ".join(words[i:j])
                    parts[p] = " ".join(words[:i] + [""] + words[j:])
                    return " ".join('"'.join(parts).split()), place, removed
    return text, None, ""


_QUOTED = re.compile(r'(?:(?<=\s)|^)(?:text:|(?:' + "|".join(TEXT_CUES)
                     + r')\s+)"([^"]*)"', re.I)
_TEXT_WORD = re.compile(r'(?:(?<=\s)|^)text:([^\s"]+)', re.I)
_UNQUOTED = re.compile(r"(?:(?<=\s)|^)(?:" + "|".join(TEXT_CUES) + r")\s+(.+?)\s*(?=\s[+-]|$)",
                       re.I)


def find_text(text: str, *, quoted: bool) -> tuple[str, str | None, str]:
    """(text without the cue, the words to find in photos or None, the words removed).

    ``quoted``: only ``text:`` and quoted forms (read before dates and places); else
    only unquoted cue forms, outside double quotes."""
    if quoted:
        for rx in (_QUOTED, _TEXT_WORD):
            m = rx.search(text)
            if m and m.group(1).strip():
                return _cut(text, m), " ".join(m.group(1).split()), m.group(0).strip()
        return text, None, ""
    parts = text.split('"')
    if len(parts) % 2 == 0:  # an unclosed quote: the query parser says so
        return text, None, ""
    for p in range(0, len(parts), 2):
        m = _UNQUOTED.search(parts[p])
        if m and m.group(1).strip(" ,.;!?"):
            words = m.group(1).strip(" ,.;!?")
            parts[p] = _cut(parts[p], m)
            return " ".join('"'.join(parts).split()), " ".join(words.split()), \
                m.group(0).strip()
    return text, None, ""


def _cut(text: str, m: re.Match[str]) -> str:
    return " ".join((text[:m.start()] + " " + text[m.end():]).split())


def understand(text: str, place_names: set[str], *, today: _dt.date | None = None
               ) -> Understood:
    """Read text to find, a date, then a place out of ``text`` (see the module docstring)."""
    rest, words, words_text = find_text(text, quoted=True)
    rest, date = find_date(rest, today)
    rest, place, place_words = find_place(rest, place_names)
    if words is None:
        rest, words, words_text = find_text(rest, quoted=False)
    return Understood(rest, date, place, place_words, words, words_text)
