"""Human-readable numbers, sizes, dates and durations for labels (Qt-free, any thread)."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "photo") -> "1 photo"``, ``count(1200, "photo") -> "1,200 photos"``."""
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}"


def file_size(n: int | None) -> str:
    if n is None:
        return "–"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - unreachable


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def taken(ts: float | None) -> str:
    if ts is None:
        return "Unknown"
    try:
        return _dt.datetime.fromtimestamp(ts).strftime("%d %b %Y, %H:%M")
    except (OverflowError, OSError, ValueError):
        return "Unknown"


def camera(make: str | None, model: str | None) -> str:
    make = (make or "").strip()
    model = (model or "").strip()
    if make and model.lower().startswith(make.lower()):
        return model  # "Canon Canon EOS R5" reads badly
    return " ".join(x for x in (make, model) if x) or "Unknown"


def pixels(width: int | None, height: int | None) -> str:
    if not width or not height:
        return "Unknown"
    mp = width * height / 1e6
    return f"{width:,} × {height:,}" + (f" ({mp:.1f} MP)" if mp >= 0.1 else "")


def display_path(p: os.PathLike[str] | str) -> str:
    """A path for a label, with the home folder shortened to ``~``."""
    s = os.fsdecode(os.fspath(p))
    home = os.path.expanduser("~")
    if home not in ("", "/") and (s == home or s.startswith(home + os.sep)):
        return "~" + s[len(home):]
    return s


def file_name(p: os.PathLike[str] | str) -> str:
    return os.fsdecode(Path(p).name)
