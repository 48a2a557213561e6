"""Search: text or an image → vector → nearest photos in the vector index → rows.

Threading: a :class:`Searcher` may be used from any one thread at a time; it reads
through its own catalog connection and queries the (locked) shared vector index, so
searches run while the indexer writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipgallery.core import imaging
from clipgallery.core.catalog import INDEXED, Catalog, Photo
from clipgallery.core.encoder import Encoder
from clipgallery.core.vector_index import VectorIndex

DEFAULT_LIMIT = 100


class SearchError(Exception):
    """A search that cannot run; the message is for the user."""


@dataclass
class SearchResult:
    photo: Photo
    score: float

    @property
    def path(self) -> Path:
        return self.photo.path

    def as_dict(self) -> dict[str, object]:
        p = self.photo
        return {
            "id": p.id,
            "path": os.fsdecode(p.path),
            "score": round(self.score, 6),
            "width": p.width,
            "height": p.height,
            "taken_at": p.taken_at,
            "camera": " ".join(x for x in (p.camera_make, p.camera_model) if x) or None,
        }


class Searcher:
    """Answers queries over one model's vectors."""

    def __init__(self, catalog: Catalog, index: VectorIndex, encoder: Encoder | None) -> None:
        self.catalog = catalog
        self.index = index
        self.encoder = encoder

    def _need_encoder(self) -> Encoder:
        if self.encoder is None:
            raise SearchError("The model is not loaded yet.")
        return self.encoder

    def text_vector(self, text: str) -> np.ndarray:
        text = text.strip()
        if not text:
            raise SearchError("Type a few words to search for.")
        return self._need_encoder().encode_text([text])[0]

    def image_vector(self, path: os.PathLike[str] | str) -> np.ndarray:
        enc = self._need_encoder()
        try:
            dec = imaging.decode(path, min_side=enc.image_size)
        except imaging.DecodeError as e:
            raise SearchError(f"Cannot search by {os.fsdecode(path)}: {e.reason}") from e
        return enc.encode_images([enc.preprocess_image(dec.image)])[0]

    def photo_vector(self, photo: int | os.PathLike[str] | str) -> tuple[int, np.ndarray]:
        """The stored vector of a photo in the library, by id or path."""
        if isinstance(photo, int):
            pid = photo
        else:
            row = self.catalog.photo_by_path(os.path.abspath(photo))
            if row is None:
                raise SearchError(f"{os.fsdecode(photo)} is not in the library.")
            pid = row.id
        vec = self.catalog.embedding(pid, self.index.model_id)
        if vec is None:
            raise SearchError("That photo has not been indexed with the current model yet.")
        return pid, vec

    def search_text(self, text: str, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        return self.search_vector(self.text_vector(text), limit)

    def search_image(self, path: os.PathLike[str] | str,
                     limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        return self.search_vector(self.image_vector(path), limit)

    def similar(self, photo: int | os.PathLike[str] | str,
                limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        """Photos like one already in the library (the photo itself is left out)."""
        pid, vec = self.photo_vector(photo)
        return [r for r in self.search_vector(vec, limit + 1) if r.photo.id != pid][:limit]

    def search_vector(self, vector: np.ndarray, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        v = np.asarray(vector, dtype=np.float32)
        n = float(np.linalg.norm(v))
        if n == 0 or not np.isfinite(n):
            return []
        hits = self.index.query(v / n, limit)
        rows = self.catalog.photos_by_id(i for i, _ in hits)
        out = []
        for pid, score in hits:
            row = rows.get(pid)
            # The index can briefly lag the catalog; never show a row that is not
            # (or no longer) searchable.
            if row is not None and row.status == INDEXED:
                out.append(SearchResult(row, score))
        return out
