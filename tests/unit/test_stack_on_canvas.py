"""ops.pixels.stack_on_canvas: the channels a fill warps, as one float32 buffer over the canvas, equal to
stacking each channel placed on the canvas with its NaN/Inf made finite."""

from __future__ import annotations

import numpy as np
import pytest
from framefill.ops.pixels import HALF_MAX, finite, on_canvas, stack_on_canvas


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.uint32])
@pytest.mark.parametrize("last_axis", [False, True])
def test_it_equals_each_channel_made_finite_and_placed_on_the_canvas(dtype, last_axis):
    gen = np.random.default_rng(5)
    window, canvas = (3, 2, 22, 13), (0, 0, 29, 19)  # 20 x 12 inside 30 x 20
    channels = [(gen.random((12, 20)) * 100).astype(dtype) for _ in range(3)]
    if dtype != np.uint32:
        channels[1][4, 5], channels[1][0, 0], channels[2][7, 19] = np.nan, np.inf, -np.inf
    got = stack_on_canvas(channels, window, canvas, last_axis=last_axis)
    expect = np.stack([on_canvas(finite(c), window, canvas) for c in channels], axis=-1 if last_axis else 0)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expect)
    if dtype != np.uint32:
        plane = got[..., 1] if last_axis else got[1]
        assert (plane[2 + 4, 3 + 5], plane[2, 3]) == (0.0, HALF_MAX)
