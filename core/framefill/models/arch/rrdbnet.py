"""RRDBNet, the ESRGAN / Real-ESRGAN generator, written for framefill.

The network follows the ESRGAN paper (Wang et al. 2018, "Residual-in-Residual
Dense Block") and loads the official Real-ESRGAN checkpoints unchanged: the
parameter names are those of the published ``.pth`` files (``conv_first``,
``body.N.rdbK.convJ``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``,
``conv_last``).

Shape of the computation, for an input of H x W:

* x2 and x1 variants first fold the image with a pixel-unshuffle (factor 2 or 4),
  so the trunk always runs on H/f x W/f and always upsamples x4. The fold is
  visible in ``conv_first``'s in-channels (4x or 16x the out-channels), which is
  how :func:`build` tells the variants apart.
* trunk: ``conv_first`` -> ``num_block`` RRDBs -> ``conv_body``, plus a long skip.
* upsampler: twice (nearest x2, 3x3 conv, LeakyReLU 0.2), then ``conv_hr`` +
  LeakyReLU and ``conv_last``.

:func:`build` returns the :class:`~framefill.models.upscale.UpscaleModel`
descriptor with RRDBNet's tiling advice; :func:`build_net` the bare network.
This module imports torch; only the model loaders import it (``import framefill``
stays torch-free).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from framefill.errors import UnsupportedModelError
from framefill.models.arch.common import StateDict, load_state_dict_exact, tensor_shape
from framefill.models.upscale import UpscaleModel, describe_upscaler
from torch import nn

__all__ = [
    "ARCH_ID",
    "RESIDUAL_SCALE",
    "LRELU_SLOPE",
    "TILE_OVERLAP_PX",
    "BYTES_PER_INPUT_PX",
    "ResidualDenseBlock",
    "RRDB",
    "RRDBNet",
    "RRDBNetConfig",
    "detect",
    "config_from_state_dict",
    "build_net",
    "build",
]

ARCH_ID = "rrdbnet"
_FAMILY = "RRDBNet"
# Both from the ESRGAN paper: residual scaling beta = 0.2 inside and around every
# dense block, and LeakyReLU with negative slope 0.2 after every non-final conv.
RESIDUAL_SCALE = 0.2
LRELU_SLOPE = 0.2
# Input pixels of context for RRDBNet tiles. Measured (bench/upscale.py --context,
# fp32, CPU, 24-row strips cut 56 px from the left or at column 200): the largest
# change of any output pixel when the input is cut k px away, on the sample shot's
# proxy / on a noise-and-checker texture (the harder case):
#   x4plus        k=48: 8.9e-3 / 2.8e-2   k=64: 2.4e-4 / 8.3e-3   k=80: 9.3e-5 / 1.2e-3
#                 k=88: 1.7e-5 / 4.4e-4   k=96: 7.5e-6 / 1.9e-4   k=112: 5.0e-6 / 1.9e-5
#   x4plus-anime  k=48: 3.5e-4 / 4.1e-2   k=64: 1.6e-6 / 7.0e-5   k>=96: 0 / 0 (its
#                 receptive field, 6 blocks x 15 convs + 2 plus the upsampler, is ~94 px)
# 96 px keeps every weighted output pixel of a tile under 2e-4 of the untiled
# value even on noise, five times inside the 1e-3 we promise.
TILE_OVERLAP_PX = 96
# Peak working memory of one tile, bytes per input pixel in fp32: the growth of
# the process high-water mark when one tile runs (bench/upscale.py
# --memory-per-px, CPU): x4plus-anime 13.6 KB (64 px) / 12.9 KB (96 px); x4plus
# 10.3 KB (96 px). Rounded up for the allocator's slack; fp16 on CUDA needs about
# half. The pipeline chooses the tile size from a memory budget with it.
BYTES_PER_INPUT_PX = 16_000.0


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and every earlier output (dense).

    ``forward``: B,F,H,W float -> B,F,H,W float; returns ``x + 0.2 * conv5(...)``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        g = num_grow_ch
        self.conv1 = nn.Conv2d(num_feat, g, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + g, g, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * g, g, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * g, g, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * g, num_feat, 3, 1, 1)
        # Instance attributes, not module globals, so that torch.jit.script sees them.
        self.slope: float = LRELU_SLOPE
        self.res_scale: float = RESIDUAL_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.slope
        x1 = F.leaky_relu(self.conv1(x), s)
        x2 = F.leaky_relu(self.conv2(torch.cat([x, x1], 1)), s)
        x3 = F.leaky_relu(self.conv3(torch.cat([x, x1, x2], 1)), s)
        x4 = F.leaky_relu(self.conv4(torch.cat([x, x1, x2, x3], 1)), s)
        x5 = self.conv5(torch.cat([x, x1, x2, x3, x4], 1))
        # Scale-then-add: the order of ncnn's Eltwise (coeffs 0.2, 1.0), so the two round alike.
        return x5 * self.res_scale + x


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks and a scaled skip.

    ``forward``: B,F,H,W float -> B,F,H,W float.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.res_scale: float = RESIDUAL_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * self.res_scale + x


@dataclass(frozen=True)
class RRDBNetConfig:
    """Hyperparameters of an RRDBNet, all readable from a state dict's tensor shapes."""

    in_channels: int = 3
    out_channels: int = 3
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    scale: int = 4

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 4):
            raise UnsupportedModelError(f"RRDBNet scale must be 1, 2 or 4, got {self.scale}")


