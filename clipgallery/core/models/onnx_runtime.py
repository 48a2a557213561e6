"""A CLIP encoder that runs an ONNX export in ONNX Runtime, without torch.

:mod:`onnx_export` exports a model's towers once (that needs torch and open_clip);
everything needed to *use* an export lives here and imports neither: importing torch
and building the model costs several seconds of CPU per start, more than encoding a
hundred photos.  So a start with a known export goes straight to ONNX Runtime:

* :class:`ImagePreprocess` reproduces open_clip's eval transform (resize, centre crop,
  normalise) with Pillow and numpy, from the ``preprocess`` recorded at export;
* :class:`OnnxEncoder` follows the :class:`~clipgallery.core.models.backends.Encoder`
  protocol.  A torch encoder is only loaded (through ``loader``) if a tower's session
  fails; the tokenizer is loaded on the first text.  Its towers run on the CPU, or on
  CUDA through ONNX Runtime's CUDA execution provider (onnxruntime-gpu) when asked and
  present (:func:`execution_providers`);
* :class:`Sources` (``sources.json`` in the export store) remembers which export belongs
  to which model files, identified by path, size and mtime — the same trust a
  catalog places in a photo's stat — so that :func:`fast_onnx_encoder` can find it
  without hashing 600 MB of weights.

Threads: :meth:`OnnxEncoder.encode_images` is called from the indexing thread,
:meth:`OnnxEncoder.encode_text` from the search thread, ``preprocess_image`` from the
indexer's decode threads.  ``InferenceSession.run`` is thread-safe, the towers are
separate sessions, and counters and lazy loads are guarded by locks.  ONNX Runtime's
intra-op pool has ``threads`` workers that do not busy-wait between operators, so the
decode threads get the cores back.  :meth:`OnnxEncoder.warm_up` loads towers in threads
of its own, not daemons and joinable, so that the process never exits while one of them
is inside ONNX Runtime.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from clipgallery.core.models import ort_cache
from clipgallery.core.models import specs as modelspec

log = logging.getLogger(__name__)

VISUAL = "visual.onnx"
TEXTUAL = "textual.onnx"
VISUAL_INT8 = "visual.int8.onnx"
INFO = "info.json"
SOURCES = "sources.json"
#: Bumped whenever the exported files or info.json change; part of the cache key.
EXPORT_FORMAT = 2
OPSET = 18
#: Vectors from the exported model must match PyTorch's at least this well.
MIN_PARITY = 0.9999
#: On CUDA's execution provider (other kernels, TF32 matmuls) the check of a tower's
#: output against the CPU's recorded one is that of fp16 against fp32.
MIN_GPU_PARITY = 0.999
#: int8 is only offered when its vectors match float32's at least this well.
MIN_INT8_COSINE = 0.99

Progress = Callable[[str], None]


class OnnxBackendError(Exception):
    """The ONNX Runtime backend cannot be used; the message says why."""


def cpu_threads() -> int:
    """The number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def inference_threads() -> int:
    """ONNX Runtime's intra-op threads: $CLIPGALLERY_ONNX_THREADS, else every core (the
    decode threads take the cores back while the model waits: it does not spin)."""
    try:
        return max(1, int(os.environ.get("CLIPGALLERY_ONNX_THREADS", "")))
    except ValueError:
        return cpu_threads()


