"""Interpolators: anything that says, for a time t between two frames, where each
output pixel comes from in each frame and how to mix the two.

That answer (a :class:`Motion`) is all the fill pipeline needs: it applies the
same flows and mask to every layer of the original linear EXR pixels, so the
network never touches HDR values, alpha or AOVs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch
    from framefill.models.arch.interp_model import InterpModel
    from framefill.ops.warp import PreparedFlow

__all__ = ["Motion", "Interpolator", "DisFlowInterpolator", "BlendInterpolator", "RifeInterpolator", "LazyInterpolator",
           "batch_motions"]


@dataclass(frozen=True)
class Motion:
    """Backward flows from time t to both sources, and the blend weight of source 0.

    Tensors: ``flow_t0``/``flow_t1`` 1,2,H,W float32 in pixels (x, y);
    ``mask`` 1,1,H,W float32 in [0, 1]. The filled pixel is
    ``warp(f0, flow_t0) * mask + warp(f1, flow_t1) * (1 - mask)``.

    An ensemble's motion (``blend_of``: its members' weights and motions) fills each smooth
    pixel with the weighted sum of its members' fills instead; its own flows and mask (their
    weighted mean) serve where one motion is needed: ID-like channels, QC features, the size
    of the motion.
    """

    flow_t0: torch.Tensor
    flow_t1: torch.Tensor
    mask: torch.Tensor
    blend_of: tuple[tuple[float, Motion], ...] = ()

    def to(self, device: Any) -> Motion:
        return Motion(self.flow_t0.to(device), self.flow_t1.to(device), self.mask.to(device),
                      tuple((w, m.to(device)) for w, m in self.blend_of))

    @cached_property
    def prepared(self) -> PreparedFlow:
        """``flow_t0`` stacked over ``flow_t1`` on the batch axis, ready to warp every layer of a frame
        (grids made once): a stack of source 0 over source 1 is warped in one call. On the CPU,
        ``grid_sample`` runs its batch in parallel and nothing else, so one call per source would
        use one thread each."""
        import torch

        from framefill.ops.warp import PreparedFlow

        return PreparedFlow(torch.cat((self.flow_t0, self.flow_t1), 0))

    def blend(self, source0: torch.Tensor, source1: torch.Tensor) -> torch.Tensor:
        """The in-between of two 1,C,H,W float32 stacks of smooth channels (colour, alpha, data):
        ``warp(source0, flow_t0) * mask + warp(source1, flow_t1) * (1 - mask)`` (:meth:`blend_stacked`)."""
        import torch

        return self.blend_stacked(torch.cat((source0, source1), 0))

    def blend_stacked(self, sources: torch.Tensor) -> torch.Tensor:
        """:meth:`blend` of a 2,C,H,W stack, source 0 over source 1, warped in one call
        (:attr:`prepared`); an ensemble's: its members' fills, weighted."""
        if not self.blend_of:
            warped = self.prepared.warp(sources)  # a new tensor: weighted in place, the same values
            return warped[0:1].mul_(self.mask).add_(warped[1:2].mul_(1.0 - self.mask))
        (w0, m0), *rest = self.blend_of
        total = m0.blend_stacked(sources) * w0
        for weight, member in rest:
            total = total + member.blend_stacked(sources) * weight
        return total


class Interpolator(Protocol):
    """The contract of every interpolation model.

    ``motion`` takes two 1,3,H,W float32 tensors in the network's colour space
    (sRGB-encoded proxy, unclamped) on the interpolator's device, and t in (0, 1).
    """

    name: str

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion: ...


def _np_to_t(array: np.ndarray) -> torch.Tensor:
    import torch

    if array.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(array))[None, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def _t_to_np(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).float().cpu().numpy()


class BlendInterpolator:
    """A plain cross-dissolve: no motion, weight 1 - t on frame 0. A baseline only."""

    name = "blend"

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        import torch

        _, _, h, w = img0.shape
        zero = torch.zeros((1, 2, h, w), dtype=torch.float32, device=img0.device)
        mask = torch.full((1, 1, h, w), 1.0 - t, dtype=torch.float32, device=img0.device)
        return Motion(zero, zero.clone(), mask)


class DisFlowInterpolator:
    """Classical fallback, no weights: OpenCV DIS flow both ways, occlusion-aware blending.

    In the spirit of Nuke's Kronos: bidirectional dense flow, intermediate flows
    under linear motion, and a blend that favours the source in which a pixel is
    visible (forward-backward consistency marks occlusions).
    """

    name = "flow"

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        from framefill.ops.flow import (
            dis_flow,
            fb_occlusion,
            intermediate_flows,
            remap_bilinear,
            to_gray_u8,
        )

        a, b = _t_to_np(img0), _t_to_np(img1)
        g0, g1 = to_gray_u8(a), to_gray_u8(b)
        f01 = dis_flow(g0, g1)
        f10 = dis_flow(g1, g0)
        ft0, ft1 = intermediate_flows(f01, f10, t)
        # Visibility of each source, carried to time t along the intermediate flows.
        vis0 = remap_bilinear((~fb_occlusion(f01, f10)).astype(np.float32), ft0)
        vis1 = remap_bilinear((~fb_occlusion(f10, f01)).astype(np.float32), ft1)
        w0 = (1.0 - t) * vis0
        w1 = t * vis1
        total = w0 + w1
        # Where neither source is trusted, fall back to the time-weighted mix.
        mask = np.where(total > 1e-3, w0 / np.maximum(total, 1e-3), 1.0 - t).astype(np.float32)
        device = img0.device
        return Motion(_np_to_t(ft0).to(device), _np_to_t(ft1).to(device), _np_to_t(mask).to(device))


class RifeInterpolator:
    """A RIFE network (our own implementation, real weights) as an interpolator.

    ``scale`` is RIFE's resolution scale: 1.0 up to 2K, 0.5 for 4K, 0.25 for 8K.
    """

    def __init__(self, net: InterpModel, *, name: str, scale: float = 1.0, dtype: Any = None) -> None:
        self.net = net
        self.name = name
        self.scale = scale
        self.dtype = dtype

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        import torch

        dtype = self.dtype or img0.dtype
        with torch.inference_mode():
            out = self.net(img0.to(dtype), img1.to(dtype), t, scale=self.scale)
        flow = out.flow.float()
        return Motion(flow[:, 0:2].contiguous(), flow[:, 2:4].contiguous(), out.mask.float().contiguous())

    def motions(self, img0: torch.Tensor, img1: torch.Tensor, times: Sequence[float]) -> list[Motion]:
        """B pairs in one network run (B,3,H,W each, one t per pair); see :func:`batch_motions`."""
        import torch

        dtype = self.dtype or img0.dtype
        with torch.inference_mode():
            out = self.net(img0.to(dtype), img1.to(dtype), torch.tensor([float(t) for t in times]), scale=self.scale)
        flow, mask = out.flow.float(), out.mask.float()
        return [Motion(flow[i : i + 1, 0:2].contiguous(), flow[i : i + 1, 2:4].contiguous(),
                       mask[i : i + 1].contiguous()) for i in range(len(times))]


def batch_motions(interpolator: Interpolator, img0: torch.Tensor, img1: torch.Tensor,
                  times: Sequence[float]) -> list[Motion]:
    """The motions of B pairs (``img0``/``img1`` B,3,H,W, one t each): one network run where the
    interpolator batches (its ``motions``), else one ``motion`` per pair.

    A batched pair's motion can differ from its own run in float rounding (rife-4 on the CPU:
    flows within 0.003 px), so whatever batches must keep each pair's batch the same on a rerun.
    """
    batched = getattr(interpolator, "motions", None)
    if batched is not None and len(times) > 1:
        motions: list[Motion] = batched(img0, img1, times)
        return motions
    return [interpolator.motion(img0[i : i + 1], img1[i : i + 1], t) for i, t in enumerate(times)]


class LazyInterpolator:
    """An interpolator that loads on its first ``motion`` call (a rerun that only
    copies or skips frames never loads torch or the weights)."""

    def __init__(self, name: str, load: Callable[[], Interpolator]) -> None:
        self.name = name
        self._load = load
        self._loaded: Interpolator | None = None

    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> Motion:
        return self.loaded.motion(img0, img1, t)

    @property
    def loaded(self) -> Interpolator:
        """The interpolator, loaded on first use."""
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def motions(self, img0: torch.Tensor, img1: torch.Tensor, times: Sequence[float]) -> list[Motion]:
        return batch_motions(self.loaded, img0, img1, times)
