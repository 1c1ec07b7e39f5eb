"""Pixel maths of the viewer (numpy, no Qt): OCIO display, exposure, layers, overlays, wipes."""

from __future__ import annotations

import numpy as np
import pytest
from framefill.errors import ColorError, ExrError
from framefill.frames import read_exr
from framefill.ops.errormaps import false_colour
from framefill.review import display as dsp

SRGB_DISPLAY = "sRGB - Display"


def srgb_encode(linear: float) -> float:
    """The sRGB transfer function (IEC 61966-2-1)."""
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


@pytest.mark.parametrize("linear", [0.18, 0.5, 0.01, 1.0])
def test_a_known_linear_value_through_the_srgb_view(linear):
    # GIVEN the built-in config's sRGB display, un-tone-mapped view
    look = dsp.default_look(display=SRGB_DISPLAY, view="Un-tone-mapped")
    plane = dsp.Plane(np.full((2, 2, 3), linear, np.float32), True)
    # THEN the display value is the sRGB encoding of the linear value (0.18 -> 0.4614, code 118)
    shown = dsp.display_image(plane, look)
    assert shown[0, 0, 0] == pytest.approx(srgb_encode(linear), abs=1 / 255)
    if linear == 0.18:
        assert dsp.to_rgb8(shown)[0, 0].tolist() == [118, 118, 118]


def test_exposure_is_in_stops_before_the_view():
    look = dsp.default_look(display=SRGB_DISPLAY, view="Un-tone-mapped")
    plane = dsp.Plane(np.full((1, 1, 3), 0.09, np.float32), True)
    from dataclasses import replace

    shown = dsp.display_image(plane, replace(look, exposure_stops=1.0))
    assert shown[0, 0, 0] == pytest.approx(srgb_encode(0.18), abs=1 / 255)


def test_the_default_view_is_the_configs_and_a_tone_mapped_view_compresses_highlights():
    look = dsp.default_look()
    assert look.display == SRGB_DISPLAY and look.view.startswith("ACES")
    shown = dsp.display_image(dsp.Plane(np.array([[[0.18] * 3, [8.0] * 3]], np.float32), True), look)
    assert 0.25 < shown[0, 0, 0] < 0.45 and shown[0, 1, 0] < 1.0  # mid grey darker, 8.0 not clipped


def test_an_unknown_view_is_one_line():
    with pytest.raises(ColorError, match="has no view 'Filmic'"):
        dsp.default_look(display=SRGB_DISPLAY, view="Filmic")


def test_layers_beauty_alpha_and_aovs(flat_shot):
    image = read_exr(flat_shot.path(2))
    assert dsp.layer_names(image) == ["beauty", "alpha", "depth"]
    assert dsp.select_layer(image, "beauty").rgb[0, 0].tolist() == pytest.approx([0.18] * 3)
    alpha = dsp.select_layer(image, "alpha")
    assert not alpha.colour and alpha.rgb[0, 0].tolist() == [1.0, 1.0, 1.0]
    depth = dsp.select_layer(image, "depth")
    assert depth.rgb[0, 0, 0] == pytest.approx(1.0) and depth.rgb[0, -1, 0] == pytest.approx(10.0)
    with pytest.raises(ExrError, match="has no layer 'N'"):
        dsp.select_layer(image, "N")


def test_overlay_wipe_and_side_by_side_pixels():
    a = np.full((4, 8, 3), 0.2, np.float32)
    b = np.full((4, 8, 3), 0.8, np.float32)
    unit = np.zeros((4, 8), np.float32)
    unit[:, 4:] = 1.0
    over = dsp.heat_overlay(a, unit, 0.5)
    np.testing.assert_allclose(over[0, 0], 0.5 * 0.2 + 0.5 * false_colour(np.zeros((1, 1)))[0, 0], atol=1e-6)
    np.testing.assert_allclose(over[0, 7], 0.5 * 0.2 + 0.5 * false_colour(np.ones((1, 1)))[0, 0], atol=1e-6)
    wiped = dsp.wipe(a, b, 0.25)
    assert wiped[0, 1, 0] == pytest.approx(0.2) and wiped[0, 2, 0] == pytest.approx(0.8)
    side = dsp.side_by_side(a, b)
    assert side.shape == (4, 16, 3) and side[0, 7, 0] == pytest.approx(0.2) and side[0, 8, 0] == pytest.approx(0.8)


def test_proxy_is_downscaled_and_keeps_the_mean():
    plane = dsp.Plane(np.random.default_rng(0).random((100, 400, 3)).astype(np.float32), True)
    small = dsp.proxy(plane, 100)
    assert small.rgb.shape == (25, 100, 3)
    assert small.rgb.mean() == pytest.approx(plane.rgb.mean(), abs=1e-3)
    assert dsp.proxy(plane, 1000) is plane
