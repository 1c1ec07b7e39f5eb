"""framefill.ops.warp: exact copies for whole-pixel flows, bilinear in between, nearest for IDs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from framefill.ops.warp import (
    backward_warp,
    backward_warp_nearest,
    backward_warp_nearest_script,
    backward_warp_script,
    rife_warp,
    rife_warp_pair,
)

torch.set_num_threads(2)

_SAME_SIZE_INT = {
    torch.float32: torch.int32,
    torch.float64: torch.int64,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


def _image(h: int = 40, w: int = 56, c: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    # HDR-ish values: negatives and values far above 1 must pass untouched.
    return (torch.randn((1, c, h, w), generator=gen) * 50).to(dtype)


def _smooth_flow(h: int, w: int, amplitude: float = 6.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    fx = amplitude * torch.sin(xx / 7.0) * torch.cos(yy / 5.0) + 0.37
    fy = amplitude * torch.cos(xx / 9.0) * torch.sin(yy / 4.0) - 0.21
    return torch.stack((fx, fy))[None]


def _bilinear_reference(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Plain float64 bilinear sampling with border clamping, one pixel at a time."""
    _, c, h, w = image.shape
    out = np.zeros((1, c, h, w))
    for y in range(h):
        for x in range(w):
            sx = min(max(x + flow[0, 0, y, x], 0.0), w - 1.0)
            sy = min(max(y + flow[0, 1, y, x], 0.0), h - 1.0)
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
            ax, ay = sx - x0, sy - y0
            out[0, :, y, x] = (
                image[0, :, y0, x0] * (1 - ax) * (1 - ay)
                + image[0, :, y0, x1] * ax * (1 - ay)
                + image[0, :, y1, x0] * (1 - ax) * ay
                + image[0, :, y1, x1] * ax * ay
            )
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("padding", ["border", "zeros"])
def test_zero_flow_returns_the_image_bit_for_bit(dtype, padding):
    # GIVEN an image with HDR values, a negative zero and an infinity
    image = _image(dtype=dtype)
    image[0, 0, 3, 4] = -0.0
    image[0, 1, 5, 6] = float("inf")
    flow = torch.zeros((1, 2, 40, 56))
    # WHEN warped by a zero flow
    out = backward_warp(image, flow, padding=padding)
    # THEN every bit survives (compared as integers: -0.0 == 0.0 would hide a sign flip)
    assert out.dtype == dtype
    bits = _SAME_SIZE_INT[dtype]
    assert torch.equal(out.view(bits), image.view(bits))


def test_rife_formulation_is_not_exact_for_zero_flow():
    # The reason backward_warp copies whole-pixel flows: the normalised-grid
    # round trip lands a hair off the pixel centres.
    image = _image(h=270, w=480)
    out = rife_warp(image, torch.zeros((1, 2, 270, 480)))
    assert not torch.equal(out, image)
    assert float((out - image).abs().max()) < 1e-4 * float(image.abs().max())


@pytest.mark.parametrize("shift", [(3, -2), (-5, 4), (0, 7)], ids=lambda s: f"dx{s[0]}dy{s[1]}")
def test_integer_translation_matches_np_roll_in_the_interior(shift):
    # GIVEN a constant whole-pixel flow (dx, dy)
    dx, dy = shift
    image = _image(c=5)
    flow = torch.empty((1, 2, 40, 56))
    flow[:, 0], flow[:, 1] = dx, dy
    # WHEN warped: out[y, x] = image[y + dy, x + dx]
    out = backward_warp(image, flow).numpy()
    rolled = np.roll(image.numpy(), shift=(-dy, -dx), axis=(2, 3))
    # THEN the interior (where no wrap-around or border clamp applies) is identical
    m = 8
    assert np.array_equal(out[..., m:-m, m:-m], rolled[..., m:-m, m:-m])


def test_border_and_zeros_padding_outside_the_image():
    image = _image(c=1)
    flow = torch.zeros((1, 2, 40, 56))
    flow[:, 0] = 100.0  # everything fetched from far right of the image
    border = backward_warp(image, flow, padding="border")
    zeros = backward_warp(image, flow, padding="zeros")
    assert torch.equal(border[0, 0], image[0, 0, :, -1:].expand(40, 56))
    assert torch.count_nonzero(zeros) == 0


def test_fractional_flow_is_bilinear_and_equals_the_rife_formulation():
    # GIVEN a smooth, everywhere-fractional flow
    image = _image(h=24, w=30, c=2, dtype=torch.float64)
    flow = _smooth_flow(24, 30).double()
    # WHEN warped
    out = backward_warp(image, flow)
    # THEN it is plain bilinear sampling (float64 reference, per pixel) ...
    expected = _bilinear_reference(image.numpy(), flow.numpy())
    assert np.abs(out.numpy() - expected).max() < 1e-9
    # ... and where no flow is whole, the same numbers as the RIFE formulation
    assert torch.equal(out, rife_warp(image, flow))


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_a_pair_warped_in_one_call_equals_two_calls(batch, dtype):
    """The networks' one-call warp of both frames gives each frame's warp bit for bit, for a batch of pairs."""
    frames0 = torch.cat([_image(c=4, dtype=dtype) + i for i in range(batch)])
    frames1 = torch.cat([_image(c=4, dtype=dtype) * 0.5 - i for i in range(batch)])
    flow = torch.cat([torch.cat((_smooth_flow(40, 56, 3.0 + i), -_smooth_flow(40, 56, 2.0)), 1) for i in range(batch)])
    both = rife_warp_pair(torch.cat((frames0, frames1)), flow)
    assert both.shape == (2 * batch, 4, 40, 56) and both.dtype == dtype
    assert torch.equal(both[:batch], rife_warp(frames0, flow[:, 0:2]))
    assert torch.equal(both[batch:], rife_warp(frames1, flow[:, 2:4]))


