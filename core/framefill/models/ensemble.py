"""Two interpolation networks as one: both run on the pair, their motions averaged.

RIFE 4.25 and RIFE HDv3 err in different places (``bench/interp_quality.py``: HDv3 is better on
real footage and fast spins, 4.25 on rendered CGI), and the mean of their motions (both flows and
the blend mask) fills better than either on most of our sets. Averaging happens on the motion,
never on pixels: every layer of the EXR is warped with the averaged motion, as with any other
model, so edges and AOVs stay single-sourced.

Measured alternatives that did not pay (same bench): weighting each pixel by how well its two
warped sources agree (0.05-0.3 dB below the plain mean on every set tried), and either network
on the time-reversed or mirrored pair (RIFE HDv3 gives the same motion reversed; mirroring gains
under 0.3 dB).

Cost: both networks' runs (HDv3 costs 1.4-1.8x a RIFE 4.25 run on this CPU at 480x270-960x540,
at t = 0.5; other t bisect). Deterministic where both networks are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framefill.models.interp import Interpolator, Motion

if TYPE_CHECKING:
    import torch

__all__ = ["FusedInterpolator", "mean_motion"]


def mean_motion(first: Motion, second: Motion) -> Motion:
    """The mean of two motions: each flow and the blend mask."""
    return Motion((first.flow_t0 + second.flow_t0) / 2, (first.flow_t1 + second.flow_t1) / 2,
                  (first.mask + second.mask) / 2)


class FusedInterpolator:
    """``first`` and ``second`` run on the same pair; their motions averaged (:func:`mean_motion`)."""

    def __init__(self, first: Interpolator, second: Interpolator, *, name: str) -> None:
        self.first, self.second, self.name = first, second, name

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        return mean_motion(self.first.motion(img0, img1, t), self.second.motion(img0, img1, t))
