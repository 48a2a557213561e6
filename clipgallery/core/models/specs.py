"""Model specs, model folders and model ids: what can be known about a model without
importing torch or open_clip (those take seconds to import).

A *spec* names a model: ``NAME:PRETRAINED`` (an open_clip architecture and pretrained
tag) or a path to a local model folder in open_clip's format.  :mod:`torch_backend`
loads specs; :mod:`onnx_runtime` starts from an earlier ONNX export of one without
torch; :mod:`backends` chooses between them.

Threading: plain functions, safe from any thread (the id cache is a dict whose
entries are written whole).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOCAL_CONFIG = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "model.safetensors")
MODEL_INFO = "clipgallery_model.json"
HUB_HOST = ("huggingface.co", 443)
ENV_HUB_ENDPOINT = "CLIPGALLERY_HUB_ENDPOINT"  # another hub or mirror (tests: a local one)


class ModelUnavailable(Exception):
    """The model cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: either an open_clip NAME:PRETRAINED or a local folder."""

    name: str
    pretrained: str | None = None
    path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.path is not None

    def __str__(self) -> str:
        return str(self.path) if self.path else f"{self.name}:{self.pretrained}"


def parse_spec(spec: str) -> ModelSpec:
    """Parse ``NAME:PRETRAINED`` or a local model folder path (the architecture name is
    checked against open_clip by :func:`clipgallery.core.models.torch_backend.parse_spec`)."""
    spec = spec.strip()
    if not spec:
        raise ModelUnavailable("No model given. Use --model NAME:PRETRAINED or a model folder.")
    p = Path(spec).expanduser()
    if p.is_dir() or spec.startswith((".", "/", "~")) or os.sep in spec and ":" not in spec:
        if not (p / LOCAL_CONFIG).is_file():
            raise ModelUnavailable(
                f"{p} is not a ClipGallery/open_clip model folder (no {LOCAL_CONFIG} in it).")
        return ModelSpec(name=p.name, path=p.absolute())
    name, sep, pretrained = spec.partition(":")
    if not sep or not pretrained:
        raise ModelUnavailable(
            f"Model '{spec}' is not NAME:PRETRAINED (e.g. ViT-B-32-256:datacomp_s34b_b86k) "
            "nor a model folder.")
    return ModelSpec(name=name, pretrained=pretrained)


def weights_file(folder: Path) -> Path | None:
    """The weights file of a local model folder, if it has one."""
    for n in WEIGHT_NAMES:
        if (folder / n).is_file():
            return folder / n
    return None


_ID_CACHE: dict[tuple[str, int, int], str] = {}


def local_model_id(folder: Path) -> str:
    """A content-derived id, so moving or copying a model folder keeps its vectors valid."""
    meta = folder / MODEL_INFO
    if meta.is_file():
        try:
            return str(json.loads(meta.read_text())["model_id"])
        except (ValueError, KeyError, OSError):
            pass
    weights = weights_file(folder)
    h = hashlib.sha256((folder / LOCAL_CONFIG).read_bytes())
    if weights is not None:
        st = weights.stat()
        key = (str(weights), st.st_size, st.st_mtime_ns)
        if key not in _ID_CACHE:
            wh = hashlib.sha256()
            with open(weights, "rb") as f:
                while chunk := f.read(1 << 20):
                    wh.update(chunk)
            _ID_CACHE[key] = wh.hexdigest()
        h.update(_ID_CACHE[key].encode())
    return f"local:{folder.name}@{h.hexdigest()[:16]}"


def hub_endpoint() -> str:
    """The model hub's base URL: ``$CLIPGALLERY_HUB_ENDPOINT``, ``$HF_ENDPOINT`` (a mirror),
    else huggingface.co."""
    return (os.environ.get(ENV_HUB_ENDPOINT) or os.environ.get("HF_ENDPOINT")
            or f"https://{HUB_HOST[0]}").rstrip("/")


def hub_reachable(timeout: float = 3.0, endpoint: str | None = None) -> bool:
    """A quick check (a few seconds at most) that the model hub can be reached."""
    from urllib.parse import urlsplit

    url = urlsplit(endpoint or hub_endpoint())
    host = url.hostname or HUB_HOST[0]
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_folder(repo: str) -> str:
    """The folder name a hub repository's files are downloaded into."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in repo.replace("/", "--"))



def split_long_text(text: str, context_length: int,
                    token_count: Callable[[str], int | None]) -> list[str]:
    """Parts of ``text`` that each fit a model's context (start/end tokens included).

    A text longer than the context is not cut silently: it is split into sentences and,
    if a sentence is still too long, into word windows; callers encode each part and
    average the vectors.  ``token_count`` returns None when it cannot count.
    """
    limit = context_length - 2
    n = token_count(text)
    if n is None or n <= limit:
        return [text]
    parts: list[str] = []
    for sentence in re.split(r"(?<=[.!?;])\s+|\n+", text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if (token_count(sentence) or 0) <= limit:
            parts.append(sentence)
            continue
        window: list[str] = []
        for word in sentence.split():
            if window and (token_count(" ".join(window + [word])) or 0) > limit:
                parts.append(" ".join(window))
                window = []
            window.append(word)
        if window:
            parts.append(" ".join(window))
    return parts or [text]


def count_tokens(tokenizer: object, text: str) -> int | None:
    """How many tokens ``tokenizer`` makes of ``text`` (None if it has no plain encode)."""
    enc = getattr(tokenizer, "encode", None)
    if enc is None:
        return None
    try:
        return len(enc(text))
    except Exception:  # noqa: BLE001 - a tokenizer without a plain encode()
        return None