def slug(model_id: str) -> str:
    """A file-name-safe form of a model id."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._-")
    return s[:64] or "model"


# -- probes and helpers --------------------------------------------------------------------


def probe_images(size: int, n: int = 2) -> np.ndarray:
    """Preprocessed-looking inputs (zero mean, unit variance), deterministic."""
    return np.random.default_rng(0).standard_normal((n, 3, size, size)).astype(np.float32)


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((normalize(a) * normalize(b)).sum(-1).min())


CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def available_providers() -> list[str]:
    """ONNX Runtime's execution providers here (onnxruntime-gpu adds CUDA's)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def execution_providers(device: str) -> tuple[list[str], str]:
    """(providers, the device they run on) for ``device``: CUDA's provider (with the CPU's
    for what it lacks) when asked and this ONNX Runtime has it, else the CPU's, with a
    logged message saying why and what to install.  The CPU asks nothing of ONNX
    Runtime here (importing it takes the caller ~50 ms; the towers' loader thread
    imports it anyway, and :func:`session` refuses a runtime without the CPU's)."""
    if device in ("cpu", None):
        return [CPU_PROVIDER], "cpu"
    available = available_providers()
    if device == "cuda":
        if CUDA_PROVIDER in available:
            return [CUDA_PROVIDER, CPU_PROVIDER], "cuda"
        log.warning("CUDA was asked for, but this ONNX Runtime has no %s (it has %s); "
                    "running on the CPU. For the GPU, install onnxruntime-gpu "
                    "(pip install 'clipgallery[cuda]').", CUDA_PROVIDER,
                    ", ".join(available) or "none")
    else:
        log.warning("ONNX Runtime cannot run on %s here; running on the CPU", device)
    if CPU_PROVIDER not in available:
        raise OnnxBackendError(f"onnxruntime has no {CPU_PROVIDER}")
    return [CPU_PROVIDER], "cpu"


def session(path: Path, threads: int | None = None, *, spin: bool = False,
            providers: Sequence[str] | None = None, cached: bool = True):
    """An ONNX Runtime session for ``path`` on ``providers`` (default: the CPU's); on the
    CPU from the optimised graph cached by :mod:`ort_cache` unless ``cached`` is False."""
    import onnxruntime as ort

    providers = list(providers or [CPU_PROVIDER])
    missing = [p for p in providers if p not in ort.get_available_providers()]
    if missing:
        raise OnnxBackendError(f"onnxruntime has no {', '.join(missing)}")

    def options(level: Any) -> Any:
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        so.intra_op_num_threads = threads or inference_threads()
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Busy-waiting worker threads steal the cores the decode threads need.
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        so.log_severity_level = 3
        return so

    full = options(ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    if not cached or providers != [CPU_PROVIDER]:
        return ort.InferenceSession(str(path), sess_options=full, providers=providers)
    # On the CPU the optimised graph is kept per computer (ort_cache): a start loads it
    # with the optimisers off instead of optimising again.
    return ort_cache.create(ort, Path(path), full,
                            options(ort.GraphOptimizationLevel.ORT_DISABLE_ALL), providers)


def run(sess, x: np.ndarray) -> np.ndarray:
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: x})[0], dtype=np.float32)


def read_info(folder: Path) -> dict[str, Any] | None:
    """The folder's info.json if the folder is a complete export in this format, else None."""
    try:
        info = json.loads((Path(folder) / INFO).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("format") != EXPORT_FORMAT:
        return None
    files = info.get("files")
    if not isinstance(files, dict) or VISUAL not in files or TEXTUAL not in files:
        return None
    for name, size in files.items():
        try:
            if (Path(folder) / name).stat().st_size != size:
                return None
        except OSError:
            return None
    return info


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- preprocessing without torch --------------------------------------------------------


_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}


