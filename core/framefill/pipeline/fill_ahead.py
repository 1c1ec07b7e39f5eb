"""Motions made ahead of their frames: the network on batches of fills, over one device or several.

``framefill interpolate --batch N`` runs the network on N direct fills at once, and
``--device all`` spreads the batches over every GPU. Which batch a fill joins is fixed
by the plan: the job's direct fills, in frame order, are cut into runs of N, and batch
k runs on device k mod (number of devices). So a fill's batch does not depend on which
frames a resumed run skips, nor on how many GPUs share the work: a rerun, a resumed
run and a run on more identical GPUs write the same bytes. (A batched pair's motion can
differ from its own run by float rounding, so ``--batch`` is in each fill's recipe.)

One round is one batch per device; its batches run at once, one thread per device.
The frame engine then warps, blends and writes each frame as before, on the device its
motion is on.

A recursive fill makes each midpoint from the midpoints before it, so its gap is made
level by level (:func:`framefill.pipeline.plan.bisection_levels`): the gaps of a batch are
consecutive recursive gaps in frame order, as many as keep every level of the batch at
``batch`` pairs or fewer, and each level's pairs run through the network at once. The
batch of a gap, like a direct fill's, is fixed by the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import zip_longest

import numpy as np

from framefill.models.interp import Interpolator, Motion, batch_motions
from framefill.pipeline.fill_frame import proxy_tensor

__all__ = ["AheadPair", "MotionAhead"]


@dataclass(frozen=True)
class AheadPair:
    """One fill's network input: its frame, the two colour proxies (H,W,3) and t."""

    frame: int
    proxy0: np.ndarray
    proxy1: np.ndarray
    t: float


class MotionAhead:
    """Interpolators, one per device, that make batches of motions (see the module docstring)."""

    def __init__(self, interpolators: Sequence[Interpolator], devices: Sequence[str], batch: int) -> None:
        if len(interpolators) != len(devices) or not devices:
            raise ValueError("MotionAhead: one interpolator per device")
        if batch < 1:
            raise ValueError("MotionAhead: batch must be at least 1")
        self.interpolators = list(interpolators)
        self.devices = list(devices)
        self.batch = batch

    @property
    def round_size(self) -> int:
        """Fills whose motions are made at once: one batch per device."""
        return self.batch * len(self.devices)

    def batch_of(self, frames: Sequence[int]) -> dict[int, int]:
        """Each planned direct fill's batch: its place among them (frame order) over the batch size."""
        return {frame: i // self.batch for i, frame in enumerate(sorted(frames))}

    def gap_batch_of(self, levels: Mapping[tuple[int, int], Sequence[Sequence[object]]]) -> dict[tuple[int, int], int]:
        """Each recursive gap's batch, from the steps of each level of each gap (``levels``): consecutive
        gaps share a batch while each level of the batch holds ``batch`` pairs or fewer (a gap wider
        than that is a batch alone, its levels run ``batch`` pairs at a time)."""
        batch_of: dict[tuple[int, int], int] = {}
        index, widths = 0, [0]
        for gap in sorted(levels):
            own = [len(level) for level in levels[gap]]
            joined = [a + b for a, b in zip_longest(widths, own, fillvalue=0)]
            if batch_of and max(joined) > self.batch:
                index, joined = index + 1, own
            batch_of[gap], widths = index, joined
        return batch_of

    def device_of(self, batch: int) -> str:
        return self.devices[batch % len(self.devices)]

    def run(self, batches: Mapping[int, Sequence[AheadPair]]) -> dict[int, Motion]:
        """The motions of each batch's pairs, by frame; the batches of a round run at once, each on its device."""
        jobs = [(self.interpolators[k % len(self.devices)], self.device_of(k), pairs)
                for k, pairs in sorted(batches.items()) if pairs]
        if len(jobs) <= 1:
            results = [_run_batch(*job) for job in jobs]
        else:
            with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="framefill-device") as pool:
                results = list(pool.map(lambda job: _run_batch(*job), jobs))
        return {frame: motion for result in results for frame, motion in result.items()}


def _run_batch(interpolator: Interpolator, device: str, pairs: Sequence[AheadPair]) -> dict[int, Motion]:
    """One batch on one device: pairs of one canvas size in one network run (in order), others on their own."""
    import torch

    by_shape: dict[tuple[int, ...], list[AheadPair]] = {}
    for pair in pairs:
        by_shape.setdefault(pair.proxy0.shape, []).append(pair)
    motions: dict[int, Motion] = {}
    for group in by_shape.values():
        img0 = torch.cat([proxy_tensor(p.proxy0, device) for p in group])
        img1 = torch.cat([proxy_tensor(p.proxy1, device) for p in group])
        made = batch_motions(interpolator, img0, img1, [p.t for p in group])
        motions.update((p.frame, m) for p, m in zip(group, made, strict=True))
    return motions
