"""SRVGGNetCompact, Real-ESRGAN's compact VGG-style upscaler, written for framefill.

The net (used by realesr-animevideov3 and realesr-general-x4v3) is a plain chain
at input resolution, then a pixel shuffle, plus the input itself upsampled by
nearest neighbour as a residual::

    body = conv3x3(C_in -> F), PReLU, [conv3x3(F -> F), PReLU] x num_conv,
           conv3x3(F -> C_out * s * s)
    out  = pixel_shuffle(body(x), s) + nearest_upsample(x, s)

This is also exactly what the ncnn graph of realesr-animevideov3-x4 computes
(Convolution/PReLU chain, PixelShuffle mode 0, Interp type 1 of the input by 4,
BinaryOp add), checked layer by layer in ``ncnn_convert``.

Parameter names are those of the official ``.pth`` files: ``body.N.weight`` /
``body.N.bias``, where even N are convs and odd N are PReLUs (``body.N.weight``
of shape (F,), one slope per channel). Only the PReLU variant is supported:
ReLU/LeakyReLU variants store no activation tensors, so their kind cannot be
read from a state dict, and no official checkpoint uses them.

The ncnn release of realesr-animevideov3 also ships x2 and x3 graphs: the x4 net
with the same weights, followed by an ncnn ``Interp`` bicubic resize by 0.5 or
0.75. :func:`ncnn_bicubic_resize` is that output stage, reproduced to ~1e-6.

:func:`build` returns the :class:`~framefill.models.upscale.UpscaleModel`
descriptor with SRVGGNetCompact's tiling advice; :func:`build_net` the bare network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from framefill.errors import UnsupportedModelError
from framefill.models.arch.common import StateDict, load_state_dict_exact
from torch import nn

if TYPE_CHECKING:
    from framefill.models.upscale import UpscaleModel

__all__ = [
    "ARCH_ID",
    "CONVS_OUTSIDE_BODY",
    "BYTES_PER_INPUT_PX",
    "SRVGGNetCompact",
    "SRVGGConfig",
    "detect",
    "config_from_state_dict",
    "build_net",
    "build",
    "ncnn_bicubic_resize",
    "NcnnBicubicResize",
]

ARCH_ID = "srvgg"
# Tiling advice. The receptive field is exact: one pixel per 3x3 conv at input
# resolution, num_conv body convs plus these two, beyond which outputs are
# bit-identical (measured), so ``num_conv + 2`` pixels of context give tiles
# equal to the untiled result (18 for animevideov3).
CONVS_OUTSIDE_BODY = 2
# Peak working memory of one tile, bytes per input pixel in fp32 (bench/upscale.py
# --memory-per-px, CPU): animevideov3 1.2 KB (128 px) / 1.4 KB (256 px), rounded
# up for the allocator's slack; fp16 on CUDA needs about half.
BYTES_PER_INPUT_PX = 2_000.0


@dataclass(frozen=True)
class SRVGGConfig:
    """Hyperparameters of an SRVGGNetCompact, all readable from tensor shapes."""

    in_channels: int = 3
    out_channels: int = 3
    num_feat: int = 64
    num_conv: int = 16
    scale: int = 4

    def __post_init__(self) -> None:
        if self.scale < 1 or self.num_conv < 0:
            raise UnsupportedModelError(f"SRVGGNetCompact config out of range: {self}")
        if self.in_channels != self.out_channels:
            # The residual adds the upsampled input to the output channel by channel.
            raise UnsupportedModelError(
                f"SRVGGNetCompact needs in == out channels for its residual, got {self.in_channels} -> "
                f"{self.out_channels}"
            )


class SRVGGNetCompact(nn.Module):
    """Compact upscaler: conv/PReLU chain, pixel shuffle, nearest-upsampled input residual.

    ``forward(x)``: B,C,H,W float (fp32 or fp16), sRGB-encoded nominally in
    [0, 1], unclamped -> B,C,H*scale,W*scale, same dtype, not clamped. Any H, W.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.config = SRVGGConfig(
            in_channels=in_channels, out_channels=out_channels, num_feat=num_feat, num_conv=num_conv, scale=scale
        )
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, out_channels * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)
        self.scale: int = scale
        self.multiple_of: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        base = F.interpolate(x, scale_factor=float(self.scale), mode="nearest")
        return out + base