class ImagePreprocess:
    """open_clip's eval transform (``shortest``/``squash`` resize modes), in Pillow+numpy.

    For a PIL image it gives what ``image_transform_v2(PreprocessCfg(**cfg),
    is_train=False)`` gives as a tensor, as a float32 ``(3, size, size)`` array:
    torchvision resizes PIL images with Pillow itself, so the pixels are the same.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        size = cfg.get("size", 224)
        if not isinstance(size, int):
            if len(size) != 2 or size[0] != size[1]:
                raise OnnxBackendError(f"unsupported image size {size!r}")
            size = int(size[0])
        self.size = int(size)
        self.mode = str(cfg.get("mode", "RGB"))
        self.resize_mode = str(cfg.get("resize_mode", "shortest"))
        if self.resize_mode not in ("shortest", "squash"):
            raise OnnxBackendError(f"unsupported resize mode {self.resize_mode!r}")
        interp = str(cfg.get("interpolation", "bicubic"))
        if interp not in _RESAMPLE:
            raise OnnxBackendError(f"unsupported interpolation {interp!r}")
        self.resample = _RESAMPLE[interp]
        self.mean = np.asarray(cfg.get("mean"), dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(cfg.get("std"), dtype=np.float32).reshape(3, 1, 1)
        if self.mean.size != 3 or self.std.size != 3:
            raise OnnxBackendError("preprocess mean/std must have 3 values")

    def __call__(self, image: Image.Image) -> np.ndarray:
        s = self.size
        w, h = image.size
        if self.resize_mode == "squash":
            if (w, h) != (s, s):
                image = image.resize((s, s), self.resample)
        else:
            # torchvision's Resize(int): the short side becomes s, the long side is truncated.
            if w <= h:
                nw, nh = s, int(s * h / w)
            else:
                nw, nh = int(s * w / h), s
            if (nw, nh) != (w, h):
                image = image.resize((nw, nh), self.resample)
            left, top = int(round((nw - s) / 2.0)), int(round((nh - s) / 2.0))
            if (nw, nh) != (s, s):
                image = image.crop((left, top, left + s, top + s))
        if image.mode != self.mode:
            image = image.convert(self.mode)
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
        return np.ascontiguousarray((x - self.mean) / self.std, dtype=np.float32)


# -- which export belongs to which model files ------------------------------------------


def file_stamp(path: Path) -> list[int]:
    st = Path(path).stat()
    return [st.st_size, st.st_mtime_ns]


def source_key(spec: str, hub_cache: Path | None) -> str:
    """How :class:`Sources` names a model spec (hub specs per hub cache)."""
    ms = modelspec.parse_spec(spec)
    if ms.path is not None:
        return f"local:{Path(ms.path).resolve()}"
    cache = Path(hub_cache).resolve() if hub_cache else ""
    return f"hub:{ms.name}:{ms.pretrained}@{cache}"


def source_files(spec: str, weights: Path | None) -> list[Path]:
    """The files whose (size, mtime) vouch for a spec's weights staying the same."""
    ms = modelspec.parse_spec(spec)
    files = [Path(weights)] if weights else []
    if ms.path is not None:
        files.append(Path(ms.path) / modelspec.LOCAL_CONFIG)
        info = Path(ms.path) / modelspec.MODEL_INFO
        if info.is_file():
            files.append(info)
    return files


class Sources:
    """``sources.json`` in an export store: spec → model files' stamps → export folder."""

    _lock = threading.Lock()

    def __init__(self, store: Path) -> None:
        self.path = Path(store) / SOURCES

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def remember(self, key: str, files: Sequence[Path], folder: Path, model_id: str) -> None:
        """Record that ``folder`` is the export of the model made from ``files``."""
        try:
            entry = {"files": {str(Path(f).resolve()): file_stamp(f) for f in files},
                     "folder": Path(folder).name, "model_id": model_id}
            with self._lock:
                data = self._read()
                if data.get(key) == entry:
                    return
                data[key] = entry
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_json(self.path, data)
        except OSError as e:  # only a slower next start
            log.info("cannot record the ONNX export of %s: %s", key, e)

    def find(self, key: str) -> tuple[Path, str] | None:
        """(export folder, model id) for ``key`` if its files are unchanged, else None."""
        entry = self._read().get(key)
        if not isinstance(entry, dict) or not entry.get("files"):
            return None
        try:
            for name, stamp in entry["files"].items():
                if file_stamp(Path(name)) != list(stamp):
                    return None
            return self.path.parent / str(entry["folder"]), str(entry["model_id"])
        except (OSError, TypeError, ValueError, KeyError):
            return None


# -- the encoder -------------------------------------------------------------------------


