"""Model complexity as production ML teams report it: parameters, multiply-accumulates (MACs) per frame
at 1080p and 4K, and the measured quality cost of lower precisions (``framefill models info NAME``).

MACs are counted, not estimated: the loaded network runs once at the real frame size with its parameters
and buffers swapped for tensors on torch's ``meta`` device (shapes only: no memory, no arithmetic), under
torch's ``FlopCounterMode``, which counts every convolution (transposed too), matrix product (``Linear``,
batched matmuls) and scaled-dot-product attention at the aten level with exact formulas; MACs = FLOPs / 2.
Nothing is extrapolated, so padding, RIFE's resolution scale and DAT's window padding are as framefill runs
them. Not counted (as in published GMAC figures): bias adds, activations, normalisation, warps, resizes.

Sizes: an interpolator's cost is per filled frame at the frame size, at the RIFE scale framefill picks for
that width (``auto_rife_scale``) and padded as the network needs; an upscaler's is per INPUT frame of that
size, whole-frame (tiling adds each tile's overlap on top).

The precision deltas are measured once by ``bench/model_precision.py`` into
``framefill/data/model_precision.json`` (a network at fp16/bf16/int8 against itself at fp32 on the sample
shot) and read back here, so ``models info`` answers in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from framefill.models.loading import auto_rife_scale, load_interpolator, load_upscaler, model_identity
from framefill.models.registry import MODELS, ModelCard

__all__ = ["FRAME_SIZES", "PRECISION_FILE", "MacCount", "SizeCost", "ModelInfo", "count_macs", "count_parameters",
           "model_info", "precision_table"]

# The sizes reported: (label, width, height); 4K is UHD.
FRAME_SIZES: tuple[tuple[str, int, int], ...] = (("1080p", 1920, 1080), ("4K", 3840, 2160))
PRECISION_FILE = "model_precision.json"


@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates of one forward pass: the total and by aten op (``convolution``, ``addmm``...)."""

    total: int
    by_op: dict[str, int]


@dataclass(frozen=True)
class SizeCost:
    """The MACs of one frame of a size: ``width`` x ``height`` is the frame (an upscaler's input frame);
    ``run_width`` x ``run_height`` what the network runs on after padding; ``rife_scale`` for RIFE."""

    label: str
    width: int
    height: int
    run_width: int
    run_height: int
    rife_scale: float | None
    macs: MacCount

    @property
    def gmac(self) -> float:
        return self.macs.total / 1e9

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "width": self.width, "height": self.height, "run_width": self.run_width,
                "run_height": self.run_height, "rife_scale": self.rife_scale, "macs": self.macs.total,
                "gmac": round(self.gmac, 3), "macs_by_op": dict(self.macs.by_op)}


@dataclass(frozen=True)
class ModelInfo:
    """What ``framefill models info NAME`` reports. ``sizes`` is empty for a classical model (no network).
    ``precision``: per precision (fp16, bf16, int8) the measured delta against fp32, or why it was not
    measured; ``precision_source`` says where and when it was measured."""

    name: str
    task: str
    arch: str
    parameters: int
    sizes: tuple[SizeCost, ...]
    counted_per: str
    precision: dict[str, dict[str, Any]] = field(default_factory=dict)
    precision_source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "arch": self.arch, "parameters": self.parameters,
                "counted_per": self.counted_per, "sizes": [s.to_json() for s in self.sizes],
                "precision": self.precision, "precision_source": self.precision_source}


def count_parameters(module: Any) -> int:
    """Learnt parameters of a torch module (buffers such as DAT's RGB mean are not parameters)."""
    return sum(int(p.numel()) for p in module.parameters())


