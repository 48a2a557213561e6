"""Models: the curated list, downloads (on request only), imports and the model store.

Nothing here reaches the network unless the user asked for a download, and then only
the model hub, after a quick reachability check (a few seconds) so that an offline
machine gets an answer at once instead of a retry storm.  Imported files are loaded
without executing code: safetensors, or ``torch.load(weights_only=True)``.

Threading: called from the CLI's main thread or the app's model worker thread;
``download`` reports progress through a callback from that same thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from clipgallery.core.encoder import (
    LOCAL_CONFIG,
    ModelSpec,
    ModelUnavailable,
    cached_weights,
    hub_reachable,
    load_encoder,
    parse_spec,
)

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


class DownloadCancelled(Exception):
    pass


@dataclass
class DownloadProgress:
    done: int
    total: int | None
    speed: float  # bytes per second


def download(spec: str, cache_dir: Path,
             progress: Callable[[DownloadProgress], None] | None = None,
             cancel: threading.Event | None = None) -> Path:
    """Download ``NAME:PRETRAINED`` weights into ``cache_dir`` (resumable); return the file.

    Raises :class:`ModelUnavailable` at once when offline, :class:`DownloadCancelled`
    when ``cancel`` is set.
    """
    ms = parse_spec(spec)
    if ms.is_local:
        raise ModelUnavailable(f"{spec} is a local folder, there is nothing to download.")
    have = cached_weights(ms, cache_dir)
    if have is not None:
        return have
    if not hub_reachable():
        raise ModelUnavailable(
            "This computer is offline (the model hub cannot be reached), so the model cannot "
            "be downloaded now. Download it on another computer and bring the file here: "
            f"'clipgallery model import FILE --arch {ms.name}'.")
    import open_clip
    from huggingface_hub import constants, hf_hub_download
    from tqdm.auto import tqdm

    cfg = open_clip.get_pretrained_cfg(ms.name, ms.pretrained or "")
    parts = cfg["hf_hub"].strip("/").split("/")
    repo = "/".join(parts[:2])
    filename = cfg.get("hf_filename") or "open_clip_model.safetensors"
    cancel = cancel or threading.Event()

    class _Report(tqdm):  # huggingface_hub drives a tqdm bar; we read it
        def __init__(self, *a, **k):
            k["disable"] = True
            super().__init__(*a, **k)
            self._t0 = time.monotonic()
            self._done = 0

        def update(self, n=1):
            self._done += n or 0
            if cancel.is_set():
                raise DownloadCancelled("Download cancelled.")
            if progress is not None:
                dt = max(1e-6, time.monotonic() - self._t0)
                progress(DownloadProgress(self._done, self.total, self._done / dt))
            return super().update(n)

    was_offline = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False  # the user asked for this download
    try:
        path = hf_hub_download(repo, filename, cache_dir=str(cache_dir), tqdm_class=_Report)
    except DownloadCancelled:
        raise
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise ModelUnavailable(f"Downloading {spec} failed: {e}. Run the same command again "
                               "to resume.") from e
    finally:
        constants.HF_HUB_OFFLINE = was_offline
    return Path(path)


# -- imports and the store -----------------------------------------------------------


@dataclass
class InstalledModel:
    spec: str
    model_id: str
    kind: str  # "imported" | "downloaded"
    path: str
    size_mb: float


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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

    ``source`` is either an open_clip model folder (config + weights) or a checkpoint
    file, with ``arch`` an open_clip architecture name or a config JSON file.  The model
    must load strictly and produce vectors of the expected size; otherwise nothing is
    written and :class:`ModelUnavailable` explains why.
    """
    import open_clip
    import torch
    from safetensors.torch import save_file

    source = Path(source).expanduser()
    if not source.exists():
        raise ModelUnavailable(f"{source} does not exist.")
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
        default_name = source.name
    else:
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
        weights = source
        default_name = f"{arch if not Path(arch).is_file() else Path(arch).stem}-{source.stem}"
    sd = _load_weights(weights)
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
    name = name or default_name
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    store.mkdir(parents=True, exist_ok=True)
    final = store / safe
    if final.exists():
        raise ModelUnavailable(f"A model named '{safe}' is already installed ({final}).")
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=store))
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
        from clipgallery.core.encoder import local_model_id

        model_id = local_model_id(tmp).replace(f"local:{tmp.name}@", f"local:{safe}@")
        (tmp / INFO_NAME).write_text(json.dumps({"model_id": model_id, "source": str(source),
                                                 "sha256": _sha256(tmp / WEIGHTS_NAME)}))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # A last check through the very code path the app uses.
    enc = load_encoder(str(final), device="cpu")
    if enc.dim != dim:
        shutil.rmtree(final, ignore_errors=True)
        raise ModelUnavailable("The imported model did not load back correctly.")
    return str(final), model_id


def installed(store: Path) -> list[InstalledModel]:
    """Models in the library's store: imported folders and downloaded curated weights."""
    out: list[InstalledModel] = []
    if store.is_dir():
        for d in sorted(store.iterdir()):
            if (d / LOCAL_CONFIG).is_file():
                try:
                    mid = json.loads((d / INFO_NAME).read_text())["model_id"]
                except (OSError, ValueError, KeyError):
                    from clipgallery.core.encoder import local_model_id

                    mid = local_model_id(d)
                size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
                out.append(InstalledModel(str(d), mid, "imported", str(d), size / 1e6))
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
