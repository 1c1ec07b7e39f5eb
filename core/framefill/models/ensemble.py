"""Two interpolation networks as one: both run on the pair, and each smooth pixel mixes their two fills.

RIFE 4.25 and RIFE HDv3 err in different places (``bench/interp_quality.py``: HDv3 is better on
fast spins and whip pans, 4.25 on real footage and motion blur), and a mix of their two fills is
better than either on most of our sets. The mix is rife-4's share of each pixel (``--mix``,
default one half; ``--model auto`` measures several on the shot's checks). Every smooth channel
(colour, alpha, data) of every part is the same linear mix of the same four warps, so AOVs still
add up to the beauty; ID-like channels, which cannot be mixed, take the nearest sample along the
two motions mixed alike, as do QC's feature maps (:class:`~framefill.models.interp.Motion`,
``blend_of``).

Measured alternatives (bench/interp_quality.py's 14 sets, up to 17 gaps each): one warp along
the mean of the two motions (flows and mask), the previous design: the mean of the fills beat it on
12 of 14 sets (-0.08 to +0.23 dB, mean +0.08); DIS flow or RIFE 4.25 at half scale as a third
fill, at equal or 0.2 weight: below the two-network mean on most sets; weighting each pixel by how
well its two warped sources agree (0.05-0.3 dB below the plain mean on every set tried); either
network on the time-reversed or mirrored pair (RIFE HDv3 gives the same motion reversed;
mirroring gains under 0.3 dB).

Cost: both networks' runs (HDv3 costs 1.4-1.8x a RIFE 4.25 run on this CPU at 480x270-960x540,
at t = 0.5; other t bisect). Deterministic where both networks are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from framefill.models.interp import Interpolator, Motion, batch_motions

if TYPE_CHECKING:
    import torch

__all__ = ["FusedInterpolator", "mix_motions", "DEFAULT_MIX", "check_mix"]

# rife-4's share of the fused fill unless told (--mix); `--model auto` also tries other shares.
DEFAULT_MIX = 0.5


def check_mix(mix: float) -> float:
    """``mix`` as a float strictly between 0 and 1 (0 or 1 is one network alone: name that model).

    Raises:
        ValueError: anything else.
    """
    value = float(mix)
    if not 0.0 < value < 1.0:
        raise ValueError(f"a mix is rife-4's share of the fill, above 0 and below 1 (0 or 1 is one network: "
                         f"use --model rife-hdv3 or rife-4); got {mix!r}")
    return value


def mix_motions(first: Motion, second: Motion, mix: float = DEFAULT_MIX) -> Motion:
    """Two motions as one: pixels ``mix`` of the first's fill plus the rest of the second's; the
    flows and mask, where one motion is needed, weighted alike."""
    rest = 1.0 - mix
    return Motion(first.flow_t0 * mix + second.flow_t0 * rest, first.flow_t1 * mix + second.flow_t1 * rest,
                  first.mask * mix + second.mask * rest, blend_of=((mix, first), (rest, second)))


class FusedInterpolator:
    """``first`` and ``second`` run on the same pair; their motions joined by :func:`mix_motions`."""

    def __init__(self, first: Interpolator, second: Interpolator, *, name: str, mix: float = DEFAULT_MIX) -> None:
        self.first, self.second, self.name, self.mix = first, second, name, check_mix(mix)

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        return mix_motions(self.first.motion(img0, img1, t), self.second.motion(img0, img1, t), self.mix)

    def motions(self, img0: torch.Tensor, img1: torch.Tensor, times: Sequence[float]) -> list[Motion]:
        """B pairs, each member batched (:func:`~framefill.models.interp.batch_motions`)."""
        firsts, seconds = (batch_motions(member, img0, img1, times) for member in (self.first, self.second))
        return [mix_motions(a, b, self.mix) for a, b in zip(firsts, seconds, strict=True)]
