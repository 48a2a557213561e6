"""Run a CLIP :class:`~clipgallery.core.models.torch_backend.Encoder` on the CPU through ONNX Runtime.

On a CPU, ONNX Runtime runs CLIP's towers as fast as eager PyTorch or up to twice as
fast (measured: 2x on an AMD EPYC, 1x on an Intel Xeon), its int8 image model 4x; and a
start from an export needs no torch at all (see onnx_runtime).  The
vectors are the same (cosine >= 0.9999 against open_clip's PyTorch output), so an
:class:`OnnxEncoder` carries the *same* ``model_id`` as the torch encoder it was made
from, and vectors from either can live in one index.

* :func:`export_onnx` converts a loaded torch encoder's image tower
  (``model.encode_image``, projection included) and text tower (``model.encode_text``)
  to ONNX, once, into a cache folder keyed by the model id and a checksum of the
  weights: ``out_dir/<slug(model_id)>-<digest>/{visual.onnx, textual.onnx, info.json}``.
  The folder is written under a temporary name and renamed when complete and checked,
  so a killed export never leaves a half-written model that looks valid.
* :class:`OnnxEncoder` follows the same ``Encoder`` protocol
  (:mod:`clipgallery.core.models.backends`); the torch encoder it was made from is
  kept as ``torch_encoder``, for a tower that fails to load.
* :func:`onnx_encoder_for` does both and, on *any* failure, logs why and returns the
  torch encoder unchanged.  Only CPU encoders are converted; CUDA/MPS keep PyTorch.

Threads:

* export runs in whichever thread loads the model (the CLI's main thread, the app's
  indexing worker), before the encoder is handed out.  It briefly switches off
  PyTorch's multi-head-attention fast path (a process-wide flag) while tracing.
* :meth:`OnnxEncoder.encode_images` is called from the indexing thread, and
  :meth:`OnnxEncoder.encode_text` from the search thread; ``preprocess_image`` from the
  indexer's decode threads.  ``InferenceSession.run`` is thread-safe, the two towers
  are separate sessions, and the counters are updated under a lock, so these may run
  concurrently without any lock around inference.  A tower's session is created on
  first use (or up front, see ``preload``) under a lock of its own.
* ONNX Runtime's intra-op pool has ``threads`` workers (default: all cores) that do not
  busy-wait between operators, so the indexer's decode threads get the cores back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from clipgallery.core.models.onnx_runtime import (  # noqa: F401 - re-exported
    EXPORT_FORMAT,
    INFO,
    MIN_INT8_COSINE,
    MIN_PARITY,
    OPSET,
    TEXTUAL,
    VISUAL,
    VISUAL_INT8,
    ImagePreprocess,
    OnnxBackendError,
    OnnxEncoder,
    Progress,
    Sources,
    cpu_threads,
    slug,
    source_files,
    source_key,
)
from clipgallery.core.models.onnx_runtime import min_cosine as _min_cosine
from clipgallery.core.models.onnx_runtime import probe_images as _probe_images
from clipgallery.core.models.onnx_runtime import read_info as _read_info
from clipgallery.core.models.onnx_runtime import run as _run
from clipgallery.core.models.onnx_runtime import session as _session
from clipgallery.core.models.onnx_runtime import write_json as _write_json
from clipgallery.core.models.torch_backend import Encoder

log = logging.getLogger(__name__)

_STALE_TMP_SECONDS = 3600.0


def weights_digest(model: torch.nn.Module) -> str:
    """A checksum of the model's weights (names, dtypes, shapes and every value).

    It detects changed weights, nothing more: each tensor's bytes go through CRC-32
    (2-3x faster than SHA-256 over the ~600 MB of ViT-B-32), then the per-tensor
    checksums, names and shapes through SHA-256.
    """
    h = hashlib.sha256(f"clipgallery-onnx/{EXPORT_FORMAT}/opset{OPSET}".encode())
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        crc = zlib.crc32(t.reshape(-1).view(torch.uint8).numpy()) if t.numel() else 0
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|{crc:08x}\n".encode())
    return h.hexdigest()[:16]


def cache_folder(encoder: Encoder, out_dir: Path) -> Path:
    """Where :func:`export_onnx` puts (or finds) ``encoder``'s ONNX files."""
    return Path(out_dir) / f"{slug(encoder.model_id)}-{weights_digest(encoder.model)}"


