"""The model-backend seam: what an encoder offers, which backends can make one, and the
one place that picks a backend for a model and a device.

* :class:`Encoder` is the protocol every encoder follows (the torch
  :class:`~clipgallery.core.models.torch_backend.Encoder` and
  :class:`~clipgallery.core.models.onnx_runtime.OnnxEncoder`): the members the indexer,
  the searcher, the labels and the app use, and nothing more.
* :class:`Backend` is the protocol of a backend: its ``name``, whether it is
  ``installed()``, whether it ``handles(spec)``, whether it ``runs_on(device)`` here, and
  ``load(spec, device, options) -> Encoder``.  :data:`BACKENDS` registers them:

  - ``onnx-portable``: a model converted elsewhere and imported (``model import``) or
    exported (``model export``); ONNX Runtime only, no torch ever;
  - ``onnxruntime``: a model in open_clip form run through its ONNX conversion (float32,
    or the int8 image model when ``options.int8`` and its check passed), converted once
    per computer (that needs torch), then started without torch;
  - ``torch``: open_clip in PyTorch (float32 on the CPU, float16 on CUDA, MPS).

* :func:`select` picks by device and what is installed: on the CPU ONNX Runtime first
  (torch missing: ONNX only), on a GPU PyTorch first (ONNX Runtime's CUDA execution
  provider where torch is missing); ``"auto"`` is CUDA if it is usable, else Apple MPS,
  else the CPU; ``$CLIPGALLERY_BACKEND`` names a backend to keep to (``torch``).
  Nothing that can run it: :class:`~clipgallery.core.models.specs.ModelUnavailable`
  with a message that says what to install or choose.

Adding a backend: a class with these five members, registered in :data:`BACKENDS` and
in :data:`PREFERENCE`.  Nothing here imports torch or ONNX Runtime at import time; a
backend imports its runtime when it is asked whether it runs on a GPU or to load.

Threading: the registry is immutable; :func:`select` and :func:`load` may be called from
any thread (the app loads models in its indexing thread).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from clipgallery.core.models import devices as _devices
from clipgallery.core.models.specs import ModelUnavailable

log = logging.getLogger(__name__)

#: Keep to one backend where it handles the model: "torch" (or "onnxruntime"); "auto"
#: or unset lets :func:`select` choose.
ENV_BACKEND = "CLIPGALLERY_BACKEND"


class Encoder(Protocol):
    """A loaded CLIP model: images and texts in, L2-normalised float32 vectors out."""

    backend: str  # "torch" or "onnxruntime"
    model_id: str  # vectors of one model id are interchangeable, whatever the backend
    dim: int
    image_size: int
    context_length: int
    label: str  # for people: the spec and the backend
    device: str  # "cpu", "cuda" or "mps": where it actually runs
    calls: int  # image batches encoded
    images_encoded: int
    logit_scale: float  # CLIP's learned temperature (labels turn cosines into odds)

    def preprocess_image(self, image: Any) -> Any: ...

    def encode_images(self, batch: Any) -> np.ndarray: ...

    def encode_text(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_prompts(self, prompts: Sequence[str]) -> np.ndarray:
        """Short texts (never split), in one batch: labels' prompt vocabulary."""
        ...

    def token_count(self, text: str) -> int | None: ...

    def split_long_text(self, text: str) -> list[str]: ...


@dataclass(frozen=True)
class LoadOptions:
    """What a backend needs to know besides the spec and the device.

    ``int8``: the int8 image model on the CPU (fast indexing), where its check passed.
    ``export``: convert to ONNX now if not done yet (indexing); a search only uses an
    existing conversion.  ``preload``: towers loaded (and checked) before ``load``
    returns, when it converts; ``warm``: towers loaded in the background at once.
    """

    hub_cache: Path | None = None
    onnx_store: Path | None = None
    int8: bool = False
    export: bool = True
    preload: tuple[str, ...] = ()
    warm: tuple[str, ...] = ()
    progress: Callable[[str], None] | None = None


class Backend(Protocol):
    """A way to run models (see the module's docstring)."""

    name: str

    def installed(self) -> bool:
        """Its runtime can be imported here (checked without importing it)."""
        ...

    def handles(self, spec: str) -> bool:
        """It can load models named like ``spec`` at all."""
        ...

    def runs_on(self, device: str) -> bool:
        """It can run on ``device`` ("cpu", "cuda", "mps") on this computer."""
        ...

    def load(self, spec: str, device: str, options: LoadOptions) -> Encoder:
        """The encoder; raises ModelUnavailable with a clear message."""
        ...


