"""The ONNX Runtime backend for upscalers (``--backend onnxruntime``).

The network alone (no pad, resize or crop) is exported once per (weights
sha256, opset, dtype) to ``$FRAMEFILL_MODELS/onnx/``: float32, opset 17, the
height and width axes dynamic, so one file serves every tile size. A JSON
sidecar beside it records what it was made from and its own sha256; a file
whose sidecar does not match is exported again. Both are written atomically.

:class:`OrtUpscaleModel` is an :class:`~framefill.models.upscale.UpscaleModel`
whose module runs that file in an ``InferenceSession``: the same padding,
trailing resize and crop as the torch path (``UpscaleNet``) wrap the session, so
everything that tiles and runs an ``UpscaleModel`` runs it unchanged.

Providers: TensorRT, CUDA, CPU, those the installed onnxruntime has, in that
order; a CPU job uses the CPU provider only. Determinism, per provider:

* CPU: bit-identical reruns with the same thread count (the intra-op pool is
  pinned to torch's thread count, ``FRAMEFILL_THREADS``) and onnxruntime version.
* CUDA: deterministic compute is requested and cuDNN's algorithm search is off
  (heuristic choice), but bit-identical reruns are not promised.
* TensorRT: the engine's kernels are chosen by timing when it is built; reruns
  on one cached engine usually match, but are not promised.

This module imports onnxruntime only when a session is made.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from framefill.atomic import atomic_write_bytes, atomic_write_text
from framefill.errors import InputError, UnsupportedModelError
from framefill.models.upscale import UpscaleModel, UpscaleNet
from torch import nn

__all__ = [
    "ENGINE_OPSET",
    "ENGINE_FORMAT",
    "OrtUpscaleModel",
    "engine_dir",
    "export_count",
    "import_onnxruntime",
    "ort_upscaler",
    "providers_for",
    "BIT_IDENTICAL_PROVIDERS",
]

# Opset 17: what framefill's static export uses too, read by every onnxruntime >= 1.14.
ENGINE_OPSET = 17
# Bumped when the exported graph changes for the same weights: older files are then exported again.
ENGINE_FORMAT = 1
# Input tiles of the example the graph is traced on (any multiple of the nets' input multiple).
_TRACE_SIDE_PX = 64
# Architectures whose graph is the same at every size; DAT builds its window masks from the traced size.
_DYNAMIC_ARCHS = frozenset({"rrdbnet", "srvgg"})
_PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
BIT_IDENTICAL_PROVIDERS = frozenset({"CPUExecutionProvider"})

_exports = 0


def export_count() -> int:
    """How many ONNX files this process has exported (a cached file is not counted)."""
    return _exports


def import_onnxruntime() -> Any:
    """The onnxruntime module.

    Raises:
        InputError: onnxruntime is not installed (says which package to install).
    """
    try:
        import onnxruntime
    except ImportError:
        raise InputError("--backend onnxruntime needs the onnxruntime package: pip install onnxruntime "
                         "(GPU workers: pip install onnxruntime-gpu), or use --backend torch") from None
    return onnxruntime


def engine_dir() -> Path:
    """Where exported ONNX files are kept: ``onnx/`` in the weight cache."""
    from framefill.models.cache import cache_dir

    return cache_dir() / "onnx"


def providers_for(device: str, available: list[str]) -> list[str]:
    """The execution providers a job on ``device`` uses, best first, among ``available``.

    Raises:
        InputError: a CUDA device and an onnxruntime without a GPU provider.
    """
    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    gpu = [p for p in _PROVIDER_ORDER[:2] if p in available]
    if not gpu:
        raise InputError(f"--device {device} with --backend onnxruntime needs onnxruntime's CUDA provider "
                         f"(this one has {', '.join(available)}): pip install onnxruntime-gpu, or use --device cpu")
    return gpu + ["CPUExecutionProvider"]


class OrtNet(nn.Module):
    """An ONNX Runtime session as the ``net`` of an :class:`UpscaleNet`: B,C,H,W in, B,C,sH,sW out.

    H and W must be multiples of the net's input multiple (``UpscaleNet`` pads to them).
    Tensors go to the host as float32 and come back on the input's device and dtype.
    """

    def __init__(self, session: Any, input_name: str) -> None:
        super().__init__()
        self.session = session
        self.input_name = input_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        host = x.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
        (out,) = self.session.run(None, {self.input_name: host})
        return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


@dataclass(frozen=True, eq=False)
class OrtUpscaleModel(UpscaleModel):
    """An upscaler whose network runs in ONNX Runtime; ``module`` wraps the session.

    ``provider``: the execution provider the session runs on (the first of its list);
    ``engine_path``: the ONNX file; ``threads``: the intra-op thread count.
    """

    provider: str = "CPUExecutionProvider"
    engine_path: str = ""
    threads: int = 1

    @property
    def bit_identical(self) -> bool:
        """Whether reruns on this provider are promised to give the same bits (see the module's docstring)."""
        return self.provider in BIT_IDENTICAL_PROVIDERS

    def describe(self) -> dict[str, Any]:
        """What a manifest records about the runtime."""
        ort = import_onnxruntime()
        return {"backend": "onnxruntime", "provider": self.provider, "onnxruntime": ort.__version__,
                "ort_threads": self.threads, "engine": Path(self.engine_path).name}


def _engine_stem(model_sha256: str, dtype: str) -> str:
    key = hashlib.sha256(model_sha256.encode("utf-8")).hexdigest()[:32]
    return f"{key}-opset{ENGINE_OPSET}-{dtype}"


def onnx_bytes(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str], *,
               opset: int = ENGINE_OPSET, dynamic_axes: dict[str, dict[int, str]] | None = None) -> bytes:
    """``module`` traced on ``example`` as ONNX bytes (the legacy TorchScript exporter, constants folded).

    Every ONNX file framefill writes goes through here: the engines of both backends and ``framefill export``.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch 2.13 flags the legacy exporter as deprecated; it is the one that needs no extra package. Tracing
        # flags every Python int taken from a shape, which is what a static size means.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.simplefilter("ignore", UserWarning)
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module, example, buffer,  # type: ignore[arg-type]  # takes a file object
                              dynamo=False, opset_version=opset, input_names=inputs, output_names=outputs,
                              do_constant_folding=True, dynamic_axes=dynamic_axes)
    return buffer.getvalue()


def _export_bytes(model: UpscaleModel) -> bytes:
    """The network of ``model`` (float32, CPU) as ONNX bytes with dynamic height and width."""
    side = _TRACE_SIDE_PX - _TRACE_SIDE_PX % model.multiple_of
    return onnx_bytes(model.net, (torch.rand(1, model.in_channels, side, side),), ["image"], ["upscaled"],
                      dynamic_axes={"image": {2: "height", 3: "width"}, "upscaled": {2: "out_height", 3: "out_width"}})


def _cached_engine(path: Path, sidecar: Path, want: dict[str, Any]) -> bytes | None:
    """The ONNX bytes at ``path`` when its sidecar says they were made from ``want`` and match its sha256."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        data = path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in want.items()):
        return None
    return data if meta.get("onnx_sha256") == hashlib.sha256(data).hexdigest() else None