# -- probes: fixed inputs whose outputs are recorded at export and checked on load ---------


def _natural_images(encoder: Encoder, n: int = 8) -> np.ndarray:
    """Smooth synthetic pictures run through the encoder's transform (for the int8 check)."""
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        coarse = rng.integers(0, 256, (rng.integers(3, 9), rng.integers(3, 9), 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((320, 240), Image.Resampling.BICUBIC)
        out.append(encoder.preprocess(img).numpy())
    return np.stack(out).astype(np.float32)


_PROBE_TEXTS = ("a photo of a dog", "a red car parked on a street at night",
                "mountains reflected in a lake")


def _probe_tokens(encoder: Encoder) -> np.ndarray:
    return encoder.tokenizer(list(_PROBE_TEXTS)).numpy().astype(np.int64)


# -- export ----------------------------------------------------------------------------


class _ImageTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(image)


class _TextTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens)


def _torch_export(module: torch.nn.Module, dummy: torch.Tensor, path: Path,
                  input_name: str) -> None:
    """The TorchScript-based exporter (``dynamo=False``), as rclip uses; opset 18."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (dummy,), str(path),
                input_names=[input_name], output_names=["embedding"],
                dynamic_axes={input_name: {0: "batch"}, "embedding": {0: "batch"}},
                opset_version=OPSET, dynamo=False, do_constant_folding=True)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def _write_info(folder: Path, info: dict[str, Any]) -> None:
    _write_json(Path(folder) / INFO, info)


def _clean_stale_tmp(out_dir: Path) -> None:
    now = time.time()
    for p in out_dir.glob(".tmp-*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _export_into(encoder: Encoder, tmp: Path, progress: Progress) -> dict[str, Any]:
    """Export both towers into ``tmp``, check them against PyTorch, return the info."""
    model = encoder.model
    size, ctx = encoder.image_size, encoder.context_length
    t0 = time.monotonic()
    progress(f"Converting {encoder.label} for ONNX Runtime (once; this takes a minute)…")
    _torch_export(_ImageTower(model), torch.from_numpy(_probe_images(size)), tmp / VISUAL,
                  "image")
    progress("Converting the text model for ONNX Runtime…")
    _torch_export(_TextTower(model), torch.from_numpy(_probe_tokens(encoder)[:2]), tmp / TEXTUAL,
                  "tokens")
    export_s = time.monotonic() - t0

    progress("Checking the converted model…")
    # Batch sizes other than the traced one (2) prove the batch axis is really dynamic.
    images, tokens = _probe_images(size, 3), _probe_tokens(encoder)
    with torch.inference_mode():
        ref_v = model.encode_image(torch.from_numpy(images)).float().numpy()
        ref_t = model.encode_text(torch.from_numpy(tokens)).float().numpy()
    got_v = _run(_session(tmp / VISUAL), images)
    got_t = _run(_session(tmp / TEXTUAL), tokens)
    if got_v.shape != ref_v.shape or got_t.shape != ref_t.shape:
        raise OnnxBackendError(f"exported model gives shapes {got_v.shape}/{got_t.shape}, "
                               f"PyTorch {ref_v.shape}/{ref_t.shape}")
    cos_v, cos_t = _min_cosine(got_v, ref_v), _min_cosine(got_t, ref_t)
    if cos_v < MIN_PARITY or cos_t < MIN_PARITY:
        raise OnnxBackendError(f"exported model disagrees with PyTorch (cosine image {cos_v:.6f}, "
                               f"text {cos_t:.6f})")
    import onnxruntime as ort

    return {
        "format": EXPORT_FORMAT,
        "model_id": encoder.model_id,
        "label": encoder.label,
        "opset": OPSET,
        "exporter": "torch.onnx.export(dynamo=False)",
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "dim": encoder.dim,
        "image_size": size,
        "context_length": ctx,
        "export_seconds": round(export_s, 2),
        "parity_cosine": {"image": cos_v, "text": cos_t},
        # Outputs for the first probe input: checked again every time the files load.
        "probe": {VISUAL: ref_v[0].tolist(), TEXTUAL: ref_t[0].tolist()},
        "probe_tokens": tokens[0].tolist(),
        # What a torch-free start needs (see onnx_runtime.OnnxEncoder).
        "preprocess": _preprocess_cfg(encoder),
        "logit_scale": _logit_scale(model),
        "tokenizer": _torch_free_tokenizer(encoder, tmp),
        "files": {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()},
    }


_TOKENIZER_CHECKS = (*_PROBE_TEXTS, "", "A DOG!!  on   a chair, 3 cats & 2 dogs", "naïve café",
                     "日本語のテキスト", "emoji 🐕 and &amp; entities", "it's what's they'll",
                     "word " * 100)


def _torch_free_tokenizer(encoder: Encoder, folder: Path) -> dict[str, Any] | None:
    """Copy what :class:`ClipTokenizer` needs into ``folder`` and describe it, if it gives
    exactly the tokens of the model's own tokenizer (checked here); else None."""
    from clipgallery.core.models import tokenizer as clip_tokenizer

    desc = clip_tokenizer.describe(encoder.tokenizer)
    if desc is None:
        return None
    try:
        from open_clip.tokenizer import default_bpe

        shutil.copyfile(default_bpe(), folder / clip_tokenizer.VOCAB_FILE)
        ours = clip_tokenizer.ClipTokenizer(folder / clip_tokenizer.VOCAB_FILE,
                                            int(desc["context_length"]), str(desc["clean"]))
        texts = list(_TOKENIZER_CHECKS)
        if np.array_equal(ours(texts), encoder.tokenizer(texts).numpy()):
            return desc
        log.info("the torch-free tokenizer disagrees with %s's: not used", encoder.model_id)
    except Exception as e:  # noqa: BLE001 - open_clip's tokenizer stays the one used
        log.info("no torch-free tokenizer for %s: %s", encoder.model_id, e)
    (folder / clip_tokenizer.VOCAB_FILE).unlink(missing_ok=True)
    return None


def _preprocess_cfg(encoder: Encoder) -> dict[str, Any] | None:
    """The model's eval preprocessing, if :class:`ImagePreprocess` reproduces it exactly
    (checked here on a few pictures of odd sizes against the torch transform)."""
    cfg = dict(getattr(encoder.model.visual, "preprocess_cfg", {}) or {})
    try:
        pre = ImagePreprocess(cfg)
    except (OnnxBackendError, TypeError, ValueError):
        return None
    rng = np.random.default_rng(2)
    for w, h in ((317, 211), (200, 389), (encoder.image_size, encoder.image_size), (41, 37)):
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        ref = encoder.preprocess(img).numpy()
        if ref.shape != (3, pre.size, pre.size) or np.abs(pre(img) - ref).max() > 1e-4:
            return None
    return {k: v for k, v in cfg.items() if isinstance(v, (int, float, str, list, tuple))}


def _logit_scale(model: torch.nn.Module) -> float:
    scale = getattr(model, "logit_scale", None)
    try:
        value = float(scale.detach().exp()) if scale is not None else 100.0
    except (TypeError, ValueError, AttributeError):
        value = 100.0
    return value if np.isfinite(value) and value > 0 else 100.0


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self.marker = os.sep + package + os.sep

    def filter(self, record: logging.LogRecord) -> bool:
        return self.marker not in record.pathname


def _quantize_into(encoder: Encoder, folder: Path, info: dict[str, Any],
                   progress: Progress) -> dict[str, Any]:
    """Add an int8 (dynamic quantisation) image tower to a complete export folder.

    Signed per-channel weights first: on x86 CPUs with VNNI (AVX-512 VNNI / AVX-VNNI)
    ONNX Runtime's u8s8 kernels run ViT-B-32's image tower about 3x faster than float32
    at cosine ~0.9998.  Without VNNI those kernels saturate and lose ~0.015 of cosine;
    then unsigned weights (QUInt8, slower but exact enough) are used instead.  The int8
    model is kept only if its vectors match float32's (cosine >= MIN_INT8_COSINE on
    test pictures); ``info["int8"]["usable"]`` records the verdict.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    progress("Making the fast (int8) image model…")
    images = _natural_images(encoder)
    fp32 = _run(_session(folder / VISUAL), images)
    best: tuple[float, str, Path] | None = None
    tmps: list[Path] = []
    try:
        for weight_type, per_channel in ((QuantType.QInt8, True), (QuantType.QUInt8, False)):
            fd, tmp_name = tempfile.mkstemp(prefix=".int8-", suffix=".onnx", dir=folder)
            os.close(fd)
            tmp = Path(tmp_name)
            tmps.append(tmp)
            root = logging.getLogger()
            quiet = _DropRecordsFrom("onnxruntime")
            root.addFilter(quiet)  # it logs its chatter on the root logger
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    quantize_dynamic(folder / VISUAL, tmp, weight_type=weight_type,
                                     per_channel=per_channel,
                                     op_types_to_quantize=["MatMul", "Gemm"])
            finally:
                root.removeFilter(quiet)
            cos = _min_cosine(_run(_session(tmp), images), fp32)
            if best is None or cos > best[0]:
                best = (cos, weight_type.name, tmp)
            if cos >= MIN_INT8_COSINE:
                break
        assert best is not None
        cos, kind, tmp = best
        probe = _run(_session(tmp), _probe_images(encoder.image_size, 1))[0]
        os.replace(tmp, folder / VISUAL_INT8)
    finally:
        for t in tmps:
            t.unlink(missing_ok=True)
    info = dict(info)
    info["files"] = dict(info["files"], **{VISUAL_INT8: (folder / VISUAL_INT8).stat().st_size})
    info["int8"] = {"weight_type": kind, "ops": ["MatMul", "Gemm"], "min_cosine_vs_fp32": cos,
                    "usable": cos >= MIN_INT8_COSINE}
    info["probe"] = dict(info["probe"], **{VISUAL_INT8: probe.tolist()})
    _write_info(folder, info)
    return info


def export_onnx(encoder: Encoder, out_dir: Path, progress: Progress | None = None, *,
                quantize: bool = False) -> Path:
    """Export ``encoder``'s towers to ONNX (or reuse an earlier export); returns the folder.

    The folder holds ``visual.onnx`` (input ``image`` float32 ``[N,3,H,W]``), ``textual.onnx``
    (input ``tokens`` int64 ``[N,context_length]``), both with output ``embedding``
    ``[N,dim]`` (not normalised), and ``info.json``.  With ``quantize`` it also holds
    ``visual.int8.onnx``.  Raises on failure (see :func:`onnx_encoder_for` for the fallback).
    """
    return _export_to(encoder, cache_folder(encoder, out_dir), progress, quantize)


def _export_to(encoder: Encoder, final: Path, progress: Progress | None,
               quantize: bool) -> Path:
    progress = progress or (lambda msg: None)
    if encoder.device != "cpu":
        raise OnnxBackendError(f"only CPU models are exported (this one is on {encoder.device})")
    out_dir = final.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    info = _read_info(final)
    made = info is None or (quantize and VISUAL_INT8 not in info["files"])
    if info is None:
        if final.exists():
            log.warning("the ONNX conversion of %s in %s is incomplete or damaged; "
                        "converting again", encoder.model_id, final)
        _clean_stale_tmp(out_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=out_dir))
        try:
            info = _export_into(encoder, tmp, progress)
            _write_info(tmp, info)
            if final.exists():  # an incomplete or outdated folder: replace it
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:
                # Another process finished the same export first: use its files.
                if _read_info(final) is None:
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        info = _read_info(final)
        if info is None:
            raise OnnxBackendError(f"the export in {final} is incomplete")
        log.info("exported %s to ONNX in %.1f s: %s", encoder.model_id,
                 info.get("export_seconds", 0.0), final)
    if quantize and VISUAL_INT8 not in info["files"]:
        try:
            _quantize_into(encoder, final, info, progress)
        except Exception as e:  # noqa: BLE001 - float32 still works
            log.warning("could not make the int8 image model: %s: %s", type(e).__name__, e)
    if made:
        progress("The model is converted; from now on it loads at once.")
    return final


def onnx_encoder_for(encoder: Encoder, store_dir: Path, *, threads: int | None = None,
                     progress: Progress | None = None, quantize: bool = False,
                     export: bool = True, preload: Sequence[str] = ("visual", "textual"),
                     source: tuple[str, Sequence[Path]] | None = None,
                     device: str = "cpu") -> Encoder | OnnxEncoder:
    """``encoder`` running in ONNX Runtime, or ``encoder`` itself if that is not possible.

    Exports into ``store_dir`` once (later calls reuse the files); with ``export=False``
    only an existing export is used (a one-off text query need not wait for an export)
    and its absence is not an error.  A damaged cached export is detected, thrown away
    and redone once.  On any failure the reason is logged as a warning and the torch
    encoder is returned unchanged.  CUDA/MPS encoders are returned as they are.
    ``quantize`` uses an int8 image model, but only if its vectors match the float32
    model's (cosine >= 0.99 on test pictures); otherwise float32.  ``preload``: the
    towers loaded (and checked) now rather than on first use.  ``source``: (key, model
    files) under which :class:`Sources` remembers the export, so that the next start
    finds it without torch (see :func:`onnx_runtime.fast_onnx_encoder`).  ``device``:
    where the ONNX towers run ("cpu", or "cuda" through ONNX Runtime's CUDA execution
    provider); the export itself is made from ``encoder`` on the CPU.
    """
    if isinstance(encoder, OnnxEncoder) or encoder.device != "cpu":
        return encoder
    quantize = quantize and device == "cpu"  # the int8 image model is for the CPU
    try:
        folder = cache_folder(encoder, store_dir)
        if not export and _read_info(folder) is None:
            return encoder
        for attempt in (1, 2):
            _export_to(encoder, folder, progress, quantize)
            int8 = False
            if quantize:
                q = (_read_info(folder) or {}).get("int8")
                int8 = bool(q and q.get("usable"))
                if q and not int8:
                    log.warning("int8 image model not used: its vectors differ from float32's "
                                "(cosine %.4f < %.2f)", q.get("min_cosine_vs_fp32", float("nan")),
                                MIN_INT8_COSINE)
            try:
                onnx = OnnxEncoder(encoder, folder, threads=threads, int8=int8, preload=preload,
                                   device=device)
            except Exception as e:
                if attempt == 2:
                    raise
                log.warning("cached ONNX model in %s is unusable (%s); converting again",
                            folder, e)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            if source is not None:
                Sources(store_dir).remember(source[0], source[1], folder, encoder.model_id)
            return onnx
        raise OnnxBackendError("unreachable")  # pragma: no cover
    except Exception as e:  # noqa: BLE001 - any failure means: keep PyTorch
        log.warning("ONNX Runtime backend not used for %s, staying with PyTorch: %s: %s",
                    encoder.model_id, type(e).__name__, e)
        return encoder
