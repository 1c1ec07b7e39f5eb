"""The QC calibration: numpy fitting, the file format, the decision rule, the shipped default."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from framefill.errors import InputError
from framefill.ops.errormaps import FEATURE_NAMES
from framefill.ops.regression import (
    LinearModel,
    choose_ridge_l2,
    fit_logistic,
    fit_ridge,
)
from framefill.pipeline.calibration import (
    CALIBRATION_FORMAT,
    CALIBRATION_VERSION,
    DEFAULT_CONFIDENCE,
    FRAME_AGGREGATES,
    KEYFRAME_STATISTICS,
    NOT_FINITE_REASON,
    PIXEL_TRANSFORMS,
    Calibration,
    CheckEvidence,
    FillEvidence,
    default_calibration,
    load_calibration,
    normal_cdf,
    normal_quantile,
)

# The confidence at which the tiny calibration's features sigma (2 dB) asks for a 1.5 dB
# margin: the operating point its version-1 file (margin_db 1.5) had.
_CONFIDENCE_1_5_DB = normal_cdf(1.5 / 2.0)


def _tiny_calibration(**over) -> Calibration:
    k = len(PIXEL_TRANSFORMS)
    pixel = LinearModel(tuple(n for n, _ in PIXEL_TRANSFORMS), (0.0,) * k, (1.0,) * k,
                        (1.0,) + (0.0,) * (k - 1), -2.0)
    frame = LinearModel(("log_mean_residual_sq",), (-4.0,), (1.0,), (-5.0,), 35.0, 0.01)
    args = {"pixel_model": pixel, "pixel_tau": 0.01, "pixel_transforms": PIXEL_TRANSFORMS, "frame_model": frame,
            "sigma_db": 2.0, "confidence": _CONFIDENCE_1_5_DB, "trained_on": {"scenes": ["a", "b"]}}
    args.update(over)
    return Calibration(**args)


def _keyframe_model() -> LinearModel:
    """PSNR of a fill = the mean of its worst check and its features' prediction."""
    return LinearModel(("check_psnr_min", "features_psnr"), (0.0, 0.0), (1.0, 1.0), (0.5, 0.5), 0.0, 0.1)


def _with_keyframes(**over) -> Calibration:
    args = {"keyframe_model": _keyframe_model(), "keyframe_sigma_db": 1.0, "check_allowance_db": 3.0}
    args.update(over)
    return _tiny_calibration(**args)


def _v1_doc(margin_db: object = 1.5) -> dict:
    """The tiny calibration as a version-1 file wrote it: the margin over the threshold, no confidence."""
    doc = _tiny_calibration().to_json()
    doc["version"] = 1
    doc["operating_point"] = {"margin_db": margin_db,
                              "rule": "re-render a filled frame when predicted PSNR < threshold_db + margin_db"}
    return doc


def _listed(cal: Calibration, predicted: float, threshold: float | None = None) -> bool:
    return cal.judge(FillEvidence(predicted), threshold).listed


def test_normal_cdf():
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1.0) == pytest.approx(0.15865525393145707, abs=1e-12)


def test_normal_quantile_inverts_the_cdf():
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, abs=1e-9)
    assert normal_quantile(0.95) == pytest.approx(1.6448536269514722, abs=1e-9)
    assert normal_quantile(0.5) == pytest.approx(0.0, abs=1e-12)
    for p in (0.01, 0.3, 0.77, 0.999):
        assert normal_cdf(normal_quantile(p)) == pytest.approx(p, abs=1e-12)
    assert normal_quantile(0.2) == pytest.approx(-normal_quantile(0.8), abs=1e-12)


def test_fit_logistic_recovers_known_weights():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40000, 2)) * [2.0, 0.5] + [1.0, -3.0]
    true_logit = 0.5 + 1.5 * (x[:, 0] - 1.0) - 4.0 * (x[:, 1] + 3.0)
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-true_logit))).astype(float)
    model = fit_logistic(x, y, inputs=("a", "b"), l2=0.0)
    # Standardised coefficients are the raw ones times each input's spread.
    np.testing.assert_allclose(np.array(model.coef) / np.array(model.scale), [1.5, -4.0], rtol=0.06)
    np.testing.assert_allclose(model.decision(x), true_logit, atol=0.35)


