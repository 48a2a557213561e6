"""Whether a library reads text in its photos: the ``ocr`` setting and ``$CLIPGALLERY_OCR``.

Apart from :mod:`clipgallery.core.indexing.ocr_pass` so that asking costs nothing: the
window asks at start-up, before anything heavy is imported (the pass imports the
decoders and the indexer, ~0.15 s).  Pure functions; any thread (with its own catalog
connection).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clipgallery.core.store.catalog import Catalog

__all__ = ["ENV_OCR", "enabled", "enabled_by_env", "set_enabled"]

ENV_OCR = "CLIPGALLERY_OCR"


def enabled_by_env() -> bool:
    """False when ``CLIPGALLERY_OCR`` says off (0, off, no, false)."""
    return os.environ.get(ENV_OCR, "").strip().lower() not in ("0", "off", "no", "false")


def enabled(catalog: Catalog) -> bool:
    """The library's ``ocr`` setting (on unless set off), unless ``CLIPGALLERY_OCR=0``."""
    return enabled_by_env() and catalog.get_meta("ocr") != "off"


def set_enabled(catalog: Catalog, on: bool) -> None:
    catalog.set_meta("ocr", "on" if on else "off")
