"""Tile plans, the feathered merge and the seam detector, with operators of known reach."""

from __future__ import annotations

import numpy as np
import pytest
from framefill.ops.tiling import (
    MIN_TILE_PX,
    border_gradient_ratio,
    plan_tiles,
    run_tiled,
    tile_px_for_budget,
    tile_weights,
)


def box_then_nearest(radius: int, scale: int):
    """An operator whose output at a pixel depends on inputs within ``radius`` (box mean, edge-replicated)."""

    def fn(img: np.ndarray) -> np.ndarray:
        c, h, w = img.shape
        padded = np.pad(img.astype(np.float64), ((0, 0), (radius, radius), (radius, radius)), mode="edge")
        out = np.zeros((c, h, w))
        for dy in range(2 * radius + 1):
            for dx in range(2 * radius + 1):
                out += padded[:, dy : dy + h, dx : dx + w]
        out /= (2 * radius + 1) ** 2
        # A bit of non-linearity so nothing cancels by accident.
        out = out + 0.1 * np.sin(5 * out)
        return np.repeat(np.repeat(out, scale, axis=1), scale, axis=2).astype(np.float32)

    return fn


def tile_normalised(img: np.ndarray) -> np.ndarray:
    """A non-local operator: subtract the tile's own mean (any cut changes it everywhere)."""
    return (img - img.mean() + 0.5).astype(np.float32)


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.random((3, 70, 90), dtype=np.float32)


@pytest.mark.parametrize("multiple_of", [1, 2, 4])
@pytest.mark.parametrize(("h", "w", "tile"), [(70, 90, 32), (64, 64, 64), (5, 300, 48), (33, 17, 8)])
def test_cores_partition_the_frame_and_reads_hold_their_cores(h, w, tile, multiple_of):
    # GIVEN a plan
    plan = plan_tiles(h, w, tile_px=tile, overlap_px=10, multiple_of=multiple_of, feather_px=4)
    # THEN every pixel is in exactly one core
    owner = np.zeros((h, w), dtype=int)
    for t in plan.tiles:
        owner[t.y0 : t.y1, t.x0 : t.x1] += 1
        # and each read region holds its core plus the margin, clipped to the frame
        margin = plan_margin(10, multiple_of)
        assert t.ry0 == max(0, t.y0 - margin) and t.rx1 == min(w, t.x1 + margin)
        # and read origins and interior core borders sit on the folding grid
        assert t.ry0 % multiple_of == 0 and t.rx0 % multiple_of == 0 and t.y0 % multiple_of == 0
        assert t.y1 - t.y0 <= plan.tile_px + multiple_of
    assert owner.min() == owner.max() == 1