def test_fit_logistic_needs_both_classes():
    with pytest.raises(InputError, match="both low- and high-error"):
        fit_logistic(np.zeros((5, 1)), np.ones(5), inputs=("a",))


def test_fit_ridge_is_least_squares_without_penalty_and_shrinks_with_one():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3))
    y = x @ [1.0, -2.0, 0.5] + 7.0 + rng.normal(size=50) * 0.01
    model = fit_ridge(x, y, inputs=("a", "b", "c"), l2=0.0)
    design = np.hstack([x, np.ones((50, 1))])
    ls, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(model.decision(x), design @ ls, atol=1e-9)
    heavy = fit_ridge(x, y, inputs=("a", "b", "c"), l2=1e6)
    assert np.max(np.abs(heavy.coef)) < 1e-4 and heavy.intercept == pytest.approx(y.mean())


def test_choose_ridge_l2_predicts_each_scene_from_the_others():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    y = x @ [3.0, -1.0] + rng.normal(size=30)
    groups = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    l2, oof = choose_ridge_l2(x, y, groups, grid=(0.01,))
    assert l2 == 0.01
    hold = np.array(groups) == "b"
    by_hand = fit_ridge(x[~hold], y[~hold], inputs=("0", "1"), l2=0.01).decision(x[hold])
    np.testing.assert_allclose(oof[hold], by_hand, atol=1e-12)


def test_risk_and_operating_point():
    cal = _tiny_calibration()
    assert cal.risk(31.0, 30.0) == pytest.approx(normal_cdf(-0.5))
    assert cal.risk(30.0) == pytest.approx(0.5)  # the calibration's own 30 dB default
    assert cal.risk(31.0, 30.0, sigma_db=1.0) == pytest.approx(normal_cdf(-1.0))
    assert cal.confidence == pytest.approx(0.7733726476, abs=1e-9)
    assert cal.margin_db() == pytest.approx(1.5, abs=1e-9)  # z(confidence) x 2 dB
    assert cal.margin_db("features", 0.95) == pytest.approx(1.6448536269514722 * 2.0, abs=1e-9)
    # Without a keyframe model a check-based margin is the features' one.
    assert cal.margin_db("keyframe-check") == pytest.approx(1.5, abs=1e-9)
    assert _listed(cal, 31.4, 30.0) and not _listed(cal, 31.6, 30.0)  # 1.5 dB above the threshold
    assert _listed(cal, 33.0, 32.0) and not _listed(cal, 33.0, 28.0)  # any threshold
    assert _listed(cal, 29.0) and not _listed(cal, 32.0)  # the calibration's own threshold
    v = cal.judge(FillEvidence(33.0), 30.0)
    assert not v.listed and v.reason == "" and v.basis == "features" and v.checks == ()
    assert v.predicted_psnr_db == 33.0 and v.risk == pytest.approx(cal.risk(33.0, 30.0))
    assert v.interval_db == pytest.approx((31.5, 34.5), abs=1e-9)


def test_the_confidence_argument_overrides_the_calibrations():
    cal = _tiny_calibration()
    assert not _listed(cal, 31.6, 30.0)
    v = cal.judge(FillEvidence(31.6), 30.0, 0.95)  # margin 3.29 dB
    assert v.listed and v.interval_db[0] == pytest.approx(31.6 - 1.6448536269514722 * 2.0, abs=1e-9)
    assert v.reason == "predicted 31.6 dB (features), lower bound 28.3 dB at 95% confidence < 30 dB"
    # A lower confidence accepts what the calibration's own lists.
    assert _listed(cal, 31.0, 30.0) and not cal.judge(FillEvidence(31.0), 30.0, 0.6).listed
    with_default = _tiny_calibration(confidence=0.95).judge(FillEvidence(31.6), 30.0)
    assert with_default == v


