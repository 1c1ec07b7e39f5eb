"""Keyframe checks: a sparsely rendered shot measures its own fill error.

When every Nth frame is rendered, three rendered frames in a row ``before <
key < after`` form a *check*: fill ``key`` from ``before`` and ``after`` with
the same model, the same way a fill is made, and compare it with the real
render of ``key``. That is a true error, measured on this shot (its textures,
noise, motion blur, lighting), at about twice the gap of the fills beside it
and in the same stretch of the timeline.

Each fill between two rendered frames ``a < b`` has up to two checks whose
spans cover its own gap: the check *at* ``a`` (``prev(a), a, b``) and the check
*at* ``b`` (``a, b, next(b)``). At the ends of a shot, beside a cut and for a
single pair of frames there is none; QC then falls back to the no-reference
features (see :mod:`framefill.pipeline.calibration`).

The cost is one network run per checked rendered frame (a fill of one beauty,
no other layer, nothing written but the numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from framefill.color import ColorSetup
from framefill.frames import ExrImage
from framefill.models.interp import Interpolator, Motion
from framefill.ops.metrics import display_proxy, psnr
from framefill.ops.pixels import on_canvas

__all__ = ["CheckTriplet", "CheckMeasure", "check_schedule", "checks_beside", "measure_check",
           "span_motion_px"]


@dataclass(frozen=True, order=True)
class CheckTriplet:
    """Three rendered frames in a row: ``key`` is filled from ``before`` and ``after`` and compared."""

    before: int
    key: int
    after: int

    @property
    def t(self) -> float:
        return (self.key - self.before) / (self.after - self.before)

    @property
    def span(self) -> int:
        """Frames from ``before`` to ``after``: the gap the check fills across."""
        return self.after - self.before


def check_schedule(rendered: Iterable[int], *, min_span: int = 3) -> tuple[CheckTriplet, ...]:
    """The checks a set of rendered frames allows, one per rendered frame with rendered neighbours on both sides.

    A check spans at least ``min_span`` frames. By default a rendered frame whose
    neighbours on both sides are rendered too (no filled frame borders it) is not
    checked: no fill would use the evidence. A video's retime fills between every
    two real frames, so its checks span two (``min_span=2``).
    """
    keys = sorted(set(int(f) for f in rendered))
    return tuple(CheckTriplet(b, k, a) for b, k, a in zip(keys, keys[1:], keys[2:]) if a - b >= min_span)


def checks_beside(schedule: Sequence[CheckTriplet], before: int, after: int) -> tuple[CheckTriplet, ...]:
    """The checks whose spans cover the gap ``before..after`` (two consecutive rendered frames): at either end."""
    return tuple(c for c in schedule
                 if (c.key == before and c.after == after) or (c.key == after and c.before == before))


@dataclass(frozen=True)
class CheckMeasure:
    """One check, measured: the true PSNR of the check fill, and its feature maps (QC's no-reference view).

    ``psnr_db`` is None when the check's span crosses a cut (its frames cannot be
    filled from each other: no evidence).
    """

    triplet: CheckTriplet
    psnr_db: float | None
    maps: dict[str, np.ndarray] | None
    # 90th percentile of the displacement (px) across the check's span: the motion the model found.
    motion_px: float | None = None


def _beauty_between(img0: ExrImage, img1: ExrImage, motion: Motion, canvas: tuple[int, int, int, int]) -> np.ndarray:
    """The filled beauty (scene-linear R,G,B) on ``canvas``: both sources warped and blended, as a fill makes it."""
    from framefill.pipeline.fill_frame import beauty_channels, stack_pair

    (part0, rgb), (part1, _) = beauty_channels(img0), beauty_channels(img1)  # one layout (check_pair)
    blended = motion.blend_stacked(stack_pair(part0, part1, rgb, canvas, motion.mask.device))
    return np.ascontiguousarray(blended[0].permute(1, 2, 0).float().cpu().numpy())


def measure_check(before: ExrImage, key: ExrImage, after: ExrImage, triplet: CheckTriplet,
                  interpolator: Interpolator, *, color: ColorSetup, device: str) -> CheckMeasure:
    """Fill ``key`` from ``before`` and ``after`` and measure it against the real ``key`` (sRGB-proxy PSNR).

    Raises:
        ExrError: the three frames have different layouts or sizes, or no beauty.
    """
    from framefill.pipeline.fill_frame import beauty_channels, check_pair, pair_motion

    check_pair(before, key)
    pair = pair_motion(before, after, triplet.t, interpolator, color=color, device=device)
    if pair.motion is None:
        return CheckMeasure(triplet, None, None)
    filled = _beauty_between(before, after, pair.motion, pair.canvas)
    part, rgb = beauty_channels(key)
    real = np.stack([on_canvas(part.channels[c].astype(np.float32), part.data_window, pair.canvas) for c in rgb],
                    axis=-1)
    x0, y0, x1, y1 = part.data_window
    cx0, cy0 = pair.canvas[:2]
    window = (slice(y0 - cy0, y1 - cy0 + 1), slice(x0 - cx0, x1 - cx0 + 1))
    # Scored as QC scores a fill against its real render: the default sRGB proxy.
    measured = psnr(display_proxy(filled[window]), display_proxy(real[window]))
    return CheckMeasure(triplet, measured, pair.qc_features(triplet.t), span_motion_px(pair.motion))


def span_motion_px(motion: Motion) -> float:
    """The 90th percentile of |displacement| (px) between the two sources: the flows from t to each, subtracted."""
    import torch

    displacement = torch.linalg.vector_norm((motion.flow_t1 - motion.flow_t0).float(), dim=1)
    return float(np.percentile(displacement.cpu().numpy(), 90))
