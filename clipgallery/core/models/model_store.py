"""Models: the curated list, downloads (on request only), imports and the model store.

Nothing here reaches the network unless the user asked for a download, and then only
the model hub, after a quick reachability check (a few seconds) so that an offline
machine gets an answer at once instead of a retry storm.  Imported files are loaded
without executing code: safetensors, or ``torch.load(weights_only=True)``.

Threading: called from the CLI's main thread or an app model job's thread
(:mod:`clipgallery.app.model_jobs`); ``download`` reports progress through a callback
from that same thread and polls a ``threading.Event`` to cancel.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clipgallery.core.models.specs import (
    LOCAL_CONFIG,
    ModelSpec,
    ModelUnavailable,
    hub_endpoint,
    hub_folder,
    hub_reachable,
)

# Only what needs no torch at import time: `model list` and the lean edition use this
# module without torch; the functions that need open_clip import it themselves.
from clipgallery.core.photos.hashes import file_sha256

WEIGHTS_NAME = "open_clip_model.safetensors"
INFO_NAME = "clipgallery_model.json"


@dataclass(frozen=True)
class CuratedModel:
    """A model we recommend, with what a user needs to choose."""

    role: str  # default | faster | stronger | multilingual
    name: str
    pretrained: str
    dim: int
    download_mb: int
    speed: str  # relative CPU cost class
    imagenet_top1: float  # open_clip's published zero-shot ImageNet accuracy
    licence: str
    note: str

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.pretrained}"


# Numbers from open_clip's published results table (docs/openclip_results.csv) and
# model profile (docs/model_profile.csv); see the README for why the default is the
# default.  MobileCLIP is deliberately absent: its weights are research-only.
CURATED: tuple[CuratedModel, ...] = (
    CuratedModel("default", "ViT-B-32-256", "datacomp_s34b_b86k", 512, 605, "medium", 72.8,
                 "MIT", "best accuracy per CPU cost among the small models"),
    CuratedModel("faster", "ViT-B-32", "laion2b_s34b_b79k", 512, 605, "fast", 66.6,
                 "MIT", "~25% less compute (224 px input); for slow laptops"),
    CuratedModel("stronger", "ViT-L-14", "datacomp_xl_s13b_b90k", 768, 1710, "slow", 79.2,
                 "MIT", "much better on fine detail; wants a GPU for big libraries"),
    CuratedModel("multilingual", "xlm-roberta-base-ViT-B-32", "laion5b_s13b_b90k", 512, 1470,
                 "medium", 62.3, "MIT", "queries in 100+ languages"),
)


def curated(role: str | None = None) -> list[CuratedModel]:
    return [m for m in CURATED if role is None or m.role == role]


# -- downloads ---------------------------------------------------------------------

HF_HUB_PREFIX = "hf-hub:"  # hf-hub:ORG/REPO — an open_clip model folder on the hub
CHUNK = 1 << 16
READ_TIMEOUT = 30.0  # seconds without a byte before a download counts as interrupted
PROGRESS_EVERY = 0.1  # seconds between progress reports


class DownloadCancelled(Exception):
    pass


@dataclass
class DownloadProgress:
    done: int  # bytes on disk, including what an earlier, interrupted try left
    total: int | None
    speed: float  # bytes per second, this try
    resumed_from: int = 0  # bytes that were already there when this try started
    file: str = ""


class _Meter:
    """Adds up bytes over the files of one download and reports, throttled."""

    def __init__(self, progress: Callable[[DownloadProgress], None] | None) -> None:
        self.progress = progress
        self.t0 = time.monotonic()
        self.base = 0  # bytes of the files already finished
        self.total_known = 0
        self.fetched = 0  # bytes transferred in this try
        self.resumed = 0
        self._last = 0.0

    def report(self, file: str, done: int, total: int | None, final: bool = False) -> None:
        now = time.monotonic()
        if self.progress is None or (not final and now - self._last < PROGRESS_EVERY):
            return
        self._last = now
        speed = self.fetched / max(1e-6, now - self.t0)
        self.progress(DownloadProgress(self.base + done,
                                       None if total is None else self.base + total,
                                       speed, self.resumed, file))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows the hub's redirect to its file store, keeping what the hub said."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        for k in ("X-Linked-Etag", "X-Linked-Size", "X-Repo-Commit", "ETag"):
            if headers.get(k) and k not in self.seen:
                self.seen[k] = headers[k]
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _etag_sha256(etag: str | None) -> str | None:
    """The file's sha256 when the hub's ETag is one (it is for LFS files)."""
    tag = (etag or "").removeprefix("W/").strip('"').lower()
    return tag if len(tag) == 64 and all(c in "0123456789abcdef" for c in tag) else None


def _resume_state(url: str, part: Path, meta: Path) -> tuple[int, str | None]:
    """(bytes of ``part`` to resume from, the ETag to resume them under) for ``url``."""
    have = part.stat().st_size if part.is_file() else 0
    validator = None
    if have:
        try:
            info = json.loads(meta.read_text())
            validator = info.get("etag") if info.get("url") == url else None
            if info.get("url") != url:
                have = 0
        except (OSError, ValueError):
            pass
    return have, validator


def _open(url: str, have: int, validator: str | None) -> tuple[Any, _Redirects]:
    """The hub's response for ``url`` (a Range request from ``have``), or None where the
    part is already complete (HTTP 416); HTTP errors become ModelUnavailable."""
    from clipgallery import __version__

    headers = {"User-Agent": f"clipgallery/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if validator:
            headers["If-Range"] = validator  # a changed file comes back whole (200)
    redirects = _Redirects()
    opener = urllib.request.build_opener(redirects)
    try:
        return (opener.open(urllib.request.Request(url, headers=headers),
                            timeout=READ_TIMEOUT), redirects)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after what we have: the part is complete
            return None, redirects
        if e.code == 404:
            raise ModelUnavailable(f"The model hub has no file {url}.") from e
        if e.code in (401, 403):
            raise ModelUnavailable(f"The model hub refused {url} (HTTP {e.code}: it needs a "
                                   "login or is gated). Download it in a browser and use "
                                   "'clipgallery model import'.") from e
        raise ModelUnavailable(f"The model hub answered HTTP {e.code} for {url}.") from e


def _expected(resp: Any, redirects: _Redirects, url: str, have: int
              ) -> tuple[int, str, int | None]:
    """(bytes kept, file mode, total size or None) from the response's headers."""
    hdr = resp.headers
    total: int | None = None
    if resp.status == 206:
        rng = hdr.get("Content-Range", "")  # bytes START-END/TOTAL
        try:
            start = int(rng.split()[1].split("-")[0])
            tail = rng.rsplit("/", 1)[1]
            total = int(tail) if tail != "*" else None
        except (IndexError, ValueError):
            start = -1
        if start != have:
            raise ModelUnavailable(f"The model hub answered a resumed download of {url} "
                                   f"with the wrong range ({rng!r}).")
        mode = "ab"
    else:  # 200: the whole file (no partial, or the file changed)
        have = 0
        mode = "wb"
        length = hdr.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
    if total is None:
        size = redirects.seen.get("X-Linked-Size") or hdr.get("X-Linked-Size")
        total = int(size) if size and size.isdigit() else None
    return have, mode, total