def test_predict_reads_the_named_statistics():
    cal = _tiny_calibration()
    maps = {n: np.zeros((4, 6), np.float32) for n in FEATURE_NAMES}
    maps["residual"][:] = 0.1  # mean residual^2 = 0.01 -> log10(0.01 + 1e-6)
    pred = cal.predict(maps)
    expected = 35.0 - 5.0 * (math.log10(0.01 + 1e-6) + 4.0)
    assert pred.predicted_psnr_db == pytest.approx(expected, abs=1e-5)  # float32 maps
    assert pred.risk_map.shape == (4, 6) and pred.risk_map.dtype == np.float32
    # Pixel model: sigmoid(-2 + log10(0.1 + 1e-3)).
    assert float(pred.risk_map[0, 0]) == pytest.approx(1 / (1 + math.exp(2 - math.log10(0.101))), abs=1e-6)


def test_round_trip_keeps_the_id(tmp_path):
    cal = _tiny_calibration()
    path = tmp_path / "cal.json"
    cal.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == CALIBRATION_FORMAT and doc["version"] == CALIBRATION_VERSION == 2
    assert doc["features"] == list(FEATURE_NAMES)
    assert doc["operating_point"]["confidence"] == cal.confidence and "margin_db" not in doc["operating_point"]
    assert doc["operating_point"]["check_allowance_db"] == 0.0
    assert "keyframe_model" not in doc  # none fitted
    back = load_calibration(path)
    assert back.id == cal.id and len(cal.id) == 12
    assert back.frame_model == cal.frame_model and back.pixel_model == cal.pixel_model
    assert back.confidence == cal.confidence and back.keyframe_model is None
    assert back.source == str(path)
    # The id follows the numbers, not the bookkeeping.
    assert _tiny_calibration(trained_on={"scenes": ["z"]}).id == cal.id
    assert _tiny_calibration(confidence=0.95).id != cal.id
    assert _tiny_calibration(check_allowance_db=2.0).id != cal.id