def test_half_precision_images_warp_with_float32_coordinates():
    image = _image(h=64, w=1024, c=1)  # wide: half-precision coordinates would be 0.5 px off here
    flow = _smooth_flow(64, 1024)
    exact = backward_warp(image, flow)
    for dtype in (torch.float16, torch.bfloat16):
        out = backward_warp(image.to(dtype), flow.to(dtype))
        assert out.dtype == dtype
        # Only the input/output rounding of the dtype remains (values up to ~250).
        tolerance = 2.0 if dtype == torch.bfloat16 else 0.25
        same_inputs = backward_warp(image.to(dtype).float(), flow.to(dtype).float())
        assert float((out.float() - same_inputs).abs().max()) < tolerance
        assert float((out.float() - exact).abs().mean()) < tolerance


def test_nan_flow_fetches_the_pixel_itself():
    image = _image()
    flow = torch.full((1, 2, 40, 56), float("nan"))
    assert torch.equal(backward_warp(image, flow), image)
    assert torch.equal(backward_warp_nearest(image, flow), image)


@pytest.mark.parametrize(
    "dtype", [torch.int32, torch.int64, torch.uint8, torch.float32], ids=lambda d: str(d).split(".")[-1]
)
def test_nearest_never_invents_values(dtype):
    # GIVEN ID channels (a few object ids, or cryptomatte-like float hashes)
    gen = torch.Generator().manual_seed(3)
    if dtype == torch.float32:
        ids = torch.randint(-(2**31), 2**31 - 1, (1, 2, 40, 56), generator=gen, dtype=torch.int64)
        ids = ids.to(torch.int32).view(torch.float32)
        ids = torch.where(torch.isfinite(ids), ids, torch.zeros_like(ids))
    else:
        ids = torch.randint(1, 200, (1, 2, 40, 56), generator=gen).to(dtype)
    flow = _smooth_flow(40, 56, amplitude=9.0)
    # WHEN warped nearest
    out = backward_warp_nearest(ids, flow)
    # THEN every output value is one of the inputs, bit for bit, and the dtype is kept
    assert out.dtype == dtype
    if dtype == torch.float32:
        assert set(out.view(torch.int32).reshape(-1).tolist()) <= set(ids.view(torch.int32).reshape(-1).tolist())
    else:
        assert set(out.reshape(-1).tolist()) <= set(ids.reshape(-1).tolist())
    # ... and the mix actually moved things
    assert not torch.equal(out, ids)


def test_nearest_picks_the_nearest_pixel_and_zero_padding_adds_only_zeros():
    ids = torch.arange(1, 41, dtype=torch.int32).view(1, 1, 1, 40).expand(1, 1, 3, 40).contiguous()
    flow = torch.zeros((1, 2, 3, 40))
    flow[:, 0] = 0.4
    assert torch.equal(backward_warp_nearest(ids, flow), ids)
    flow[:, 0] = 0.6
    shifted = backward_warp_nearest(ids, flow)
    assert torch.equal(shifted[..., :-1], ids[..., 1:])
    assert torch.equal(shifted[..., -1], ids[..., -1])  # border: the edge pixel
    zeros = backward_warp_nearest(ids, flow, padding="zeros")
    assert torch.equal(zeros[..., :-1], ids[..., 1:]) and int(zeros[..., -1].abs().sum()) == 0


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_scripted_warps_match_eager():
    image = _image(c=4)
    flow = _smooth_flow(40, 56)
    flow[..., :5, :] = torch.round(flow[..., :5, :])  # some whole-pixel rows too
    ids = torch.randint(0, 9, (1, 2, 40, 56), dtype=torch.int32)
    bilinear = torch.jit.script(backward_warp_script)
    nearest = torch.jit.script(backward_warp_nearest_script)
    grid = torch.jit.script(rife_warp)
    for padding in ("border", "zeros"):
        assert torch.equal(bilinear(image, flow, padding), backward_warp(image, flow, padding=padding))
        assert torch.equal(nearest(ids, flow, padding), backward_warp_nearest(ids, flow, padding=padding))
    assert torch.equal(grid(image, flow), rife_warp(image, flow))


@pytest.mark.parametrize(
    "image, flow, kwargs",
    [
        pytest.param(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 9), {}, id="size-mismatch"),
        pytest.param(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), {}, id="flow-channels"),
        pytest.param(torch.zeros(3, 8, 8), torch.zeros(1, 2, 8, 8), {}, id="image-3d"),
        pytest.param(torch.zeros(1, 3, 8, 8, dtype=torch.int32), torch.zeros(1, 2, 8, 8), {}, id="int-bilinear"),
        pytest.param(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 8), {"padding": "reflection"}, id="padding"),
    ],
)
def test_bad_arguments_are_refused(image, flow, kwargs):
    with pytest.raises(ValueError):
        backward_warp(image, flow, **kwargs)