def _receive(resp: Any, redirects: _Redirects, url: str, dest: Path, have: int,
             meter: _Meter, cancel: threading.Event) -> tuple[int, int | None, str | None]:
    """Write the response's body to ``dest.part``; (bytes there, total, ETag)."""
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    with resp:
        hdr = resp.headers
        etag = redirects.seen.get("X-Linked-Etag") or hdr.get("X-Linked-Etag") or \
            hdr.get("ETag") or redirects.seen.get("ETag")
        have, mode, total = _expected(resp, redirects, url, have)
        if mode == "ab":
            meter.resumed += have
        meta.write_text(json.dumps({"url": url, "etag": etag}))
        try:
            with open(part, mode) as f:
                while True:
                    if cancel.is_set():
                        raise DownloadCancelled("Download cancelled.")
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    have += len(chunk)
                    meter.fetched += len(chunk)
                    if total is None or total > CHUNK:  # not for a tiny config file
                        meter.report(dest.name, have, total)
                f.flush()
                os.fsync(f.fileno())
        except (OSError, http.client.HTTPException) as e:
            raise ModelUnavailable(
                f"The download was interrupted at {have / 1e6:.1f}"
                f"{f' of {total / 1e6:.1f}' if total else ''} MB ({e or type(e).__name__})."
                " Run it again to resume where it stopped.") from e
    return have, total, etag


