"""Keeping a fill inside a memory budget at 4K-8K: RIFE's scale, channels warped at once, frames kept decoded.

A fill holds, per output frame, its two decoded sources and the frame being
written (plus up to ``SOURCE_CACHE_FRAMES`` more decoded frames when they fit:
the next gap's sources, recursive midpoints),
the motion network's working set, and the channels being warped. The network's
working set per input pixel was measured with ``bench/interpolate.py`` (rife-4,
CPU, fp32; peak minus the loaded process): ~705 B/px at 1080p and scale 1,
~430 B/px at 4K and scale 0.5, i.e. about ``340 + 370 * scale**2`` bytes per
pixel: a full-resolution part (proxies, padded inputs, flows and mask brought
back to full size, the QC features) and a part that shrinks with the scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from framefill.errors import InputError
from framefill.frames import ExrImage

__all__ = ["SOURCE_CACHE_FRAMES", "FillMemoryPlan", "decoded_frame_bytes", "network_bytes", "plan_fill_memory"]

# Frames kept decoded beyond the two sources: consecutive missing frames share
# their sources, and recursive mode reuses its midpoints.
SOURCE_CACHE_FRAMES = 2
NETWORK_FULL_RES_BYTES_PER_PX = 340
NETWORK_SCALED_BYTES_PER_PX = 370
# Warping one channel: float32 copies of both sources on the canvas, both warped
# results, the blend and grid_sample's temporaries.
WARP_BYTES_PER_CHANNEL_PX = 24
SMALLEST_SCALE = 0.125
DEFAULT_CHANNELS_PER_BATCH = 4
MOST_CHANNELS_PER_BATCH = 16
_PIXEL_BYTES = {"half": 2, "float": 4, "uint": 4}


@dataclass(frozen=True)
class FillMemoryPlan:
    """What the fill does to stay in budget, and the peak it expects (bytes)."""

    scale: float
    channels_per_batch: int
    cached_frames: int
    estimated_peak_bytes: int
    budget_bytes: int | None


def decoded_frame_bytes(header: ExrImage) -> int:
    """Bytes a frame takes decoded, from its headers (:func:`framefill.frames.probe_exr`)."""
    total = 0
    for part in header.parts:
        x0, y0, x1, y1 = part.data_window
        area = max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)
        total += area * sum(_PIXEL_BYTES.get(str(kind), 4) for kind in part.channel_types.values())
    return total


def network_bytes(pixels: int, scale: float) -> int:
    """The motion network's estimated working set for a canvas of ``pixels`` at RIFE ``scale``."""
    return int(pixels * (NETWORK_FULL_RES_BYTES_PER_PX + NETWORK_SCALED_BYTES_PER_PX * scale * scale))


def plan_fill_memory(width: int, height: int, frame_bytes: int, *, scale: float,
                     budget_bytes: int | None, scale_given: bool = False) -> FillMemoryPlan:
    """Fit a fill of ``width`` x ``height`` frames of ``frame_bytes`` decoded into ``budget_bytes``.

    Without a budget: ``scale`` as given, the default batch and cache. With one,
    the scale (unless ``scale_given``) is halved down to ``SMALLEST_SCALE`` until
    the network fits beside three decoded frames; the rest of the budget sets how
    many channels are warped at once and how many extra frames stay decoded.

    Raises:
        InputError: even the smallest plan does not fit the budget.
    """
    pixels = width * height
    if budget_bytes is None:
        peak = 3 * frame_bytes + network_bytes(pixels, scale) + DEFAULT_CHANNELS_PER_BATCH * WARP_BYTES_PER_CHANNEL_PX * pixels
        return FillMemoryPlan(scale, DEFAULT_CHANNELS_PER_BATCH, SOURCE_CACHE_FRAMES, peak, None)
    frames = 3 * frame_bytes
    channel = WARP_BYTES_PER_CHANNEL_PX * pixels
    while not scale_given and scale > SMALLEST_SCALE and frames + network_bytes(pixels, scale) + channel > budget_bytes:
        scale /= 2
    need = frames + network_bytes(pixels, scale) + channel
    if need > budget_bytes:
        raise InputError(
            f"a {width}x{height} fill of {_mib(frame_bytes)} frames needs at least {_mib(need)}, over the memory "
            f"budget of {_mib(budget_bytes)}; raise --memory-budget (e.g. {-(-need // (1 << 30))}G)"
            + ("" if not scale_given else " or lower --scale"))
    spare = budget_bytes - need
    channels = max(1, min(MOST_CHANNELS_PER_BATCH, 1 + spare // channel))
    spare -= (channels - 1) * channel
    cached = int(max(0, min(SOURCE_CACHE_FRAMES, spare // max(frame_bytes, 1))))
    peak = need + (channels - 1) * channel + cached * frame_bytes
    return FillMemoryPlan(scale, int(channels), cached, peak, budget_bytes)


def _mib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"
