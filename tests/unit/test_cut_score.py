"""cut_score stays finite and meaningful with NaN, Inf and huge values in the frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from framefill.ops.cuts import CUT_THRESHOLD, cut_score


@pytest.fixture
def frames() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    a = rng.random((90, 160, 3)).astype(np.float32) * 0.5
    b = np.clip(a + rng.normal(0, 0.02, a.shape).astype(np.float32), 0, 1)  # same shot, a little noise
    return a, b


def test_red_team_case_huge_plus_nan_rows(frames):
    # GIVEN float32 1e30 values and NaN rows (used to raise ValueError in np.bincount)
    a, b = frames
    bad = a.copy()
    bad[:5] = 1e30
    bad[10:14] = np.nan
    score = cut_score(bad, b)
    assert math.isfinite(score) and 0.0 <= score <= 1.0


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda x: x.__setitem__((slice(0, 3),), np.nan), id="nan-rows"),
        pytest.param(lambda x: x.__setitem__((slice(None), slice(0, 4), 1), np.inf), id="inf-columns-one-channel"),
        pytest.param(lambda x: x.__setitem__((5, 5), -np.inf), id="one-neg-inf-pixel"),
        pytest.param(lambda x: x.__setitem__((slice(20, 22),), 3.0e38), id="float32-max"),
        pytest.param(lambda x: x.__setitem__((slice(20, 22),), -3.0e38), id="float32-min"),
    ],
)
def test_a_few_bad_pixels_do_not_make_a_cut(frames, damage):
    a, b = frames
    bad = a.copy()
    damage(bad)
    score = cut_score(bad, b)
    assert math.isfinite(score)
    assert score < CUT_THRESHOLD / 2  # still the same shot
    assert cut_score(bad, bad) == pytest.approx(0.0, abs=1e-6)


def test_all_non_finite_frames_score_as_a_cut(frames):
    a, _ = frames
    nan = np.full_like(a, np.nan)
    assert cut_score(nan, a) == 1.0 and cut_score(a, nan) == 1.0 and cut_score(nan, nan) == 1.0


def test_clean_frames_score_as_before(frames):
    # The finite path is the original computation: a real cut still scores high, a shot low.
    a, b = frames
    other = np.roll(1.0 - a, 7, axis=1)
    assert cut_score(a, b) < 0.2
    assert cut_score(a, other) > CUT_THRESHOLD
    assert cut_score(a, a) == 0.0


def test_float64_and_half_inputs(frames):
    a, b = frames
    bad = a.astype(np.float16)
    bad[0, 0] = np.float16(np.inf)
    assert math.isfinite(cut_score(bad, b.astype(np.float64)))