def _fetch(url: str, dest: Path, meter: _Meter, cancel: threading.Event) -> Path:
    """GET ``url`` into ``dest``, resuming ``dest.part`` with a Range request; checked
    against the hub's size and (for LFS files) SHA-256 before it is renamed to ``dest``."""
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    have, validator = _resume_state(url, part, meta)
    resp, redirects = _open(url, have, validator)
    if resp is not None:
        have, total, etag = _receive(resp, redirects, url, dest, have, meter, cancel)
    else:
        try:
            etag = json.loads(meta.read_text()).get("etag")
        except (OSError, ValueError):
            etag = None
        total = have
    if total is not None and have != total:
        raise ModelUnavailable(f"The download was interrupted at {have / 1e6:.1f} of "
                               f"{total / 1e6:.1f} MB (the connection closed early). Run it "
                               "again to resume where it stopped.")
    want = _etag_sha256(etag)
    if want is not None and file_sha256(part) != want:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise ModelUnavailable(f"The downloaded {dest.name} is corrupt (its checksum does not "
                               "match the hub's); run the download again.")
    if have > CHUNK:
        meter.report(dest.name, have, have, final=True)
    meter.base += have
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    return dest


def _resolve_url(endpoint: str, repo: str, filename: str) -> str:
    return (f"{endpoint}/{urllib.parse.quote(repo)}/resolve/main/"
            f"{urllib.parse.quote(filename)}")


def _check_online(endpoint: str, spec: str, arch: str | None) -> None:
    if not hub_reachable(endpoint=endpoint):
        how = (f"'clipgallery model import FILE --arch {arch}'" if arch else
               "'clipgallery model import FOLDER'")
        raise ModelUnavailable(
            "This computer is offline (the model hub cannot be reached), so the model cannot "
            f"be downloaded now. Download it on another computer and bring the file here: {how}.")


def download(spec: str, cache_dir: Path,
             progress: Callable[[DownloadProgress], None] | None = None,
             cancel: threading.Event | None = None, *, store: Path | None = None,
             endpoint: str | None = None) -> Path:
    """Download a model on the user's request; return where it is installed.

    ``NAME:PRETRAINED`` downloads open_clip's weights file into ``cache_dir``
    (``<cache_dir>/<org>--<repo>/<file>``) and returns the file.  ``hf-hub:ORG/REPO``
    downloads an open_clip model folder (config + safetensors weights), checks it like an
    import and installs it into ``store`` (default: ``cache_dir``'s parent, the library's
    model store); it returns the installed folder, which is the spec to use.

    A download that is interrupted leaves a ``.part`` file that the next try resumes with
    an HTTP Range request; nothing counts as installed until it is complete and checked.
    Raises :class:`ModelUnavailable` at once when offline or on failure,
    :class:`DownloadCancelled` when ``cancel`` is set.  ``endpoint`` (default
    :func:`~clipgallery.core.models.torch_backend.hub_endpoint`) is the hub's base URL.
    """
    cancel = cancel or threading.Event()
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    meter = _Meter(progress)
    if spec.startswith(HF_HUB_PREFIX):
        return _download_folder(spec, Path(store or Path(cache_dir).parent), endpoint,
                                meter, cancel)
    return _download_weights(spec, cache_dir, endpoint, meter, cancel)


def _download_folder(spec: str, store: Path, endpoint: str, meter: _Meter,
                     cancel: threading.Event) -> Path:
    """``hf-hub:ORG/REPO``: the model folder, staged, checked like an import, installed."""
    repo = spec[len(HF_HUB_PREFIX):].strip("/")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ModelUnavailable(f"'{spec}' is not hf-hub:ORGANISATION/REPOSITORY.")
    name = hub_folder(repo)
    final = store / name
    if (final / LOCAL_CONFIG).is_file():
        return final
    _check_online(endpoint, spec, None)
    staging = store / f".download-{name}"
    staging.mkdir(parents=True, exist_ok=True)
    for fname in (LOCAL_CONFIG, WEIGHTS_NAME):
        if not (staging / fname).is_file():
            _fetch(_resolve_url(endpoint, repo, fname), staging / fname, meter, cancel)
        else:
            meter.base += (staging / fname).stat().st_size
    try:
        spec_path, _ = import_model(staging, store, name=name)
    except ModelUnavailable as e:
        shutil.rmtree(staging, ignore_errors=True)  # complete but unusable: start over
        raise ModelUnavailable(f"The model downloaded from {spec} cannot be used: {e}") \
            from e
    shutil.rmtree(staging, ignore_errors=True)
    return Path(spec_path)


def _download_weights(spec: str, cache_dir: Path, endpoint: str, meter: _Meter,
                      cancel: threading.Event) -> Path:
    """``NAME:PRETRAINED``: open_clip's weights file, into the hub cache."""
    from clipgallery.core.models.torch_backend import cached_weights, parse_spec

    ms = parse_spec(spec)
    if ms.is_local:
        raise ModelUnavailable(f"{spec} is a local folder, there is nothing to download.")
    have = cached_weights(ms, cache_dir)
    if have is not None:
        return have
    import open_clip

    cfg = open_clip.get_pretrained_cfg(ms.name, ms.pretrained or "")
    if not cfg.get("hf_hub"):
        raise ModelUnavailable(f"{spec} is not on the model hub; download its weights by hand "
                               f"and use 'clipgallery model import FILE --arch {ms.name}'.")
    _check_online(endpoint, spec, ms.name)
    parts = cfg["hf_hub"].strip("/").split("/")
    repo = "/".join(parts[:2])
    folder = Path(cache_dir) / hub_folder(repo)
    folder.mkdir(parents=True, exist_ok=True)
    names = [cfg["hf_filename"]] if cfg.get("hf_filename") else [
        WEIGHTS_NAME, "open_clip_pytorch_model.bin"]
    for i, fname in enumerate(names):
        try:
            return _fetch(_resolve_url(endpoint, repo, fname), folder / fname, meter, cancel)
        except ModelUnavailable as e:
            if i + 1 < len(names) and "has no file" in str(e):
                continue  # older repositories only have the .bin
            raise
    raise AssertionError("unreachable")


# -- imports and the store -----------------------------------------------------------


@dataclass
class InstalledModel:
    spec: str
    model_id: str
    kind: str  # "imported" | "downloaded"
    path: str
    size_mb: float


