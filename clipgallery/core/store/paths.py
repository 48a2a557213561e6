"""Where a library lives on disk.

One library per data directory.  By default that is platformdirs' user data dir;
``CLIPGALLERY_HOME`` (or an explicit ``--library DIR``) overrides it, and then the
caches live under it too, so a test or a portable install touches nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "ClipGallery"
ENV_HOME = "CLIPGALLERY_HOME"


@dataclass(frozen=True)
class LibraryPaths:
    root: Path
    cache: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def lock(self) -> Path:
        return self.root / "writer.lock"

    @property
    def thumbnails(self) -> Path:
        return self.cache / "thumbnails"

    def ensure(self) -> None:
        """Create the folders, readable by the user only."""
        for d in (self.root, self.index_dir, self.models, self.cache, self.thumbnails):
            d.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(d, 0o700)
            except OSError:
                pass


def user_cache() -> Path:
    """The per-user cache shared by every library of this user (model conversions):
    under ``$CLIPGALLERY_HOME`` when that is set (tests, portable installs), else
    platformdirs' user cache dir."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser().absolute() / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def resolve(library: str | os.PathLike[str] | None = None) -> LibraryPaths:
    """The library at ``library``, else ``$CLIPGALLERY_HOME``, else the user data dir."""
    if library is None:
        library = os.environ.get(ENV_HOME) or None
    if library is not None:
        root = Path(library).expanduser().absolute()
        return LibraryPaths(root=root, cache=root / "cache")
    return LibraryPaths(
        root=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )
