"""The search query language and search filters (pure; no model, no database writes).

Query language
--------------
A query is one or more *terms*.  Plain words are one phrase: ``dog on a chair`` is a
single term, never four.  Operators only count at the start of a word (after a space
or at the very start), so ``t-shirt`` and ``sunset+boat`` are ordinary text:

==========================  ==============================================================
``beach -people``           ``-`` starts a *negative* term: photos that show it are pushed
                            down (see :mod:`clipgallery.core.search.ranking` for the exact rule)
``sunset + boat``           `` + `` separates positive terms; a photo should match both
``2:sunset + boat``         ``N:`` in front of a term weights it (0 < N <= 10; default 1)
``-0.5:people``             a weighted negative term
``"red + white" -"a dog"``  double quotes keep a phrase (and any ``+``/``-`` in it) together
==========================  ==============================================================

A term runs to the next operator, so ``beach at sunset -people -dogs`` is the positive
term "beach at sunset" and the negative terms "people" and "dogs".

Text is combined with an image by :meth:`clipgallery.core.search.searcher.Searcher.search`
(``image=`` a file, a library photo's path or its id): the image is one more positive
term ("like this photo, at night").

Errors (an unclosed quote, ``2:`` with nothing after it, a dangling ``+``/``-``, a query
of only negative terms) raise :class:`QueryError`, whose message is short and meant to be
shown to the user as is.

Filters
-------
:class:`Filters` restricts a search (or lists photos without any query) by folder, date
taken, camera, file type and orientation.  It is declared in
:mod:`clipgallery.core.search.filters` (one :class:`~clipgallery.core.search.filters.Filter` per field)
and re-exported here.

Example::

    q = parse_query('2:"red car" + street -people')
    [(t.text, t.weight, t.negative) for t in q.terms]
    # [('red car', 2.0, False), ('street', 1.0, False), ('people', 1.0, True)]
    f = Filters(folder="/photos/2023", after="2023-06-01", orientation="portrait")
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# Re-exported: the filters live in their own module (one declaration per field).
from clipgallery.core.search.filters import (
    ORIENTATIONS,
    SQUARE_TOLERANCE,
    Filters,
    QueryError,
    SearchError,
    normalise_file_type,
)

__all__ = ["SearchError", "QueryError", "Term", "ParsedQuery", "parse_query", "Filters",
           "ORIENTATIONS", "SQUARE_TOLERANCE", "MAX_WEIGHT", "normalise_file_type"]

MAX_WEIGHT = 10.0


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


def _empty_term(pending: str | None, quoted_any: bool) -> QueryError:
    """The error for a term with no words: empty quotes, or an operator or weight
    (``pending``) with nothing after it."""
    if quoted_any or pending is None:
        return QueryError("Empty quotes: put some words between them.")
    if pending[0].isdigit() or pending[0] == ".":
        return QueryError(f"The weight {pending} has no words after it "
                          f"(write e.g. {pending}sunset).")
    example = "beach -people" if pending == "-" else "sunset + boat"
    return QueryError(f"Nothing after '{pending}': write e.g. {example}.")


def _weight_at(text: str, i: int) -> re.Match[str] | None:
    """A term weight (``2:``) starting at ``i``, checked (raises :class:`QueryError`)."""
    m = _WEIGHT_RE.match(text, i)
    if not m or not (i == 0 or text[i - 1].isspace() or text[i - 1] in "+-"):
        return None
    if not 0 < float(m.group(1)) <= MAX_WEIGHT:
        raise QueryError(f"A weight must be more than 0 and at most "
                         f"{MAX_WEIGHT:g} (got {m.group(0)}).")
    return m


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
        elif quoted_any or pending is not None:
            raise _empty_term(pending, quoted_any)
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
        if term_empty and weight is None and (m := _weight_at(text, i)):
            weight = float(m.group(1))
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


def as_path_or_id(value: str | int | os.PathLike[str]) -> int | Path:
    """A photo reference from the command line: an id (all digits, and no such file) or a
    path."""
    if isinstance(value, int):
        return value
    s = os.fsdecode(os.fspath(value))
    if s.isdigit() and not os.path.exists(s):
        return int(s)
    return Path(os.path.abspath(s))
