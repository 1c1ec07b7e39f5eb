"""``framefill export onnx``: a static-size ONNX file and its JSON sidecar, for Houdini and ONNX Runtime.

Float32, opset 17, one file (no external data), every axis static at ``--size
WxH`` (Copernicus's ONNX Inference COP deduces at most one dynamic axis;
RIFE's padding depends on both). Row 0 is the top of the image: turn on the
COP's input and output flips. rife-4 takes ``frame0``, ``frame1`` (1x3xHxW) and
``timestep`` (1x1xHxW, its mean is t) and gives ``flow0``/``flow1`` (1x2xHxW,
pixels, y down unless ``flow_y_up``) and ``mask`` (1x1xHxW), or ``frame``;
upscalers map ``image`` to ``upscaled``. A ``.json`` sidecar records this.

The graph is traced from the same modules the Nuke export scripts
(:mod:`framefill.runtime.export`), wrapped by
:class:`~framefill.runtime.export.OnnxInterpolator` for RIFE. Importing this
module imports torch; only ``framefill export`` imports it.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, List, Optional, Tuple

import torch
from torch import nn

from framefill.atomic import atomic_write_bytes, atomic_write_text
from framefill.errors import InputError, UnsupportedModelError
from framefill.runtime.export import (
    ExportedFile,
    ExportResult,
    LoadedExport,
    NukeInterpolator,
    NukeVariant,
    OnnxInterpolator,
    build_nuke_module,
    export_stem,
    load_export_model,
    snap_rife_scale,
)

__all__ = ["ONNX_OPSET", "ONNX_MAX_BYTES", "DEFAULT_ONNX_SIZE", "export_onnx"]

# Opset 17 is the first with every op these graphs need in its final form
# (GridSample arrived in 16) and what onnxruntime and Copernicus both read.
ONNX_OPSET = 17
# Protobuf's limit: a larger model would need external data, which Copernicus refuses.
ONNX_MAX_BYTES = 2**31 - 1
# A resolution with no other hint: HD, the most common plate size.
DEFAULT_ONNX_SIZE = (1920, 1080)


def export_onnx(
    name: str,
    out_dir: str | Path,
    *,
    size: Tuple[int, int] = DEFAULT_ONNX_SIZE,
    weights: Optional[Path] = None,
    variant: NukeVariant = "motion",
    rife_scale: Optional[float] = None,
    linear_input: bool = True,
    flow_y_up: bool = False,
    report: Optional[Callable[[str], None]] = None,
) -> ExportResult:
    """Write a float32, opset-17, static-size ONNX file (and a JSON sidecar) for Copernicus or ONNX Runtime.

    ``size`` is (width, height) of the frames it will see (at the upscaler's
    input). ``rife_scale`` defaults to RIFE's own choice for that width.

    Raises:
        InputError: a size under 8 px, an unknown variant.
        UnsupportedModelError: the graph is over 2 GB or fails onnx's checker.
    """
    try:
        import onnx
    except ImportError:
        raise InputError("framefill export onnx needs the onnx package: pip install onnx") from None

    width, height = int(size[0]), int(size[1])
    if width < 8 or height < 8:
        raise InputError(f"ONNX export size {width}x{height} is too small; give --size WxH of at least 8x8")
    say = report or (lambda _msg: None)
    out = Path(out_dir).expanduser().resolve()
    say(f"loading {name}")
    loaded = load_export_model(name, weights=weights)
    suffix = f"_{variant}" if loaded.task == "interpolate" and variant != "motion" else ""
    stem = f"{export_stem(loaded.name)}{suffix}_{width}x{height}"
    module = build_nuke_module(loaded, variant=variant, linear_input=linear_input)
    wrapper, example, inputs, outputs, scale = _traceable(
        loaded, module, variant=variant, width=width, height=height, rife_scale=rife_scale, flow_y_up=flow_y_up
    )
    say(f"exporting {stem}.onnx")
    data = _trace(wrapper, example, inputs, outputs)
    if len(data) > ONNX_MAX_BYTES:
        raise UnsupportedModelError(f"{stem}.onnx would be {len(data)} bytes, over ONNX's 2 GB single-file limit")
    proto = onnx.load_from_string(data)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        raise UnsupportedModelError(f"{stem}.onnx fails onnx's checker: {str(err).splitlines()[0]}") from None
    path = out / f"{stem}.onnx"
    atomic_write_bytes(path, data)
    sidecar = out / f"{stem}.json"
    meta: dict[str, Any] = {
        "model": loaded.name, "sha256": loaded.sha256, "opset": ONNX_OPSET, "dtype": "float32", "dynamic_axes": [],
        "size": [width, height], "inputs": {n: list(t.shape) for n, t in zip(inputs, example)}, "outputs": outputs,
        "row_order": "row 0 is the top of the image: enable input_flip and output_flip on Copernicus's ONNX Inference",
        "linear_input": int(bool(linear_input)), "rife_scale" if loaded.task == "interpolate" else "scale": scale,
    }
    if loaded.task == "interpolate" and variant != "frame":
        meta["flow_convention"] = "pixels, x right, y " + ("up" if flow_y_up else "down (row order)")
        meta["mask"] = "weight of frame0 in [0, 1]: frame = warp(frame0, flow0) * mask + warp(frame1, flow1) * (1 - mask)"
    atomic_write_text(sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    contract = {"file": str(path), "inputs": meta["inputs"], "outputs": outputs, "size": [width, height]}
    return ExportResult("onnx", loaded.name, loaded.sha256,
                        (ExportedFile(path, "onnx"), ExportedFile(sidecar, "sidecar")), (contract,))


def _traceable(
    loaded: LoadedExport,
    module: nn.Module,
    *,
    variant: NukeVariant,
    width: int,
    height: int,
    rife_scale: Optional[float],
    flow_y_up: bool,
) -> Tuple[nn.Module, Tuple[torch.Tensor, ...], List[str], List[str], float]:
    """The module to trace, example inputs of the export size, input and output names, and the scale recorded."""
    from framefill.models.loading import auto_rife_scale

    if loaded.task == "interpolate":
        assert isinstance(module, NukeInterpolator)
        scale = snap_rife_scale(rife_scale if rife_scale is not None else auto_rife_scale(width))
        wrapper: nn.Module = OnnxInterpolator(module, scale=scale, flow_y_up=flow_y_up).eval()
        frames = (torch.rand(1, 3, height, width), torch.rand(1, 3, height, width))
        example = (*frames, torch.full((1, 1, height, width), 0.5))
        outputs = ["frame"] if variant == "frame" else ["flow0", "flow1", "mask"]
        return wrapper, example, ["frame0", "frame1", "timestep"], outputs, scale
    return module, (torch.rand(1, 3, height, width),), ["image"], ["upscaled"], float(loaded.scale)


def _trace(wrapper: nn.Module, example: Tuple[torch.Tensor, ...], inputs: List[str], outputs: List[str]) -> bytes:
    """The ONNX bytes of ``wrapper`` traced on ``example``."""
    from framefill.models.ort_backend import onnx_bytes

    return onnx_bytes(wrapper, tuple(example), list(inputs), list(outputs), opset=ONNX_OPSET)
