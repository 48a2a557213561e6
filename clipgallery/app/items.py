"""Plain values passed between the app's threads (Qt-free, immutable once sent)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy: kept off the start-up path
    from clipgallery.core.store.catalog import Photo

# Folder states shown in the sidebar.
INDEXING = "indexing"
QUEUED = "queued"
UP_TO_DATE = "up to date"
OFFLINE = "offline"
WAITING = "waiting"


@dataclass(frozen=True)
class FolderInfo:
    """One library folder as the sidebar shows it."""

    path: Path
    indexed: int = 0
    skipped: int = 0
    missing: int = 0
    state: str = UP_TO_DATE
    watch: str = ""  # "live" | "polling" | "offline" | "" (not watched yet)
    skip_reasons: tuple[tuple[str, str], ...] = ()  # (file name, reason), the first few

    @property
    def name(self) -> str:
        return os.fsdecode(self.path.name) or os.fsdecode(self.path)


@dataclass(frozen=True)
class Query:
    """What the grid shows: a text search, an image, photos like one, a smart album, or
    everything.

    Any kind but an album may carry ``filters`` (a :class:`~clipgallery.core.search.query.
    Filters` as sorted ``(field, value)`` pairs, so a Query stays hashable), a ``sort``
    order and photos marked ``good`` / ``bad`` (ids) to refine the ranking.  An album
    query's ``text`` is the album's name.
    """

    kind: str  # "browse" | "text" | "image" | "similar" | "album" | "duplicates"
    text: str = ""
    path: Path | None = None
    photo_id: int | None = None
    filters: tuple[tuple[str, str], ...] = ()
    sort: str = "relevance"
    good: tuple[int, ...] = ()
    bad: tuple[int, ...] = ()

    BROWSE = "browse"
    TEXT = "text"
    IMAGE = "image"
    SIMILAR = "similar"
    ALBUM = "album"
    DUPLICATES = "duplicates"

    @classmethod
    def album(cls, name: str) -> Query:
        return cls(cls.ALBUM, text=name)

    @property
    def refined(self) -> bool:
        """Whether this query has options beyond the plain text/image/photo."""
        return bool(self.filters or self.good or self.bad or self.sort != "relevance")

    @property
    def base(self) -> Query:
        """The query without its filters, sort and marks."""
        return Query(self.kind, self.text, self.path, self.photo_id)

    @classmethod
    def browse(cls) -> Query:
        return cls(cls.BROWSE)

    @classmethod
    def for_text(cls, text: str) -> Query:
        text = " ".join(text.split())
        return cls(cls.TEXT, text=text) if text else cls.browse()

    @classmethod
    def for_image(cls, path: Path) -> Query:
        return cls(cls.IMAGE, path=path)

    @classmethod
    def like(cls, photo: Photo) -> Query:
        return cls(cls.SIMILAR, path=photo.path, photo_id=photo.id)

    @classmethod
    def duplicates(cls) -> Query:
        return cls(cls.DUPLICATES)

    @property
    def needs_model(self) -> bool:
        return self.kind not in (self.BROWSE, self.DUPLICATES)

    def describe(self) -> str:
        if self.kind == self.TEXT:
            return f"“{self.text}”"
        if self.kind in (self.IMAGE, self.SIMILAR) and self.path is not None:
            return f"photos like {os.fsdecode(self.path.name)}"
        if self.kind == self.ALBUM:
            return f"album “{self.text}”"
        if self.kind == self.DUPLICATES:
            return "near-identical photos"
        if self.kind == self.TEXT and not self.text and self.filters:
            return "filtered photos"
        return "all photos"


@dataclass(frozen=True)
class ResultItem:
    """One photo in the grid; ``score`` is None when browsing."""

    photo: Photo
    score: float | None = None
    best: bool = False  # a best match (above the relevance cut-off)
    stack: tuple[ResultItem, ...] = ()  # near-identical photos shown as this one (itself included)
    # The text of the photo that the query asked for, and its box (0..1 of the photo).
    text: str | None = field(default=None, compare=False)
    text_box: tuple[float, float, float, float] | None = field(default=None, compare=False)

    @property
    def count(self) -> int:
        """How many photos this row stands for (its stack's size, or 1)."""
        return max(1, len(self.stack))

    @property
    def path(self) -> Path:
        return self.photo.path


@dataclass(frozen=True)
class ResultSet:
    """The answer to one query."""

    query: Query
    items: list[ResultItem] = field(default_factory=list)
    searched_photos: int = 0  # how many photos were searchable when it ran
    elapsed: float = 0.0
    more: list[ResultItem] = field(default_factory=list)  # below the cut-off: hidden at first
    # Rows of each path, made by the search thread (hashing tens of thousands of paths
    # is too slow for the UI thread); None: the model makes it.
    rows_by_path: dict[Path, list[int]] | None = field(default=None, compare=False,
                                                       repr=False)
    # What the query's words were read as (dates, places): label/text dicts.
    understood: list[dict[str, str]] = field(default_factory=list, compare=False)


def rows_by_path(items: list[ResultItem]) -> dict[Path, list[int]]:
    """Each photo path's rows in ``items``."""
    out: dict[Path, list[int]] = {}
    for row, item in enumerate(items):
        out.setdefault(item.photo.path, []).append(row)
    return out


@dataclass(frozen=True)
class IndexStatus:
    """Where background indexing stands, for the status bar."""

    phase: str  # "loading" | "scanning" | "indexing" | "text" | "idle" | "failed"
    done: int = 0
    total: int = 0
    rate: float = 0.0
    eta: float | None = None
    current: Path | None = None
    searchable: int = 0  # photos searchable now