def test_round_trip_of_a_keyframe_model(tmp_path):
    cal = _with_keyframes()
    path = tmp_path / "cal.json"
    cal.save(path)
    doc = json.loads(path.read_text())
    assert doc["keyframe_model"]["sigma_db"] == 1.0 and doc["keyframe_model"]["kind"] == "ridge"
    assert doc["keyframe_model"]["inputs"] == ["check_psnr_min", "features_psnr"]
    assert doc["operating_point"]["check_allowance_db"] == 3.0
    back = load_calibration(path)
    assert back.id == cal.id and back.id != _tiny_calibration().id
    assert back.keyframe_model == cal.keyframe_model
    assert (back.keyframe_sigma_db, back.check_allowance_db) == (1.0, 3.0)
    assert back.margin_db("keyframe-check") == pytest.approx(normal_quantile(cal.confidence) * 1.0, abs=1e-12)
    assert _with_keyframes(keyframe_sigma_db=1.5).id != cal.id
    model = _keyframe_model()
    assert _with_keyframes(keyframe_model=LinearModel(model.inputs, model.mean, model.scale, (0.6, 0.4),
                                                      model.intercept, model.l2)).id != cal.id


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        pytest.param(lambda d: d.update(format="something-else"), "not a framefill QC calibration", id="format"),
        pytest.param(lambda d: d.update(version=99), "upgrade framefill", id="newer"),
        pytest.param(lambda d: d.update(version=3), "is calibration version 3; this framefill reads version 2",
                     id="next-version"),
        pytest.param(lambda d: d.update(version=0), "version must be a calibration version number", id="version-0"),
        pytest.param(lambda d: d["frame_model"].update(inputs=["no_such_stat"]), "unknown to this framefill",
                     id="unknown-statistic"),
        pytest.param(lambda d: d.pop("operating_point"), "damaged or incomplete", id="missing-field"),
        pytest.param(lambda d: d["frame_model"].update(sigma_db=0.0), "sigma_db must be a positive finite number",
                     id="sigma"),
        # Numbers that would make QC flag nothing (or everything), or crash in the matrix maths.
        pytest.param(lambda d: d["operating_point"].update(confidence=float("nan")),
                     "operating_point.confidence must be a finite number, got nan", id="confidence-nan"),
        pytest.param(lambda d: d["operating_point"].update(confidence=float("inf")),
                     "operating_point.confidence must be a finite number, got inf", id="confidence-inf"),
        pytest.param(lambda d: d["operating_point"].update(confidence="0.95"),
                     "operating_point.confidence must be a finite number, got '0.95'", id="confidence-string"),
        pytest.param(lambda d: d["operating_point"].update(confidence=True), "confidence must be a finite number",
                     id="confidence-bool"),
        pytest.param(lambda d: d["operating_point"].update(confidence=None), "confidence must be a finite number, "
                     "got None", id="confidence-null"),
        pytest.param(lambda d: d["operating_point"].update(confidence=0.4),
                     "operating_point.confidence must be a probability from 0.5 to below 1, got 0.4",
                     id="confidence-below-half"),
        pytest.param(lambda d: d["operating_point"].update(confidence=-0.95),
                     "operating_point.confidence must be a probability from 0.5 to below 1", id="confidence-negative"),
        pytest.param(lambda d: d["operating_point"].update(confidence=1),
                     "operating_point.confidence must be a probability from 0.5 to below 1, got 1.0",
                     id="confidence-one"),
        pytest.param(lambda d: d["operating_point"].update(confidence=95),
                     "operating_point.confidence must be a probability from 0.5 to below 1", id="confidence-percent"),
        pytest.param(lambda d: d["operating_point"].pop("confidence"), "operating_point.confidence is missing",
                     id="confidence-missing"),
        # A version-2 file is not read as a margin: a leftover margin_db does not stand in for the confidence.
        pytest.param(lambda d: d["operating_point"].update(margin_db=1.5, confidence=None),
                     "operating_point.confidence must be a finite number", id="margin-in-version-2"),
        pytest.param(lambda d: d["operating_point"].update(check_allowance_db=float("nan")),
                     "operating_point.check_allowance_db must be a finite number of dB, got nan", id="allowance-nan"),
        pytest.param(lambda d: d["operating_point"].update(check_allowance_db="3"),
                     "operating_point.check_allowance_db must be a finite number of dB", id="allowance-string"),
        pytest.param(lambda d: d.update(threshold_db=None), "threshold_db must be a finite number", id="threshold"),
        pytest.param(lambda d: d["frame_model"].update(coef=[1.0, 2.0]),
                     r"frame_model.coef must be a list of 1 finite numbers \(one per input\), got a list of 2",
                     id="coef-length"),
        pytest.param(lambda d: d["frame_model"]["standardise"].update(mean=[]), "frame_model.standardise.mean",
                     id="mean-length"),
        pytest.param(lambda d: d["pixel_model"]["standardise"].update(scale=[0.0] * 8),
                     "pixel_model.standardise.scale must be a list of 8 positive", id="scale-zero"),
        pytest.param(lambda d: d["pixel_model"].update(coef=[1.0] * 7 + [float("nan")]),
                     "pixel_model.coef must be a list of 8 finite numbers .*holding nan", id="coef-nan"),
        pytest.param(lambda d: d["pixel_model"].update(coef="abc"), "pixel_model.coef must be a list", id="coef-str"),
        pytest.param(lambda d: d["frame_model"].update(intercept=float("-inf")), "frame_model.intercept",
                     id="intercept"),
        pytest.param(lambda d: d["pixel_model"].update(tau=-1), "pixel_model.tau must be a positive", id="tau"),
        pytest.param(lambda d: d["pixel_model"].update(inputs=["residual"]), "pixel_model.inputs must be the transforms'",
                     id="pixel-inputs"),
        pytest.param(lambda d: d["pixel_model"]["transforms"].pop(), "pixel_model.inputs must be the transforms'",
                     id="transforms-inputs"),
        pytest.param(lambda d: d["pixel_model"]["transforms"][0].update(log10_eps=0), "log10_eps must be a positive",
                     id="eps-zero"),
        pytest.param(lambda d: d["pixel_model"]["transforms"][0].update(log10_eps="x"), r"transforms\[0\].log10_eps",
                     id="eps-string"),
        pytest.param(lambda d: d["pixel_model"].update(transforms=[7]), r"transforms\[0\] must be an object",
                     id="transform-not-object"),
        pytest.param(lambda d: d["frame_model"].update(inputs=[]), "frame_model.inputs must be a non-empty list",
                     id="no-inputs"),
        pytest.param(lambda d: d["frame_model"].update(kind="lasso"), "frame_model.kind must be 'ridge'", id="kind"),
        pytest.param(lambda d: d["frame_model"].update(l2=-1.0), "frame_model.l2 must be 0 or more", id="l2"),
        pytest.param(lambda d: d["frame_model"].pop("standardise"), "damaged or incomplete: "
                     "frame_model.standardise.mean is missing", id="missing-standardise"),
        pytest.param(lambda d: d.update(version="1"), "version must be a calibration version number", id="version-str"),
        pytest.param(lambda d: d.pop("version"), "version is missing", id="version-missing"),
        pytest.param(lambda d: d.update(operating_point=[1]), "operating_point.confidence is missing",
                     id="operating-point-list"),
        pytest.param(lambda d: d.update(trained_on=["a"]), "trained_on must be an object", id="trained-on"),
        pytest.param(lambda d: d.update(confidence=0.5),
                     "confidence is not read at the top level; it belongs in operating_point",
                     id="confidence-misplaced"),
        pytest.param(lambda d: d.update(check_allowance_db=0.0),
                     "check_allowance_db is not read at the top level; it belongs in operating_point",
                     id="allowance-misplaced"),
        pytest.param(lambda d: d.update(margin_db=float("nan")),
                     "margin_db is not read at the top level; it belongs in operating_point", id="margin-misplaced"),
        pytest.param(lambda d: d.update(coef=[1.0]), "coef is not read at the top level", id="coef-misplaced"),
    ],
)
def test_bad_calibration_files_give_one_line(tmp_path, edit, needle):
    doc = _tiny_calibration().to_json()
    edit(doc)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=needle) as info:
        load_calibration(path)
    assert "\n" not in info.value.msg
    assert info.value.msg.startswith(f"calibration {path}")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        pytest.param(lambda d: d["keyframe_model"].update(inputs=["no_such_stat", "features_psnr"]),
                     "uses keyframe statistic 'no_such_stat', unknown to this framefill", id="unknown-statistic"),
        pytest.param(lambda d: d["keyframe_model"].update(sigma_db=0.0),
                     "keyframe_model.sigma_db must be a positive finite number of dB", id="sigma-zero"),
        pytest.param(lambda d: d["keyframe_model"].update(sigma_db=float("nan")),
                     "keyframe_model.sigma_db must be a positive finite number of dB, got nan", id="sigma-nan"),
        pytest.param(lambda d: d["keyframe_model"].pop("sigma_db"), "keyframe_model.sigma_db is missing",
                     id="sigma-missing"),
        pytest.param(lambda d: d["keyframe_model"].update(coef=[1.0]),
                     r"keyframe_model.coef must be a list of 2 finite numbers \(one per input\), got a list of 1",
                     id="coef-length"),
        pytest.param(lambda d: d["keyframe_model"].update(intercept=float("inf")), "keyframe_model.intercept",
                     id="intercept"),
        pytest.param(lambda d: d["keyframe_model"].update(kind="logistic"), "keyframe_model.kind must be 'ridge'",
                     id="kind"),
        pytest.param(lambda d: d.update(keyframe_model=[1]), "keyframe_model.inputs is missing", id="not-object"),
    ],
)
def test_bad_keyframe_models_give_one_line(tmp_path, edit, needle):
    doc = _with_keyframes().to_json()
    edit(doc)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=needle) as info:
        load_calibration(path)
    assert "\n" not in info.value.msg
    assert info.value.msg.startswith(f"calibration {path}")


