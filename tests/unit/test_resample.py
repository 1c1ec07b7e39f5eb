"""Classical resampling (ops/resample.py): the half-pixel grid, the filters' promises
(nearest bit-exact, smooth and anti-ringed Lanczos never overshoot) and output sizing."""

from __future__ import annotations

import numpy as np
import pytest
from framefill.errors import InputError
from framefill.ops.resample import OutputSize, plan_output_size, resize
from framefill.requests import parse_size


def test_half_pixel_centres_bilinear_x2():
    # GIVEN a 0 -> 1 step; WHEN enlarged x2 with half-pixel centres (-0.25, 0.25, 0.75, 1.25, clamped)
    row = np.array([[0.0, 1.0]], dtype=np.float32)
    out = resize(row, height=1, width=4, method="bilinear")
    # THEN the samples are the hand-computed ones
    np.testing.assert_allclose(out, [[0.0, 0.25, 0.75, 1.0]], atol=1e-6)


def test_area_shrink_is_the_block_mean():
    image = np.random.default_rng(1).random((8, 12, 3), dtype=np.float32)
    out = resize(image, height=4, width=6, method="area")
    np.testing.assert_allclose(out, image.reshape(4, 2, 6, 2, 3).mean(axis=(1, 3)), atol=1e-6)


def test_nearest_keeps_dtype_and_exact_values():
    ids = np.random.default_rng(2).integers(0, 2**32, size=(5, 7), dtype=np.uint64).astype(np.uint32)
    out = resize(ids, height=10, width=14, method="nearest")
    assert out.dtype == np.uint32
    assert np.array_equal(out, np.repeat(np.repeat(ids, 2, axis=0), 2, axis=1))
    # a non-integer factor still picks input samples only
    odd = resize(ids, height=7, width=9, method="nearest")
    assert set(odd.ravel().tolist()) <= set(ids.ravel().tolist())


def test_smooth_never_overshoots_either_way():
    data = np.random.default_rng(3).normal(0.0, 10.0, size=(9, 11)).astype(np.float32)
    for h, w in ((27, 33), (4, 5), (27, 5), (4, 33)):  # grow, shrink, and the two mixed cases
        out = resize(data, height=h, width=w, method="smooth")
        assert out.shape == (h, w)
        assert data.min() - 1e-5 <= out.min() and out.max() <= data.max() + 1e-5


def test_antiring_lanczos_keeps_hdr_highlights_without_negative_lobes():
    # GIVEN a 50.0 glint on a 0.1 floor (scene-linear HDR)
    image = np.full((8, 8), 0.1, dtype=np.float32)
    image[3:5, 3:5] = 50.0
    # WHEN enlarged x4 by plain Lanczos-4 and by the anti-ringed one
    plain = resize(image, height=32, width=32, method="lanczos")
    clean = resize(image, height=32, width=32, method="lanczos", antiring=True)
    # THEN plain Lanczos rings below zero (the failure antiring exists for) and the clamped one stays
    # within the input range while keeping the highlight's level
    assert plain.min() < 0.0
    assert clean.min() >= 0.1 - 1e-6 and clean.max() <= 50.0 + 1e-4
    assert clean.max() >= 49.0


def test_more_than_four_channels_match_per_channel_resizes():
    image = np.random.default_rng(4).random((6, 10, 6), dtype=np.float32)
    out = resize(image, height=3, width=5, method="area")
    for c in range(6):
        # OpenCV's SIMD paths for 1 and 4 channels may differ in the last bit
        np.testing.assert_allclose(out[:, :, c], resize(image[:, :, c], height=3, width=5, method="area"), atol=1e-6)


