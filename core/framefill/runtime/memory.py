"""Memory policy: the budgets framefill works within, and the peaks it reports.

One place decides how much memory a job may use:

* **a decoded frame**: ``$FRAMEFILL_MEMORY_BUDGET`` or a quarter of the RAM
  (:func:`frame_budget`); the frame readers refuse a file that would decode to
  more, before allocating it;
* **a fill** at 4K-8K: RIFE's scale, channels warped at once, frames kept
  decoded (:func:`plan_fill_memory`);
* **an upscale tile**: the user's budget, else half the free GPU memory, else
  the frame budget (:func:`tile_budget`); the tile size comes from it, after
  whatever the model holds for the whole frame while it tiles (DAT's token
  maps: :func:`plan_upscale_memory`);
* **freed buffers**: kept for the next frame's work in the ``framefill`` command's
  process, given back under a budget (:func:`keep_freed_memory`) and by the farm
  worker after each task (:func:`release_freed_memory`).

The fill model: a fill holds, per output frame, its two decoded sources and the
frame being written (plus up to ``SOURCE_CACHE_FRAMES`` more decoded frames when
they fit: the next gap's sources, recursive midpoints), the motion network's
working set, and the channels being warped. The network's working set per
input pixel was measured with ``bench/interpolate.py`` (rife-4, CPU, fp32; peak
minus the loaded process): ~705 B/px at 1080p and scale 1, ~430 B/px at 4K and
scale 0.5, i.e. about ``340 + 370 * scale**2`` bytes per pixel: a
full-resolution part (proxies, padded inputs, flows and mask brought back to
full size, the QC features) and a part that shrinks with the scale.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from framefill.errors import InputError

__all__ = [
    "MEMORY_BUDGET_ENV",
    "DEFAULT_RAM_FRACTION",
    "SOURCE_CACHE_FRAMES",
    "DEFAULT_CHANNELS_PER_BATCH",
    "FillMemoryPlan",
    "UpscaleMemoryPlan",
    "parse_byte_size",
    "frame_budget",
    "format_bytes",
    "network_bytes",
    "plan_fill_memory",
    "round_frames",
    "plan_upscale_memory",
    "tile_budget",
    "keep_freed_memory",
    "release_freed_memory",
    "peak_rss_mb",
    "peak_device_mb",
]

MEMORY_BUDGET_ENV = "FRAMEFILL_MEMORY_BUDGET"
# A fill holds two decoded source frames, the output and the network's
# activations at once; one file may use at most a quarter of the RAM so that
# all of that still fits without swapping.
DEFAULT_RAM_FRACTION = 0.25
# Used when the platform does not report its physical memory.
FALLBACK_RAM_BYTES = 16 << 30
# Share of the free GPU memory an upscale tile may use when no budget is given:
# the rest is the model's weights, the allocator's slack and whatever else runs there.
CUDA_FREE_FRACTION = 0.5

# Frames kept decoded beyond the two sources: consecutive missing frames share
# their sources, and recursive mode reuses its midpoints.
SOURCE_CACHE_FRAMES = 2
NETWORK_FULL_RES_BYTES_PER_PX = 340
NETWORK_SCALED_BYTES_PER_PX = 370
# Warping one channel: float32 copies of both sources on the canvas, both warped
# results, the blend and grid_sample's temporaries.
WARP_BYTES_PER_CHANNEL_PX = 24
# A colour proxy: float32 RGB on the canvas.
PROXY_BYTES_PER_PX = 12
SMALLEST_SCALE = 0.125
DEFAULT_CHANNELS_PER_BATCH = 4
MOST_CHANNELS_PER_BATCH = 16

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------------------


def parse_byte_size(text: str) -> int:
    """``"8G"`` -> 8 GiB, ``"512M"``, ``"1.5g"``, ``"4096"`` (bytes); units are powers of 1024.

    Raises:
        InputError: text that is not a size.
    """
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"bad size {text!r}; use bytes or a number with K, M, G or T (e.g. 8G)")
    scale = 1 << (10 * " kmgt".index((match.group(2) or " ").lower()))
    return int(float(match.group(1)) * scale)


def _physical_ram() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_RAM_BYTES


def frame_budget(given: int | None = None) -> int:
    """Bytes one decoded frame may take: ``given``, else ``$FRAMEFILL_MEMORY_BUDGET``, else a quarter of the RAM.

    Raises:
        InputError: the environment variable is not a size.
    """
    if given is not None:
        return given
    text = os.environ.get(MEMORY_BUDGET_ENV)
    if text:
        try:
            budget = parse_byte_size(text)
        except InputError:
            budget = 0
        if budget <= 0:
            raise InputError(f"{MEMORY_BUDGET_ENV}={text!r} is not a memory size; use e.g. 8G or 512M "
                             "(unset it for a quarter of the RAM)")
        return budget
    return int(_physical_ram() * DEFAULT_RAM_FRACTION)


def tile_budget(given: int | None, device: str) -> int:
    """Bytes an upscale tile's activations may take on ``device``.

    ``given``, else ``$FRAMEFILL_MEMORY_BUDGET``, else half the free memory of a
    CUDA device, else a quarter of the RAM.
    """
    if given is None and not os.environ.get(MEMORY_BUDGET_ENV) and device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free * CUDA_FREE_FRACTION)
    return frame_budget(given)


def format_bytes(n: int) -> str:
    """``1.50 GiB`` from 1 GiB up, else ``12.0 MiB``."""
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


# ---------------------------------------------------------------------------------------
# The fill plan
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillMemoryPlan:
    """What the fill does to stay in budget, and the peak it expects (bytes)."""

    scale: float
    channels_per_batch: int
    cached_frames: int
    estimated_peak_bytes: int
    budget_bytes: int | None


def network_bytes(pixels: int, scale: float) -> int:
    """The motion network's estimated working set for a canvas of ``pixels`` at RIFE ``scale``."""
    return int(pixels * (NETWORK_FULL_RES_BYTES_PER_PX + NETWORK_SCALED_BYTES_PER_PX * scale * scale))