def test_a_bad_field_names_the_file_the_field_and_the_fix(tmp_path):
    doc = _tiny_calibration().to_json()
    doc["operating_point"]["confidence"] = float("nan")
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))  # json writes NaN, and reads it back
    with pytest.raises(InputError) as info:
        load_calibration(path)
    assert info.value.msg == (f"calibration {path}: operating_point.confidence must be a finite number, got nan; "
                              "refit it with `framefill qc calibrate` or remove --calibration")


# ---------------------------------------------------------------------------------------
# Version-1 files: a margin over the threshold instead of a confidence
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("margin", [0.0, 1.5, 3.361, 6.0])
def test_version_1_files_load_and_decide_as_before(tmp_path, margin):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(_v1_doc(margin)))
    cal = load_calibration(path)
    assert cal.confidence == pytest.approx(normal_cdf(margin / 2.0), abs=1e-15)
    assert cal.margin_db() == pytest.approx(margin, abs=1e-9)
    assert cal.keyframe_model is None and cal.check_allowance_db == 0.0
    # The version-1 rule, listed when predicted < threshold + margin_db, at any threshold.
    for threshold in (26.0, 30.0, 33.5):
        for offset in (-5.0, -0.5, -0.01, 0.01, 0.5, 5.0):
            predicted = threshold + margin + offset
            v = cal.judge(FillEvidence(predicted), threshold)
            assert v.listed == (predicted < threshold + margin), (threshold, predicted)
            assert v.basis == "features"
    # Checks beside a fill are no evidence without a keyframe model: the features decide.
    passing = FillEvidence(30.0 + margin + 0.5, 2, (CheckEvidence(40.0, 38.0, 1003, 4),))
    assert cal.judge(passing, 30.0).basis == "features" and not cal.judge(passing, 30.0).listed