def test_same_size_is_a_copy_and_bad_arguments_raise():
    image = np.ones((4, 4), dtype=np.float16)
    same = resize(image, height=4, width=4, method="lanczos")
    assert same.dtype == np.float32 and np.array_equal(same, image) and not np.shares_memory(same, image)
    with pytest.raises(ValueError, match="unknown resampling method"):
        resize(image, height=8, width=8, method="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot resample"):
        resize(image, height=0, width=8, method="area")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(dict(scale=1.5), OutputSize(16, 12, 24, 18, 24, 18), id="scale-1.5"),
        pytest.param(dict(), OutputSize(16, 12, 64, 48, 64, 48), id="default-x4"),
        pytest.param(dict(size=(32, 24)), OutputSize(16, 12, 32, 24, 32, 24), id="size-same-aspect"),
        pytest.param(dict(size=(48, 48), aspect="stretch"), OutputSize(16, 12, 48, 48, 48, 48), id="stretch"),
        pytest.param(dict(size=(48, 48), aspect="fit"), OutputSize(16, 12, 48, 36, 48, 48, 0, 6), id="fit-bars"),
        pytest.param(dict(size=(48, 48), aspect="fill"), OutputSize(16, 12, 64, 48, 48, 48, -8, 0), id="fill-crop"),
    ],
)
def test_plan_output_size(kwargs, expected):
    assert plan_output_size(16, 12, **kwargs) == expected


def test_plan_output_size_refuses_an_unasked_aspect_change_and_bad_values():
    with pytest.raises(InputError, match="--aspect fit"):
        plan_output_size(16, 12, size=(48, 48))
    with pytest.raises(InputError, match="not both"):
        plan_output_size(16, 12, scale=2, size=(32, 24))
    for bad in (0.0, -2.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="--scale"):
            plan_output_size(16, 12, scale=bad)
    # 853x480 (an NTSC widescreen width, rounded) -> 1920x1080 is the same aspect up to the input's
    # own rounding: accepted; a target a pixel off the exact ratio is an aspect change, said out loud
    assert plan_output_size(853, 480, size=(1920, 1080)).uniform
    with pytest.raises(InputError, match="changes the aspect ratio"):
        plan_output_size(1920, 1080, size=(3840, 2161))


@pytest.mark.parametrize("text", ["3840", "0x100", "abcx100", "10x-4", "1x2x3", "", "96000x54"])
def test_parse_size_names_the_field(text):
    with pytest.raises(InputError, match="^size .* is not WIDTHxHEIGHT"):
        parse_size(text)


def test_parse_size_reads_width_then_height():
    assert parse_size("3840x2160") == (3840, 2160) and parse_size("64X48") == (64, 48)


@pytest.mark.parametrize(("shape", "size"), [((7, 9, 3), (28, 36)), ((5, 1), (17, 3)), ((6, 11), (19, 31)),
                                             ((1, 4, 2), (3, 13)), ((9, 8, 3), (9, 20))])
def test_antiring_clamps_each_sample_into_its_2x2_source_neighbourhood_exactly(shape, size):
    """Value for value against a per-pixel reference: the rows below and right of each output centre
    (clipped at the edges), any scale, one or several channels, a one-column source."""
    from framefill.ops.resample import _antiring, _centres

    src = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    out_h, out_w = size
    ringing = np.random.default_rng(10).standard_normal((out_h, out_w, *shape[2:])).astype(np.float32) * 3
    got = _antiring(ringing.copy(), src)
    expect = ringing.copy()
    for y, cy in enumerate(_centres(out_h, shape[0])):
        for x, cx in enumerate(_centres(out_w, shape[1])):
            y0, x0 = min(max(int(np.floor(cy)), 0), shape[0] - 1), min(max(int(np.floor(cx)), 0), shape[1] - 1)
            block = src[y0 : min(y0 + 1, shape[0] - 1) + 1, x0 : min(x0 + 1, shape[1] - 1) + 1]
            lo, hi = block.min(axis=(0, 1)), block.max(axis=(0, 1))
            expect[y, x] = np.minimum(np.maximum(expect[y, x], lo), hi)
    np.testing.assert_array_equal(got, expect)