def _importable(*names: str) -> bool:
    try:
        return all(importlib.util.find_spec(n) is not None for n in names)
    except (ImportError, ValueError):
        return False


def _is_portable(spec: str) -> bool:
    from clipgallery.core.models import portable

    return portable.is_portable(Path(spec).expanduser())


def onnx_cuda_available() -> bool:
    """Whether ONNX Runtime here has the CUDA execution provider (onnxruntime-gpu)."""
    from clipgallery.core.models.onnx_runtime import CUDA_PROVIDER, available_providers

    return CUDA_PROVIDER in available_providers()


def _load_torch(spec: str, device: str | None, hub_cache: Path | None) -> Encoder:
    """``spec`` in PyTorch; the lean edition (no torch) gets a clear ModelUnavailable."""
    try:
        from clipgallery.core.models.torch_backend import load_encoder
    except ImportError as e:  # the lean edition: no torch, no open_clip
        from clipgallery.core.models.portable import FULL_EDITION

        raise ModelUnavailable(f"{spec} has not been converted on this computer yet "
                               f"({e.name or e} is not installed). {FULL_EDITION}") from e
    return load_encoder(spec, device=device, cache_dir=hub_cache)


def _load_tokenizer(spec: str) -> Any:
    from clipgallery.core.models.torch_backend import load_tokenizer

    return load_tokenizer(spec)


class PortableBackend:
    """A model converted elsewhere (``model export`` / ``model import``): ONNX only."""

    name = "onnx-portable"

    def installed(self) -> bool:
        return _importable("onnxruntime")

    def handles(self, spec: str) -> bool:
        return _is_portable(spec)

    def runs_on(self, device: str) -> bool:
        return device == "cpu" or (device == "cuda" and onnx_cuda_available())

    def load(self, spec: str, device: str, options: LoadOptions) -> Encoder:
        from clipgallery.core.models import portable

        return portable.load(Path(spec).expanduser(), int8=options.int8 and device == "cpu",
                             warm=options.warm, device=device)


class OnnxRuntimeBackend:
    """An open_clip model run through its ONNX conversion (made once per computer, in
    ``options.onnx_store``; a start with a conversion needs no torch).  If the
    conversion fails, the reason is logged and the PyTorch encoder is returned."""

    name = "onnxruntime"

    def installed(self) -> bool:
        return _importable("onnxruntime")

    def handles(self, spec: str) -> bool:
        return not _is_portable(spec)

    def runs_on(self, device: str) -> bool:
        return device == "cpu" or (device == "cuda" and onnx_cuda_available())

    def load(self, spec: str, device: str, options: LoadOptions) -> Encoder:
        from clipgallery.core.models.onnx_runtime import fast_onnx_encoder

        store = Path(options.onnx_store) if options.onnx_store else None
        int8 = options.int8 and device == "cpu"
        if store is not None:
            fast = fast_onnx_encoder(
                spec, hub_cache=options.hub_cache, store=store, int8=int8, warm=options.warm,
                device=device, loader=lambda: _load_torch(spec, "cpu", options.hub_cache),
                tokenizer_loader=lambda: _load_tokenizer(spec))
            if fast is not None:
                return fast
        enc = _load_torch(spec, "cpu", options.hub_cache)  # converting needs torch
        if store is None:
            return enc
        from clipgallery.core.models.onnx_export import (
            onnx_encoder_for,
            source_files,
            source_key,
        )

        return onnx_encoder_for(
            enc, store, progress=options.progress, export=options.export, quantize=int8,
            preload=options.preload, device=device,
            source=(source_key(spec, options.hub_cache),
                    source_files(spec, getattr(enc, "weights_path", None))))


class TorchBackend:
    """open_clip in PyTorch: float32 on the CPU, float16 on CUDA, MPS on Apple silicon."""

    name = "torch"

    def installed(self) -> bool:
        return _importable("torch", "open_clip")

    def handles(self, spec: str) -> bool:
        return not _is_portable(spec)

    def runs_on(self, device: str) -> bool:
        if device == "cpu":
            return True
        import torch  # only asked where a GPU is likely or was asked for

        if device == "cuda":
            return bool(torch.cuda.is_available())
        mps = getattr(torch.backends, "mps", None)
        return device == "mps" and mps is not None and bool(mps.is_available())

    def load(self, spec: str, device: str, options: LoadOptions) -> Encoder:
        return _load_torch(spec, device, options.hub_cache)