def plan_margin(overlap: int, multiple_of: int) -> int:
    return -(-overlap // multiple_of) * multiple_of


def test_tile_px_zero_or_large_is_one_tile():
    assert len(plan_tiles(40, 50, tile_px=0, overlap_px=8).tiles) == 1
    assert len(plan_tiles(40, 50, tile_px=64, overlap_px=8).tiles) == 1
    assert len(plan_tiles(40, 50, tile_px=20, overlap_px=8).tiles) == 2 * 3


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("feather", [0, 1, 6])
def test_blend_weights_sum_to_one_everywhere(scale, feather):
    plan = plan_tiles(37, 53, tile_px=12, overlap_px=6, feather_px=feather)
    total = np.zeros((37 * scale, 53 * scale))
    for t in plan.tiles:
        wy, wx = tile_weights(plan, t, scale=scale)
        assert wy.shape == ((t.ry1 - t.ry0) * scale,) and wx.shape == ((t.rx1 - t.rx0) * scale,)
        total[t.ry0 * scale : t.ry1 * scale, t.rx0 * scale : t.rx1 * scale] += wy[:, None] * wx[None, :]
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_one_tile_is_exactly_the_operator(image, scale):
    fn = box_then_nearest(2, scale)
    plan = plan_tiles(70, 90, tile_px=0, overlap_px=4)
    np.testing.assert_array_equal(run_tiled(fn, image, plan, scale=scale), fn(image))


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("multiple_of", [1, 2])
def test_tiled_equals_untiled_when_context_covers_the_reach(image, scale, multiple_of):
    # GIVEN an operator of reach 3 and tiles whose weighted pixels keep >= 3 px of context
    fn = box_then_nearest(3, scale)
    plan = plan_tiles(70, 90, tile_px=24, overlap_px=3 + 5, multiple_of=multiple_of, feather_px=5)
    assert plan.min_context_px >= 3 and len(plan.tiles) > 4
    # WHEN run tiled
    tiled = run_tiled(fn, image, plan, scale=scale)
    # THEN it matches the untiled result to float rounding
    assert float(np.abs(tiled - fn(image)).max()) < 1e-6


def test_too_little_context_shows(image):
    # The same operator with context 1 < reach 3: the test above can fail.
    fn = box_then_nearest(3, 2)
    plan = plan_tiles(70, 90, tile_px=24, overlap_px=6, feather_px=5)
    assert float(np.abs(run_tiled(fn, image, plan, scale=2) - fn(image)).max()) > 1e-3


def test_progress_and_out_buffer(image):
    fn = box_then_nearest(1, 2)
    plan = plan_tiles(70, 90, tile_px=30, overlap_px=3, feather_px=2)
    calls = []
    buf = np.full((3, 140, 180), 7.0, dtype=np.float32)
    result = run_tiled(fn, image, plan, scale=2, out=buf, progress=lambda d, n: calls.append((d, n)))
    assert result is buf
    assert calls == [(i + 1, len(plan.tiles)) for i in range(len(plan.tiles))]
    assert float(np.abs(buf - fn(image)).max()) < 1e-6


def test_wrong_shapes_raise(image):
    plan = plan_tiles(70, 90, tile_px=30, overlap_px=3)
    with pytest.raises(ValueError, match="does not match"):
        run_tiled(lambda x: x, image[:, :60], plan, scale=1)
    with pytest.raises(ValueError, match="expected"):
        run_tiled(lambda x: x, image, plan, scale=2)
    with pytest.raises(ValueError, match="feather"):
        plan_tiles(10, 10, tile_px=4, overlap_px=2, feather_px=3)
    with pytest.raises(ValueError):
        plan_tiles(0, 10, tile_px=4, overlap_px=2)


def test_seam_detector_sees_a_naive_tiling_and_not_a_feathered_one():
    # GIVEN texture with no preferred position and an operator that depends on the whole tile
    rng = np.random.default_rng(3)
    img = (0.5 + 0.05 * rng.standard_normal((1, 96, 96))).astype(np.float32)
    img += np.linspace(0, 0.6, 96, dtype=np.float32)[None, None, :]  # a ramp: tile means differ
    naive = plan_tiles(96, 96, tile_px=32, overlap_px=0, feather_px=0)
    seamed = run_tiled(tile_normalised, img, naive, scale=1)
    # THEN the cut tiles step at their borders: a large ratio
    assert border_gradient_ratio(seamed, naive, scale=1) > 3.0
    # AND a local operator run with enough context has none (ratio near 1, as untiled)
    fn = box_then_nearest(2, 2)
    plan = plan_tiles(96, 96, tile_px=32, overlap_px=2 + 6, feather_px=6)
    tiled = run_tiled(fn, img, plan, scale=2)
    ratio_tiled = border_gradient_ratio(tiled, plan, scale=2)
    ratio_untiled = border_gradient_ratio(fn(img), plan, scale=2)
    assert abs(ratio_tiled - ratio_untiled) < 1e-3
    assert 0.3 < ratio_tiled < 3.0


def test_tile_size_from_a_budget():
    # 4 MiB at 1 KiB/px -> a 64 px read side -> 64 - 2*8 = 48 px cores
    assert tile_px_for_budget(4 << 20, bytes_per_px=1024, overlap_px=8) == 48
    assert tile_px_for_budget(4 << 20, bytes_per_px=1024, overlap_px=8, multiple_of=4) == 48
    big = tile_px_for_budget(64 << 30, bytes_per_px=1024, overlap_px=8, max_tile_px=1024)
    assert big == 1024
    assert tile_px_for_budget(1, bytes_per_px=1024, overlap_px=100) == MIN_TILE_PX
    sizes = [tile_px_for_budget(b << 20, bytes_per_px=3000, overlap_px=26) for b in (64, 256, 1024)]
    assert sizes == sorted(sizes) and all(s % 8 == 0 for s in sizes)
