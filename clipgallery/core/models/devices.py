"""The devices a model can run on: one registry for the CLI's ``--device``, the library's
``settings device`` and :func:`clipgallery.core.models.backends.select`.

Nothing here imports torch or ONNX Runtime: a guess at the GPUs present is made from
what the operating system shows (an NVIDIA driver visible to this process, Apple
silicon); the backends confirm it (see :mod:`clipgallery.core.models.backends`).

Threading: plain functions and constants, safe from any thread.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    """A device name users can give, and what it means."""

    name: str
    description: str


REGISTRY: tuple[Device, ...] = (
    Device("auto", "CUDA if a usable NVIDIA GPU is there, else Apple MPS, else the CPU"),
    Device("cpu", "the CPU (ONNX Runtime, or PyTorch where no conversion is possible)"),
    Device("cuda", "an NVIDIA GPU through CUDA (PyTorch in half precision, or ONNX "
                   "Runtime's CUDA execution provider)"),
    Device("mps", "Apple silicon's GPU through PyTorch's MPS backend"),
)
#: Every name ``--device`` and ``settings device`` accept, "auto" first.
DEVICES: tuple[str, ...] = tuple(d.name for d in REGISTRY)
#: The devices a backend can actually run on ("auto" is resolved to one of them).
CONCRETE: tuple[str, ...] = tuple(d for d in DEVICES if d != "auto")
AUTO = "auto"
#: "auto", "cpu", "cuda" or "mps": overrides the library's own setting (meta "device").
ENV_DEVICE = "CLIPGALLERY_DEVICE"


def check_device(value: str | None) -> str:
    """``value`` as a device name (lower case; None is "auto"); ValueError naming the
    choices if it is not one."""
    name = (value or AUTO).strip().lower()
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (not '{value}')")
    return name


def cuda_likely() -> bool:
    """Whether an NVIDIA GPU is probably usable, judged without importing torch or ONNX
    Runtime: a driver visible to this process (and CUDA_VISIBLE_DEVICES not emptied)."""
    if sys.platform == "darwin":
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")
    return shutil.which("nvidia-smi") is not None


def mps_likely() -> bool:
    """Whether Apple's MPS is probably usable (Apple silicon)."""
    return sys.platform == "darwin" and platform.machine() == "arm64"


def gpu_likely() -> bool:
    """Whether torch would probably pick a GPU (CUDA or Apple MPS)."""
    return cuda_likely() or mps_likely()
