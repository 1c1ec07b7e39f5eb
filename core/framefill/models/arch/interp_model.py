"""InterpModel, the RIFE descriptor: pads, runs the network, crops back; bisects HD v3 to any t.

``rife.build_v4`` and ``rife_hdv3.build`` return one. It carries what a caller
needs besides the network: ``arch_id``, the padding multiple (``multiple_of``,
:meth:`InterpModel.multiple_for`), ``supports_half`` and ``takes_timestep``.

Inference procedure, as the reference scripts run it:
    both frames are zero-padded at the bottom and right to a multiple of
    ``max(B, int(B / scale))`` with B = 128 for 4.25 (Practical-RIFE's
    ``inference_video.py``) and B = 32 for HD v3 (ECCV2022-RIFE's), run, and
    cropped back. ``scale`` (1.0 up to 2K, 0.5 for 4K, 0.25 for 8K) divides
    every block's downscale factor: the per-block list is ``[16, 8, 4, 2, 1] /
    scale`` for 4.25 and ``[4, 2, 1] / scale`` for HD v3. Inputs are never
    clamped (the reference does not clamp either).

The wrapper is plain Python (export scripts ``InterpModel.net``). Importing this
module imports torch.
"""

from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from framefill.errors import InputError
from framefill.models.arch.rife import RifeOutput
from framefill.ops.warp import rife_warp
from torch import nn

__all__ = ["SUPPORTED_SCALES", "HDV3_RATIO_TOLERANCE", "HDV3_MAX_HALVINGS", "InterpModel"]

# The resolution scales both reference inference scripts accept (they assert
# this set); other values give block sizes that do not divide the padded frame.
SUPPORTED_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)

# HD v3 bisection, as ECCV2022-RIFE's inference_img.py --ratio defaults: stop
# once the midpoint is within half of the tolerance of the requested time, or
# after this many halvings (1/256 of the interval).
HDV3_RATIO_TOLERANCE = 0.02
HDV3_MAX_HALVINGS = 8

# Below this weight a source contributes less than a millionth of a pixel, so
# its flow does not matter; the mix falls back to the plain mean there.
_WEIGHT_FLOOR = 1e-6


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
    """A RIFE network ready to call: pads, runs, crops back (``rife.build_v4``/``rife_hdv3.build`` make one).

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

    No tiling advice: a pixel's flow may come from anywhere in the frame, so
    RIFE runs on whole frames, and ``scale`` (the resolution its blocks work
    at) is what bounds its memory.

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
