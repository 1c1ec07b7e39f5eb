"""The QC calibration: numpy fitting, the file format, the operating point, the shipped default."""

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
    FRAME_AGGREGATES,
    MARGIN_SAFETY_DB,
    NOT_FINITE_REASON,
    PIXEL_TRANSFORMS,
    Calibration,
    default_calibration,
    load_calibration,
    normal_cdf,
)


def _tiny_calibration(**over) -> Calibration:
    k = len(PIXEL_TRANSFORMS)
    pixel = LinearModel(tuple(n for n, _ in PIXEL_TRANSFORMS), (0.0,) * k, (1.0,) * k,
                        (1.0,) + (0.0,) * (k - 1), -2.0)
    frame = LinearModel(("log_mean_residual_sq",), (-4.0,), (1.0,), (-5.0,), 35.0, 0.01)
    args = dict(pixel_model=pixel, pixel_tau=0.01, pixel_transforms=PIXEL_TRANSFORMS, frame_model=frame,
                sigma_db=2.0, margin_db=1.5, trained_on={"scenes": ["a", "b"]})
    args.update(over)
    return Calibration(**args)


def test_normal_cdf():
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1.0) == pytest.approx(0.15865525393145707, abs=1e-12)


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
    assert cal.flagged(31.4, 30.0) and not cal.flagged(31.6, 30.0)  # margin 1.5 dB
    assert cal.flagged(33.0, 32.0) and not cal.flagged(33.0, 28.0)  # any threshold


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
    assert doc["format"] == CALIBRATION_FORMAT and doc["version"] == 1
    assert doc["features"] == list(FEATURE_NAMES)
    back = load_calibration(path)
    assert back.id == cal.id and len(cal.id) == 12
    assert back.frame_model == cal.frame_model and back.pixel_model == cal.pixel_model
    assert back.source == str(path)
    # The id follows the numbers, not the bookkeeping.
    assert _tiny_calibration(trained_on={"scenes": ["z"]}).id == cal.id
    assert _tiny_calibration(margin_db=2.0).id != cal.id


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        pytest.param(lambda d: d.update(format="something-else"), "not a framefill QC calibration", id="format"),
        pytest.param(lambda d: d.update(version=99), "upgrade framefill", id="newer"),
        pytest.param(lambda d: d["frame_model"].update(inputs=["no_such_stat"]), "unknown to this framefill",
                     id="unknown-statistic"),
        pytest.param(lambda d: d.pop("operating_point"), "damaged or incomplete", id="missing-field"),
        pytest.param(lambda d: d["frame_model"].update(sigma_db=0.0), "sigma_db must be a positive finite number",
                     id="sigma"),
        # Numbers that would make QC flag nothing, or crash in the matrix maths.
        pytest.param(lambda d: d["operating_point"].update(margin_db=float("nan")),
                     "operating_point.margin_db must be a finite number of dB, got nan", id="margin-nan"),
        pytest.param(lambda d: d["operating_point"].update(margin_db=float("inf")),
                     "operating_point.margin_db must be a finite number of dB, got inf", id="margin-inf"),
        pytest.param(lambda d: d["operating_point"].update(margin_db="2.5"),
                     "operating_point.margin_db must be a finite number of dB, got '2.5'", id="margin-string"),
        pytest.param(lambda d: d["operating_point"].update(margin_db=True), "margin_db must be a finite number",
                     id="margin-bool"),
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
        pytest.param(lambda d: d.update(operating_point=[1]), "operating_point.margin_db is missing",
                     id="operating-point-list"),
        pytest.param(lambda d: d.update(trained_on=["a"]), "trained_on must be an object", id="trained-on"),
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


def test_a_bad_field_names_the_file_the_field_and_the_fix(tmp_path):
    doc = _tiny_calibration().to_json()
    doc["operating_point"]["margin_db"] = float("nan")
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))  # json writes NaN, and reads it back
    with pytest.raises(InputError) as info:
        load_calibration(path)
    assert info.value.msg == (f"calibration {path}: operating_point.margin_db must be a finite number of dB, got nan; "
                              "refit it with `framefill qc calibrate` or remove --calibration")


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"[1, 2]", b"{", b""])
def test_unreadable_calibration_files_give_one_line(tmp_path, content):
    path = tmp_path / "cal.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_calibration(path)
    assert str(path) in info.value.msg and "\n" not in info.value.msg


def test_decide_is_the_one_operating_point_and_fails_closed():
    cal = _tiny_calibration()  # margin 1.5 dB
    assert cal.decide(31.4, 30.0) == (True, "predicted 31.4 dB < 30 + 1.5 dB margin")
    assert cal.decide(31.6, 30.0) == (False, "")
    for bad in (float("nan"), float("inf"), float("-inf")):
        listed, reason = cal.decide(bad, 30.0)
        assert listed and reason.startswith(NOT_FINITE_REASON) and "predicted_psnr_db" in reason
        assert cal.flagged(bad, 30.0)
    # A finite prediction standing on a non-finite statistic (or a NaN true PSNR) is listed too.
    listed, reason = cal.decide(45.0, 30.0, inputs={"log_mean_residual_sq": float("nan"), "other": 1.0})
    assert listed and reason == f"{NOT_FINITE_REASON}: log_mean_residual_sq"
    assert cal.decide(45.0, 30.0, inputs={"true psnr_db": float("nan")})[0]
    assert cal.decide(45.0, 30.0, inputs={"true psnr_db": 44.0}) == (False, "")


def test_missing_calibration_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_calibration(tmp_path / "nope.json")


def test_shipped_calibration_loads_and_ranks_worse_frames_higher():
    cal = default_calibration()
    assert cal.threshold_db == 30.0
    assert cal.margin_db >= MARGIN_SAFETY_DB and cal.sigma_db > 0
    assert set(cal.frame_model.inputs) <= set(FRAME_AGGREGATES)
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
    assert cal.risk(hard.predicted_psnr_db) > 0.9 and cal.flagged(hard.predicted_psnr_db)