def test_a_version_1_file_matches_the_same_calibration_written_as_version_2(tmp_path):
    v1_path = tmp_path / "v1.json"
    v1_path.write_text(json.dumps(_v1_doc(1.5)))
    v1 = load_calibration(v1_path)
    assert v1.confidence == pytest.approx(_tiny_calibration().confidence, abs=1e-15)
    v1.save(tmp_path / "v2.json")
    v2 = load_calibration(tmp_path / "v2.json")
    assert json.loads((tmp_path / "v2.json").read_text())["version"] == 2
    assert v2.id == v1.id and v2.confidence == v1.confidence
    for predicted in (25.0, 31.4, 31.6, 40.0, float("nan")):
        assert repr(v1.judge(FillEvidence(predicted), 30.0)) == repr(v2.judge(FillEvidence(predicted), 30.0))


@pytest.mark.parametrize(
    ("margin", "needle"),
    [
        pytest.param(float("nan"), "operating_point.margin_db must be a finite number of dB, got nan", id="nan"),
        pytest.param(float("inf"), "operating_point.margin_db must be a finite number of dB, got inf", id="inf"),
        pytest.param(float("-inf"), "operating_point.margin_db must be a finite number of dB, got -inf", id="-inf"),
        pytest.param("2.5", "operating_point.margin_db must be a finite number of dB, got '2.5'", id="string"),
        pytest.param(True, "operating_point.margin_db must be a finite number of dB, got True", id="bool"),
        pytest.param(None, "operating_point.margin_db must be a finite number of dB, got None", id="null"),
    ],
)
def test_bad_version_1_margins_give_one_line(tmp_path, margin, needle):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(_v1_doc(margin)))
    with pytest.raises(InputError, match=needle) as info:
        load_calibration(path)
    assert "\n" not in info.value.msg and info.value.msg.startswith(f"calibration {path}")


def test_a_version_1_file_needs_its_margin(tmp_path):
    doc = _v1_doc()
    doc["operating_point"] = {"confidence": 0.95}  # a version-2 field in a version-1 file is not read
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="operating_point.margin_db is missing"):
        load_calibration(path)
    doc = _v1_doc()
    doc["margin_db"] = doc["operating_point"].pop("margin_db")
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="margin_db is not read at the top level; it belongs in operating_point"):
        load_calibration(path)


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"[1, 2]", b"{", b""])
def test_unreadable_calibration_files_give_one_line(tmp_path, content):
    path = tmp_path / "cal.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_calibration(path)
    assert str(path) in info.value.msg and "\n" not in info.value.msg