def round_frames(batch: int, devices: int) -> int:
    """Frames a round of batches (``--batch``, over ``devices``) keeps decoded beside a fill's own, with their
    proxies: a batch's direct fills need one source more than they are; a batch of recursive gaps holds
    its gaps' sources and midpoints, at most two per pair of its widest level (``batch`` pairs) plus one."""
    return devices * (2 * batch + 1)


def plan_fill_memory(width: int, height: int, frame_bytes: int, *, scale: float,
                     budget_bytes: int | None, scale_given: bool = False, batch: int = 1, devices: int = 1,
                     network_on_host: bool = True) -> FillMemoryPlan:
    """Fit a fill of ``width`` x ``height`` frames of ``frame_bytes`` decoded into ``budget_bytes``.

    Without a budget: ``scale`` as given, the default batch and cache. With one,
    the scale (unless ``scale_given``) is halved down to ``SMALLEST_SCALE`` until
    the network fits beside three decoded frames; the rest of the budget sets how
    many channels are warped at once and how many extra frames stay decoded.
    Motions made ahead (``batch`` above 1 or several ``devices``) also hold a
    round's frames (:func:`round_frames`); on the CPU (``network_on_host``)
    each batch's network holds ``batch`` pairs' working sets at once.

    Raises:
        InputError: even the smallest plan does not fit the budget.
    """
    pixels = width * height
    ahead = batch > 1 or devices > 1
    held = round_frames(batch, devices) * (frame_bytes + PROXY_BYTES_PER_PX * pixels) if ahead else 0
    networks = batch * devices if network_on_host else 1  # working sets in host memory at once
    if budget_bytes is None:
        peak = 3 * frame_bytes + held + networks * network_bytes(pixels, scale) \
            + DEFAULT_CHANNELS_PER_BATCH * WARP_BYTES_PER_CHANNEL_PX * pixels
        return FillMemoryPlan(scale, DEFAULT_CHANNELS_PER_BATCH, SOURCE_CACHE_FRAMES, peak, None)
    frames = 3 * frame_bytes + held
    channel = WARP_BYTES_PER_CHANNEL_PX * pixels
    while not scale_given and scale > SMALLEST_SCALE \
            and frames + networks * network_bytes(pixels, scale) + channel > budget_bytes:
        scale /= 2
    need = frames + networks * network_bytes(pixels, scale) + channel
    if need > budget_bytes:
        raise InputError(
            f"a {width}x{height} fill of {_mib(frame_bytes)} frames needs at least {_mib(need)}, over the memory "
            f"budget of {_mib(budget_bytes)}; raise --memory-budget (e.g. {-(-need // (1 << 30))}G)"
            + ("" if not scale_given else " or lower --scale") + (f" or lower --batch ({batch})" if ahead else ""))
    spare = budget_bytes - need
    channels = max(1, min(MOST_CHANNELS_PER_BATCH, 1 + spare // channel))
    spare -= (channels - 1) * channel
    cached = int(max(0, min(SOURCE_CACHE_FRAMES, spare // max(frame_bytes, 1))))
    peak = need + (channels - 1) * channel + cached * frame_bytes
    return FillMemoryPlan(scale, int(channels), cached, peak, budget_bytes)


def _mib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


# ---------------------------------------------------------------------------------------
# The upscale plan
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpscaleMemoryPlan:
    """How an upscale cuts a frame to stay in budget (bytes; ``budget_bytes`` None: ``--tile`` was given).

    ``tile_px`` 0: untiled. ``tile_bytes``: one tile's working set (its read region, the
    whole padded frame when untiled). ``frame_bytes``: what the model's own tiler holds for
    the whole frame across tiles (DAT's token maps, ``frame_bytes_per_input_px`` per input
    pixel of the ``padded_size`` frame); 0 untiled and for models tiled independently.
    """

    budget_bytes: int | None
    tile_px: int
    tile_bytes: int
    frame_bytes: int
    frame_bytes_per_input_px: float
    padded_size: tuple[int, int]

    @property
    def estimated_peak_bytes(self) -> int:
        return self.tile_bytes + self.frame_bytes

    def to_json(self) -> dict[str, object]:
        return {"budget_bytes": self.budget_bytes, "tile_px": self.tile_px, "tile_bytes": self.tile_bytes,
                "frame_bytes": self.frame_bytes, "frame_bytes_per_input_px": self.frame_bytes_per_input_px,
                "padded_size": list(self.padded_size), "estimated_peak_bytes": self.estimated_peak_bytes}


def plan_upscale_memory(width: int, height: int, *, budget_bytes: int | None, tile_px: int | None,
                        bytes_per_px: float, frame_bytes_per_px: float, overlap_px: int, multiple_of: int,
                        max_tile_px: int, model: str) -> UpscaleMemoryPlan:
    """The tile size for a ``width`` x ``height`` frame, and the memory it takes.

    ``tile_px`` given (``--tile``; 0 untiled) is taken as it is. Otherwise the largest
    tile whose read region (``(tile + 2 * overlap_px)`` squared at ``bytes_per_px``) fits
    ``budget_bytes``, untiled when the whole frame fits one; a model that holds
    ``frame_bytes_per_px`` per padded input pixel while it tiles gets its tile from
    what that leaves.

    Raises:
        InputError: the budget cannot hold the whole-frame memory and the smallest tile.
    """
    from framefill.ops.tiling import tile_px_for_budget

    padded_w, padded_h = (-(-n // multiple_of) * multiple_of for n in (width, height))
    frame_bytes = math.ceil(frame_bytes_per_px * padded_w * padded_h)

    def fit(budget: int) -> int:
        return tile_px_for_budget(budget, bytes_per_px=bytes_per_px, overlap_px=overlap_px, multiple_of=multiple_of,
                                  max_tile_px=max_tile_px)

    def tile_bytes(tile: int) -> int:
        return math.ceil(bytes_per_px * (tile + 2 * overlap_px) ** 2)

    def plan(tile: int) -> UpscaleMemoryPlan:
        if tile <= 0 or max(height, width) <= tile:  # one tile: the whole frame, nothing held across tiles
            return UpscaleMemoryPlan(budget_bytes, tile, math.ceil(bytes_per_px * padded_w * padded_h), 0,
                                     frame_bytes_per_px, (padded_w, padded_h))
        return UpscaleMemoryPlan(budget_bytes, tile, tile_bytes(tile), frame_bytes, frame_bytes_per_px,
                                 (padded_w, padded_h))

    if tile_px is not None:
        return plan(max(0, tile_px))
    assert budget_bytes is not None, "a tile size or a budget"
    tile = fit(budget_bytes)
    if max(height, width) <= tile:
        return plan(0)
    if frame_bytes == 0:
        return plan(tile)
    smallest = fit(0)
    need = frame_bytes + tile_bytes(smallest)
    if need > budget_bytes:
        raise InputError(
            f"a {width}x{height} frame through {model} needs {format_bytes(need)} ({format_bytes(frame_bytes)} of "
            f"whole-frame token maps, {frame_bytes_per_px:g} B per input pixel of the {padded_w}x{padded_h} padded "
            f"frame, plus the smallest {smallest} px tile), over the memory budget of {format_bytes(budget_bytes)}; "
            f"raise --memory-budget to {-(-need // (1 << 20))}M, upscale a smaller input, or use another --model "
            "(e.g. realesrgan-x4plus, whose tiles hold no whole-frame memory)")
    return plan(fit(budget_bytes - frame_bytes))


# ---------------------------------------------------------------------------------------
# Freed buffers
# ---------------------------------------------------------------------------------------

# mallopt's parameters (glibc's malloc.h) and the defaults it starts from.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
# glibc's own settings, read once at start-up: whoever sets one has chosen the allocator's policy.
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory(keep: bool) -> bool:
    """Keep the buffers a job frees for its next ones (``keep``), or give them back (glibc's default).

    A frame's work allocates and frees buffers of tens of MB hundreds of times. glibc
    maps each one from the kernel and unmaps it when freed, so every use pays for
    fresh zeroed pages: at 1080p a third to half of RIFE's CPU time (the network ran
    1.5-2.1x faster kept, ``bench/interpolate.py --malloc both``). Kept, the process's
    peak memory is higher (about 1.3x for a 1080p fill) and freed memory returns to the
    system only when the process ends or :func:`release_freed_memory` is called. So the
    ``framefill`` command keeps them, except for a job given ``--memory-budget``; a host
    application (Nuke, Blender, Houdini) keeps its own allocator's policy.

    Returns:
        Whether the setting took: False where the C library is not glibc, or where one of
        glibc's ``MALLOC_*_`` variables is set (that choice is left alone).
    """
    libc = _glibc()
    if libc is None or any(name in os.environ for name in _MALLOC_ENV) \
            or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    settings = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1} if keep else _GLIBC_DEFAULTS
    took = all(libc.mallopt(param, value) == 1 for param, value in settings.items())
    if not keep:
        libc.malloc_trim(0)
    return took


def release_freed_memory() -> bool:
    """Hand the pages of freed buffers back to the system now (glibc's ``malloc_trim``); the policy stays.

    For a process that outlives its jobs: the farm worker calls it after each task, so an idle
    worker holds what it uses, not the peak of its largest task (measured over 8 mixed 1080p/4K
    fills in one process: about 1.0 GB between jobs, where the kept heap grew from 3.4 to 4.1 GB),
    at the price of fresh pages once per task (0.4-0.8 s a task). Returns whether it ran (glibc only).
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@functools.lru_cache(maxsize=1)
def _glibc() -> Any:
    """The process's C library where it is glibc (whose ``mallopt`` and ``malloc_trim`` these use), else None.
    Looked up once per process (``platform.libc_ver`` reads the Python executable)."""
    import platform

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    import ctypes

    return ctypes.CDLL(None)


# ---------------------------------------------------------------------------------------
# Peaks
# ---------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory, MiB (0.0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def peak_device_mb(device: str) -> float | None:
    """Peak memory torch allocated on a CUDA ``device``, MiB; None elsewhere."""
    if not device.startswith("cuda"):
        return None
    import torch

    return float(torch.cuda.max_memory_allocated(device)) / 2**20
