"""The ONNX Runtime backend for interpolation (``framefill interpolate --backend onnxruntime``).

rife-4 only: its network takes t, so one graph holds the whole motion step. HD v3
bisects towards t (a loop of network runs), and the fused model contains it;
``flow`` and ``blend`` have no network.

The graph has ``framefill export onnx``'s motion contract (``frame0``,
``frame1``, ``timestep`` -> ``flow0``, ``flow1``, ``mask``; the same inner RIFE
network), float32, opset 17, traced at the *padded* frame size. RIFE's padding (zeros at the bottom and right, to
``InterpModel.multiple_for(scale)``) and the crop run in torch around it, as
``InterpModel`` does, so every frame size that pads to the same shape shares one
file. The timestep is a 1x1x1x1 input (t exactly, no mean over pixels).

Engine cache: one file per (weights sha256, padded height, width, RIFE scale,
opset, format) in ``$FRAMEFILL_MODELS/onnx/`` with a JSON sidecar that records
what it was made from and its sha256 (verified before reuse, exported again
when it does not match); both written atomically. An interpolator keeps one
session per shape in the process (the last few shapes).

Providers, threads and determinism are the upscaler's
(:mod:`framefill.models.ort_backend`): TensorRT, CUDA, CPU by device; intra-op
threads = torch's thread count (``FRAMEFILL_THREADS``), inter-op 1, sequential,
no spinning; CPU reruns are bit-identical, CUDA/TensorRT not promised.

Measured on the CPU against the torch ``RifeInterpolator`` (real rife-4 weights,
same inputs): see tests/integration/test_ort_interp.py for the asserted bounds.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from framefill.atomic import atomic_write_bytes, atomic_write_text
from framefill.errors import UnsupportedModelError
from framefill.models.arch.interp_model import InterpModel
from framefill.models.interp import Motion
from framefill.models.ort_backend import (
    BIT_IDENTICAL_PROVIDERS,
    ENGINE_OPSET,
    _cached_engine,
    _session,
    engine_dir,
    import_onnxruntime,
    onnx_bytes,
    providers_for,
)
from torch import nn

__all__ = ["INTERP_ENGINE_FORMAT", "OrtRifeInterpolator", "check_ort_interp_model", "export_count",
           "ort_interp_fields"]

# Bumped when the exported motion graph changes for the same weights: older files are then exported again.
INTERP_ENGINE_FORMAT = 1
# Sessions an interpolator keeps (one per padded shape); a shot has one shape, a mixed batch a few.
_SESSIONS_KEPT = 4
# The one architecture whose network takes t (rife-4.25); see the module's docstring.
_ORT_ARCH = "rife-4"

_exports = 0


def export_count() -> int:
    """How many interpolation ONNX files this process has exported (a cached file is not counted)."""
    return _exports


def check_ort_interp_model(name: str, arch: str) -> None:
    """Refuse a model the onnxruntime backend cannot run, in one line naming the fix.

    Raises:
        UnsupportedModelError: anything but rife-4 (or ``auto``, whose candidates include HD v3).
    """
    if name == "auto":
        raise UnsupportedModelError("--model auto with --backend onnxruntime: auto's candidates include rife-hdv3, "
                                    "which runs in torch only; name --model rife-4, or use --backend torch")
    if arch == _ORT_ARCH:
        return
    why = {"rife-hdv3": "bisects towards t (a loop of network runs one graph cannot hold)",
           "fused": "contains rife-hdv3, which bisects towards t",
           "dis-flow": "has no network (OpenCV flow)", "blend": "has no network"}.get(arch, "is not rife-4")
    raise UnsupportedModelError(f"model {name} {why}: --backend onnxruntime runs rife-4 only; use --model rife-4, "
                                "or --backend torch")


def ort_interp_fields(device: str) -> dict[str, Any]:
    """The manifest's job fields for an onnxruntime interpolation on ``device``, known before anything loads.

    Raises:
        InputError: onnxruntime missing, or no GPU provider for a CUDA device.
    """
    ort = import_onnxruntime()
    providers = providers_for(device, list(ort.get_available_providers()))
    return {"backend": "onnxruntime", "provider": providers[0], "providers": providers,
            "bit_identical": providers[0] in BIT_IDENTICAL_PROVIDERS, "onnxruntime": str(ort.__version__),
            "ort_threads": torch.get_num_threads(), "opset": ENGINE_OPSET}


def _engine_stem(model_sha256: str, height: int, width: int, scale: float) -> str:
    key = hashlib.sha256(model_sha256.encode("utf-8")).hexdigest()[:32]
    return f"{key}-rife-{width}x{height}-s{scale:g}-opset{ENGINE_OPSET}"


class _MotionGraph(nn.Module):
    """RIFE's network on padded, sRGB-encoded frames at a fixed scale: ``export onnx``'s motion graph
    (``runtime.export.OnnxInterpolator``, which models may not import) without its padding."""

    def __init__(self, net: nn.Module, scale: float) -> None:
        super().__init__()
        self.net = net
        self.scale = float(scale)

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor,
                timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = timestep.float().clamp(0.0, 1.0).reshape(1, 1, 1, 1)
        out = self.net(frame0, frame1, t, self.scale)
        return out.flow[:, 0:2], out.flow[:, 2:4], out.mask


def _export_bytes(net: InterpModel, height: int, width: int, scale: float) -> bytes:
    """The motion graph of ``net`` (CPU, float32) at a padded size as ONNX bytes."""
    graph = _MotionGraph(net.net, scale).eval()
    example = (torch.rand(1, 3, height, width), torch.rand(1, 3, height, width), torch.full((1, 1, 1, 1), 0.5))
    return onnx_bytes(graph, example, ["frame0", "frame1", "timestep"], ["flow0", "flow1", "mask"])


def interp_engine_bytes(net: InterpModel, model_sha256: str, height: int, width: int,
                        scale: float) -> tuple[Path, bytes]:
    """The ONNX file for a padded ``height`` x ``width`` at ``scale`` from the engine cache, exported
    (atomically, with its sidecar) when absent or stale."""
    global _exports
    folder = engine_dir()
    stem = _engine_stem(model_sha256, height, width, scale)
    path, sidecar = folder / f"{stem}.onnx", folder / f"{stem}.json"
    want = {"model_sha256": model_sha256, "opset": ENGINE_OPSET, "dtype": "float32", "format": INTERP_ENGINE_FORMAT,
            "arch": net.arch_id, "padded_size": [width, height], "rife_scale": scale}
    data = _cached_engine(path, sidecar, want)
    if data is not None:
        return path, data
    data = _export_bytes(net, height, width, scale)
    _exports += 1
    atomic_write_bytes(path, data)
    meta = {**want, "onnx_sha256": hashlib.sha256(data).hexdigest(), "torch": torch.__version__,
            "inputs": {"frame0": [1, 3, height, width], "frame1": [1, 3, height, width], "timestep": [1, 1, 1, 1]},
            "outputs": {"flow0": [1, 2, height, width], "flow1": [1, 2, height, width], "mask": [1, 1, height, width]},
            "note": "sRGB-encoded frames zero-padded at the bottom and right to this size; crop the outputs; "
                    "flows in pixels (x right, y down), mask the weight of frame0"}
    atomic_write_text(sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path, data


class OrtRifeInterpolator:
    """rife-4's motion step run by ONNX Runtime: an :class:`~framefill.models.interp.Interpolator`.

    ``net`` is the CPU float32 ``InterpModel`` (traced when a shape is first seen);
    motions come back as float32 on the input's device.
    """

    def __init__(self, net: InterpModel, model_sha256: str, *, name: str, scale: float, device: str,
                 precision: str, threads: int) -> None:
        if not net.takes_timestep:
            raise UnsupportedModelError(f"{net.arch_id} weights bisect towards t: --backend onnxruntime runs rife-4 "
                                        "only; use rife-4 weights, or --backend torch")
        ort = import_onnxruntime()
        self.net = net
        self.sha256 = model_sha256
        self.name = name
        self.scale = float(scale)
        self.device = device
        self.precision = precision
        self.threads = threads
        self.providers = providers_for(device, list(ort.get_available_providers()))
        self.multiple = net.multiple_for(self.scale)  # checks the scale
        self._sessions: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self.engine_paths: list[str] = []

    @property
    def provider(self) -> str:
        return self.providers[0]

    @property
    def bit_identical(self) -> bool:
        return self.provider in BIT_IDENTICAL_PROVIDERS

    def _session_for(self, height: int, width: int) -> Any:
        key = (height, width)
        if key in self._sessions:
            self._sessions.move_to_end(key)
            return self._sessions[key]
        path, data = interp_engine_bytes(self.net, self.sha256, height, width, self.scale)
        self.engine_paths.append(path.name)
        session = _session(data, self.providers, self.device, self.threads, self.precision, path.parent)
        self._sessions[key] = session
        while len(self._sessions) > _SESSIONS_KEPT:
            self._sessions.popitem(last=False)
        return session

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        _, _, h, w = (int(d) for d in img0.shape)
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        a, b = (x.detach().to(device="cpu", dtype=torch.float32) for x in (img0, img1))
        if pad_h or pad_w:
            a, b = F.pad(a, (0, pad_w, 0, pad_h)), F.pad(b, (0, pad_w, 0, pad_h))
        session = self._session_for(h + pad_h, w + pad_w)
        feeds = {"frame0": a.contiguous().numpy(), "frame1": b.contiguous().numpy(),
                 "timestep": torch.full((1, 1, 1, 1), float(t), dtype=torch.float32).numpy()}
        flow0, flow1, mask = session.run(["flow0", "flow1", "mask"], feeds)
        flow_t0, flow_t1, blend = (torch.from_numpy(x)[:, :, :h, :w].contiguous().to(img0.device)
                                   for x in (flow0, flow1, mask))
        return Motion(flow_t0, flow_t1, blend)
