"""The fill's per-pixel steps as torch ops (ops.tensor_pixels, ops.warp.PreparedFlow) against their
numpy and one-call references, value for value, on CPU tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from framefill.ops.pixels import HALF_MAX, cast_like, finite, on_canvas
from framefill.ops.tensor_pixels import stack_on_canvas_tensor, stored_from_tensor
from framefill.ops.warp import PreparedFlow, backward_warp, backward_warp_nearest


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint16 if array.dtype == np.float16 else np.uint32)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.uint32])
def test_the_canvas_stack_equals_numpy_s(dtype):
    gen = np.random.default_rng(3)
    window, canvas = (3, 2, 22, 13), (0, 0, 29, 19)
    channels = [(gen.standard_normal((12, 20)) * 1e3).astype(dtype) if dtype != np.uint32
                else gen.integers(0, 2**32 - 1, (12, 20), dtype=np.uint32) for _ in range(3)]
    if dtype != np.uint32:
        channels[0][1, 1], channels[1][4, 5], channels[2][7, 19] = np.nan, np.inf, -np.inf
        channels[2][0, :4] = np.array([6e-8, -6e-8, 1e-5, 65504], dtype)  # half subnormals and the largest half
    got = stack_on_canvas_tensor(channels, window, canvas, "cpu")
    expect = np.stack([on_canvas(finite(c), window, canvas) for c in channels])
    assert got.dtype == torch.float32 and tuple(got.shape) == expect.shape
    np.testing.assert_array_equal(_bits(got.numpy()), _bits(expect))
    if dtype != np.uint32:
        assert got[1, 2 + 4, 3 + 5] == HALF_MAX and got[0, 3, 4] == 0.0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.uint32])
def test_casting_back_equals_numpy_s(dtype):
    gen = np.random.default_rng(4)
    values = (gen.standard_normal((40, 50)) * 3e4).astype(np.float32)
    # Past half's range both ways, NaN, half subnormals, ties between two halves, IDs past uint32.
    values[0, :8] = [1e6, -1e6, np.nan, 3e-8, -5.96e-8, 1.00048828125, 2049.0, 65519.0]
    if dtype == np.uint32:
        values = np.abs(values) * 1e5
        values[0, :3] = [-5.0, 2.0**33, 7.5]
    got = stored_from_tensor(torch.from_numpy(values), np.dtype(dtype))
    expect = cast_like(values, np.dtype(dtype))
    assert got.dtype == expect.dtype
    np.testing.assert_array_equal(_bits(got), _bits(expect))


def _flow(gen: np.random.Generator, h: int, w: int) -> torch.Tensor:
    flow = torch.from_numpy((gen.standard_normal((1, 2, h, w)) * 4).astype(np.float32))
    flow[:, :, : h // 3] = torch.round(flow[:, :, : h // 3])  # a band of whole-pixel flows: copied exactly
    flow[0, 0, -1, -1] = float("nan")
    flow[0, 1, -1, 0] = float("inf")  # kept as it is, as backward_warp keeps it
    flow[0, 0, -2, :5] = torch.round(flow[0, 0, -2, :5])  # x whole, y not: warped, not copied
    return flow


def test_a_prepared_flow_warps_every_stack_as_the_one_call_warps_do():
    gen = np.random.default_rng(5)
    flow = _flow(gen, 31, 47)
    prepared = PreparedFlow(flow)
    for channels in (1, 4):
        image = torch.from_numpy(gen.standard_normal((1, channels, 31, 47)).astype(np.float32)) * 100
        assert torch.equal(prepared.warp(image), backward_warp(image, flow))
        assert torch.equal(prepared.nearest(image), backward_warp_nearest(image, flow))
    ids = torch.from_numpy(gen.integers(0, 2**31, (1, 1, 31, 47)))  # any dtype for the nearest warp
    assert torch.equal(prepared.nearest(ids), backward_warp_nearest(ids, flow))
    double = torch.from_numpy(gen.standard_normal((1, 2, 31, 47)))  # float64: the one-call warp itself
    assert torch.equal(prepared.warp(double), backward_warp(double, flow))
    with pytest.raises(ValueError, match="height and width"):
        prepared.warp(torch.zeros(1, 3, 30, 47))


def test_both_sources_warped_in_one_call_equal_the_one_call_warps():
    """Motion.blend_stacked warps source 0 over source 1 in one grid_sample call (parallel over its
    batch on the CPU); whole-pixel flows on one side only, a NaN flow and the ID pick stay exact."""
    from framefill.models.interp import Motion

    gen = np.random.default_rng(6)
    flow0, flow1 = _flow(gen, 31, 47), torch.from_numpy((gen.standard_normal((1, 2, 31, 47)) * 4).astype(np.float32))
    mask = torch.from_numpy(gen.uniform(0, 1, (1, 1, 31, 47)).astype(np.float32))
    motion = Motion(flow0, flow1, mask)
    source0, source1 = (torch.from_numpy(gen.standard_normal((1, 4, 31, 47)).astype(np.float32)) for _ in range(2))
    expect = backward_warp(source0, flow0) * mask + backward_warp(source1, flow1) * (1.0 - mask)
    assert torch.equal(motion.blend_stacked(torch.cat((source0, source1), 0)), expect)
    assert torch.equal(motion.blend(source0, source1), expect)
    ids0, ids1 = (torch.from_numpy(gen.integers(0, 9, (1, 1, 31, 47)).astype(np.float32)) for _ in range(2))
    nearest = motion.prepared.nearest(torch.cat((ids0, ids1), 0))
    assert torch.equal(nearest[0:1], backward_warp_nearest(ids0, flow0))
    assert torch.equal(nearest[1:2], backward_warp_nearest(ids1, flow1))


def test_a_stack_made_in_place_zeroes_what_its_window_does_not_cover():
    gen = np.random.default_rng(7)
    window, canvas = (3, 2, 22, 13), (0, 0, 29, 19)
    channels = [gen.standard_normal((12, 20)).astype(np.float16) for _ in range(2)]
    place = torch.full((2, 2, 20, 30), 7.0)[1]  # a frame's place in a stack, holding old values
    got = stack_on_canvas_tensor(channels, window, canvas, "cpu", out=place)
    assert got.data_ptr() == place.data_ptr()
    assert torch.equal(got, stack_on_canvas_tensor(channels, window, canvas, "cpu"))
    with pytest.raises(ValueError, match="out must be"):
        stack_on_canvas_tensor(channels, window, canvas, "cpu", out=torch.zeros(2, 20, 29))