def _load_weights(path: Path) -> dict:
    """A state dict, read without executing code."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if suffix in (".bin", ".pt", ".pth"):
            import torch

            sd = torch.load(str(path), map_location="cpu", weights_only=True)
            if isinstance(sd, dict) and "state_dict" in sd:
                sd = sd["state_dict"]
            if not isinstance(sd, dict):
                raise ModelUnavailable(f"{path.name} does not hold a state dict.")
            return {k.removeprefix("module."): v for k, v in sd.items()}
    except ModelUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable file is refused the same way
        raise ModelUnavailable(f"{path.name} is not a readable model file: {e}") from e
    raise ModelUnavailable(
        f"{path.name}: unsupported model file type. Use a .safetensors file (or a .bin/.pt "
        "state dict, which is read safely, without running code).")


def import_model(source: Path, store: Path, *, arch: str | None = None,
                 name: str | None = None) -> tuple[str, str]:
    """Check a model and copy it into ``store``; returns (spec, model_id).

    ``source`` is an open_clip model folder (config + weights), a checkpoint file, with
    ``arch`` an open_clip architecture name or a config JSON file, or a model converted
    to ONNX on another computer (``clipgallery model export``; checked and copied
    without torch, see :mod:`clipgallery.core.models.portable`).  The model
    must load strictly and produce vectors of the expected size; otherwise nothing is
    written and :class:`ModelUnavailable` explains why.
    """
    from clipgallery.core.models import portable

    if portable.is_portable(Path(source).expanduser()):  # converted elsewhere: no torch
        return portable.import_into(Path(source).expanduser(), store, name)
    source = Path(source).expanduser()
    if not source.exists():
        raise ModelUnavailable(f"{source} does not exist.")
    try:  # checking weights against an architecture needs PyTorch and open_clip
        import open_clip  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:  # the lean edition
        raise ModelUnavailable(f"Importing {source.name} needs {e.name or e}, which is not "
                               f"installed. {portable.FULL_EDITION}") from e
    model_cfg, preprocess_cfg, weights, default_name = _import_source(source, arch)
    sd = _load_weights(weights)
    dim = _check_fits(model_cfg, sd, weights)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (name or default_name))
    store.mkdir(parents=True, exist_ok=True)
    final = store / safe
    if final.exists():
        raise ModelUnavailable(f"A model named '{safe}' is already installed ({final}).")
    model_id = _install(source, final, model_cfg, preprocess_cfg, weights, sd)
    # A last check through the very code path the app uses.
    from clipgallery.core.models.torch_backend import load_encoder

    enc = load_encoder(str(final), device="cpu")
    if enc.dim != dim:
        shutil.rmtree(final, ignore_errors=True)
        raise ModelUnavailable("The imported model did not load back correctly.")
    return str(final), model_id


def _import_source(source: Path, arch: str | None) -> tuple[dict, dict, Path, str]:
    """(model config, preprocess config, weights file, default name) of an import's
    ``source``: a model folder, or a checkpoint file with ``arch``."""
    import open_clip

    preprocess_cfg: dict = {}
    if source.is_dir():
        cfg_file = source / LOCAL_CONFIG
        if not cfg_file.is_file():
            raise ModelUnavailable(f"{source} has no {LOCAL_CONFIG}; give a checkpoint file "
                                   "and --arch instead.")
        full = json.loads(cfg_file.read_text())
        model_cfg = full.get("model_cfg", full)
        preprocess_cfg = full.get("preprocess_cfg", {})
        weights = next((source / n for n in (WEIGHTS_NAME, "open_clip_pytorch_model.bin")
                        if (source / n).is_file()), None)
        if weights is None:
            raise ModelUnavailable(f"{source} has no weights file ({WEIGHTS_NAME}).")
        return model_cfg, preprocess_cfg, weights, source.name
    if not arch:
        raise ModelUnavailable("Say which architecture the file is for: --arch NAME "
                               "(e.g. ViT-B-32-256) or --arch CONFIG.json.")
    if Path(arch).is_file():
        full = json.loads(Path(arch).read_text())
        model_cfg = full.get("model_cfg", full)
        preprocess_cfg = full.get("preprocess_cfg", {})
    else:
        model_cfg = open_clip.get_model_config(arch)
        if model_cfg is None:
            raise ModelUnavailable(f"open_clip has no model architecture named '{arch}'.")
    default_name = f"{arch if not Path(arch).is_file() else Path(arch).stem}-{source.stem}"
    return model_cfg, preprocess_cfg, source, default_name


def _check_fits(model_cfg: dict, sd: dict, weights: Path) -> int:
    """The vector size, once the weights load strictly into the architecture and give
    finite vectors of that size; else ModelUnavailable."""
    import open_clip
    import torch

    try:
        model = open_clip.CustomTextCLIP(**model_cfg) if model_cfg.get("custom_text") or \
            "hf_model_name" in model_cfg.get("text_cfg", {}) else open_clip.CLIP(
                **{k: v for k, v in model_cfg.items() if k != "custom_text"})
        model.load_state_dict(sd, strict=True)
        model.eval()
        size = model.visual.image_size
        size = size if isinstance(size, int) else size[0]
        with torch.no_grad():
            img = model.encode_image(torch.zeros(1, 3, size, size))
            ctx = model_cfg.get("text_cfg", {}).get("context_length", 77)
            txt = model.encode_text(torch.zeros(1, ctx, dtype=torch.long))
    except Exception as e:  # noqa: BLE001 - a mismatched file fails in many ways
        raise ModelUnavailable(
            f"{weights.name} does not fit the architecture: {str(e).splitlines()[0][:300]}"
        ) from e
    dim = int(model_cfg["embed_dim"])
    if img.shape[-1] != dim or txt.shape[-1] != dim or not torch.isfinite(img).all():
        raise ModelUnavailable(f"{weights.name} produces vectors of size {img.shape[-1]}, "
                               f"expected {dim}.")
    return dim


def _install(source: Path, final: Path, model_cfg: dict, preprocess_cfg: dict,
             weights: Path, sd: dict) -> str:
    """Write the model folder ``final`` (under a temporary name, renamed when complete);
    its model id."""
    from safetensors.torch import save_file

    from clipgallery.core.models.torch_backend import local_model_id

    safe = final.name
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=final.parent))
    try:
        if source.is_dir():  # byte for byte, so the model id stays the same
            shutil.copyfile(source / LOCAL_CONFIG, tmp / LOCAL_CONFIG)
        else:
            (tmp / LOCAL_CONFIG).write_text(json.dumps(
                {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, indent=2))
        if weights.suffix == ".safetensors":
            shutil.copyfile(weights, tmp / WEIGHTS_NAME)
        else:
            save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp / WEIGHTS_NAME))
        model_id = local_model_id(tmp).replace(f"local:{tmp.name}@", f"local:{safe}@")
        (tmp / INFO_NAME).write_text(json.dumps({"model_id": model_id, "source": str(source),
                                                 "sha256": file_sha256(tmp / WEIGHTS_NAME)}))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model_id


def installed(store: Path) -> list[InstalledModel]:
    """Models in the library's store: imported folders and downloaded curated weights."""
    from clipgallery.core.models import portable

    out: list[InstalledModel] = []
    if store.is_dir():
        for d in sorted(store.iterdir()):
            if d.name.startswith("."):  # downloads and imports under way
                continue
            if (d / portable.MANIFEST).is_file():
                try:
                    mid = portable.read_manifest(d)["model_id"]
                except ModelUnavailable:
                    continue
                size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
                out.append(InstalledModel(str(d), mid, "converted", str(d), size / 1e6))
                continue
            if (d / LOCAL_CONFIG).is_file():
                try:
                    mid = json.loads((d / INFO_NAME).read_text())["model_id"]
                except (OSError, ValueError, KeyError):
                    from clipgallery.core.models.torch_backend import local_model_id

                    mid = local_model_id(d)
                size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
                out.append(InstalledModel(str(d), mid, "imported", str(d), size / 1e6))
    return out + _downloaded_curated(store)


def _hf_cache() -> Path:
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "hub")
    return Path(home)


def _downloaded_curated(store: Path) -> list[InstalledModel]:
    """The curated models whose weights are on disk.  Finding them needs open_clip's
    table of weights (and so torch): asked only when some download exists at all."""
    if not any(d.is_dir() and any(d.iterdir()) for d in (store / "hub", _hf_cache())):
        return []
    try:
        from clipgallery.core.models.torch_backend import cached_weights
    except ImportError:  # the lean edition: curated weights are used once converted
        return []
    out = []
    for m in CURATED:
        try:
            w = cached_weights(ModelSpec(m.name, m.pretrained), store / "hub")
        except ModelUnavailable:
            w = None
        if w is not None:
            out.append(InstalledModel(m.spec, m.spec, "downloaded", str(w),
                                      w.stat().st_size / 1e6))
    return out


def as_dicts(items) -> list[dict]:
    return [asdict(i) for i in items]