def engine_bytes(model: UpscaleModel, model_sha256: str, *, dtype: str = "float32") -> tuple[Path, bytes]:
    """The ONNX file of ``model``'s network from the engine cache, exported (atomically) when absent or stale.

    ``model`` must be on the CPU in float32 when an export is needed.

    Raises:
        UnsupportedModelError: an architecture whose graph depends on the tile size (DAT).
    """
    global _exports
    if model.arch not in _DYNAMIC_ARCHS:
        raise UnsupportedModelError(f"the {model.arch} upscaler runs on --backend torch only (its ONNX graph would "
                                    "be fixed to one tile size); use --backend torch")
    folder = engine_dir()
    stem = _engine_stem(model_sha256, dtype)
    path, sidecar = folder / f"{stem}.onnx", folder / f"{stem}.json"
    want = {"model_sha256": model_sha256, "opset": ENGINE_OPSET, "dtype": dtype, "format": ENGINE_FORMAT,
            "arch": model.arch}
    data = _cached_engine(path, sidecar, want)
    if data is not None:
        return path, data
    data = _export_bytes(model)
    _exports += 1
    atomic_write_bytes(path, data)
    meta = {**want, "onnx_sha256": hashlib.sha256(data).hexdigest(), "torch": torch.__version__,
            "inputs": {"image": ["1", str(model.in_channels), "height", "width"]},
            "outputs": {"upscaled": ["1", str(model.out_channels), f"height*{model.net_scale}",
                                     f"width*{model.net_scale}"]},
            "note": "the network only: pad the input to a multiple of "
                    f"{model.multiple_of} (edge), crop the output, resize after it if the card says so"}
    atomic_write_text(sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path, data


def _session(data: bytes, providers: list[str], device: str, threads: int, precision: str,
             cache: Path) -> Any:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    # Idle worker threads sleep instead of spinning: the farm's machines run other jobs beside this one.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    device_id = int(device.split(":")[1]) if ":" in device else 0
    settings: dict[str, dict[str, Any]] = {
        "TensorrtExecutionProvider": {"device_id": device_id, "trt_engine_cache_enable": True,
                                      "trt_engine_cache_path": str(cache / "tensorrt"),
                                      "trt_fp16_enable": precision == "fp16"},
        "CUDAExecutionProvider": {"device_id": device_id, "cudnn_conv_algo_search": "DEFAULT"},
        "CPUExecutionProvider": {},
    }
    chosen = [(p, settings[p]) for p in providers]
    return ort.InferenceSession(data, sess_options=options, providers=chosen)


def ort_upscaler(model: UpscaleModel, model_sha256: str, *, device: str, precision: str,
                 threads: int) -> OrtUpscaleModel:
    """``model`` (on the CPU, float32) with its network run by ONNX Runtime on ``device``.

    Raises:
        InputError: onnxruntime missing, or no GPU provider for a CUDA device.
        UnsupportedModelError: an architecture the backend cannot run at every tile size (DAT).
    """
    ort = import_onnxruntime()
    providers = providers_for(device, list(ort.get_available_providers()))
    path, data = engine_bytes(model, model_sha256)
    session = _session(data, providers, device, threads, precision, path.parent)
    net = OrtNet(session, session.get_inputs()[0].name)
    module = UpscaleNet(net, multiple_of=model.multiple_of, net_scale=model.net_scale,
                        output_resize=model.output_resize).eval()
    base = replace(model, module=module, supports_half=False)
    fields = {name: getattr(base, name) for name in UpscaleModel.__dataclass_fields__}
    return OrtUpscaleModel(**fields, provider=str(session.get_providers()[0]), engine_path=str(path),
                           threads=threads)
