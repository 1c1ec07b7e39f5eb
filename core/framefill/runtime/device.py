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

from framefill.color import set_color_threads
from framefill.errors import DeviceError, InputError

__all__ = ["DeviceSpec", "parse_device", "resolve_devices", "device_note", "configure_determinism", "thread_count",
           "set_exr_threads", "cpu_has_bf16", "Precision", "THREADS_ENV", "MAX_THREADS"]

THREADS_ENV = "FRAMEFILL_THREADS"
# torch crashed (SIGSEGV) with FRAMEFILL_THREADS=99999 after a frame: a thread pool
# that size is never useful. Four threads per core covers hyper-threading and
# I/O waits; 256 bounds it on the largest machines.
MAX_THREADS = 256
THREADS_PER_CORE = 4

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
        from framefill.models.loading import torch_dtype

        return torch_dtype(self.precision)


def parse_device(text: str) -> str:
    """Validate a --device value: auto | cpu | cuda | cuda:N | all."""
    text = (text or "auto").strip().lower()
    if not _DEVICE_RE.match(text):
        raise DeviceError(f"unknown device {text!r}; use auto, cpu, cuda, cuda:N or all")
    return text


def resolve_devices(text: str, *, precision: Precision | Literal["auto"] = "auto",
                    spread: bool = False) -> list[DeviceSpec]:
    """Turn a --device value into the concrete devices a job runs on.

    ``all`` means every CUDA device: all of them for a job that ``spread`` s its frames
    over devices (a sequence fill), else only where that is exactly one; on a machine
    without CUDA it is the CPU (:func:`device_note` says so). Precision ``auto`` is fp32
    on the CPU and fp16 on CUDA (the published RIFE and Real-ESRGAN fp16 paths); bf16 is
    opt-in.

    Raises:
        DeviceError: CUDA asked for but absent, an index out of range, ``all``
            on a machine with several GPUs for a job that runs on one, or fp16/bf16 on the CPU.
    """
    import torch

    text = parse_device(text)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if text == "auto":
        names = ["cuda:0"] if count else ["cpu"]
    elif text == "cpu":
        names = ["cpu"]
    elif text == "all":
        if count > 1 and not spread:
            choices = ", ".join(f"cuda:{i}" for i in range(count))
            raise DeviceError(
                f"--device all would use {count} GPUs, but this job runs on one device (only `framefill "
                f"interpolate` on a frame sequence spreads over GPUs); pick one: {choices}"
            )
        names = [f"cuda:{i}" for i in range(count)] if count else ["cpu"]
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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN: avx512_bf16 or AMX); elsewhere it is emulated."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def device_note(text: str, spec: DeviceSpec) -> str | None:
    """The one line to tell the user when ``--device all`` found no GPU and the job runs on the CPU."""
    if parse_device(text) == "all" and spec.device == "cpu":
        return "--device all: this machine has no CUDA GPU, so the job runs on the CPU"
    return None


def configure_determinism() -> dict[str, Any]:
    """Settings that make reruns bit-identical; returns what was set, for the manifest.

    On the CPU, torch's kernels are deterministic for a fixed thread count, so the
    count is pinned (``FRAMEFILL_THREADS`` or the machine's cores). On CUDA,
    cuDNN autotuning is turned off and deterministic algorithms are requested.
    OpenEXR encodes and decodes with as many threads (:func:`set_exr_threads`), and
    large OCIO transforms are split over them (:func:`framefill.color.set_color_threads`).

    Raises:
        InputError: ``FRAMEFILL_THREADS`` is not a whole number in range (see :func:`thread_count`).
    """
    import torch

    threads = thread_count()
    torch.set_num_threads(threads)
    set_exr_threads(threads)
    set_color_threads(threads)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch.use_deterministic_algorithms also sets torch.compile's flag, whose import costs 0.8 s
    # of start-up per process; framefill never compiles, so the kernels' switch is set alone.
    try:
        torch._C._set_deterministic_algorithms(True, warn_only=True)
    except (AttributeError, TypeError):  # a torch without that switch: the public call does the same
        torch.use_deterministic_algorithms(True, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN before an op writes it: a whole
    # extra pass over memory for each allocation (rife-4 at 1080p ran 8% slower on the CPU).
    # framefill's kernels write every element they allocate, so that guard costs without changing
    # a byte (the golden outputs are the same with it off).
    import torch.utils.deterministic  # torch 2.1+

    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    return {"torch": torch.__version__, "threads": threads, "deterministic_algorithms": True}


def set_exr_threads(threads: int) -> None:
    """OpenEXR's process-wide pool for compressing and decompressing chunks: ``threads`` workers (none
    for one: the calling thread does the work). A file's bytes do not depend on the count."""
    import OpenEXR

    OpenEXR.set_global_thread_count(threads if threads > 1 else 0)


def thread_count() -> int:
    """CPU threads for torch: ``FRAMEFILL_THREADS`` (1 to :func:`max_threads`), or every core when unset/empty.

    Raises:
        InputError: a value that is not a whole number from 1 to the maximum
            (``-1``, ``abc``, ``1.5``, ``0``, ``99999``), in one line naming the variable.
    """
    cores = os.cpu_count() or 1
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return cores
    top = max_threads()
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not 1 <= value <= top:
        raise InputError(
            f"{THREADS_ENV}={text!r} is not a thread count; use a whole number from 1 to {top} "
            f"({THREADS_PER_CORE} per core on this machine, at most {MAX_THREADS}), or unset it to use all {cores} cores"
        )
    return value


def max_threads() -> int:
    """The largest accepted ``FRAMEFILL_THREADS``: 4 per core, at most 256."""
    return max(1, min(MAX_THREADS, THREADS_PER_CORE * (os.cpu_count() or 1)))
