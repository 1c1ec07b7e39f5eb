"""Keyframe checks: which rendered frames are checked, which checks a fill stands beside, and how QC decides on them.

Hand-built triplets, evidence and a small calibration: no frames, no model.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
from framefill.ops.regression import LinearModel
from framefill.pipeline.calibration import (
    NOT_FINITE_REASON,
    PIXEL_TRANSFORMS,
    Calibration,
    CheckEvidence,
    FillEvidence,
    load_calibration,
    normal_quantile,
)
from framefill.pipeline.keyframe_check import (
    CheckTriplet,
    check_schedule,
    checks_beside,
)
from framefill.pipeline.plan import keyframes

NAN = float("nan")
THRESHOLD = 30.0


def _triplets(*rows: tuple[int, int, int]) -> tuple[CheckTriplet, ...]:
    return tuple(CheckTriplet(*row) for row in rows)


# ---------------------------------------------------------------------------------------
# check_schedule
# ---------------------------------------------------------------------------------------


def test_every_2nd_frame_checks_each_inner_rendered_frame():
    assert check_schedule(range(1001, 1010, 2)) == _triplets(
        (1001, 1003, 1005), (1003, 1005, 1007), (1005, 1007, 1009))


def test_every_3rd_frame():
    schedule = check_schedule([1001, 1004, 1007, 1010])
    assert schedule == _triplets((1001, 1004, 1007), (1004, 1007, 1010))
    assert [(c.span, c.t) for c in schedule] == [(6, 0.5), (6, 0.5)]


def test_every_4th_frame():
    schedule = check_schedule(range(1001, 1018, 4))
    assert schedule == _triplets((1001, 1005, 1009), (1005, 1009, 1013), (1009, 1013, 1017))
    assert {c.span for c in schedule} == {8}


def test_uneven_keyframes_check_at_their_own_positions():
    schedule = check_schedule([1001, 1004, 1008, 1009])
    assert schedule == _triplets((1001, 1004, 1008), (1004, 1008, 1009))
    assert [c.span for c in schedule] == [7, 5]
    assert schedule[0].t == pytest.approx(3 / 7) and schedule[1].t == pytest.approx(4 / 5)


def test_the_plans_keyframes_with_the_last_frame_appended():
    rendered = keyframes(range(1001, 1033), 3)
    assert rendered[-2:] == (1031, 1032)  # every 3rd from 1001, and the shot's last frame
    schedule = check_schedule(rendered)
    assert len(schedule) == len(rendered) - 2 == 10
    assert schedule[0] == CheckTriplet(1001, 1004, 1007)
    assert all(c.span == 6 and c.t == 0.5 for c in schedule[:-1])
    # The last check fills 1031 from 1028 and 1032: a span of 4 at t = 3/4.
    assert schedule[-1] == CheckTriplet(1028, 1031, 1032)
    assert schedule[-1].t == pytest.approx(0.75)


def test_a_rendered_frame_inside_a_run_of_rendered_frames_is_not_checked():
    # 1002 and 1003 have rendered frames right beside them on both sides: no fill borders them.
    assert check_schedule([1001, 1002, 1003, 1004, 1008]) == _triplets((1003, 1004, 1008))
    assert check_schedule(range(1001, 1011)) == ()  # every frame rendered: nothing filled, nothing to check
    # One adjacent neighbour is enough to check a frame when the other side has a gap.
    assert check_schedule([1001, 1003, 1004, 1005, 1007]) == _triplets((1001, 1003, 1004), (1004, 1005, 1007))


def test_a_video_checks_every_frame_between_two_real_ones():
    # Every frame of a video is real and a retime fills between each two: checks span two frames.
    assert check_schedule(range(0, 4), min_span=2) == _triplets((0, 1, 2), (1, 2, 3))


@pytest.mark.parametrize("rendered", [[], [1001], [1001, 1005], [1005, 1001, 1001, 1005]])
def test_fewer_than_three_rendered_frames_have_no_check(rendered):
    assert check_schedule(rendered) == ()


def test_unsorted_and_duplicate_input():
    expected = _triplets((1001, 1005, 1009), (1005, 1009, 1013))
    assert check_schedule([1013, 1005, 1001, 1009, 1005, 1001]) == expected
    assert check_schedule(f for f in (1009, 1013, 1001, 1005)) == expected  # any iterable, once
    schedule = check_schedule(np.array([1009, 1001, 1013, 1005], dtype=np.int64))
    assert schedule == expected and all(type(v) is int for c in schedule for v in (c.before, c.key, c.after))


# ---------------------------------------------------------------------------------------
# checks_beside
# ---------------------------------------------------------------------------------------


def test_an_inner_gap_has_the_check_at_each_end():
    schedule = check_schedule(range(1001, 1010, 2))
    # Check at 1003 fills it from 1001 and 1005; check at 1005 fills it from 1003 and 1007: both span 1003-1005.
    assert checks_beside(schedule, 1003, 1005) == _triplets((1001, 1003, 1005), (1003, 1005, 1007))
    schedule = check_schedule([1001, 1004, 1008, 1009, 1013])
    assert checks_beside(schedule, 1004, 1008) == _triplets((1001, 1004, 1008), (1004, 1008, 1009))
    # 1013 ends the shot: only the check at 1009 (filled from 1008 and 1013) covers the last gap.
    assert checks_beside(schedule, 1009, 1013) == _triplets((1008, 1009, 1013))


def test_the_gaps_at_the_shot_ends_have_one_check():
    schedule = check_schedule(range(1001, 1018, 4))
    assert checks_beside(schedule, 1001, 1005) == _triplets((1001, 1005, 1009))
    assert checks_beside(schedule, 1013, 1017) == _triplets((1009, 1013, 1017))
    # A shot of two rendered frames: no check at all.
    assert checks_beside(check_schedule([1001, 1005]), 1001, 1005) == ()


def test_every_check_beside_a_gap_covers_it_and_none_is_missed():
    rendered = keyframes(range(1001, 1033), 3)
    schedule = check_schedule(rendered)
    used = set()
    for before, after in pairwise(rendered):
        beside = checks_beside(schedule, before, after)
        assert all(c.before <= before and after <= c.after and c.key in (before, after) for c in beside)
        inner = before != rendered[0], after != rendered[-1]
        assert len(beside) == sum(inner), (before, after)
        used.update(beside)
    assert used == set(schedule)  # every check is evidence for some gap


def test_only_a_gap_between_consecutive_rendered_frames_has_checks():
    schedule = check_schedule(range(1001, 1010, 2))
    assert checks_beside(schedule, 1003, 1007) == ()
    assert checks_beside(schedule, 1001, 1009) == ()
    assert checks_beside(schedule, 1005, 1003) == ()  # backwards
    assert checks_beside((), 1003, 1005) == ()


# ---------------------------------------------------------------------------------------
# The decision rule with keyframe evidence
# ---------------------------------------------------------------------------------------

# sigma of the features alone (wide) and with checks (narrow), as a fit finds them.
FEATURES_SIGMA = 3.0
KEYFRAME_SIGMA = 1.0
ALLOWANCE = 3.0


def _calibration(**over) -> Calibration:
    """A calibration whose keyframe model predicts a fill as the mean of its worst check and its features."""
    k = len(PIXEL_TRANSFORMS)
    pixel = LinearModel(tuple(n for n, _ in PIXEL_TRANSFORMS), (0.0,) * k, (1.0,) * k, (1.0,) + (0.0,) * (k - 1), -2.0)
    frame = LinearModel(("log_mean_residual_sq",), (-4.0,), (1.0,), (-5.0,), 35.0, 0.01)
    keyframe = LinearModel(("check_psnr_min", "features_psnr"), (30.0, 30.0), (2.0, 4.0), (1.0, 2.0), 30.0, 0.1)
    args = {"pixel_model": pixel, "pixel_tau": 0.01, "pixel_transforms": PIXEL_TRANSFORMS, "frame_model": frame,
            "sigma_db": FEATURES_SIGMA, "confidence": 0.95, "threshold_db": THRESHOLD, "keyframe_model": keyframe,
            "keyframe_sigma_db": KEYFRAME_SIGMA, "check_allowance_db": ALLOWANCE}
    args.update(over)
    return Calibration(**args)


def _model_prediction(check_min: float, features: float) -> float:
    """What the keyframe model above predicts (inputs clipped as the statistics clip them)."""
    return 30.0 + (min(max(check_min, 10.0), 45.0) - 30.0) / 2.0 * 1.0 + (min(max(features, 15.0), 40.0) - 30.0) / 4.0 * 2.0


def _check(psnr_db: float, key: int = 1005, *, features: float = 33.0, span: int = 4) -> CheckEvidence:
    return CheckEvidence(psnr_db, features, key, span)


def _fill(features: float, *checks: CheckEvidence, gap: int = 2) -> FillEvidence:
    return FillEvidence(features, gap, checks)


Z95 = normal_quantile(0.95)


def test_a_failed_check_lists_the_fill_even_when_the_prediction_is_high():
    cal = _calibration()
    evidence = _fill(40.0, _check(26.5, 1005), _check(38.0, 1003))
    v = cal.judge(evidence)
    # The model alone would accept it: mean of 26.5 and 40, well above 30 + z x 1 dB.
    assert v.predicted_psnr_db == pytest.approx(_model_prediction(26.5, 40.0))
    assert v.interval_db[0] >= THRESHOLD
    assert v.listed and v.basis == "keyframe-check" and v.checks == (1005, 1003)
    assert v.reason == "beside a failed keyframe check: frame 1005 filled across 4 frames measured 26.5 dB"
    # Two failed checks: the reason names the worst.
    v = cal.judge(_fill(40.0, _check(25.0, 1005), _check(22.25, 1003, span=6)))
    assert v.listed and v.reason == "beside a failed keyframe check: frame 1003 filled across 6 frames measured 22.2 dB"


def test_the_check_allowance_sets_where_a_check_fails():
    cal = _calibration()
    just_under = cal.judge(_fill(40.0, _check(THRESHOLD - ALLOWANCE - 0.01)))
    assert just_under.listed and just_under.reason.startswith("beside a failed keyframe check: frame 1005")
    # Within the allowance the check is evidence for the model, not a verdict by itself.
    within = cal.judge(_fill(40.0, _check(THRESHOLD - ALLOWANCE + 0.01)))
    assert not within.listed and within.basis == "keyframe-check"
    strict = _calibration(check_allowance_db=0.0).judge(_fill(40.0, _check(THRESHOLD - 0.01)))
    assert strict.listed and "failed keyframe check" in strict.reason
    # A different threshold moves the failure line with it.
    assert cal.judge(_fill(40.0, _check(32.0)), 36.0).listed
    assert "failed keyframe check" in cal.judge(_fill(40.0, _check(32.0)), 36.0).reason


def test_a_shot_whose_checks_pass_accepts_its_easy_fills():
    cal = _calibration()
    for features, checks in [(34.0, (38.0, 37.0)), (31.0, (36.0,)), (36.0, (33.5, 40.0))]:
        evidence = _fill(features, *(_check(p, 1003 + 2 * i) for i, p in enumerate(checks)))
        v = cal.judge(evidence)
        assert not v.listed and v.reason == "", (features, checks)
        assert v.basis == "keyframe-check" and v.checks == tuple(1003 + 2 * i for i in range(len(checks)))
        assert v.predicted_psnr_db == pytest.approx(_model_prediction(min(checks), features))
        assert v.interval_db[0] >= THRESHOLD
        assert v.interval_db == pytest.approx((v.predicted_psnr_db - Z95 * KEYFRAME_SIGMA,
                                               v.predicted_psnr_db + Z95 * KEYFRAME_SIGMA))
        assert v.risk < 0.05


def test_without_checks_the_features_decide_with_their_wider_spread():
    cal = _calibration()
    alone = cal.judge(_fill(34.0))
    assert alone.basis == "features" and alone.checks == () and alone.predicted_psnr_db == 34.0
    assert alone.interval_db == pytest.approx((34.0 - Z95 * FEATURES_SIGMA, 34.0 + Z95 * FEATURES_SIGMA))
    checked = cal.judge(_fill(34.0, _check(38.0)))
    alone_width = alone.interval_db[1] - alone.interval_db[0]
    checked_width = checked.interval_db[1] - checked.interval_db[0]
    assert alone_width == pytest.approx(checked_width * FEATURES_SIGMA / KEYFRAME_SIGMA) and alone_width > checked_width
    # The same fill: listed on its features alone, accepted beside passing checks.
    assert alone.listed and alone.reason == (
        "predicted 34.0 dB (features), lower bound 29.1 dB at 95% confidence < 30 dB")
    assert not checked.listed
    # A calibration without a keyframe model reads no checks: the features decide.
    # Without a keyframe model the features predict, but the checks still stand as evidence:
    # a passing one changes nothing, a failed one lists the fill.
    plain = _calibration(keyframe_model=None).judge(_fill(34.0, _check(38.0)))
    assert plain.basis == "features" and plain.checks == (1005,) and plain.listed
    assert plain.interval_db == pytest.approx(alone.interval_db)
    failed = _calibration(keyframe_model=None).judge(_fill(45.0, _check(20.0)))
    assert failed.listed and failed.basis == "features"
    assert failed.reason.startswith("beside a failed keyframe check: frame 1005")


def test_a_fill_with_no_evidence_is_listed():
    cal = _calibration()
    v = cal.judge(_fill(NAN))
    assert v.listed and v.basis == "features" and v.reason == f"{NOT_FINITE_REASON}: predicted_psnr_db"
    assert math.isnan(v.predicted_psnr_db) and math.isnan(v.risk)
    # A NaN features prediction lists the frame even beside passing checks (the model reads it).
    v = cal.judge(_fill(NAN, _check(40.0)))
    assert v.listed and v.reason.startswith(NOT_FINITE_REASON) and "predicted_psnr_db" in v.reason


@pytest.mark.parametrize("bad", [NAN, math.inf, -math.inf])
def test_a_check_that_is_not_finite_lists_the_fill(bad):
    cal = _calibration()
    v = cal.judge(_fill(38.0, _check(39.0, 1003), _check(bad, 1005)))
    assert v.listed and v.reason == f"{NOT_FINITE_REASON}: keyframe check 1005"
    assert v.basis == "keyframe-check" and v.checks == (1003, 1005) and math.isnan(v.predicted_psnr_db)
    # The check's features prediction, its residual and the fill's residual are numbers QC stands on too.
    v = cal.judge(_fill(38.0, CheckEvidence(39.0, bad, 1007, 4)))
    assert v.listed and v.reason == f"{NOT_FINITE_REASON}: keyframe check 1007 features"
    v = cal.judge(_fill(38.0, CheckEvidence(39.0, 33.0, 1007, 4, bad)))
    assert v.listed and v.reason == f"{NOT_FINITE_REASON}: keyframe check 1007 residual"
    v = cal.judge(FillEvidence(38.0, 2, (_check(39.0),), bad))
    assert v.listed and v.reason == f"{NOT_FINITE_REASON}: residual_log"


def test_raising_the_confidence_lists_a_marginal_frame_and_widens_the_interval():
    cal = _calibration()
    evidence = _fill(31.0, _check(33.0))  # predicted 32.0 dB from the checks: 2 dB above the threshold
    assert cal.judge(evidence).predicted_psnr_db == pytest.approx(32.0)
    assert not cal.judge(evidence, confidence=0.9).listed  # 32 - 1.28 > 30
    v = cal.judge(evidence, confidence=0.99)  # 32 - 2.33 < 30
    assert v.listed and v.reason == (
        "predicted 32.0 dB (keyframe-check), lower bound 29.7 dB at 99% confidence < 30 dB")
    # The calibration's own confidence is the default; the argument overrides it.
    assert _calibration(confidence=0.99).judge(evidence) == v
    confidences = [0.5, 0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999]
    verdicts = [cal.judge(evidence, confidence=c) for c in confidences]
    lows = [v.interval_db[0] for v in verdicts]
    highs = [v.interval_db[1] for v in verdicts]
    assert lows == sorted(lows, reverse=True) and len(set(lows)) == len(lows)
    assert highs == sorted(highs) and len(set(highs)) == len(highs)
    assert lows[0] == pytest.approx(32.0, abs=1e-9) == highs[0]  # no width at 50%
    listed = [v.listed for v in verdicts]
    assert listed == sorted(listed) and listed[0] is False and listed[-1] is True  # once listed, listed above
    assert {v.predicted_psnr_db for v in verdicts} == {verdicts[0].predicted_psnr_db}  # only the interval moves


def test_the_keyframe_statistics_the_model_reads():
    cal = _calibration()
    # The worst check, not the mean, drives check_psnr_min; the features are clipped to 15..40 dB.
    assert cal.judge(_fill(50.0, _check(36.0), _check(44.0, 1003))).predicted_psnr_db == pytest.approx(
        _model_prediction(36.0, 40.0))
    scaled = LinearModel(("check_residual_scaled_min", "log2_span_ratio"), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0), 0.0)
    cal = _calibration(keyframe_model=scaled)
    # A fill whose sources disagree 10x less (log 1 lower) than the check's: 10 dB better than the check.
    evidence = FillEvidence(33.0, 2, (CheckEvidence(31.0, 33.0, 1005, 4, residual_log=-3.0),), residual_log=-4.0)
    assert cal.judge(evidence).predicted_psnr_db == pytest.approx(41.0)


def test_a_saved_calibration_reads_back_with_the_same_verdicts_and_id(tmp_path):
    cal = _calibration(trained_on={"scenes": ["a"]})
    path = tmp_path / "cal.json"
    cal.save(path)
    doc = json.loads(path.read_text())
    assert doc["version"] == 2 and doc["keyframe_model"]["sigma_db"] == KEYFRAME_SIGMA
    back = load_calibration(path)
    assert back.id == cal.id and back.keyframe_model == cal.keyframe_model
    assert (back.confidence, back.keyframe_sigma_db, back.check_allowance_db, back.sigma_db) == (
        0.95, KEYFRAME_SIGMA, ALLOWANCE, FEATURES_SIGMA)
    cases = [_fill(40.0, _check(26.5)), _fill(34.0, _check(38.0), _check(37.0, 1003)), _fill(34.0), _fill(NAN),
             _fill(38.0, _check(NAN)), _fill(31.0, _check(33.0)), _fill(29.0, _check(31.0), gap=3)]
    for evidence in cases:
        for threshold, confidence in [(None, None), (28.0, 0.8), (33.0, 0.99)]:
            assert repr(back.judge(evidence, threshold, confidence)) == repr(cal.judge(evidence, threshold, confidence))
    # The id is the decision: any number the rule reads changes it.
    assert replace(cal, check_allowance_db=2.0).id != cal.id
    assert replace(cal, keyframe_sigma_db=1.2).id != cal.id
    assert replace(cal, keyframe_model=None).id != cal.id
    assert replace(cal, trained_on={"scenes": ["b"]}).id == cal.id


def test_a_shot_rendered_every_4th_frame_lists_the_fills_beside_its_failed_check():
    """From rendered frames to listed fills: the schedule, the checks beside each gap, the rule."""
    cal = _calibration()
    rendered = list(range(1001, 1022, 4))  # 1001, 1005, ..., 1021
    schedule = check_schedule(rendered)
    measured = {1005: 37.0, 1009: 24.0, 1013: 38.0, 1017: 36.5}  # 1009 fails (motion the fills cannot follow)
    assert [c.key for c in schedule] == sorted(measured)
    listed, basis = {}, {}
    for before, after in pairwise(rendered):
        checks = tuple(CheckEvidence(measured[c.key], 33.0, c.key, c.span)
                       for c in checks_beside(schedule, before, after))
        for frame in range(before + 1, after):
            v = cal.judge(FillEvidence(35.0, after - before, checks))
            listed[frame], basis[frame] = v.listed, v.basis
    assert sorted(f for f, bad in listed.items() if bad) == [*range(1006, 1009), *range(1010, 1013)]
    assert set(basis.values()) == {"keyframe-check"}  # every gap of this shot has a check beside it
