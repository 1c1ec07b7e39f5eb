"""QC fails closed: a NaN/Inf score or true PSNR lists the frame, and the documents show it honestly.

Hand-made frame scores and arrays: no fill, no model.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner
from framefill.cli import _attach_subcommands, cli
from framefill.ops.metrics import PSNR_IDENTICAL_DB, psnr, ssim
from framefill.pipeline.calibration import NOT_FINITE_REASON, default_calibration
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.pipeline.qc import FrameQc, KeyframeCheckQc, QcResult
from framefill.pipeline.report import render_report

_attach_subcommands()
NAN = float("nan")


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_psnr_and_ssim_of_non_finite_pixels_are_nan_not_100_db(bad):
    rng = np.random.default_rng(0)
    a = rng.random((24, 32, 3)).astype(np.float32)
    b = a.copy()
    b[3, 4, 1] = bad
    assert math.isnan(psnr(a, b)) and math.isnan(psnr(b, a)) and math.isnan(psnr(b, b))
    assert math.isnan(ssim(a, b)) and math.isnan(ssim(b, b))
    all_nan = np.full_like(a, np.nan)
    assert math.isnan(psnr(all_nan, all_nan))  # was 100 dB: "identical"


def test_psnr_of_finite_frames_is_unchanged():
    a = np.zeros((8, 8, 3), np.float32)
    assert psnr(a, a) == PSNR_IDENTICAL_DB
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-5)
    assert ssim(a, a) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# The result documents
# ---------------------------------------------------------------------------------------


def _result(truth: bool = True) -> QcResult:
    bad = f"{NOT_FINITE_REASON}: predicted_psnr_db"
    frames = (
        FrameQc(1002, "filled", True, "predicted 24.0 dB (features), lower bound 19.1 dB at 95% confidence < 30 dB",
                predicted_psnr_db=24.0, risk=0.99, psnr_db=25.0 if truth else None, ssim=0.8 if truth else None,
                basis="features", interval_db=(19.07, 28.93)),
        FrameQc(1004, "filled", True, f"{NOT_FINITE_REASON}: keyframe check 1005", predicted_psnr_db=NAN, risk=NAN,
                psnr_db=NAN if truth else None, ssim=NAN if truth else None, basis="keyframe-check",
                interval_db=(NAN, NAN), keyframe_checks=(1003, 1005)),
        FrameQc(1006, "filled", False, predicted_psnr_db=38.0, risk=0.0002, psnr_db=37.0 if truth else None,
                ssim=0.99 if truth else None, basis="keyframe-check", interval_db=(36.36, 39.64),
                keyframe_checks=(1005, 1007)),
        FrameQc(1008, "filled", True, bad, predicted_psnr_db=math.inf, risk=0.0, psnr_db=36.0 if truth else None,
                basis="features", interval_db=(math.inf, math.inf)),
    )
    checks = (KeyframeCheckQc(1003, 1001, 1005, 33.0, 31.0), KeyframeCheckQc(1005, 1003, 1007, NAN, 30.5),
              KeyframeCheckQc(1007, 1005, 1009, 36.0, math.inf))
    return QcResult(pattern="/shots/a/beauty.####.exr", threshold_db=30.0, calibration_id="abc123def456",
                    calibration_source="default", confidence=0.95, frames=frames,
                    rendered=(1001, 1003, 1005, 1007, 1009), truth="/truth/a.####.exr" if truth else None,
                    cost_per_frame_min=45.0, keyframe_checks=checks)


def test_qc_json_is_standard_json_and_names_what_is_not_finite():
    res = _result()
    doc = res.to_json()
    json.dumps(doc, allow_nan=False)  # no NaN/Infinity tokens: jq and browsers read it
    frames = {f["frame"]: f for f in doc["frames"]}
    assert frames[1004]["flagged"] and frames[1004]["reason"].startswith(NOT_FINITE_REASON)
    assert frames[1004]["not_finite"] == ["predicted_psnr_db", "risk", "psnr_db", "ssim", "interval_db"]
    assert not {"predicted_psnr_db", "risk", "psnr_db", "ssim", "interval_db"} & set(frames[1004])
    assert frames[1004]["basis"] == "keyframe-check" and frames[1004]["keyframe_checks"] == [1003, 1005]
    assert frames[1008]["not_finite"] == ["predicted_psnr_db", "interval_db"] and frames[1008]["risk"] == 0.0
    assert "interval_db" not in frames[1008]
    assert "not_finite" not in frames[1002] and frames[1002]["psnr_db"] == 25.0
    assert frames[1002]["interval_db"] == [19.07, 28.93] and frames[1002]["basis"] == "features"
    assert "keyframe_checks" not in frames[1002]
    # A check whose numbers are not finite is written as null, never as NaN.
    checks = {c["frame"]: c for c in doc["keyframe_checks"]}
    assert checks[1005] == {"frame": 1005, "before": 1003, "after": 1007, "psnr_db": None, "features_psnr_db": 30.5}
    assert checks[1007]["features_psnr_db"] is None and checks[1007]["psnr_db"] == 36.0
    assert not any(c.get("cut") for c in checks.values())
    assert doc["confidence"] == 0.95 and "margin_db" not in doc["calibration"]
    assert doc["rerender_frames"] == [1002, 1004, 1008]
    # A NaN true PSNR counts as below the threshold: the frame is unusable as it is.
    assert doc["true_below_threshold"] == "1002,1004"
    assert res.recall() == 1.0


def test_report_shows_non_finite_scores_as_such():
    page = render_report(_result())
    # Every SVG coordinate is a number: a NaN would break the plot in a browser.
    svg = page[page.index("<svg"):page.index("</svg>")]
    coords = re.findall(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"', svg)
    coords += [v for pts in re.findall(r'points="([^"]+)"', svg) for xy in pts.split() for v in xy.split(",")]
    assert coords and all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in coords), coords
    assert len(re.search(r'class="risk-curve" points="([^"]+)"', page).group(1).split()) == 3  # 1004 left out
    assert len(re.search(r'class="psnr-curve" points="([^"]+)"', page).group(1).split()) == 3
    assert "frame 1004: not scored" in svg  # a cross where the dot would be
    # The table says NaN; the flagged list shows the NaN frame first, with its reason.
    row = re.search(r"<tr class=\"flagged\"><td>1004</td>(.*?)</tr>", page).group(1)
    assert row.count("<td>NaN</td>") == 4
    assert "<td>1008</td><td>filled</td><td>0.000</td><td>Inf</td><td>Inf–Inf</td><td>features</td>" in page
    flagged = re.findall(r'<div class="thumb-row" id="frame-(\d+)">', page)
    assert flagged[:2] == ["1004", "1008"] and set(flagged) == {"1002", "1004", "1008"}
    assert NOT_FINITE_REASON in page
    # A keyframe check that is not finite is shown as failed, not as passed.
    cell = re.search(r'<div class="([^"]*)" id="check-1005">(.*?)</div>', page)
    assert cell.group(1) == "check failed" and "NaN dB" in cell.group(2)
    assert re.search(r'<div class="check" id="check-1007">', page)


def test_report_and_document_of_a_run_with_no_filled_frame():
    res = QcResult("a.####.exr", 30.0, "x", "default", 0.95, (), (1, 2, 3), None, 30.0)
    doc = res.to_json()
    assert doc["rerender"] == "" and doc["frames"] == [] and doc["savings"]["frames_total"] == 3
    assert doc["keyframe_checks"] == [] and doc["savings"]["frames_accepted"] == 0
    page = render_report(res)
    assert '<code class="range" id="rerender">(none)</code>' in page and "risk-curve" not in page
    assert "Keyframe checks" not in page
    empty = QcResult("a.####.exr", 30.0, "x", "default", 0.95, (), (), "/t/a.####.exr", 30.0)
    assert empty.to_json()["savings"]["render_fraction_saved"] == 0.0 and empty.recall() is None
    assert "<svg" in render_report(empty)


# ---------------------------------------------------------------------------------------
# A calibration that would flag nothing, through the CLI
# ---------------------------------------------------------------------------------------


def _one_filled_frame(folder) -> str:
    pattern = str(folder / "shot.####.exr")
    manifest = Manifest(pattern)
    manifest.put(2, ManifestEntry(status="filled", recipe={"kind": "fill", "sources": {"1": "a", "3": "b"}},
                                  file_sha256="0" * 64))
    manifest.publish(input=str(folder / "in.####.exr"))
    return pattern


@pytest.mark.parametrize(
    ("confidence", "needle"),
    [
        ("NaN", "operating_point.confidence must be a finite number"),
        ("Infinity", "operating_point.confidence must be a finite number"),
        ('"0.95"', "operating_point.confidence must be a finite number"),
        ("null", "operating_point.confidence must be a finite number"),
        ("true", "operating_point.confidence must be a finite number"),
        ("0.3", "operating_point.confidence must be a probability from 0.5 to below 1"),  # accepts frames below
        ("1.0", "operating_point.confidence must be a probability from 0.5 to below 1"),
    ],
)
def test_qc_with_a_calibration_that_flags_nothing_exits_2_in_one_line(tmp_path, confidence, needle):
    doc = default_calibration().to_json()
    doc["operating_point"]["confidence"] = "@confidence@"
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(doc).replace('"@confidence@"', confidence))
    res = CliRunner().invoke(cli, ["qc", _one_filled_frame(tmp_path), "--calibration", str(cal)])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert f"calibration {cal}: {needle}" in res.stderr


@pytest.mark.parametrize("margin", ["NaN", "Infinity", '"2.5"', "null"])
def test_qc_with_a_version_1_calibration_that_flags_nothing_exits_2_in_one_line(tmp_path, margin):
    doc = default_calibration().to_json()
    doc.pop("keyframe_model", None)
    doc["version"] = 1
    doc["operating_point"] = {"margin_db": "@margin@", "rule": "re-render when predicted < threshold + margin_db"}
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(doc).replace('"@margin@"', margin))
    res = CliRunner().invoke(cli, ["qc", _one_filled_frame(tmp_path), "--calibration", str(cal)])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert f"calibration {cal}: operating_point.margin_db must be a finite number of dB" in res.stderr


def test_qc_with_a_calibration_of_the_wrong_shape_exits_2_in_one_line(tmp_path):
    doc = default_calibration().to_json()
    doc["frame_model"]["coef"] = doc["frame_model"]["coef"][:-1]  # was a matmul traceback
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(doc))
    res = CliRunner().invoke(cli, ["qc", _one_filled_frame(tmp_path), "--calibration", str(cal)])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and "frame_model.coef must be a list of 4 finite numbers" in res.stderr