class RRDBNet(nn.Module):
    """The ESRGAN generator with Real-ESRGAN's parameter names.

    ``forward(x)``: B,C_in,H,W float (fp32 or fp16), sRGB-encoded nominally in
    [0, 1], unclamped -> B,C_out,H*scale,W*scale, same dtype, not clamped.
    For scale 2 (1), H and W must be multiples of 2 (4): see ``multiple_of``.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.config = RRDBNetConfig(
            in_channels=in_channels,
            out_channels=out_channels,
            num_feat=num_feat,
            num_block=num_block,
            num_grow_ch=num_grow_ch,
            scale=scale,
        )
        # The trunk always upsamples x4; lower scales fold the input first.
        self.unshuffle: int = 4 // scale
        self.scale: int = scale
        self.multiple_of: int = self.unshuffle
        first_in = in_channels * self.unshuffle * self.unshuffle
        self.conv_first = nn.Conv2d(first_in, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)
        self.slope: float = LRELU_SLOPE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        s = self.slope
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2.0, mode="nearest")), s)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2.0, mode="nearest")), s)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), s))


def detect(state_dict: StateDict) -> bool:
    """True when ``state_dict`` has the keys of an RRDBNet (official names).

    May accept a dict that :func:`build` then rejects; never rejects a real one.
    """
    return all(
        key in state_dict
        for key in ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight")
    )


def config_from_state_dict(state_dict: StateDict) -> RRDBNetConfig:
    """Read every hyperparameter of an RRDBNet from its tensor shapes.

    Raises:
        UnsupportedModelError: keys missing, or shapes that no RRDBNet has.
    """
    first = tensor_shape(state_dict, "conv_first.weight", _FAMILY, 4)
    last = tensor_shape(state_dict, "conv_last.weight", _FAMILY, 4)
    grow = tensor_shape(state_dict, "body.0.rdb1.conv1.weight", _FAMILY, 4)
    num_feat, first_in = first[0], first[1]
    out_channels = last[0]
    # Official variants keep in == out channels; the fold factor is what is left over.
    fold = first_in // out_channels if out_channels and first_in % out_channels == 0 else 0
    scale = {1: 4, 4: 2, 16: 1}.get(fold)
    if scale is None:
        raise UnsupportedModelError(
            f"RRDBNet conv_first has {first_in} in-channels for {out_channels} out-channels; "
            "expected 1x (x4), 4x (x2) or 16x (x1)"
        )
    num_block = 0
    while f"body.{num_block}.rdb1.conv1.weight" in state_dict:
        num_block += 1
    return RRDBNetConfig(
        in_channels=first_in // fold,
        out_channels=out_channels,
        num_feat=num_feat,
        num_block=num_block,
        num_grow_ch=grow[0],
        scale=scale,
    )


def build_net(state_dict: StateDict) -> RRDBNet:
    """An RRDBNet with hyperparameters read from ``state_dict`` and its weights loaded.

    The returned module is in eval mode, float32, on the CPU (callers move it).

    Raises:
        UnsupportedModelError: shapes or keys that do not fit an RRDBNet exactly.
    """
    config = config_from_state_dict(state_dict)
    net = RRDBNet(**asdict(config))
    load_state_dict_exact(net, state_dict, _FAMILY)
    return net.eval()


def build(state_dict: StateDict) -> UpscaleModel:
    """The upscaler descriptor of the RRDBNet in ``state_dict`` (float32, eval, CPU).

    Raises:
        UnsupportedModelError: shapes or keys that do not fit an RRDBNet exactly.
    """
    net = build_net(state_dict)
    return describe_upscaler(
        net,
        arch=ARCH_ID,
        tile_overlap_px=TILE_OVERLAP_PX,
        bytes_per_input_px=BYTES_PER_INPUT_PX,
    )
