"""Devices, precision and determinism for the torch backend.

The device is always an explicit argument. ``auto`` means the first CUDA device
when one exists, else the CPU; it is resolved once per job and recorded in the
manifest, so a job never changes device behind the user's back.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from framefill.errors import DeviceError

__all__ = ["DeviceSpec", "parse_device", "resolve_devices", "configure_determinism", "Precision"]

Precision = Literal["fp32", "fp16", "bf16"]

_DEVICE_RE = re.compile(r"^(auto|cpu|all|cuda(?::(\d+))?)$")


@dataclass(frozen=True)
class DeviceSpec:
    """A resolved torch device and the precision used on it."""

    device: str  # "cpu" or "cuda:N"
    precision: Precision

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def torch_dtype(self) -> Any:
        import torch

        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.precision]


def parse_device(text: str) -> str:
    """Validate a --device value: auto | cpu | cuda | cuda:N | all."""
    text = (text or "auto").strip().lower()
    if not _DEVICE_RE.match(text):
        raise DeviceError(f"unknown device {text!r}; use auto, cpu, cuda, cuda:N or all")
    return text


def resolve_devices(text: str, *, precision: Precision | Literal["auto"] = "auto") -> list[DeviceSpec]:
    """Turn a --device value into concrete devices (``all`` gives every CUDA device).

    Precision ``auto`` is fp32 on the CPU and fp16 on CUDA (the published RIFE and
    Real-ESRGAN fp16 paths); bf16 is opt-in.

    Raises:
        DeviceError: CUDA asked for but absent, or an index out of range.
    """
    import torch

    text = parse_device(text)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if text == "auto":
        names = ["cuda:0"] if count else ["cpu"]
    elif text == "cpu":
        names = ["cpu"]
    elif text == "all":
        names = [f"cuda:{i}" for i in range(count)] or ["cpu"]
    else:
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= count:
            raise DeviceError(
                f"device {text} is not available ({count} CUDA device(s) found); use --device cpu or auto"
            )
        names = [f"cuda:{index}"]
    out = []
    for name in names:
        prec: Precision = ("fp16" if name.startswith("cuda") else "fp32") if precision == "auto" else precision
        if prec != "fp32" and name == "cpu":
            raise DeviceError(f"precision {prec} is for CUDA devices; the CPU runs fp32")
        out.append(DeviceSpec(name, prec))
    return out


def configure_determinism() -> dict[str, Any]:
    """Settings that make reruns bit-identical; returns what was set, for the manifest.

    On the CPU, torch's kernels are deterministic for a fixed thread count, so the
    count is pinned (``FRAMEFILL_THREADS`` or the machine's cores). On CUDA,
    cuDNN autotuning is turned off and deterministic algorithms are requested.
    """
    import torch

    threads = int(os.environ.get("FRAMEFILL_THREADS", "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return {"torch": torch.__version__, "threads": threads, "deterministic_algorithms": True}
