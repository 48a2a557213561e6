"""CLIP encoders: turn images and text into L2-normalised float32 vectors.

A model is named by a *spec*:

* ``NAME:PRETRAINED`` — an open_clip architecture and pretrained tag, for example
  ``ViT-B-32-256:datacomp_s34b_b86k``.  Weights come from the library's model store
  (downloaded there once, on request) and are never fetched silently.
* a path to a local model folder in open_clip's format (``open_clip_config.json`` +
  ``open_clip_model.safetensors``), for example ``tests/data/tiny-clip``.

Both load through open_clip's own factory, with weights read by safetensors or
``torch.load(weights_only=True)`` only.

Threading: an :class:`Encoder` is owned by one thread at a time (the indexer's worker,
or the search thread for text); torch itself is thread-safe for inference but two
threads sharing one model just fight over the cores.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Never let a library under us reach for the network on its own.  An explicit,
# user-requested download (see download_model) lifts this for its own call only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import open_clip  # noqa: E402
import torch  # noqa: E402
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict  # noqa: E402
from PIL import Image  # noqa: E402

from clipgallery.core.models import specs as _ms  # noqa: E402
from clipgallery.core.models.specs import (  # noqa: E402,F401 - re-exported
    ENV_HUB_ENDPOINT,
    HUB_HOST,
    LOCAL_CONFIG,
    ModelSpec,
    ModelUnavailable,
    count_tokens,
    hub_endpoint,
    hub_folder,
    hub_reachable,
    local_model_id,
    split_long_text,
)
from clipgallery.core.models.specs import WEIGHT_NAMES as _WEIGHT_NAMES  # noqa: E402,F401
from clipgallery.core.models.specs import weights_file as _weights_file  # noqa: E402

log = logging.getLogger(__name__)


def parse_spec(spec: str) -> ModelSpec:
    """Parse ``NAME:PRETRAINED`` or a local model folder path, checking the architecture."""
    ms = _ms.parse_spec(spec)
    if ms.path is None and ms.name not in open_clip.list_models():
        raise ModelUnavailable(f"open_clip has no model architecture named '{ms.name}'.")
    return ms


def default_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def cached_weights(spec: ModelSpec, cache_dir: Path | None) -> Path | None:
    """The local file holding ``spec``'s pretrained weights, if it was downloaded."""
    cfg = open_clip.get_pretrained_cfg(spec.name, spec.pretrained or "")
    if not cfg:
        raise ModelUnavailable(
            f"open_clip knows no pretrained weights '{spec.pretrained}' for {spec.name}. "
            f"Known: {', '.join(open_clip.list_pretrained_tags_by_model(spec.name)) or 'none'}.")
    hf = cfg.get("hf_hub", "")
    if hf:
        from huggingface_hub import try_to_load_from_cache

        parts = hf.strip("/").split("/")
        repo = "/".join(parts[:2])
        names = [cfg.get("hf_filename")] if cfg.get("hf_filename") else [
            "open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for fname in names:
            # ClipGallery's own downloads (core.models.download): <cache>/<org>--<repo>/<file>
            if cache_dir is not None and (Path(cache_dir) / hub_folder(repo) / fname).is_file():
                return Path(cache_dir) / hub_folder(repo) / fname
            for cdir in ([str(cache_dir)] if cache_dir else []) + [None]:
                got = try_to_load_from_cache(repo, fname, cache_dir=cdir)
                if isinstance(got, str) and os.path.isfile(got):
                    return Path(got)
    return None


class Encoder:
    """A loaded CLIP model with its preprocessing and tokenizer (the ``Encoder`` protocol
    of :mod:`clipgallery.core.models.backends`, plus ``model``, ``tokenizer``, ``dtype``
    and ``weights_path`` for what only PyTorch does: converting to ONNX)."""

    backend = "torch"

    def __init__(self, model: torch.nn.Module, preprocess, tokenizer, model_id: str,
                 device: str, label: str) -> None:
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.label = label
        self.dtype = torch.float16 if device == "cuda" else torch.float32
        pp = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = pp.get("size", getattr(model.visual, "image_size", 224))
        self.image_size = int(size if isinstance(size, int) else min(size))
        self.context_length = int(getattr(model, "context_length", 77) or 77)
        self.weights_path: Path | None = None  # the file the weights were read from
        self.calls = 0  # image batches encoded (tests count re-encodes with it)
        self.images_encoded = 0
        self._lock = threading.Lock()
        with torch.no_grad():
            tok = self.tokenizer(["a photo"]).to(device)
            self.dim = int(self.model.encode_text(tok).shape[-1])

    def __repr__(self) -> str:
        return f"Encoder({self.model_id!r}, device={self.device!r}, dim={self.dim})"

    def preprocess_image(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(image)

    def encode_images(self, batch: torch.Tensor | np.ndarray | Sequence[torch.Tensor]
                      ) -> np.ndarray:
        """(N, dim) float32, L2-normalised, from preprocessed images (tensors or arrays).
        On GPU out-of-memory, halves the batch."""
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(np.ascontiguousarray(batch))
        elif not isinstance(batch, torch.Tensor):
            batch = torch.stack([torch.as_tensor(b) for b in batch])
        with self._lock:
            self.calls += 1
            self.images_encoded += int(batch.shape[0])
        # No lock around the model: inference mutates nothing, so a text query from
        # the search thread never waits for a whole image batch.
        return self._encode_images(batch)

    def _encode_images(self, batch: torch.Tensor) -> np.ndarray:
        try:
            with torch.inference_mode():
                x = batch.to(self.device, dtype=self.dtype, non_blocking=True)
                feats = self.model.encode_image(x).float()
                feats = torch.nn.functional.normalize(feats, dim=-1)
                return feats.cpu().numpy().astype(np.float32)
        except torch.OutOfMemoryError:
            if batch.shape[0] <= 1 or self.device == "cpu":
                raise
            if self.device == "cuda":
                torch.cuda.empty_cache()
            half = batch.shape[0] // 2
            log.warning("GPU out of memory at batch %d; retrying as %d + %d",
                        batch.shape[0], half, batch.shape[0] - half)
            return np.concatenate([self._encode_images(batch[:half]),
                                   self._encode_images(batch[half:])])

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, L2-normalised.

        A text longer than the model's context is not cut silently: it is split into
        sentences (and, if a sentence is still too long, into word windows), each
        part is encoded and the mean of the parts is used.
        """
        vecs = []
        for text in texts:
            parts = self.split_long_text(text)
            with torch.inference_mode():
                tok = self.tokenizer(parts).to(self.device)
                f = torch.nn.functional.normalize(self.model.encode_text(tok).float(), dim=-1)
                v = torch.nn.functional.normalize(f.mean(0), dim=-1)
            vecs.append(v.cpu().numpy().astype(np.float32))
        if not vecs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(vecs)

    @property
    def logit_scale(self) -> float:
        """CLIP's learned temperature (exp of the model's ``logit_scale``; 100 if none)."""
        scale = getattr(self.model, "logit_scale", None)
        try:
            value = float(scale.detach().exp()) if scale is not None else 100.0
        except (TypeError, ValueError, AttributeError):
            value = 100.0
        return value if np.isfinite(value) and value > 0 else 100.0

    def encode_prompts(self, prompts: Sequence[str]) -> np.ndarray:
        """(N, dim) short texts in one batch (labels' vocabulary; never split)."""
        prompts = list(prompts)
        if not prompts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            tok = self.tokenizer(prompts).to(self.device)
            f = torch.nn.functional.normalize(self.model.encode_text(tok).float(), dim=-1)
        return f.cpu().numpy().astype(np.float32)

    def token_count(self, text: str) -> int | None:
        return count_tokens(self.tokenizer, text)

    def split_long_text(self, text: str) -> list[str]:
        """Parts of ``text`` that each fit the model's context (start/end tokens included)."""
        return split_long_text(text, self.context_length, self.token_count)


def _cpu_threads() -> int:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, n)


def load_encoder(spec: str | ModelSpec, *, device: str | None = None,
                 cache_dir: Path | None = None) -> Encoder:
    """Load a model for inference.  Raises :class:`ModelUnavailable` with a clear message."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    device = device or default_device()
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("CUDA was asked for (--device or the library's settings) but "
                               "no CUDA GPU is usable here; use 'auto' or 'cpu'.")
    if device == "mps" and not (getattr(torch.backends, "mps", None)
                                and torch.backends.mps.is_available()):
        raise ModelUnavailable("Apple MPS was asked for (--device or the library's settings) "
                               "but is not available here; use 'auto' or 'cpu'.")
    if device == "cpu":
        torch.set_num_threads(_cpu_threads())
    try:
        if spec.path is not None:
            ident = f"local-dir:{spec.path}"
            if _weights_file(spec.path) is None:
                raise ModelUnavailable(f"Model folder {spec.path} has no weights file.")
            weights_path = _weights_file(spec.path)
            model = open_clip.create_model(ident, device=device, weights_only=True)
            tokenizer = open_clip.get_tokenizer(ident)
            model_id = local_model_id(spec.path)
        else:
            weights = cached_weights(spec, cache_dir)
            if weights is None:
                # No network probe here: only a download the user asks for goes online.
                raise ModelUnavailable(
                    f"Model {spec} is not on this computer yet. Download it with "
                    f"'clipgallery model download {spec}' or import a model file with "
                    f"'clipgallery model import FILE --arch {spec.name}'.")
            weights_path = weights
            tag_cfg = open_clip.get_pretrained_cfg(spec.name, spec.pretrained or "")
            model = open_clip.create_model(
                spec.name, pretrained=str(weights), device=device, weights_only=True,
                force_preprocess_cfg=merge_preprocess_dict({}, tag_cfg))
            tokenizer = open_clip.get_tokenizer(spec.name)
            model_id = f"{spec.name}:{spec.pretrained}"
    except ModelUnavailable:
        raise
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        raise ModelUnavailable(f"Model {spec} could not be loaded: {e}") from e
    model.eval()
    if device == "cuda":
        model = model.half()
    preprocess = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    enc = Encoder(model, preprocess, tokenizer, model_id, device, label=str(spec))
    enc.weights_path = weights_path
    return enc


def load_tokenizer(spec: str | ModelSpec):
    """Only the tokenizer of ``spec`` (no model is built)."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    return open_clip.get_tokenizer(f"local-dir:{spec.path}" if spec.path else spec.name)
