"""The QC result document and report page, from hand-made frame scores (no files, no browser)."""

from __future__ import annotations

import re

from framefill.ops.regression import LinearModel
from framefill.pipeline.calibration import PIXEL_TRANSFORMS, Calibration
from framefill.pipeline.qc import FrameQc, KeyframeCheckQc, QcResult
from framefill.pipeline.report import render_report

_FAILED_CHECK = "beside a failed keyframe check: frame 1003 filled across 2 frames measured 24.5 dB"


def _result(truth: bool = True) -> QcResult:
    frames = (
        FrameQc(1002, "filled", True, _FAILED_CHECK, predicted_psnr_db=24.0, risk=0.99,
                psnr_db=25.0 if truth else None, basis="keyframe-check", interval_db=(22.4, 25.6),
                keyframe_checks=(1003,)),
        FrameQc(1004, "filled", True, _FAILED_CHECK, predicted_psnr_db=29.0, risk=0.69,
                psnr_db=31.0 if truth else None, basis="keyframe-check", interval_db=(27.4, 30.6),
                keyframe_checks=(1003, 1005)),
        FrameQc(1006, "filled", False, predicted_psnr_db=38.0, risk=0.0002, psnr_db=37.0 if truth else None,
                basis="keyframe-check", interval_db=(36.4, 39.6), keyframe_checks=(1005, 1007)),
        FrameQc(1008, "held", True, "scene cut between its rendered neighbours", source="held"),
        FrameQc(1010, "filled", True, "predicted 27.5 dB (features), lower bound 21.0 dB at 95% confidence < 30 dB",
                predicted_psnr_db=27.5, risk=0.89, psnr_db=29.5 if truth else None, basis="features",
                interval_db=(21.0, 34.0)),
        FrameQc(1012, "filled", False, predicted_psnr_db=33.0, risk=0.07, psnr_db=28.0 if truth else None,
                basis="keyframe-check", interval_db=(31.4, 34.6), keyframe_checks=(1011,)),
    )
    # 1009 sits between a held frame's neighbours: its span crosses the cut, no check.
    checks = (KeyframeCheckQc(1003, 1001, 1005, 24.5, 31.0), KeyframeCheckQc(1005, 1003, 1007, 36.0, 34.0),
              KeyframeCheckQc(1007, 1005, 1009, 38.5, 35.0), KeyframeCheckQc(1009, 1007, 1011, None, None),
              KeyframeCheckQc(1011, 1009, 1013, 31.2, 33.0))
    return QcResult(pattern="/shots/a/beauty.####.exr", threshold_db=30.0, calibration_id="abc123def456",
                    calibration_source="default", confidence=0.95, frames=frames,
                    rendered=(1001, 1003, 1005, 1007, 1009, 1011, 1013), truth="/truth/a.####.exr" if truth else None,
                    cost_per_frame_min=45.0, keyframe_checks=checks)


def test_rerender_list_savings_and_recall():
    res = _result()
    assert res.rerender == (1002, 1004, 1008, 1010)
    assert res.below_threshold() == (1002, 1010, 1012)
    assert res.recall() == 2 / 3  # 1012 (28 dB) was predicted 33 dB: missed
    doc = res.to_json()
    assert doc["rerender"] == "1002,1004,1008,1010"
    assert doc["rerender_nuke"] == "1002,1004,1008,1010"
    assert doc["rerender_frames"] == [1002, 1004, 1008, 1010]
    assert doc["true_below_threshold"] == "1002,1010,1012"
    assert doc["savings"] == {
        "frames_total": 13, "frames_rendered": 7, "frames_filled": 5, "frames_held": 1, "frames_rerender": 4,
        "frames_accepted": 2, "frames_never_rendered": 2, "render_fraction_saved": round(2 / 13, 4),
        "cost_per_frame_min": 45.0, "render_minutes_saved": 90.0,
    }
    assert [f["frame"] for f in doc["frames"]] == [1002, 1004, 1006, 1008, 1010, 1012]
    assert doc["frames"][3] == {"frame": 1008, "status": "held", "flagged": True,
                                "reason": "scene cut between its rendered neighbours", "source": "held"}
    assert doc["frames"][1] == {"frame": 1004, "status": "filled", "flagged": True, "reason": _FAILED_CHECK,
                                "basis": "keyframe-check", "predicted_psnr_db": 29.0, "risk": 0.69, "psnr_db": 31.0,
                                "interval_db": [27.4, 30.6], "keyframe_checks": [1003, 1005]}
    assert doc["frames"][4]["basis"] == "features" and "keyframe_checks" not in doc["frames"][4]
    assert doc["confidence"] == 0.95
    assert doc["calibration"] == {"id": "abc123def456", "source": "default"}
    assert [c["frame"] for c in doc["keyframe_checks"]] == [1003, 1005, 1007, 1009, 1011]
    assert doc["keyframe_checks"][0] == {"frame": 1003, "before": 1001, "after": 1005, "psnr_db": 24.5,
                                         "features_psnr_db": 31.0}
    assert doc["keyframe_checks"][3] == {"frame": 1009, "before": 1007, "after": 1011, "psnr_db": None,
                                         "features_psnr_db": None, "cut": True}


