"""Run a CLIP :class:`~clipgallery.core.encoder.Encoder` on the CPU through ONNX Runtime.

On a CPU, ONNX Runtime runs CLIP's towers about twice as fast as eager PyTorch.  The
vectors are the same (cosine >= 0.9999 against open_clip's PyTorch output), so an
:class:`OnnxEncoder` carries the *same* ``model_id`` as the torch encoder it was made
from, and vectors from either can live in one index.

* :func:`export_onnx` converts a loaded torch encoder's image tower
  (``model.encode_image``, projection included) and text tower (``model.encode_text``)
  to ONNX, once, into a cache folder keyed by the model id and a checksum of the
  weights: ``out_dir/<slug(model_id)>-<digest>/{visual.onnx, textual.onnx, info.json}``.
  The folder is written under a temporary name and renamed when complete and checked,
  so a killed export never leaves a half-written model that looks valid.
* :class:`OnnxEncoder` is a drop-in for ``Encoder`` (same attributes and methods;
  anything it does not define is read from the torch encoder it wraps).
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
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from clipgallery.core.encoder import Encoder

log = logging.getLogger(__name__)

VISUAL = "visual.onnx"
TEXTUAL = "textual.onnx"
VISUAL_INT8 = "visual.int8.onnx"
INFO = "info.json"
#: Bumped whenever the exported graphs change; part of the cache key.
EXPORT_FORMAT = 1
OPSET = 18
#: Vectors from the exported model must match PyTorch's at least this well.
MIN_PARITY = 0.9999
#: int8 is only offered when its vectors match float32's at least this well.
MIN_INT8_COSINE = 0.99
_STALE_TMP_SECONDS = 3600.0

Progress = Callable[[str], None]


class OnnxBackendError(Exception):
    """The ONNX Runtime backend cannot be used; the message says why."""


def cpu_threads() -> int:
    """The number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def slug(model_id: str) -> str:
    """A file-name-safe form of a model id."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._-")
    return s[:64] or "model"


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


def _probe_images(size: int, n: int = 2) -> np.ndarray:
    """Preprocessed-looking inputs (zero mean, unit variance), deterministic."""
    return np.random.default_rng(0).standard_normal((n, 3, size, size)).astype(np.float32)


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


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((_normalize(a) * _normalize(b)).sum(-1).min())


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


def _session(path: Path, threads: int | None = None, *, spin: bool = False):
    import onnxruntime as ort

    if "CPUExecutionProvider" not in ort.get_available_providers():
        raise OnnxBackendError("onnxruntime has no CPUExecutionProvider")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or cpu_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Busy-waiting worker threads steal the cores the decode threads need.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _run(session, x: np.ndarray) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: x})[0], dtype=np.float32)


def _read_info(folder: Path) -> dict[str, Any] | None:
    """The folder's info.json if the folder is a complete export in this format, else None."""
    try:
        info = json.loads((folder / INFO).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("format") != EXPORT_FORMAT:
        return None
    files = info.get("files")
    if not isinstance(files, dict) or VISUAL not in files or TEXTUAL not in files:
        return None
    for name, size in files.items():
        try:
            if (folder / name).stat().st_size != size:
                return None
        except OSError:
            return None
    return info


def _write_info(folder: Path, info: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".info-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(info, f, indent=1)
        os.replace(tmp, folder / INFO)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        "files": {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()},
    }


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self.marker = os.sep + package + os.sep

    def filter(self, record: logging.LogRecord) -> bool:
        return self.marker not in record.pathname


def _quantize_into(encoder: Encoder, folder: Path, info: dict[str, Any],
                   progress: Progress) -> dict[str, Any]:
    """Add an int8 (dynamic quantisation) image tower to a complete export folder."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    progress("Making the int8 image model…")
    fd, tmp_name = tempfile.mkstemp(prefix=".int8-", suffix=".onnx", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # Unsigned weights: signed ones saturate in the u8s8 kernels of x86 CPUs without
        # VNNI (AVX2 only), which cost ~0.015 of cosine on ViT-B-32; QUInt8 loses ~0.0002.
        root = logging.getLogger()
        quiet = _DropRecordsFrom("onnxruntime")
        root.addFilter(quiet)  # it logs its chatter on the root logger
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(folder / VISUAL, tmp, weight_type=QuantType.QUInt8,
                                 op_types_to_quantize=["MatMul", "Gemm"])
        finally:
            root.removeFilter(quiet)
        images = _natural_images(encoder)
        fp32 = _run(_session(folder / VISUAL), images)
        sess = _session(tmp)
        int8 = _run(sess, images)
        cos = _min_cosine(int8, fp32)
        probe = _run(sess, _probe_images(encoder.image_size, 1))[0]
        os.replace(tmp, folder / VISUAL_INT8)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info = dict(info)
    info["files"] = dict(info["files"], **{VISUAL_INT8: (folder / VISUAL_INT8).stat().st_size})
    info["int8"] = {"weight_type": "QUInt8", "ops": ["MatMul", "Gemm"], "min_cosine_vs_fp32": cos,
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
    if info is None:
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
    return final


# -- the encoder -------------------------------------------------------------------------


class OnnxEncoder:
    """A CLIP encoder whose towers run in ONNX Runtime; a drop-in for ``Encoder``.

    ``model_id``, ``dim``, ``image_size``, ``context_length``, ``preprocess``, ``tokenizer``
    and the long-text splitting are the torch encoder's; attributes not defined here
    (``model``, ``dtype``, …) are read from it too.  ``threads`` is ONNX Runtime's
    intra-op thread count (default: every core this process may use).

    Each tower's session is created when first needed (an indexing run never loads the
    text model, a text search never loads the image model), or at once for the towers
    named in ``preload``; a failure there raises :class:`OnnxBackendError`.  Every load
    checks the model's output on a fixed input against the one recorded at export.  If
    a tower fails to load later, it logs why, runs that tower in PyTorch from then on and
    drops the export's info.json so that the next start exports again.
    """

    backend = "onnxruntime"

    def __init__(self, encoder: Encoder, model_dir: Path, *, threads: int | None = None,
                 int8: bool = False, spin: bool = False,
                 preload: Sequence[str] = ("visual", "textual")) -> None:
        info = _read_info(Path(model_dir))
        if info is None:
            raise OnnxBackendError(f"{model_dir} holds no complete ONNX export")
        if info.get("model_id") != encoder.model_id or info.get("dim") != encoder.dim:
            raise OnnxBackendError(f"{model_dir} was exported from another model")
        if int8 and VISUAL_INT8 not in info["files"]:
            raise OnnxBackendError(f"{model_dir} has no int8 image model")
        self.torch_encoder = encoder
        self.model_dir = Path(model_dir)
        self.model_id = encoder.model_id
        self.dim = encoder.dim
        self.image_size = encoder.image_size
        self.context_length = encoder.context_length
        self.preprocess = encoder.preprocess
        self.tokenizer = encoder.tokenizer
        self.device = "cpu"
        self.int8 = int8
        self.threads = threads or cpu_threads()
        self.spin = spin
        self.label = f"{encoder.label} (ONNX Runtime{', int8' if int8 else ''})"
        self.calls = 0  # image batches encoded
        self.images_encoded = 0
        self._lock = threading.Lock()  # the counters
        self._load_lock = threading.Lock()  # creating sessions
        self._files = {"visual": VISUAL_INT8 if int8 else VISUAL, "textual": TEXTUAL}
        self._probe = info.get("probe", {})
        self._sessions: dict[str, Any] = {}
        self._in_torch: set[str] = set()  # towers that failed to load later on
        for tower in preload:
            self._load(tower)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally: defer to the torch encoder.
        if name == "torch_encoder":
            raise AttributeError(name)
        return getattr(self.torch_encoder, name)

    def __repr__(self) -> str:
        return (f"OnnxEncoder({self.model_id!r}, threads={self.threads}, dim={self.dim}"
                f"{', int8' if self.int8 else ''})")

    # -- sessions ----------------------------------------------------------------------

    def _load(self, tower: str) -> Any:
        """The tower's session, created and checked on first use (thread-safe)."""
        sess = self._sessions.get(tower)
        if sess is not None:
            return sess
        with self._load_lock:
            sess = self._sessions.get(tower)
            if sess is None:
                name = self._files[tower]
                sess = _session(self.model_dir / name, self.threads, spin=self.spin)
                x = (_probe_images(self.image_size, 1) if tower == "visual"
                     else _probe_tokens(self.torch_encoder)[:1])
                expected = np.asarray(self._probe.get(name, []), dtype=np.float32)
                got = _run(sess, x)
                # The files could be damaged in ways their size does not show.
                if got.shape != (1, self.dim) or expected.shape != (self.dim,) \
                        or _min_cosine(got, expected[None]) < MIN_PARITY:
                    raise OnnxBackendError(
                        f"{self.model_dir / name} gives wrong output (damaged file?)")
                self._sessions[tower] = sess
        return sess

    def _session_or_none(self, tower: str) -> Any:
        if tower in self._in_torch:
            return None
        try:
            return self._load(tower)
        except Exception as e:  # noqa: BLE001 - any failure: that tower stays in PyTorch
            with self._load_lock:
                if tower not in self._in_torch:
                    self._in_torch.add(tower)
                    log.warning("ONNX %s model in %s unusable (%s: %s); using PyTorch for it",
                                tower, self.model_dir, type(e).__name__, e)
                    (self.model_dir / INFO).unlink(missing_ok=True)  # re-export next time
            return None

    # -- the Encoder interface -----------------------------------------------------------

    def preprocess_image(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(image)

    def encode_images(self, batch: torch.Tensor | np.ndarray | Sequence[torch.Tensor]
                      ) -> np.ndarray:
        """(N, dim) float32, L2-normalised."""
        if isinstance(batch, np.ndarray):
            x = batch
        elif isinstance(batch, torch.Tensor):
            x = batch.detach().cpu().numpy()
        else:
            x = torch.stack(list(batch)).numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        with self._lock:
            self.calls += 1
            self.images_encoded += int(x.shape[0])
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        sess = self._session_or_none("visual")
        if sess is None:
            return self.torch_encoder.encode_images(torch.from_numpy(x))
        return _normalize(_run(sess, x))

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, L2-normalised; long texts are split and averaged like Encoder's."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        sess = self._session_or_none("textual")
        if sess is None:
            return self.torch_encoder.encode_text(texts)
        parts = [self.split_long_text(t) for t in texts]
        tokens = self.tokenizer([p for ps in parts for p in ps]).numpy().astype(np.int64)
        feats = _normalize(_run(sess, tokens))
        out, i = [], 0
        for ps in parts:
            out.append(feats[i:i + len(ps)].mean(0))
            i += len(ps)
        return _normalize(np.stack(out))

    def token_count(self, text: str) -> int | None:
        return self.torch_encoder.token_count(text)

    def split_long_text(self, text: str) -> list[str]:
        return self.torch_encoder.split_long_text(text)


def onnx_encoder_for(encoder: Encoder, store_dir: Path, *, threads: int | None = None,
                     progress: Progress | None = None, quantize: bool = False,
                     export: bool = True, preload: Sequence[str] = ("visual", "textual")
                     ) -> Encoder | OnnxEncoder:
    """``encoder`` running in ONNX Runtime, or ``encoder`` itself if that is not possible.

    Exports into ``store_dir`` once (later calls reuse the files); with ``export=False``
    only an existing export is used (a one-off text query need not wait for an export)
    and its absence is not an error.  A damaged cached export is detected, thrown away
    and redone once.  On any failure the reason is logged as a warning and the torch
    encoder is returned unchanged.  CUDA/MPS encoders are returned as they are.
    ``quantize`` uses an int8 image model, but only if its vectors match the float32
    model's (cosine >= 0.99 on test pictures); otherwise float32.  ``preload``: the
    towers loaded (and checked) now rather than on first use.
    """
    if isinstance(encoder, OnnxEncoder) or encoder.device != "cpu":
        return encoder
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
                return OnnxEncoder(encoder, folder, threads=threads, int8=int8, preload=preload)
            except Exception as e:
                if attempt == 2:
                    raise
                log.warning("cached ONNX model in %s is unusable (%s); converting again",
                            folder, e)
                shutil.rmtree(folder, ignore_errors=True)
        raise OnnxBackendError("unreachable")  # pragma: no cover
    except Exception as e:  # noqa: BLE001 - any failure means: keep PyTorch
        log.warning("ONNX Runtime backend not used for %s, staying with PyTorch: %s: %s",
                    encoder.model_id, type(e).__name__, e)
        return encoder