def count_macs(module: Any, input_shapes: Sequence[tuple[int, ...]], *extra: Any) -> MacCount:
    """The MACs of ``module(*inputs, *extra)`` with float32 inputs of ``input_shapes``, run on the meta device.

    ``module`` itself is left as it was (its tensors are swapped only for the call). A network whose
    forward needs the values of its inputs (an ``.item()`` on them) cannot run on meta and raises.
    """
    import torch
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    on_meta = {name: torch.empty_like(t, device="meta")
               for name, t in [*module.named_parameters(), *module.named_buffers()]}
    inputs = [torch.empty(shape, dtype=torch.float32, device="meta") for shape in input_shapes]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        functional_call(module, on_meta, (*inputs, *extra))
    by_op = {str(op).removeprefix("aten."): int(flops) // 2
             for op, flops in counter.get_flop_counts().get("Global", {}).items()}
    return MacCount(total=int(counter.get_total_flops()) // 2, by_op=by_op)


def _padded(size: int, multiple: int) -> int:
    return size + (-size) % multiple


def _added(counts: Sequence[MacCount]) -> MacCount:
    by_op: dict[str, int] = {}
    for count in counts:
        for op, macs in count.by_op.items():
            by_op[op] = by_op.get(op, 0) + macs
    return MacCount(sum(c.total for c in counts), by_op)


def _interpolator_costs(card: ModelCard) -> tuple[int, tuple[SizeCost, ...]]:
    import torch
    from framefill.models.interp import RifeInterpolator

    if card.members:  # an ensemble costs what its networks cost together
        parts = [_interpolator_costs(MODELS.get(m)) for m in card.members]
        sizes = tuple(replace(first, macs=_added([p[1][i].macs for p in parts])) for i, first in enumerate(parts[0][1]))
        return sum(p[0] for p in parts), sizes
    loaded = load_interpolator(card.name).model
    assert isinstance(loaded, RifeInterpolator)  # every interpolator with weights is a RIFE
    model = loaded.net
    costs = []
    for label, width, height in FRAME_SIZES:
        scale = auto_rife_scale(width)
        multiple = model.multiple_for(scale)
        run_w, run_h = _padded(width, multiple), _padded(height, multiple)
        shape = (1, 3, run_h, run_w)
        # The network proper, as InterpModel.forward calls it on the padded frames.
        extra: tuple[Any, ...] = (scale,)
        if model.takes_timestep:
            extra = (torch.empty((1, 1, 1, 1), device="meta"), scale)
        costs.append(SizeCost(label, width, height, run_w, run_h, scale, count_macs(model.net, [shape, shape],
                                                                                      *extra)))
    return count_parameters(model), tuple(costs)


def _upscaler_costs(card: ModelCard) -> tuple[int, tuple[SizeCost, ...]]:
    from framefill.models.upscale import UpscaleModel

    model = load_upscaler(card.name).model
    assert isinstance(model, UpscaleModel)  # a card with weights is a network
    costs = []
    for label, width, height in FRAME_SIZES:
        # UpscaleNet pads to multiple_of itself: the count includes it.
        run_w, run_h = _padded(width, model.multiple_of), _padded(height, model.multiple_of)
        costs.append(SizeCost(label, width, height, run_w, run_h, None,
                              count_macs(model.module, [(1, model.in_channels, height, width)])))
    return count_parameters(model.module), tuple(costs)


def _counted_per(card: ModelCard) -> str:
    if card.classical:
        return "classical (no network): no parameters or MACs"
    if card.task == "upscale":
        return "input frame of the size, whole frame untiled (tiles add their overlap)"
    if card.members:
        return f"filled frame: the sum of {' and '.join(card.members)}, each counted as for that model alone"
    if card.arch == "rife-hdv3":
        return ("network call at t=0.5, framefill's RIFE scale for the width, padded; "
                "other t bisect: up to 8 calls")
    return "filled frame at framefill's RIFE scale for the width, padded to the network's multiple"


def precision_table() -> dict[str, Any]:
    """The committed precision measurements (``framefill/data/model_precision.json``)."""
    text = (resources.files("framefill") / "data" / PRECISION_FILE).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def _precision(card: ModelCard, sha256: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    if card.classical:
        return {}, {}
    table = precision_table()
    row = table.get("models", {}).get(card.name)
    source: dict[str, Any] = {k: table[k] for k in ("machine", "date", "torch", "onnxruntime", "method") if k in table}
    if card.members:
        return {}, {**source, "note": f"an ensemble: see {' and '.join(card.members)}"}
    if row is None:
        return {}, {**source, "note": f"{card.name} was not measured; run bench/model_precision.py"}
    if row.get("sha256") != sha256:
        return {}, {**source, "note": "measured with other weights; run bench/model_precision.py again"}
    source["input"] = row.get("input", "")
    return {p: dict(v) for p, v in row.get("deltas", {}).items()}, source


def model_info(name: str) -> ModelInfo:
    """Parameters, MACs at 1080p and 4K, and the committed precision deltas of model ``name``.

    Loads the weights on the CPU (seconds) to count on the real network.

    Raises:
        InputError: an unknown name. ModelNotFoundError: weights not cached (says how to fetch them).
    """
    card = MODELS.get(name)
    _, sha256 = model_identity(card.name)  # ModelNotFoundError first, before any torch import
    params: int = 0
    sizes: tuple[SizeCost, ...] = ()
    if not card.classical:
        params, sizes = (_interpolator_costs(card) if card.task == "interpolate" else _upscaler_costs(card))
    precision, source = _precision(card, sha256)
    return ModelInfo(name=card.name, task=card.task, arch=card.arch, parameters=params, sizes=sizes,
                     counted_per=_counted_per(card), precision=precision, precision_source=source)
