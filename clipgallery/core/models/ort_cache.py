"""ONNX Runtime's optimised graphs, kept per computer so that a start skips optimising.

Creating a CPU session optimises the graph first (constant folding, fusions, the layout
changes for this processor's vector units): 0.43 s of the int8 image model's 0.45 s
start and half of the text model's 0.9 s, measured on 2 cores, paid again by every run.
ONNX Runtime can write the optimised graph out (``optimized_model_filepath``) and load it
with its optimisers off, which gives the same outputs (checked: identical vectors) at a
quarter of the cost.

The optimised file is specific to this computer (ONNX Runtime says so of the layout
changes) and to the ONNX Runtime release, so its name carries both, with the model
file's size and mtime; it lives in an ``optimized/`` folder beside the model (the user's
export cache, or an imported model's folder).  A model folder that cannot be written
(a model bundled inside the app) is simply used as it is.  A cached file that fails to
load is deleted and made again; so is one whose output fails the caller's check
(:func:`forget`).  Nothing here is part of a model export: ``model export`` copies the
files the export lists, never this folder.

Threads: any; two processes (or threads) writing the same file each write their own
temporary file and rename it into place.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FOLDER = "optimized"
#: Graphs above this size are not cached: ONNX (protobuf) cannot write a file over 2 GB
#: without external data, so ONNX Runtime would fail to save them every time.
MAX_BYTES = 1_500_000_000


def cpu_signature() -> str:
    """What identifies this processor's instruction set: its model and feature flags."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines: list[str] = []
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    lines.append(line.strip())
            if lines:
                return "\n".join(lines)
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()} {platform.processor()}"


@functools.cache
def _cpu_key() -> str:
    return cpu_signature()  # read once per process (two threads may both read it)


def cached_path(model: Path, ort_version: str) -> Path | None:
    """Where the optimised graph of ``model`` lives on this computer; None when it is not
    to be cached (too large, the model is missing, or it is a temporary file, such as
    the int8 candidates an export tries: their graphs would outlive them)."""
    if model.name.startswith("."):
        return None
    try:
        st = model.stat()
    except OSError:
        return None
    if st.st_size > MAX_BYTES:
        return None
    key = hashlib.blake2b(
        f"{model.name}|{st.st_size}|{st.st_mtime_ns}|{ort_version}|{_cpu_key()}".encode(),
        digest_size=8).hexdigest()
    return model.parent / FOLDER / f"{model.stem}.{key}.onnx"


def forget(model: Path, ort_version: str) -> None:
    """Delete the cached graph of ``model`` (its output failed a check)."""
    path = cached_path(model, ort_version)
    if path is not None:
        path.unlink(missing_ok=True)


def create(ort: Any, model: Path, options: Any, fast_options: Any,
           providers: list[str]) -> Any:
    """A session for ``model``: from its cached optimised graph when there is one (loaded
    with ``fast_options``, whose optimisers are off), else made from ``model`` with
    ``options`` while the optimised graph is written for next time."""

    def uncached() -> Any:
        return ort.InferenceSession(str(model), sess_options=options, providers=providers)

    path = cached_path(model, ort.__version__)
    if path is None:
        return uncached()
    if path.is_file():
        try:
            return ort.InferenceSession(str(path), sess_options=fast_options,
                                        providers=providers)
        except Exception as e:  # noqa: BLE001 - a damaged cache file is made again
            log.info("optimised graph %s unusable (%s); making it again", path, e)
            path.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        _remove_stale(path, model.stem)
    except OSError:  # a read-only model folder: no cache
        return uncached()
    options.optimized_model_filepath = str(tmp)
    try:
        sess = uncached()  # the optimised graph is written to tmp meanwhile
        os.replace(tmp, path)
        return sess
    except Exception as e:  # noqa: BLE001 - the model itself may be fine: try it uncached
        log.info("could not cache the optimised graph of %s (%s)", model, e)
        options.optimized_model_filepath = ""
        return uncached()
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale(path: Path, stem: str) -> None:
    """Older graphs of the same model file (another size, mtime or runtime release), and
    graphs of temporary files that an earlier release cached (never read again)."""
    for orphan in path.parent.glob(".*.onnx"):
        orphan.unlink(missing_ok=True)
    for old in path.parent.glob(f"{stem}.*.onnx"):
        key = old.name[len(stem) + 1:-len(".onnx")]
        if old != path and len(key) == 16 and all(c in "0123456789abcdef" for c in key):
            old.unlink(missing_ok=True)
