"""Helpers shared by the benchmark scripts (not part of the app)."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))


def machine() -> dict[str, object]:
    import torch

    info: dict[str, object] = {
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def random_weight_model(name: str = "ViT-B-32-256", tag: str = "datacomp_s34b_b86k",
                        folder: Path | None = None) -> Path:
    """A local model folder with ``name``'s real architecture and random weights (seed 0)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = folder or Path(f"/tmp/clipgallery-bench-models/{name}-random")
    if (folder / "open_clip_model.safetensors").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None)
    cfg = open_clip.get_model_config(name)
    tag_cfg = open_clip.get_pretrained_cfg(name, tag) or {}
    pp = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg,
                                                              "preprocess_cfg": pp}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return folder


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(data, indent=2))
    return out


def ready_watching_window(app, root: Path, model: str, poll_s: float = 0.005):
    """A real main window (offscreen) on a fresh library in ``root``, watching the empty
    folder ``root/watched`` (``root/.incoming`` is made for copies to land in first),
    once its model is ready and it has settled.  Returns (window, watched, incoming)."""
    import time

    from clipgallery.app.window import MainWindow

    watched, incoming = root / "watched", root / ".incoming"
    watched.mkdir()
    incoming.mkdir()
    w = MainWindow(root / "library", model=model, folders=[str(watched)], interactive=False)
    w.resize(1100, 760)
    w.show()
    w.start()
    deadline = time.monotonic() + 600
    while w.model_state != "ready" or not w.is_settled():
        app.processEvents()
        time.sleep(poll_s)
        if time.monotonic() > deadline:
            raise SystemExit("the app did not become ready")
    return w, watched, incoming
