"""One in-between EXR from two decoded source frames: the motion on a proxy, then every layer warped.

The network sees an invertible proxy of the beauty (OCIO, unclamped) on the
canvas that holds both frames' data windows; its motion (flows to both
sources and a blend mask) is applied to the ORIGINAL linear pixels of every
channel of every part. ID-like channels take the nearest sample of one source.

Non-finite source pixels (a renderer's odd NaN or Inf) never spread: the proxy
and the warped channels see NaN as 0 and +/-Inf as +/-65504 (the largest
half), so the motion and the filled frame stay finite; the fill job counts
them per frame, warns, and records them in the manifest. Rendered frames are
copied byte for byte and keep whatever they hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from framefill.color import ColorSetup, to_network
from framefill.errors import ExrError
from framefill.frames import ExrImage, ExrPart
from framefill.frames.channels import channel_kind, find_beauty
from framefill.models.interp import Interpolator, Motion
from framefill.ops.cuts import CUT_THRESHOLD, cut_score
from framefill.ops.pixels import Box, union_box

__all__ = ["PairMotion", "pair_motion", "pair_inputs", "proxy_tensor", "make_proxy", "apply_motion", "check_pair",
           "beauty_channels", "stack_pair"]


def _beauty(image: ExrImage) -> tuple[int, tuple[str, str, str]]:
    for index, part in enumerate(image.parts):
        rgb = find_beauty(part.channels.keys())
        if rgb is not None:
            return index, rgb
    where = image.path or "the source frame"
    raise ExrError(f"{where} has no R,G,B channels to estimate motion from; framefill needs a beauty/rgba layer")


def beauty_channels(image: ExrImage) -> tuple[ExrPart, tuple[str, str, str]]:
    """The part holding the beauty and its R,G,B channel names.

    Raises:
        ExrError: no R,G,B channels.
    """
    index, rgb = _beauty(image)
    return image.parts[index], rgb


def make_proxy(image: ExrImage, canvas: Box, color: ColorSetup) -> np.ndarray:
    """The frame's beauty on ``canvas`` in the network's colour space: what the network sees."""
    from framefill.ops.tensor_pixels import stack_on_canvas_tensor

    index, rgb = _beauty(image)
    part = image.parts[index]
    linear = stack_on_canvas_tensor([part.channels[ch] for ch in rgb], part.data_window, canvas, "cpu")
    return to_network(linear.permute(1, 2, 0).contiguous().numpy(), color)  # OCIO runs on the host


def proxy_tensor(array: np.ndarray, device: str) -> Any:
    """An H,W,3 proxy as the network's 1,3,H,W float32 input on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None].to(device)


def _size(image: ExrImage) -> tuple[int, int]:
    x0, y0, x1, y1 = image.parts[0].display_window
    return x1 - x0 + 1, y1 - y0 + 1


def check_pair(img0: ExrImage, img1: ExrImage) -> None:
    """Refuse two frames that cannot be blended: other parts or channels, or another frame size.

    Raises:
        ExrError: naming both files and what differs.
    """
    layout0 = [(p.name, sorted(p.channels)) for p in img0.parts]
    layout1 = [(p.name, sorted(p.channels)) for p in img1.parts]
    if layout0 != layout1:
        raise ExrError(
            f"{img0.path} and {img1.path} have different parts or channels; "
            "every frame of a shot must have the same layers to be filled"
        )
    windows0 = [p.display_window for p in img0.parts]
    windows1 = [p.display_window for p in img1.parts]
    if windows0 != windows1:
        (w0, h0), (w1, h1) = _size(img0), _size(img1)
        raise ExrError(
            f"{img0.path} is {w0}x{h0} but {img1.path} is {w1}x{h1} (display windows {windows0[0]} and "
            f"{windows1[0]}); every frame of a shot must be the same size: re-render the odd one"
        )


def stack_pair(part0: ExrPart, part1: ExrPart, names: Sequence[str], canvas: Box, device: Any) -> Any:
    """Channels of both sources as one 2,C,H,W float32 tensor on ``canvas`` (NaN/Inf made finite),
    source 0 over source 1 (what :meth:`Motion.blend_stacked` warps in one call), made on ``device``."""
    import torch

    from framefill.ops.tensor_pixels import stack_on_canvas_tensor

    cx0, cy0, cx1, cy1 = canvas
    out = torch.empty((2, len(names), cy1 - cy0 + 1, cx1 - cx0 + 1), dtype=torch.float32, device=device)
    for place, part in zip(out, (part0, part1), strict=True):
        stack_on_canvas_tensor([part.channels[n] for n in names], part.data_window, canvas, device, out=place)
    return out


