"""Turn an open_clip ``NAME:PRETRAINED`` into a model folder to bundle (``build.sh --with-model``).

    python packaging/prepare_model.py NAME:PRETRAINED OUT_PARENT

Downloads the weights once (through ClipGallery's own ``models.download``, into
``OUT_PARENT/hub``; the network is needed at build time only), then writes
``OUT_PARENT/<NAME>_<PRETRAINED>/`` in the local-folder format the core loads offline:
``open_clip_config.json`` (the architecture, QuickGELU where the weights need it, and the
pretrained preprocessing: mean, std, interpolation, resize mode) and
``open_clip_model.safetensors``.  The folder is loaded back through the core before its
path is printed (the only line on stdout).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


def prepare(spec: str, out_parent: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    import open_clip

    from clipgallery.core.models import model_store as models
    from clipgallery.core.models.torch_backend import LOCAL_CONFIG, load_encoder, parse_spec

    ms = parse_spec(spec)
    if ms.is_local:
        raise SystemExit(f"{spec} is a folder: give it to build.sh --with-model directly")
    model_cfg = open_clip.get_model_config(ms.name)
    if model_cfg is None:
        raise SystemExit(f"open_clip has no architecture named {ms.name!r}")
    text_cfg = model_cfg.get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name"):
        raise SystemExit(f"{ms.name} uses a Hugging Face tokenizer/text model, which this "
                         "script does not bundle; pick a model with open_clip's own tokenizer")
    pretrained = open_clip.get_pretrained_cfg(ms.name, ms.pretrained or "")
    preprocess_cfg = {k: pretrained[k] for k in PREPROCESS_KEYS if pretrained.get(k) is not None}
    if pretrained.get("quick_gelu"):  # e.g. OpenAI's weights were trained with QuickGELU
        model_cfg = dict(model_cfg, quick_gelu=True)

    out_parent.mkdir(parents=True, exist_ok=True)
    weights = models.download(spec, out_parent / "hub")
    folder = out_parent / re.sub(r"[^A-Za-z0-9._-]+", "_", f"{ms.name}_{ms.pretrained}")
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / LOCAL_CONFIG).write_text(json.dumps(
        {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, indent=2))
    target = tmp / models.WEIGHTS_NAME
    if weights.suffix == ".safetensors":
        shutil.copyfile(weights, target)
    else:
        import torch
        from safetensors.torch import save_file

        sd = torch.load(weights, map_location="cpu", weights_only=True)
        sd = sd.get("state_dict", sd)
        sd = {k.removeprefix("module."): v.contiguous() for k, v in sd.items()}
        save_file(sd, str(target))
    load_encoder(str(tmp), device="cpu")  # refuse what the app could not load
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(prepare(argv[0], Path(argv[1]).resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