#: Every backend, by name.
BACKENDS: dict[str, Backend] = {b.name: b for b in (PortableBackend(), OnnxRuntimeBackend(),
                                                    TorchBackend())}
#: The order :func:`select` tries them in, per device.
PREFERENCE: dict[str, tuple[str, ...]] = {
    "cpu": ("onnx-portable", "onnxruntime", "torch"),
    "cuda": ("onnx-portable", "torch", "onnxruntime"),
    "mps": ("onnx-portable", "torch"),
}


@dataclass(frozen=True)
class Choice:
    """What :func:`select` picked."""

    backend: Backend
    device: str

    def load(self, spec: str, options: LoadOptions | None = None) -> Encoder:
        return self.backend.load(spec, self.device, options or LoadOptions())


def _candidates(spec: str, backends: dict[str, Backend]) -> list[Backend]:
    handlers = [b for b in backends.values() if b.handles(spec)]
    forced = os.environ.get(ENV_BACKEND, "").strip().lower()
    if forced and forced != "auto":
        kept = [b for b in handlers if b.name == forced]
        if kept:
            return kept
        if forced not in backends:
            log.warning("%s=%s names no backend (%s); choosing one", ENV_BACKEND, forced,
                        ", ".join(backends))
    return handlers


def _usable(backend: Backend, device: str) -> bool:
    try:
        return backend.installed() and backend.runs_on(device)
    except Exception as e:  # noqa: BLE001 - a broken runtime is one that cannot run it
        log.info("backend %s cannot run on %s: %s: %s", backend.name, device,
                 type(e).__name__, e)
        return False


def resolve_device(spec: str, device: str = "auto", *,
                   backends: dict[str, Backend] | None = None) -> str:
    """``device`` as a concrete device: "auto" is CUDA where a backend can use it, else
    Apple MPS likewise, else the CPU (torch is imported only where a GPU is likely)."""
    device = _devices.check_device(device)
    if device != _devices.AUTO:
        return device
    handlers = _candidates(spec, backends or BACKENDS)
    for name, likely in (("cuda", _devices.cuda_likely), ("mps", _devices.mps_likely)):
        if likely() and any(_usable(b, name) for b in handlers):
            return name
    return "cpu"


def _nothing_runs(spec: str, device: str, handlers: Sequence[Backend]) -> ModelUnavailable:
    why = "; ".join(f"{b.name}: {'not installed' if not b.installed() else 'cannot run there'}"
                    for b in handlers) or "no backend handles this model"
    if device == "cuda":
        msg = ("CUDA was asked for (--device or the library's settings) but no CUDA GPU is "
               "usable here; use 'auto' or 'cpu'.")
    elif device == "mps":
        msg = ("Apple MPS was asked for (--device or the library's settings) but is not "
               "available here; use 'auto' or 'cpu'.")
    else:
        msg = (f"Nothing installed here can run {spec}: install onnxruntime (a converted "
               "model) or PyTorch and open_clip (the full edition).")
    return ModelUnavailable(f"{msg} ({why})")


def select(spec: str, device: str | None = "auto", *,
           backends: dict[str, Backend] | None = None) -> Choice:
    """The backend (and concrete device) to load ``spec`` with; see the module docstring.
    ValueError for an unknown device name; ModelUnavailable if nothing can run it."""
    backends = backends or BACKENDS
    concrete = resolve_device(spec, device or _devices.AUTO, backends=backends)
    handlers = _candidates(spec, backends)
    by_name = {b.name: b for b in handlers}
    order = [by_name[n] for n in PREFERENCE.get(concrete, ()) if n in by_name]
    order += [b for b in handlers if b not in order]  # registered, no stated preference
    for backend in order:
        if _usable(backend, concrete):
            return Choice(backend, concrete)
    raise _nothing_runs(spec, concrete, handlers)


def load(spec: str, device: str | None = "auto", options: LoadOptions | None = None, *,
         backends: dict[str, Backend] | None = None) -> Encoder:
    """``select(spec, device)`` and load with it."""
    choice = select(spec, device, backends=backends)
    log.info("loading %s with %s on %s", spec, choice.backend.name, choice.device)
    return choice.load(spec, options)