def detect(state_dict: StateDict) -> bool:
    """True when ``state_dict`` looks like an SRVGGNetCompact (official names).

    Requires a 4-D ``body.0.weight`` and a 1-D ``body.1.weight`` (PReLU) and no
    RRDBNet keys. May accept a dict :func:`build` rejects; never rejects a real one.
    """
    w0 = state_dict.get("body.0.weight")
    w1 = state_dict.get("body.1.weight")
    if w0 is None or w1 is None or "conv_first.weight" in state_dict:
        return False
    return len(w0.shape) == 4 and len(w1.shape) == 1


def config_from_state_dict(state_dict: StateDict) -> SRVGGConfig:
    """Read every hyperparameter of an SRVGGNetCompact from its tensor shapes.

    The last conv is the highest even ``body.N``; its out-channels are
    ``C * scale**2``, which gives the pixel-shuffle factor.

    Raises:
        UnsupportedModelError: keys missing or shapes no SRVGGNetCompact has.
    """
    indices = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("body.") and k.split(".")[1].isdigit()})
    if not indices or indices != list(range(indices[-1] + 1)):
        raise UnsupportedModelError(f"SRVGGNetCompact body indices are not contiguous: {indices[:6]}...")
    last = indices[-1]
    if last % 2 or last < 2:
        raise UnsupportedModelError(f"SRVGGNetCompact must end with a conv at an even index, last is body.{last}")
    first_w = state_dict["body.0.weight"]
    last_w = state_dict.get(f"body.{last}.weight")
    if last_w is None or len(first_w.shape) != 4 or len(last_w.shape) != 4:
        raise UnsupportedModelError("SRVGGNetCompact first/last body entries are not conv weights")
    num_feat, in_channels = int(first_w.shape[0]), int(first_w.shape[1])
    out_total = int(last_w.shape[0])
    scale = math.isqrt(out_total // in_channels) if out_total % in_channels == 0 else 0
    if scale < 1 or scale * scale * in_channels != out_total:
        raise UnsupportedModelError(
            f"SRVGGNetCompact last conv has {out_total} out-channels, not {in_channels} x a square scale"
        )
    return SRVGGConfig(
        in_channels=in_channels,
        out_channels=in_channels,
        num_feat=num_feat,
        num_conv=(last - 2) // 2,
        scale=scale,
    )


def build_net(state_dict: StateDict) -> SRVGGNetCompact:
    """An SRVGGNetCompact with hyperparameters read from ``state_dict`` and its weights loaded.

    Returned in eval mode, float32, on the CPU.

    Raises:
        UnsupportedModelError: shapes or keys that do not fit exactly.
    """
    config = config_from_state_dict(state_dict)
    net = SRVGGNetCompact(**asdict(config))
    load_state_dict_exact(net, state_dict, "SRVGGNetCompact")
    return net.eval()


def build(state_dict: StateDict) -> UpscaleModel:
    """The upscaler descriptor of the SRVGGNetCompact in ``state_dict`` (float32, eval, CPU).

    Raises:
        UnsupportedModelError: shapes or keys that do not fit exactly.
    """
    # Imported here: models/upscale.py imports this module for the ncnn resize.
    from framefill.models.upscale import describe_upscaler

    net = build_net(state_dict)
    return describe_upscaler(
        net,
        arch=ARCH_ID,
        tile_overlap_px=net.config.num_conv + CONVS_OUTSIDE_BODY,
        bytes_per_input_px=BYTES_PER_INPUT_PX,
    )


def _as_f32(value: float) -> float:
    """``value`` rounded to float32, as ncnn stores its float params."""
    return float(torch.tensor(value, dtype=torch.float32).item())


def _where4(mask: torch.Tensor, new: list[torch.Tensor], old: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.where(mask, a, b) for a, b in zip(new, old)]  # noqa: B905 - TorchScript has no zip(strict=)


def _cubic_taps(
    in_size: int, out_size: int, factor: float, device: torch.device
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """ncnn's bicubic taps along one axis: four source indices and four float32 weights per output.

    Source coordinate ``(d + 0.5) / factor - 0.5`` (computed in float64, rounded to
    float32 as ncnn does); Keys cubic with a = -0.75; taps past an edge are folded
    onto the edge pixel by ncnn's own rules (equal to clamping for sizes >= 4).
    """
    a = -0.75  # the Keys cubic parameter of ncnn (and OpenCV); torch uses the same
    d = torch.arange(out_size, dtype=torch.float64, device=device)
    f = ((d + 0.5) * (1.0 / _as_f32(factor)) - 0.5).to(torch.float32)
    s = torch.floor(f)
    t = f - s
    t0 = t + 1.0
    t2 = 1.0 - t
    c0 = a * t0 * t0 * t0 - 5.0 * a * t0 * t0 + 8.0 * a * t0 - 4.0 * a
    c1 = (a + 2.0) * t * t * t - (a + 3.0) * t * t + 1.0
    c2 = (a + 2.0) * t2 * t2 * t2 - (a + 3.0) * t2 * t2 + 1.0
    c3 = 1.0 - c0 - c1 - c2
    zero = torch.zeros_like(c0)
    c = [c0, c1, c2, c3]
    pos = s.to(torch.long)
    low = torch.ones_like(pos)
    high = torch.full_like(pos, in_size - 3)
    # ncnn's four edge rules, applied in its order, each seeing the previous one's result.
    m = pos <= -1
    pos, c = torch.where(m, low, pos), _where4(m, [1.0 - c[3], c[3], zero, zero], c)
    m = pos == 0
    pos, c = torch.where(m, low, pos), _where4(m, [c[0] + c[1], c[2], c[3], zero], c)
    m = pos == in_size - 2
    pos, c = torch.where(m, high, pos), _where4(m, [zero, c[0], c[1], c[2] + c[3]], c)
    m = pos >= in_size - 1
    pos, c = torch.where(m, high, pos), _where4(m, [zero, zero, c[0], 1.0 - c[0]], c)
    # ncnn reads out of bounds for inputs under 4 pixels; we clamp instead.
    index = [torch.clamp(pos + k, 0, in_size - 1) for k in (-1, 0, 1, 2)]
    return index, c


def ncnn_bicubic_resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Resize by ``factor`` exactly the way ncnn's ``Interp`` (type 3, scales given) does.

    Output size ``int(size * factor)``; source coordinate ``(d + 0.5) / factor - 0.5``;
    Keys cubic with a = -0.75; edge taps folded onto the edge; no antialiasing
    when shrinking; rows first, then columns, summed in ncnn's order. torch's
    own bicubic is the same filter but rounds the coordinates differently
    (up to 4e-5 apart from ncnn on noise), hence this version (within 3e-6).

    ``x``: B,C,H,W float -> B,C,int(H*factor),int(W*factor), same dtype, not clamped.
    """
    h = int(x.shape[-2])
    w = int(x.shape[-1])
    # ncnn multiplies in float32 and truncates.
    f32 = torch.tensor(factor, dtype=torch.float32)
    out_h = int((torch.tensor(float(h), dtype=torch.float32) * f32).item())
    out_w = int((torch.tensor(float(w), dtype=torch.float32) * f32).item())
    if out_h == h and out_w == w:
        return x
    xi, xw = _cubic_taps(w, out_w, factor, x.device)
    rows = (
        x.index_select(3, xi[0]) * xw[0].to(x.dtype)
        + x.index_select(3, xi[1]) * xw[1].to(x.dtype)
        + x.index_select(3, xi[2]) * xw[2].to(x.dtype)
        + x.index_select(3, xi[3]) * xw[3].to(x.dtype)
    )
    yi, yw = _cubic_taps(h, out_h, factor, x.device)
    return (
        rows.index_select(2, yi[0]) * yw[0].to(x.dtype)[:, None]
        + rows.index_select(2, yi[1]) * yw[1].to(x.dtype)[:, None]
        + rows.index_select(2, yi[2]) * yw[2].to(x.dtype)[:, None]
        + rows.index_select(2, yi[3]) * yw[3].to(x.dtype)[:, None]
    )


class NcnnBicubicResize(nn.Module):
    """:func:`ncnn_bicubic_resize` as a module (scriptable), for the x2/x3 output stage."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor: float = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ncnn_bicubic_resize(x, self.factor)