class OnnxEncoder:
    """A CLIP encoder whose towers run in ONNX Runtime (the ``Encoder`` protocol).

    ``model_id``, ``dim``, ``image_size``, ``context_length`` and the preprocessing come
    from the export's info.json.  ``encoder`` is the torch encoder it was exported from,
    or None: then ``loader`` loads one if it is ever needed (a tower that fails to
    load).  ``device``: "cpu", or "cuda" for ONNX Runtime's CUDA execution provider
    (the CPU, with a logged message, where this ONNX Runtime lacks it; the int8 image
    model is for the CPU only).  The tokenizer (loaded on the
    first text) is the export's torch-free :class:`~clipgallery.core.models.tokenizer.
    ClipTokenizer` where export checked it gives the model's tokens, else
    ``tokenizer_loader``'s (open_clip's).  ``threads`` is ONNX Runtime's intra-op thread
    count (default: every core this process may use).

    Each tower's session is created when first needed (an indexing run never loads the
    text model, a text search never loads the image model), or at once for the towers
    named in ``preload``; a failure there raises :class:`OnnxBackendError`.  Towers named in
    ``warm`` are loaded by a background thread, so that a caller can start reading photos
    meanwhile; their first use waits for that load (and sees its failure).  Every load
    checks the model's output on a fixed input against the one recorded at export.  If
    a tower fails to load later, it logs why, runs that tower in PyTorch from then on and
    drops the export's info.json so that the next start exports again.
    """

    backend = "onnxruntime"

    def __init__(self, encoder: Any | None, model_dir: Path, *, threads: int | None = None,
                 int8: bool = False, spin: bool = False,
                 preload: Sequence[str] = ("visual", "textual"),
                 loader: Callable[[], Any] | None = None,
                 tokenizer_loader: Callable[[], Any] | None = None,
                 label: str | None = None, warm: Sequence[str] = (),
                 device: str = "cpu") -> None:
        info = read_info(Path(model_dir))
        if info is None:
            raise OnnxBackendError(f"{model_dir} holds no complete ONNX export")
        if encoder is not None and (info.get("model_id") != encoder.model_id
                                    or info.get("dim") != encoder.dim):
            raise OnnxBackendError(f"{model_dir} was exported from another model")
        if int8 and VISUAL_INT8 not in info["files"]:
            raise OnnxBackendError(f"{model_dir} has no int8 image model")
        if encoder is None and loader is None:
            raise OnnxBackendError("an OnnxEncoder without a torch encoder needs a loader")
        self._torch_encoder = encoder
        self._loader = loader
        self._tokenizer_loader = tokenizer_loader
        self._tokenizer = None
        self.model_dir = Path(model_dir)
        self.model_id = str(info["model_id"])
        self.dim = int(info["dim"])
        self.image_size = int(info["image_size"])
        self.context_length = int(info["context_length"])
        self.logit_scale = float(info.get("logit_scale", 100.0))
        self.providers, self.device = execution_providers(device)
        if int8 and self.device != "cpu":
            raise OnnxBackendError("the int8 image model runs on the CPU only")
        self.int8 = int8
        self.threads = threads or inference_threads()
        self.spin = spin
        base = label or (encoder.label if encoder is not None else info.get("label", ""))
        on = ", CUDA" if self.device == "cuda" else ""
        self.label = f"{base} (ONNX Runtime{', int8' if int8 else ''}{on})"
        self.calls = 0  # image batches encoded
        self.images_encoded = 0
        self._lock = threading.Lock()  # the counters
        self._load_lock = threading.RLock()  # creating sessions, loading torch/tokenizer
        self._files = {"visual": VISUAL_INT8 if int8 else VISUAL, "textual": TEXTUAL}
        self._probe = info.get("probe", {})
        self._probe_tokens = info.get("probe_tokens")
        self._tokenizer_info = info.get("tokenizer")  # a torch-free one was checked at export
        self._sessions: dict[str, Any] = {}
        self._in_torch: set[str] = set()  # towers that failed to load later on
        self._warmers: list[threading.Thread] = []  # warm_up's loads (joinable)
        try:
            self.preprocess: Callable[[Image.Image], Any] = ImagePreprocess(info["preprocess"])
        except (KeyError, TypeError, ValueError, OnnxBackendError) as e:
            log.info("ONNX encoder uses open_clip's own preprocessing (%s)", e)
            self.preprocess = self.torch_encoder.preprocess
        for tower in preload:
            self._load(tower)
        self.warm_up(warm)

    def warm_up(self, towers: Sequence[str] = ("visual", "textual")) -> None:
        """Load these towers (and, for text, the tokenizer) in a background thread; their
        first use waits for that load (and sees its failure).

        The threads are not daemons: the interpreter waits for them before it exits.  A
        daemon thread still inside ONNX Runtime while the process tears down its C++
        state aborts the process ("terminate called without an active exception",
        exit code 134) after a command has done its work.  :meth:`join_warm_up` waits
        for them explicitly."""
        for tower in towers:  # loaded in the background: the first use waits for it
            if tower not in self._sessions:
                t = threading.Thread(target=self._warm, args=(tower,),
                                     name=f"onnx-load-{tower}", daemon=False)
                with self._lock:
                    self._warmers = [w for w in self._warmers if w.is_alive()] + [t]
                t.start()

    def join_warm_up(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds in all) for the loads :meth:`warm_up` started;
        True when none is still running."""
        with self._lock:
            warmers = list(self._warmers)
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in warmers:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in warmers)

    def _warm(self, tower: str) -> None:
        try:
            self._load(tower)
            if tower == "textual":
                _ = self.tokenizer
        except Exception as e:  # noqa: BLE001 - the first real use reports and falls back
            log.info("loading the ONNX %s model ahead failed: %s", tower, e)

    # -- what only torch has, loaded on demand -------------------------------------------

    @property
    def torch_encoder(self) -> Any:
        """The torch encoder (loaded now if it was not given)."""
        if self._torch_encoder is None:
            with self._load_lock:
                if self._torch_encoder is None:
                    assert self._loader is not None
                    log.info("loading the PyTorch model of %s", self.model_id)
                    enc = self._loader()
                    if enc.model_id != self.model_id or enc.dim != self.dim:
                        raise OnnxBackendError(
                            f"{self.model_dir} was exported from another model")
                    self._torch_encoder = enc
        return self._torch_encoder

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._load_lock:
                if self._tokenizer is None:
                    if self._torch_encoder is None and self._tokenizer_info:
                        from clipgallery.core.models.tokenizer import VOCAB_FILE, ClipTokenizer

                        self._tokenizer = ClipTokenizer(
                            self.model_dir / VOCAB_FILE,
                            int(self._tokenizer_info.get("context_length", 77)),
                            str(self._tokenizer_info.get("clean", "lower")))
                    elif self._torch_encoder is None and self._tokenizer_loader is not None:
                        self._tokenizer = self._tokenizer_loader()
                    else:
                        self._tokenizer = self.torch_encoder.tokenizer
        return self._tokenizer

    def __repr__(self) -> str:
        return (f"OnnxEncoder({self.model_id!r}, threads={self.threads}, dim={self.dim}"
                f"{', int8' if self.int8 else ''})")

    # -- sessions ----------------------------------------------------------------------

    def _probe_input(self, tower: str) -> np.ndarray:
        if tower == "visual":
            return probe_images(self.image_size, 1)
        if self._probe_tokens is not None:
            return np.asarray(self._probe_tokens, dtype=np.int64)[None]
        tokens = self.tokenizer(["a photo of a dog"])
        return np.asarray(tokens, dtype=np.int64)[:1]

    def _load(self, tower: str) -> Any:
        """The tower's session, created and checked on first use (thread-safe)."""
        sess = self._sessions.get(tower)
        if sess is not None:
            return sess
        with self._load_lock:
            sess = self._sessions.get(tower)
            if sess is None:
                sess = self._checked_session(tower)
                self._sessions[tower] = sess
        return sess

    def _checked_session(self, tower: str) -> Any:
        """A new session for ``tower`` whose output on the probe input matches the one
        recorded at export; a cached optimised graph that fails is dropped and the
        model file itself tried."""
        path = self.model_dir / self._files[tower]
        expected = np.asarray(self._probe.get(path.name, []), dtype=np.float32)
        for cached in (True, False):
            sess = session(path, self.threads, spin=self.spin, providers=self.providers,
                           cached=cached)
            got = run(sess, self._probe_input(tower))
            # The files could be damaged in ways their size does not show.
            if got.shape == (1, self.dim) and expected.shape == (self.dim,) \
                    and min_cosine(got, expected[None]) >= (
                        MIN_PARITY if self.device == "cpu" else MIN_GPU_PARITY):
                return sess
            if cached and self.providers == [CPU_PROVIDER]:
                import onnxruntime as ort

                ort_cache.forget(path, ort.__version__)
                continue
            break
        raise OnnxBackendError(f"{path} gives wrong output (damaged file?)")

    def _session_or_none(self, tower: str) -> Any:
        if tower in self._in_torch:
            return None
        try:
            return self._load(tower)
        except Exception as e:  # noqa: BLE001 - any failure: that tower runs in PyTorch
            with self._load_lock:
                if tower not in self._in_torch:
                    self._in_torch.add(tower)
                    log.warning("ONNX %s model in %s unusable (%s: %s); using PyTorch for it",
                                tower, self.model_dir, type(e).__name__, e)
                    if self.device == "cpu":  # the files are to blame: re-export next time
                        (self.model_dir / INFO).unlink(missing_ok=True)
            return None

    # -- the Encoder interface -----------------------------------------------------------

    def preprocess_image(self, image: Image.Image) -> Any:
        return self.preprocess(image)

    def encode_images(self, batch: Any) -> np.ndarray:
        """(N, dim) float32, L2-normalised, from preprocessed images (arrays or tensors)."""
        if isinstance(batch, np.ndarray):
            x = batch
        elif hasattr(batch, "detach"):  # a torch tensor
            x = batch.detach().cpu().numpy()
        else:
            x = np.stack([np.asarray(b.detach().cpu().numpy() if hasattr(b, "detach") else b)
                          for b in batch]) if len(batch) else np.zeros(
                (0, 3, self.image_size, self.image_size), np.float32)
        x = np.ascontiguousarray(x, dtype=np.float32)
        with self._lock:
            self.calls += 1
            self.images_encoded += int(x.shape[0])
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        sess = self._session_or_none("visual")
        if sess is None:  # that tower runs in PyTorch (it takes numpy arrays too)
            return self.torch_encoder.encode_images(x)
        return normalize(run(sess, x))

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, L2-normalised; long texts are split and averaged like Encoder's."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        sess = self._session_or_none("textual")
        if sess is None:
            return self.torch_encoder.encode_text(texts)
        parts = [self.split_long_text(t) for t in texts]
        tokens = np.asarray(self.tokenizer([p for ps in parts for p in ps]), dtype=np.int64)
        feats = normalize(run(sess, tokens))
        out, i = [], 0
        for ps in parts:
            out.append(feats[i:i + len(ps)].mean(0))
            i += len(ps)
        return normalize(np.stack(out))

    def encode_prompts(self, prompts: Sequence[str]) -> np.ndarray:
        """(N, dim) short texts in one batch (labels' vocabulary; never split)."""
        prompts = list(prompts)
        if not prompts:
            return np.zeros((0, self.dim), dtype=np.float32)
        sess = self._session_or_none("textual")
        if sess is None:
            return self.torch_encoder.encode_prompts(prompts)
        return normalize(run(sess, np.asarray(self.tokenizer(prompts), dtype=np.int64)))

    def token_count(self, text: str) -> int | None:
        return modelspec.count_tokens(self.tokenizer, text)

    def split_long_text(self, text: str) -> list[str]:
        return modelspec.split_long_text(text, self.context_length, self.token_count)