def apply_motion(img0: ExrImage, img1: ExrImage, motion: Motion, *, canvas: Box,
                 channels_per_batch: int = 4) -> ExrImage:
    """Warp and blend every channel of every part with one motion; headers from img0.

    Colour, alpha and data channels: ``warp(c0) * mask + warp(c1) * (1 - mask)``
    (an ensemble's motion: the weighted sum of its members' blends, :meth:`Motion.blend`)
    in float32, then cast back to the channel's type. ID-like channels: the
    nearest sample of source 0 where mask >= 0.5, else of source 1.

    Every step runs on the motion's device: the channels cross to it once as stored and
    come back once, cast (:mod:`framefill.ops.tensor_pixels`).
    """
    import torch

    from framefill.ops.tensor_pixels import stored_from_tensor

    device = motion.mask.device
    pick0 = motion.mask >= 0.5
    cx0, cy0, _, _ = canvas
    parts = []
    for p0, p1 in zip(img0.parts, img1.parts, strict=True):
        ox0, oy0, ox1, oy1 = union_box([p0.data_window, p1.data_window])
        rows, cols = slice(oy0 - cy0, oy1 - cy0 + 1), slice(ox0 - cx0, ox1 - cx0 + 1)
        names = list(p0.channels)
        out: dict[str, np.ndarray] = {}
        smooth = [n for n in names if channel_kind(n) != "id"]
        for start in range(0, len(smooth), channels_per_batch):
            batch = smooth[start : start + channels_per_batch]
            blended = motion.blend_stacked(stack_pair(p0, p1, batch, canvas, device))
            for i, name in enumerate(batch):
                out[name] = stored_from_tensor(blended[0, i, rows, cols], p0.channels[name].dtype)
        for name in (n for n in names if channel_kind(n) == "id"):
            nearest = motion.prepared.nearest(stack_pair(p0, p1, [name], canvas, device))
            chosen = torch.where(pick0, nearest[0:1], nearest[1:2])
            out[name] = stored_from_tensor(chosen[0, 0, rows, cols], p0.channels[name].dtype)
        header = dict(p0.header)
        header["dataWindow"] = (np.array([ox0, oy0], dtype=np.int32), np.array([ox1, oy1], dtype=np.int32))
        parts.append(ExrPart(name=p0.name, channels={n: out[n] for n in names}, header=header, linear=set(p0.linear)))
    return ExrImage(parts=parts, path=None)


@dataclass(frozen=True)
class PairMotion:
    """Two source frames on their shared canvas: the proxies the network saw and the motion at t.

    ``motion`` is None when the pair straddles a cut (``cut_score`` over the threshold).
    """

    canvas: Box
    proxy0: np.ndarray
    proxy1: np.ndarray
    motion: Motion | None
    cut_score: float | None = None

    def qc_features(self, t: float) -> dict[str, np.ndarray]:
        """The QC feature maps of the frame this motion makes (see :mod:`framefill.pipeline.qc_features`)."""
        from framefill.pipeline.qc_features import feature_maps

        assert self.motion is not None
        return feature_maps(self.proxy0, self.proxy1, self.motion, t)


ProxyOf = Callable[[ExrImage, Box], np.ndarray]


def pair_motion(img0: ExrImage, img1: ExrImage, t: float, interpolator: Interpolator, *, color: ColorSetup,
                device: str, detect_cuts: bool = True, cut_threshold: float = CUT_THRESHOLD,
                proxy_of: ProxyOf | None = None, made: Motion | None = None) -> PairMotion:
    """The motion at ``t`` between two decoded frames (or a detected cut).

    ``proxy_of(image, canvas)`` may give a frame's colour proxy made earlier (a rendered
    frame borders two gaps: its proxy is made once); it must equal what this function makes.
    ``made``: the pair's motion made ahead, in a batch (:mod:`framefill.pipeline.fill_ahead`);
    the interpolator is then not run.

    Raises:
        ExrError: the frames have different layouts or sizes, or no beauty.
    """
    pair, cut = pair_inputs(img0, img1, color=color, detect_cuts=detect_cuts, cut_threshold=cut_threshold,
                            proxy_of=proxy_of)
    if cut:
        return pair
    motion = made or interpolator.motion(proxy_tensor(pair.proxy0, device), proxy_tensor(pair.proxy1, device), t)
    return replace(pair, motion=motion)


def pair_inputs(img0: ExrImage, img1: ExrImage, *, color: ColorSetup, detect_cuts: bool = True,
                cut_threshold: float = CUT_THRESHOLD, proxy_of: ProxyOf | None = None) -> tuple[PairMotion, bool]:
    """What the network sees of a pair (canvas, proxies, cut score; no motion yet), and whether it
    straddles a cut. ``proxy_of``: see :func:`pair_motion`.

    Raises:
        ExrError: the frames have different layouts or sizes, or no beauty.
    """
    check_pair(img0, img1)
    canvas = union_box(p.data_window for im in (img0, img1) for p in im.parts)
    make = proxy_of or (lambda image, box: make_proxy(image, box, color))
    proxy0, proxy1 = make(img0, canvas), make(img1, canvas)
    score = cut_score(proxy0, proxy1) if detect_cuts else None
    return PairMotion(canvas, proxy0, proxy1, None, score), score is not None and score > cut_threshold
