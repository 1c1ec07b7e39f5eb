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

This module imports torch; only the model loaders import it (``import framefill``
stays torch-free).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from framefill.errors import InputError, UnsupportedModelError

__all__ = [
    "ARCH_ID",
    "RESIDUAL_SCALE",
    "LRELU_SLOPE",
    "ResidualDenseBlock",
    "RRDB",
    "RRDBNet",
    "RRDBNetConfig",
    "detect",
    "config_from_state_dict",
    "build",
    "load_state_dict_exact",
    "unwrap_checkpoint",
    "load_checkpoint",
]

ARCH_ID = "rrdbnet"
# Both from the ESRGAN paper: residual scaling beta = 0.2 inside and around every
# dense block, and LeakyReLU with negative slope 0.2 after every non-final conv.
RESIDUAL_SCALE = 0.2
LRELU_SLOPE = 0.2
# Official checkpoints keep the EMA weights under "params_ema" (the ones to use)
# and sometimes the raw weights under "params"; the EMA copy wins when both exist.
CHECKPOINT_KEYS = ("params_ema", "params")

StateDict = Mapping[str, torch.Tensor]


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


def _shape(state_dict: StateDict, key: str, ndim: int) -> tuple[int, ...]:
    tensor = state_dict.get(key)
    if tensor is None or not hasattr(tensor, "shape") or len(tensor.shape) != ndim:
        raise UnsupportedModelError(f"RRDBNet state dict: {key} missing or not a {ndim}-D tensor")
    return tuple(int(s) for s in tensor.shape)


def config_from_state_dict(state_dict: StateDict) -> RRDBNetConfig:
    """Read every hyperparameter of an RRDBNet from its tensor shapes.

    Raises:
        UnsupportedModelError: keys missing, or shapes that no RRDBNet has.
    """
    first = _shape(state_dict, "conv_first.weight", 4)
    last = _shape(state_dict, "conv_last.weight", 4)
    grow = _shape(state_dict, "body.0.rdb1.conv1.weight", 4)
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


def build(state_dict: StateDict) -> RRDBNet:
    """An RRDBNet with hyperparameters read from ``state_dict`` and its weights loaded.

    The returned module is in eval mode, float32, on the CPU (callers move it).

    Raises:
        UnsupportedModelError: shapes or keys that do not fit an RRDBNet exactly.
    """
    config = config_from_state_dict(state_dict)
    net = RRDBNet(**asdict(config))
    load_state_dict_exact(net, state_dict, "RRDBNet")
    return net.eval()


def load_state_dict_exact(net: nn.Module, state_dict: StateDict, family: str) -> None:
    """Load ``state_dict`` into ``net`` as float32, requiring exactly the same keys and shapes.

    Raises:
        UnsupportedModelError: a missing or extra key, or a shape that differs (one line).
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise UnsupportedModelError(
            f"{family} state dict does not match: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    for key, tensor in expected.items():
        got = tuple(state_dict[key].shape)
        if got != tuple(tensor.shape):
            raise UnsupportedModelError(f"{family} state dict: {key} has shape {got}, expected {tuple(tensor.shape)}")
    net.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)


def unwrap_checkpoint(obj: Any) -> dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint object.

    Real-ESRGAN ``.pth`` files hold ``{"params_ema": sd}`` or ``{"params": sd}``
    (``params_ema`` preferred); a bare state dict passes through unchanged.

    Raises:
        UnsupportedModelError: not a mapping of names to tensors.
    """
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise UnsupportedModelError("checkpoint is not a state dict (nor one under params_ema / params)")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UnsupportedModelError(f"checkpoint entry {bad[0]!r} is not a named tensor")
    return dict(obj)


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official ``.pth`` checkpoint safely and return its (unwrapped) state dict.

    Tensors come back on the CPU in their stored dtype.

    Raises:
        InputError: the file cannot be read or is not a weights-only pickle.
        UnsupportedModelError: it holds no state dict.
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"checkpoint {path} not found; fetch it with `framefill models fetch NAME`") from None
    except pickle.UnpicklingError as err:
        # weights_only refuses any pickle that would run code: say so, without the long torch advice.
        raise InputError(f"checkpoint {path} is not a weights-only file: {str(err).splitlines()[0]}") from None
    except (OSError, RuntimeError, EOFError, ValueError) as err:
        raise InputError(f"cannot read checkpoint {path}: {str(err).splitlines()[0]}") from None
    try:
        return unwrap_checkpoint(obj)
    except UnsupportedModelError as err:
        raise UnsupportedModelError(f"{path}: {err.msg}") from None
