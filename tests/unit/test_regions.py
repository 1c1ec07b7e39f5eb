"""The re-render region rule (ops/regions.py) on constructed risk maps: blobs, margins, grid, merging, whole frame,
and the feather weights of a patch."""

from __future__ import annotations

import numpy as np
import pytest
from framefill.ops.regions import (
    Regions,
    feather_weights,
    margin_px,
    merge_boxes,
    propose_regions,
    snap_box,
)

FRAME = (0, 0, 639, 359)  # 640x360: margin max(16, 2% of 734) = 16 px


def _risk(shape=(360, 640), background=0.01):
    return np.full(shape, background, np.float32)


def test_one_blob_gets_one_box_with_margin_snapped_to_the_grid():
    risk = _risk()
    risk[150:191, 300:341] = 0.9
    regions = propose_regions(risk, data_window=FRAME, display_window=FRAME)
    # GIVEN blob x 300..340, y 150..190 WHEN +16 px margin and outward to the 16 px grid THEN:
    assert regions.boxes == ((272, 128, 367, 207),) and not regions.whole_frame
    assert regions.area_px == 96 * 80
    assert regions.to_json()["share"] == round(96 * 80 / (640 * 360), 4)


def test_two_far_blobs_get_two_boxes_and_near_blobs_merge():
    risk = _risk()
    risk[20:40, 20:40] = 0.8
    risk[300:340, 560:600] = 0.8
    far = propose_regions(risk, data_window=FRAME, display_window=FRAME)
    assert far.boxes == ((0, 0, 63, 63), (544, 272, 623, 359))
    risk = _risk()
    risk[100:120, 100:120] = 0.8
    risk[100:120, 170:190] = 0.8  # 50 px apart: the margins (16 px each side) and one grid cell join them
    near = propose_regions(risk, data_window=FRAME, display_window=FRAME)
    assert near.boxes == ((80, 80, 207, 143),)


def test_everything_bad_is_the_whole_frame():
    regions = propose_regions(np.full((360, 640), 0.7, np.float32), data_window=FRAME, display_window=FRAME)
    assert regions.whole_frame and regions.boxes == () and regions.area_px == 640 * 360
    assert "cover 100%" in regions.reason


def test_a_flat_low_map_gives_no_place_to_look_so_the_whole_frame():
    regions = propose_regions(_risk(), data_window=FRAME, display_window=FRAME)
    assert regions.whole_frame and "no excess risk" in regions.reason


def test_boxes_over_half_the_frame_become_the_whole_frame():
    risk = _risk()
    risk[:, :310] = 0.9  # 48% of the frame; with the margin and grid 52.5%
    assert propose_regions(risk, data_window=FRAME, display_window=FRAME).whole_frame
    risk = _risk()
    risk[:, :200] = 0.9
    assert propose_regions(risk, data_window=FRAME, display_window=FRAME).boxes == ((0, 0, 223, 359),)


def test_the_energy_rule_keeps_95_percent_of_the_excess():
    risk = _risk()
    risk[100:140, 100:140] = 0.9  # 1600 px x 0.85 excess
    risk[300, 600] = 0.3  # 0.25 excess: 0.02% of the energy, below the 0.5 'certain' level: left out
    regions = propose_regions(risk, data_window=FRAME, display_window=FRAME)
    assert regions.boxes == ((80, 80, 159, 159),)
    risk[300, 600] = 0.6  # more likely wrong than right: always boxed
    assert propose_regions(risk, data_window=FRAME, display_window=FRAME).boxes == (
        (80, 80, 159, 159), (576, 272, 623, 319))


def test_a_coarse_map_on_a_data_window_scales_to_display_pixels():
    risk = np.full((36, 64), 0.01, np.float32)  # a 1/10 feature grid over the data window 100..739 x 50..409
    risk[10:12, 20:22] = 0.9  # grid cells -> pixels 300..319 x 150..169 of the window -> +origin
    window = (100, 50, 739, 409)
    display = (0, 0, 999, 499)
    regions = propose_regions(risk, data_window=window, display_window=display)
    margin = margin_px(display)
    assert margin == 22
    x0, y0, x1, y1 = 100 + 200 - margin, 50 + 100 - margin, 100 + 219 + margin, 50 + 119 + margin
    assert regions.boxes == (snap_box((x0, y0, x1, y1), display),)
    assert regions.boxes == ((272, 128, 351, 191),)


def test_nan_risk_is_boxed():
    risk = _risk()
    risk[200:210, 50:60] = np.nan
    assert propose_regions(risk, data_window=FRAME, display_window=FRAME).boxes == ((32, 176, 79, 239),)


@pytest.mark.parametrize(("box", "want"), [
    pytest.param((17, 17, 20, 20), (16, 16, 31, 31), id="inside"),
    pytest.param((-5, -5, 3, 3), (0, 0, 15, 15), id="past-the-corner"),
    pytest.param((630, 350, 639, 359), (624, 336, 639, 359), id="right-edge-clipped"),
])
def test_snap_box(box, want):
    assert snap_box(box, FRAME) == want


def test_snap_box_follows_the_display_window_origin():
    assert snap_box((-90, 3, -70, 20), (-100, -8, 539, 351)) == (-100, -8, -69, 23)


def test_merge_boxes_is_transitive_and_sorted():
    assert merge_boxes([(0, 0, 15, 15), (100, 100, 115, 115), (20, 20, 50, 50), (60, 60, 90, 90)]) == (
        (0, 0, 115, 115),)
    assert merge_boxes([(200, 0, 215, 15), (0, 0, 15, 15)]) == ((0, 0, 15, 15), (200, 0, 215, 15))


def test_regions_json_round_trip():
    r = Regions((0, 0, 95, 53), ((16, 0, 47, 31),))
    assert Regions.from_json(r.to_json()) == r
    assert Regions.from_json({"whole_frame": "yes"}) is None


def test_feather_weights_ramp_inside_the_box_but_not_at_the_frame_edge():
    w = feather_weights([(0, 10, 19, 29)], (0, 0, 39, 39), frame=(0, 0, 39, 39), feather_px=4)
    assert w.shape == (40, 40)
    assert np.all(w[:10] == 0) and np.all(w[30:] == 0) and np.all(w[:, 20:] == 0)
    assert w[20, 0] == 1.0  # left side is the frame's edge: no band
    np.testing.assert_allclose(w[20, 15:20], [1.0, 0.8, 0.6, 0.4, 0.2], atol=1e-6)
    np.testing.assert_allclose(w[10:15, 5], [0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-6)
