"""PyInstaller runtime hook: runs inside the frozen app before any ClipGallery code.

It reads ``clipgallery_bundle.json``, written into the bundle by ``clipgallery.spec``:

* ``default_model`` (set by ``build.sh --with-model``): the bundled model folder,
  relative to the bundle's data folder (``sys._MEIPASS``), e.g. ``models/tiny-clip``.
  It becomes the *default* model (``$CLIPGALLERY_DEFAULT_MODEL``, read by
  ``clipgallery.core.store.library.default_model``): what a library with no model of its own is
  indexed and searched with.  An explicit ``--model``, ``$CLIPGALLERY_MODEL`` and the model a library
  already uses keep their precedence (``Library.model_spec``), so a user who switches
  to another model is not pulled back to the bundled one.
* ``cpu_only`` (the default, slim Linux build): torch's CUDA kernels libraries (cuDNN's
  engines, cuSOLVER) were left out, so CUDA is hidden from torch
  (``CUDA_VISIBLE_DEVICES=""``) and everything runs on the CPU.

Nothing here imports torch or Qt: the hook costs microseconds at start.
"""

from __future__ import annotations

import json
import os
import sys

BUNDLE_INFO = "clipgallery_bundle.json"


def use_default_model(path: str) -> None:
    """Make ``path`` the model a library without one uses (the core reads the variable)."""
    os.environ.setdefault("CLIPGALLERY_DEFAULT_MODEL", path)


def _setup(base: str) -> None:
    try:
        with open(os.path.join(base, BUNDLE_INFO), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return
    if info.get("cpu_only"):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    model = info.get("default_model")
    if model:
        path = os.path.join(base, *model.split("/"))
        if any(os.path.isfile(os.path.join(path, marker)) for marker in
               ("open_clip_config.json", "clipgallery_onnx_model.json")):  # full, lean
            use_default_model(path)


if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
    _setup(sys._MEIPASS)
