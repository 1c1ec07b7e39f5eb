"""Tiles with overlap and a feathered merge: run an image operator on pieces of a frame.

A network that upscales a 4K frame in one go needs tens of GiB of activations.
Tiling bounds that: the frame is cut into *cores* that partition it, each core
is read with ``overlap_px`` pixels of context on every side (clipped at the
frame's edges), the operator runs on that read region, and the outputs are
merged with a *feathered* blend so no tile border is visible:

* Along each axis, two neighbouring tiles share a blend band ``2 * feather_px``
  input pixels wide, centred on the border between their cores. In the band the
  weights ramp linearly (one tile's ``1 - r``, the other's ``r``), so they sum
  to exactly one and the output moves continuously from one tile to the next.
  Outside the bands a pixel comes from the one tile whose core holds it.
* Every output pixel with a non-zero weight is at least
  ``overlap_px - feather_px`` input pixels away from the cut edge of any tile
  that contributes to it. If that is at least the operator's reach (its
  receptive field, or the distance beyond which it no longer changes the result
  measurably), the tiled result equals the untiled one within that tolerance.
* At the frame's own edges a tile is not cut: it sees the same border the
  untiled operator sees, so nothing changes there.
* Core borders and read origins are multiples of ``multiple_of``, so operators
  that fold pixels (pixel-unshuffle) see the same grid as untiled.

Everything here is pure numpy: the operator is any callable from a C,h,w float
array to C,h*scale,w*scale (a network on a device, a classical filter, a
heatmap). Failures in the operator propagate; nothing is retried or skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Tile",
    "TilePlan",
    "plan_tiles",
    "run_tiled",
    "tile_weights",
    "tile_px_for_budget",
    "border_gradient_ratio",
    "DEFAULT_FEATHER_PX",
    "MIN_TILE_PX",
]

# Half-width of the blend band between two tiles, in input pixels. 8 px (32 output
# px at x4) spreads any residual difference between neighbours over a band wider
# than the eye resolves as an edge, while costing only 8 px of extra context.
DEFAULT_FEATHER_PX = 8
# Below this a tile is mostly margin: the work per useful pixel explodes.
MIN_TILE_PX = 32

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Tile:
    """One tile: the core it owns and the region it reads, both half-open, in input pixels."""

    y0: int
    y1: int
    x0: int
    x1: int
    ry0: int
    ry1: int
    rx0: int
    rx1: int

    @property
    def read_shape(self) -> tuple[int, int]:
        return (self.ry1 - self.ry0, self.rx1 - self.rx0)


@dataclass(frozen=True)
class TilePlan:
    """How a ``height`` x ``width`` frame is cut. ``tiles`` run row by row, top left first."""

    height: int
    width: int
    tile_px: int
    overlap_px: int
    feather_px: int
    multiple_of: int
    tiles: tuple[Tile, ...]

    @property
    def min_context_px(self) -> int:
        """Input pixels of context every weighted output pixel keeps from a cut edge."""
        return self.overlap_px - self.feather_px

    @property
    def largest_read_px(self) -> int:
        """The most input pixels one tile reads (what bounds the operator's memory)."""
        return max(t.read_shape[0] * t.read_shape[1] for t in self.tiles)

    def border_positions(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Interior core borders (rows, columns) in input pixels."""
        rows = tuple(sorted({t.y0 for t in self.tiles if t.y0 > 0}))
        cols = tuple(sorted({t.x0 for t in self.tiles if t.x0 > 0}))
        return rows, cols


def _split(length: int, tile_px: int, multiple_of: int) -> list[tuple[int, int]]:
    """Cores along one axis: as few as fit ``tile_px``, equal in size up to ``multiple_of``."""
    count = max(1, math.ceil(length / tile_px))
    units = math.ceil(length / multiple_of)
    bounds = [min(length, round(units * i / count) * multiple_of) for i in range(count + 1)]
    bounds[-1] = length
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def plan_tiles(
    h: int,
    w: int,
    *,
    tile_px: int,
    overlap_px: int,
    multiple_of: int = 1,
    feather_px: int | None = None,
) -> TilePlan:
    """Cut an ``h`` x ``w`` frame into cores of at most ``tile_px`` with ``overlap_px`` of context.

    ``tile_px`` <= 0 or at least the frame size gives one tile (the untiled
    run). ``feather_px`` (default ``min(DEFAULT_FEATHER_PX, overlap_px)``) is
    the half-width of the blend band and may not exceed ``overlap_px``; it is
    narrowed to half the smallest core so that bands never overlap. Every
    weighted output pixel keeps ``overlap_px - feather_px`` pixels of context
    (:attr:`TilePlan.min_context_px`).

    Raises:
        ValueError: a non-positive frame size or ``multiple_of``, a negative
            overlap, or a feather wider than the overlap.
    """
    if h <= 0 or w <= 0:
        raise ValueError(f"cannot tile an empty frame ({w}x{h})")
    if multiple_of < 1 or overlap_px < 0:
        raise ValueError(f"multiple_of must be >= 1 and overlap_px >= 0, got {multiple_of} and {overlap_px}")
    feather = min(DEFAULT_FEATHER_PX, overlap_px) if feather_px is None else feather_px
    if not 0 <= feather <= overlap_px:
        raise ValueError(f"feather_px {feather} must be between 0 and overlap_px {overlap_px}")
    size = max(h, w) if tile_px <= 0 else max(tile_px, multiple_of)
    size = math.ceil(size / multiple_of) * multiple_of
    # Context is read in whole folding units so read origins stay on the grid.
    margin = math.ceil(overlap_px / multiple_of) * multiple_of
    rows, cols = _split(h, size, multiple_of), _split(w, size, multiple_of)
    # Two blend bands of one core must not overlap (weights would no longer sum to one):
    # a narrower band only adds context, so shrink it for small cores.
    cut = [b - a for a, b in rows if len(rows) > 1] + [b - a for a, b in cols if len(cols) > 1]
    if cut:
        feather = min(feather, min(cut) // 2)
    tiles = tuple(
        Tile(y0, y1, x0, x1, max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin))
        for y0, y1 in rows
        for x0, x1 in cols
    )
    return TilePlan(h, w, size, overlap_px, feather, multiple_of, tiles)


def _axis_weights(lo: int, hi: int, core0: int, core1: int, length: int, feather: int, scale: int) -> np.ndarray:
    """Blend weights of output samples ``lo*scale .. hi*scale`` for a core ``[core0, core1)``, float32."""
    u = (np.arange(lo * scale, hi * scale, dtype=np.float64) + 0.5) / scale  # output centres in input units
    weight = np.ones_like(u)
    if core0 > 0:
        weight *= np.clip((u - (core0 - feather)) / (2 * feather), 0.0, 1.0) if feather else (u >= core0)
    if core1 < length:
        weight *= np.clip(((core1 + feather) - u) / (2 * feather), 0.0, 1.0) if feather else (u < core1)
    return weight.astype(np.float32)


def tile_weights(plan: TilePlan, tile: Tile, *, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column blend weights of one tile's output (its read region times ``scale``).

    The weight of output pixel (y, x) is ``rows[y] * cols[x]``; over all tiles
    these sum to one at every output pixel.
    """
    rows = _axis_weights(tile.ry0, tile.ry1, tile.y0, tile.y1, plan.height, plan.feather_px, scale)
    cols = _axis_weights(tile.rx0, tile.rx1, tile.x0, tile.x1, plan.width, plan.feather_px, scale)
    return rows, cols


def _nonzero_span(weights: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(weights)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def iter_tile_outputs(
    fn: ArrayFn, image: np.ndarray, plan: TilePlan, *, scale: int
) -> Iterator[tuple[Tile, np.ndarray]]:
    """Run ``fn`` on each tile's read region in plan order; yields ``(tile, output)``.

    Raises:
        ValueError: ``fn`` returned the wrong shape.
    """
    for tile in plan.tiles:
        piece = np.ascontiguousarray(image[:, tile.ry0 : tile.ry1, tile.rx0 : tile.rx1])
        out = fn(piece)
        want = (image.shape[0], piece.shape[1] * scale, piece.shape[2] * scale)
        if out.shape != want:
            raise ValueError(f"tile operator returned shape {out.shape}, expected {want} for a x{scale} operator")
        yield tile, out


def run_tiled(
    fn: ArrayFn,
    image: np.ndarray,
    plan: TilePlan,
    *,
    scale: int,
    out: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Apply ``fn`` tile by tile and merge the outputs with the plan's feathered blend.

    Args:
        fn: C,h,w float32 -> C,h*scale,w*scale float32 (any values; nothing is clamped).
        image: C,H,W float32 with H, W equal to the plan's frame size.
        plan: from :func:`plan_tiles` for this frame size.
        scale: the operator's integer scale.
        out: optional C,H*scale,W*scale float32 buffer to fill (zeroed here).
        progress: called with (tiles done, tile count) after each tile.
    Returns:
        C,H*scale,W*scale float32. With one tile this is exactly ``fn(image)``.
    Raises:
        ValueError: the image does not match the plan, or ``fn`` returns a wrong shape.
    """
    if image.ndim != 3 or image.shape[1:] != (plan.height, plan.width):
        raise ValueError(f"image of shape {image.shape} does not match a {plan.width}x{plan.height} tile plan")
    channels = image.shape[0]
    shape = (channels, plan.height * scale, plan.width * scale)
    if len(plan.tiles) == 1:
        result = fn(np.ascontiguousarray(image))
        if result.shape != shape:
            raise ValueError(f"operator returned shape {result.shape}, expected {shape} for a x{scale} operator")
        if out is not None:
            out[...] = result
            return out
        return result.astype(np.float32, copy=False)
    if out is None:
        out = np.zeros(shape, dtype=np.float32)
    else:
        if out.shape != shape:
            raise ValueError(f"output buffer has shape {out.shape}, expected {shape}")
        out.fill(0.0)
    for done, (tile, result) in enumerate(iter_tile_outputs(fn, image, plan, scale=scale), start=1):
        wy, wx = tile_weights(plan, tile, scale=scale)
        # Only the part with a non-zero weight is added: margins beyond the blend band are dropped.
        a, b = _nonzero_span(wy)
        c, d = _nonzero_span(wx)
        oy, ox = tile.ry0 * scale, tile.rx0 * scale
        weights = wy[a:b, None] * wx[None, c:d]
        out[:, oy + a : oy + b, ox + c : ox + d] += result[:, a:b, c:d] * weights
        del result
        if progress is not None:
            progress(done, len(plan.tiles))
    return out


def tile_px_for_budget(
    budget_bytes: int,
    *,
    bytes_per_px: float,
    overlap_px: int,
    multiple_of: int = 1,
    max_tile_px: int | None = None,
) -> int:
    """The largest core size whose read region fits ``budget_bytes`` of operator memory.

    ``bytes_per_px`` is the operator's peak working memory per input pixel of a
    tile (activations). The read region is ``(tile + 2 * overlap)`` squared.
    Returns a multiple of ``multiple_of`` (and of 8, which convolution kernels
    like), at least :data:`MIN_TILE_PX`, at most ``max_tile_px`` when given.
    """
    side = math.isqrt(max(0, int(budget_bytes / max(bytes_per_px, 1e-9))))
    core = side - 2 * overlap_px
    step = multiple_of * 8 // math.gcd(multiple_of, 8)
    core = max(MIN_TILE_PX, core // step * step)
    if max_tile_px is not None:
        core = min(core, max(MIN_TILE_PX, max_tile_px))
    return core


def border_gradient_ratio(image: np.ndarray, plan: TilePlan, *, scale: int) -> float:
    """Gradient energy across tile borders divided by the same away from them: a seam detector.

    ``image`` is C,H*scale,W*scale (or H,W,C is not accepted: channels first).
    For every interior core border the squared difference between the two
    output rows (columns) that straddle it is averaged; the reference is the
    same quantity over every row (column) pair at least ``2 * feather`` input
    pixels from any border. A seamless merge gives a ratio near 1 on texture
    with no preferred position; a visible seam gives a clearly larger one.
    Returns 1.0 for a plan without interior borders.
    """
    rows, cols = plan.border_positions()
    if not rows and not cols:
        return 1.0
    img = image.astype(np.float64)
    dy = np.mean((img[:, 1:, :] - img[:, :-1, :]) ** 2, axis=(0, 2))  # energy between row k and k+1
    dx = np.mean((img[:, :, 1:] - img[:, :, :-1]) ** 2, axis=(0, 1))
    keep = max(2 * plan.feather_px, 2) * scale

    def split(energy: np.ndarray, borders: tuple[int, ...]) -> tuple[list[float], list[float]]:
        at = [float(energy[b * scale - 1]) for b in borders]
        positions = np.arange(energy.size) + 1  # the border between sample k and k + 1 sits at k + 1
        far = np.ones(energy.size, dtype=bool)
        for b in borders:
            far &= np.abs(positions - b * scale) >= keep
        return at, list(energy[far])

    at_rows, far_rows = split(dy, rows)
    at_cols, far_cols = split(dx, cols)
    at = at_rows + at_cols
    far = far_rows + far_cols
    reference = float(np.mean(far)) if far else float(np.mean(np.concatenate([dy, dx])))
    return float(np.mean(at)) / max(reference, 1e-20)
