"""Rank statistics and false colour of QC, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from framefill.errors import InputError
from framefill.ops.errormaps import (
    error_to_unit,
    false_colour,
    overlay,
    rankdata,
    roc_auc,
    spearman,
)


def test_rankdata_averages_ties():
    assert rankdata(np.array([3.0, 1.0, 2.0, 2.0])).tolist() == [4.0, 1.0, 2.5, 2.5]
    assert rankdata(np.array([5.0, 5.0, 5.0])).tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        # 2 positives x 2 negatives: pairs (0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4) -> 3/4.
        pytest.param([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75, id="classic"),
        pytest.param([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 1.0, id="perfect"),
        pytest.param([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0], 0.0, id="inverted"),
        # A tie between a positive and a negative counts one half: (1 + 0.5) / 2.
        pytest.param([0.5, 0.5, 0.2], [1, 0, 0], 0.75, id="tie-counts-half"),
    ],
)
def test_roc_auc_hand_examples(scores, labels, expected):
    assert roc_auc(np.array(scores), np.array(labels)) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_of_one_class_is_nan():
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_spearman_hand_example():
    # Ranks of b: 1, 2, 3.5, 5, 3.5; deviations (-2,-1,0,1,2) and (-2,-1,.5,2,.5): 8 / sqrt(10 * 9.5).
    assert spearman(np.array([1, 2, 3, 4, 5]), np.array([5, 6, 7, 8, 7])) == pytest.approx(8 / math.sqrt(95), abs=1e-12)
    assert spearman(np.array([1, 2, 3]), np.array([30, 20, 10])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 2, 3]), np.array([1.0, 4.0, 9.0])) == pytest.approx(1.0)


def test_spearman_edge_cases():
    assert math.isnan(spearman(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])))
    with pytest.raises(InputError, match="equal length"):
        spearman(np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]))


def test_false_colour_ramp_ends_and_monotone_lightness():
    v = np.linspace(0, 1, 11, dtype=np.float32)[None, :]
    rgb = false_colour(v)[0]
    assert rgb.shape == (11, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0], [0.0, 0.0, 0.02], atol=1e-6)
    np.testing.assert_allclose(rgb[-1], [1.0, 1.0, 0.8], atol=1e-6)
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    assert np.all(np.diff(luma) > 0)
    # NaN and out-of-range values are clipped, never propagated.
    assert np.isfinite(false_colour(np.array([[np.nan, -3.0, 7.0]], np.float32))).all()


def test_error_to_unit_log_scale():
    out = error_to_unit(np.array([0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], np.float32))
    np.testing.assert_allclose(out, [0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0], atol=1e-6)


def test_overlay_leaves_zero_risk_pixels_grey():
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    unit = np.array([[0.0, 1.0], [0.0, 0.5]], np.float32)
    out = overlay(rgb, unit)
    np.testing.assert_allclose(out[0, 0], [0.3, 0.3, 0.3], atol=1e-6)  # 0.5 grey darkened by 0.6
    assert float(out[1, 1, 0]) - float(out[1, 1, 2]) > 0.2  # coloured (red-orange) where the risk is high