def fast_onnx_encoder(spec: str, *, hub_cache: Path | None, store: Path,
                      loader: Callable[[], Any], tokenizer_loader: Callable[[], Any],
                      int8: bool = False, threads: int | None = None,
                      preload: Sequence[str] = (), warm: Sequence[str] = (),
                      device: str = "cpu") -> OnnxEncoder | None:
    """``spec``'s earlier ONNX export, loaded without torch; None if there is none that
    is known to match the model's files (or it does not load: the caller then takes the
    torch path, which exports again).  With ``int8`` the export must offer a usable int8
    image model (checked at export) or have found it unusable; else None."""
    try:
        found = Sources(store).find(source_key(spec, hub_cache))
        if found is None:
            return None
        folder, model_id = found
        info = read_info(folder)
        if info is None or info.get("model_id") != model_id:
            return None
        use_int8 = False
        if int8 and device == "cpu":
            q = info.get("int8")
            if not q:
                return None  # not made yet: the torch path makes it
            use_int8 = bool(q.get("usable"))
        return OnnxEncoder(None, folder, threads=threads, int8=use_int8, preload=preload,
                           loader=loader, tokenizer_loader=tokenizer_loader, label=spec,
                           warm=warm, device=device)
    except Exception as e:  # noqa: BLE001 - the torch path is always there
        log.info("no quick start for %s from ONNX: %s: %s", spec, type(e).__name__, e)
        return None
