"""Portable ONNX models: a model converted once, carried to a computer without torch.

``clipgallery model export SPEC DIR`` writes, from the computer's ONNX conversion of a
model, one folder with everything a torch-free ClipGallery needs to index and search
with it: the ONNX towers (float32 image and text, and the int8 image model where it
passed its check), the tokenizer's vocabulary, the export's ``info.json`` (model id,
vector size, preprocessing, the recorded probe outputs) and a manifest,
``clipgallery_model.json``, with each file's size and SHA-256.  ``model import DIR``
checks every checksum before it copies the folder into the library's model store; the
model then loads through :class:`~clipgallery.core.models.onnx_runtime.OnnxEncoder`
alone — no torch, no open_clip — with the same model id, so its vectors are those of
the original model.

Only models whose tokenizer ClipGallery has without open_clip (CLIP's BPE; checked at
conversion) can be exported this way.  Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from clipgallery.core.models.specs import ModelUnavailable
from clipgallery.core.models.tokenizer import VOCAB_FILE
from clipgallery.core.photos.hashes import file_sha256

MANIFEST = "clipgallery_onnx_model.json"
FORMAT = "clipgallery-onnx-model/1"
INFO = "info.json"  # the export's description (see onnx_runtime.read_info)
_TOWERS = ("visual.onnx", "visual.int8.onnx", "textual.onnx")
FULL_EDITION = ("Converting a model to ONNX needs PyTorch and open_clip: use the full "
                "edition of ClipGallery (or 'pip install clipgallery'), or import a model "
                "already converted on another computer ('clipgallery model export SPEC "
                "DIR' there, 'clipgallery model import DIR' here).")


def is_portable(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a portable ONNX model (has the manifest)."""
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a portable model; ModelUnavailable if it is not one."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise ModelUnavailable(f"{folder} is not a ClipGallery ONNX model ({e}).") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or not isinstance(data.get("files"), dict):
        raise ModelUnavailable(f"{folder} holds a model in a format this ClipGallery does "
                               "not know; export it again with this version.")
    return data


def verify(folder: Path) -> dict[str, Any]:
    """Check every file of a portable model against its manifest; the manifest."""
    manifest = read_manifest(folder)
    for name, meta in manifest["files"].items():
        path = Path(folder) / name
        if not path.is_file():
            raise ModelUnavailable(f"{path} is missing: the model was not copied in full.")
        if path.stat().st_size != meta.get("size") or file_sha256(path) != meta.get("sha256"):
            raise ModelUnavailable(f"{path} is damaged (its checksum does not match); copy "
                                   "or export the model again.")
    return manifest


def export(export_dir: Path, dest: Path, *, label: str) -> Path:
    """Write the conversion in ``export_dir`` (a checked export of this computer's
    cache) as a portable model folder ``dest``; returns ``dest``."""
    info = json.loads((Path(export_dir) / INFO).read_text())
    if not info.get("tokenizer") or not (Path(export_dir) / VOCAB_FILE).is_file():
        raise ModelUnavailable(f"{label} uses a tokenizer that needs open_clip: it cannot be "
                               "exported for computers without torch.")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ModelUnavailable(f"{dest} exists and is not empty; give a new folder.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=dest.parent))
    try:
        names = [n for n in (*_TOWERS, VOCAB_FILE, INFO) if (Path(export_dir) / n).is_file()]
        for name in names:
            shutil.copyfile(Path(export_dir) / name, tmp / name)
        manifest = {"format": FORMAT, "label": label, "model_id": info["model_id"],
                    "dim": info["dim"],
                    "files": {n: {"size": (tmp / n).stat().st_size, "sha256": file_sha256(tmp / n)}
                              for n in names}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def import_into(source: Path, store: Path, name: str | None = None) -> tuple[str, str]:
    """Check the portable model ``source`` and copy it into ``store``; (spec, model id)."""
    manifest = verify(Path(source))
    safe = "".join(c if c.isalnum() or c in "-_." else "_"
                   for c in (name or Path(source).name))
    final = Path(store) / safe
    if final.exists():
        raise ModelUnavailable(f"A model named '{safe}' is already installed ({final}).")
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=store))
    try:
        for n in [*manifest["files"], MANIFEST]:
            shutil.copyfile(Path(source) / n, tmp / n)
        verify(tmp)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(final), str(manifest["model_id"])


def load(folder: Path, *, int8: bool = False, threads: int | None = None,
         preload: tuple[str, ...] = (), warm: tuple[str, ...] = (), device: str = "cpu"):
    """The portable model in ``folder`` as an OnnxEncoder (no torch), on ``device``
    ("cpu", or "cuda" through ONNX Runtime's CUDA execution provider)."""
    from clipgallery.core.models.onnx_runtime import VISUAL_INT8, OnnxEncoder, read_info

    manifest = read_manifest(Path(folder))
    info = read_info(Path(folder))
    if info is None:
        raise ModelUnavailable(f"{folder} is damaged (a file's size is wrong); copy or "
                               "export the model again.")
    use_int8 = int8 and device == "cpu" and VISUAL_INT8 in info["files"] and bool((info.get("int8") or {})
                                                              .get("usable"))

    def no_torch() -> Any:
        raise ModelUnavailable(f"{folder} is a converted (ONNX) model and cannot run in "
                               "PyTorch. " + FULL_EDITION)

    return OnnxEncoder(None, Path(folder), threads=threads, int8=use_int8, preload=preload,
                       loader=no_torch, tokenizer_loader=no_torch,
                       label=str(manifest.get("label") or Path(folder).name), warm=warm,
                       device=device)