def test_stepped_rerender_lists_use_each_style():
    frames = tuple(FrameQc(f, "filled", True, "r", predicted_psnr_db=20.0, risk=1.0) for f in (2, 4, 6, 8))
    res = QcResult("a.####.exr", 30.0, "x", "default", 0.95, frames, (1, 3, 5, 7, 9), None, 30.0)
    doc = res.to_json()
    assert (doc["rerender"], doc["rerender_nuke"]) == ("2-8:2", "2-8x2")
    assert "recall" not in doc and "truth" not in doc


def test_report_page_is_self_contained_and_has_plot_list_and_savings():
    page = render_report(_result())
    assert page.startswith("<!DOCTYPE html>")
    # Nothing fetched from anywhere: no URLs, no external scripts, styles or fonts.
    assert not re.search(r"(https?:|//[a-z]|<link|src=\"(?!data:))", page, re.IGNORECASE)
    assert '<svg id="plot"' in page
    risk_curve = re.search(r'class="risk-curve" points="([^"]+)"', page)
    psnr_curve = re.search(r'class="psnr-curve" points="([^"]+)"', page)
    assert risk_curve and len(risk_curve.group(1).split()) == 5  # the five scored frames
    assert psnr_curve and len(psnr_curve.group(1).split()) == 5
    assert '<code class="range" id="rerender">1002,1004,1008,1010</code>' in page
    assert "1.5 h" in page  # 2 frames never rendered x 45 min
    assert "recall of the list: 67%" in page
    assert page.count('<tr class="flagged">') == 4
    assert "confidence 95.0%" in page and "(margin" not in page
    # Each frame's row says what its prediction stands on, its interval and why it is listed.
    assert ("<td>1004</td><td>filled</td><td>0.690</td><td>29.00</td><td>27.4–30.6</td><td>keyframe-check</td>"
            f"<td>31.00</td><td></td><td>yes</td><td>{_FAILED_CHECK}</td>") in page
    assert "<td>1010</td><td>filled</td><td>0.890</td><td>27.50</td><td>21.0–34.0</td><td>features</td>" in page
    # The keyframe strip: measured checks, red below the threshold, grey across a cut.
    strip = {key: cls for cls, key in re.findall(r'<div class="(check[^"]*)" id="check-(\d+)">', page)}
    assert strip == {"1003": "check failed", "1005": "check", "1007": "check", "1009": "check cut",
                     "1011": "check"}
    assert '<div class="check failed" id="check-1003"><b>1003</b><br>24.5 dB<br><small>from 1001&ndash;1005' in page
    assert page.index("Keyframe checks") < page.index('<svg id="plot"')


def test_report_states_the_rule_with_both_margins():
    k = len(PIXEL_TRANSFORMS)
    cal = Calibration(LinearModel(tuple(n for n, _ in PIXEL_TRANSFORMS), (0.0,) * k, (1.0,) * k, (0.0,) * k, 0.0),
                      0.01, PIXEL_TRANSFORMS, LinearModel(("log_mean_residual_sq",), (0.0,), (1.0,), (1.0,), 30.0),
                      sigma_db=2.0, keyframe_model=LinearModel(("check_psnr_min",), (0.0,), (1.0,), (1.0,), 0.0),
                      keyframe_sigma_db=1.0, trained_on={"scenes": ["a", "b"]})
    page = render_report(_result(), calibration=cal)
    # At the run's 95%: z = 1.645, x 1 dB with checks, x 2 dB from the features.
    assert "predicted PSNR less 1.6 dB (with checks; 3.3 dB from the features alone)" in page
    assert "trained on: a, b" in page


def test_report_without_truth_has_no_psnr_curve():
    page = render_report(_result(truth=False))
    assert 'class="risk-curve"' in page and 'class="psnr-curve"' not in page
    assert "recall" not in page


def test_report_without_keyframe_checks_has_no_strip():
    res = _result()
    page = render_report(QcResult(res.pattern, res.threshold_db, res.calibration_id, res.calibration_source, 0.99,
                                  res.frames, res.rendered, res.truth, res.cost_per_frame_min))
    assert "Keyframe checks" not in page and 'id="check-' not in page and "confidence 99.0%" in page
