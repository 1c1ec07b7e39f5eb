"""Colour round trips: invertible and unclamped within 1e-5 relative."""

import numpy as np
import pytest
from framefill.color import ColorSetup, color_spaces, from_network, to_network
from framefill.errors import ColorError

HDR_VALUES = np.array(
    [-10.0, -0.5, -1e-3, 0.0, 1e-6, 0.0031308, 0.04045, 0.18, 0.5, 1.0, 1.5, 10.0, 100.0, 1000.0, 6.0e4],
    dtype=np.float32,
)


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    # Relative error with a tiny floor so exact zeros don't divide by zero.
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


def test_round_trip_keeps_hdr_and_negative_values():
    # GIVEN every HDR value in every channel position
    rgb = np.stack(np.meshgrid(HDR_VALUES, HDR_VALUES, HDR_VALUES, indexing="ij"), axis=-1).reshape(-1, 3)
    # WHEN going to the network space and back
    back = from_network(to_network(rgb))
    # THEN nothing is clamped and the error is within 1e-5 relative
    assert _rel_err(back, rgb) < 1e-5
    assert back.max() > 5.0e4 and back.min() < -9.0


def test_network_space_is_srgb_encoding_unclamped():
    enc = to_network(np.array([[0.0, 1.0, 10.0]], dtype=np.float32))[0]
    assert enc[0] == pytest.approx(0.0, abs=1e-7)
    assert enc[1] == pytest.approx(1.0, abs=1e-5)
    # sRGB curve: 1.055 * 10^(1/2.4) - 0.055
    assert enc[2] == pytest.approx(1.055 * 10 ** (1 / 2.4) - 0.055, rel=1e-5)


def test_round_trip_random_image_other_space():
    # A gamut change mixes channels, so float32 rounding is relative to the pixel's
    # largest component, not to each channel alone.
    setup = ColorSetup(scene_linear="ACEScg")
    img = np.random.default_rng(1).lognormal(sigma=2.0, size=(32, 48, 3)).astype(np.float32)
    img[0, 0] = -0.25
    back = from_network(to_network(img, setup), setup)
    pixel_scale = np.max(np.abs(img), axis=-1, keepdims=True)
    assert float(np.max(np.abs(back - img) / pixel_scale)) < 1e-5


def test_inputs_are_not_modified():
    img = np.full((4, 4, 3), 2.0, dtype=np.float32)
    to_network(img)
    assert np.all(img == 2.0)


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(ColorSetup(scene_linear="No Such Space"), id="unknown-space"),
        pytest.param(ColorSetup(config="ocio://no-such-config"), id="unknown-config"),
    ],
)
def test_unknown_names_give_one_line_error(setup):
    with pytest.raises(ColorError) as info:
        to_network(np.zeros((1, 3), np.float32), setup)
    assert "\n" not in info.value.msg


def test_color_spaces_lists_builtin_names():
    names = color_spaces()
    assert "Linear Rec.709 (sRGB)" in names and "ACEScg" in names


def test_a_large_transform_split_over_threads_gives_the_same_values():
    from framefill.color import set_color_threads, to_display

    rgb = (np.random.default_rng(2).random((701, 401, 3)) * 4 - 0.5).astype(np.float32)  # over 2**18 pixels
    try:
        set_color_threads(1)
        alone = to_network(rgb), to_display(rgb, display="sRGB - Display", view="ACES 2.0 - SDR 100 nits (Rec.709)")
        set_color_threads(3)
        split = to_network(rgb), to_display(rgb, display="sRGB - Display", view="ACES 2.0 - SDR 100 nits (Rec.709)")
    finally:
        set_color_threads(1)
    for a, b in zip(alone, split, strict=True):
        assert a.shape == rgb.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))