def test_judge_is_the_one_decision_rule_and_fails_closed():
    cal = _tiny_calibration()  # margin 1.5 dB at its confidence
    v = cal.judge(FillEvidence(31.4), 30.0)
    assert v.listed and v.reason == "predicted 31.4 dB (features), lower bound 29.9 dB at 77.34% confidence < 30 dB"
    assert not cal.judge(FillEvidence(31.6), 30.0).listed and cal.judge(FillEvidence(31.6), 30.0).reason == ""
    for bad in (float("nan"), float("inf"), float("-inf")):
        v = cal.judge(FillEvidence(bad), 30.0)
        assert v.listed and v.reason.startswith(NOT_FINITE_REASON) and "predicted_psnr_db" in v.reason
        assert math.isnan(v.predicted_psnr_db) and math.isnan(v.risk) and all(map(math.isnan, v.interval_db))
    # A finite prediction standing on a non-finite statistic (or a NaN true PSNR) is listed too.
    v = cal.judge(FillEvidence(45.0), 30.0, inputs={"log_mean_residual_sq": float("nan"), "other": 1.0})
    assert v.listed and v.reason == f"{NOT_FINITE_REASON}: log_mean_residual_sq"
    assert cal.judge(FillEvidence(45.0), 30.0, inputs={"true psnr_db": float("nan")}).listed
    v = cal.judge(FillEvidence(45.0), 30.0, inputs={"true psnr_db": 44.0})
    assert not v.listed and v.reason == ""
    # An outside prediction (the fit's out-of-fold one) replaces the basis's own, and is judged the same way.
    assert cal.judge(FillEvidence(45.0), 30.0, predicted_psnr_db=31.4).listed
    assert not cal.judge(FillEvidence(20.0), 30.0, predicted_psnr_db=31.6).listed


def test_missing_calibration_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_calibration(tmp_path / "nope.json")


def test_shipped_calibration_loads_and_ranks_worse_frames_higher():
    cal = default_calibration()
    assert cal.threshold_db == 30.0
    assert 0.5 <= cal.confidence < 1.0 and cal.sigma_db > 0 and cal.margin_db("features") > 0
    assert set(cal.frame_model.inputs) <= set(FRAME_AGGREGATES)
    if cal.keyframe_model is not None:
        assert set(cal.keyframe_model.inputs) <= set(KEYFRAME_STATISTICS) and cal.keyframe_sigma_db > 0
        assert cal.check_allowance_db >= 0
    assert DEFAULT_CONFIDENCE == 0.95
    # Held out on purpose: the end-to-end test's shot and the benchmark's test scenes.
    trained = set(cal.trained_on["scenes"])
    assert trained and not trained & {"sample", *cal.trained_on.get("held_out", [])}
    rng = np.random.default_rng(4)

    def maps(residual: float, flow: float) -> dict[str, np.ndarray]:
        m = {n: np.zeros((48, 64), np.float32) for n in FEATURE_NAMES}
        m["texture"] += 0.02 + 0.01 * rng.random((48, 64), dtype=np.float32)
        m["residual"] += residual * rng.random((48, 64), dtype=np.float32)
        m["flow_mag"] += flow
        m["fb_error"] += flow / 4
        m["flow_disagreement"] += flow / 4
        return m

    easy, hard = cal.predict(maps(0.002, 1.0)), cal.predict(maps(0.2, 20.0))
    assert easy.predicted_psnr_db > hard.predicted_psnr_db + 5.0
    assert float(hard.risk_map.mean()) > float(easy.risk_map.mean())
    verdict = cal.judge(FillEvidence(hard.predicted_psnr_db))
    assert cal.risk(hard.predicted_psnr_db) > 0.8 and verdict.listed and verdict.basis == "features"
    assert verdict.risk == pytest.approx(cal.risk(hard.predicted_psnr_db))
