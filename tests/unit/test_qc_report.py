"""The QC result document and report page, from hand-made frame scores (no files, no browser)."""

from __future__ import annotations

import re

from framefill.pipeline.qc import FrameQc, QcResult
from framefill.pipeline.report import render_report


def _result(truth: bool = True) -> QcResult:
    frames = (
        FrameQc(1002, "filled", True, "r", predicted_psnr_db=24.0, risk=0.99, psnr_db=25.0 if truth else None),
        FrameQc(1004, "filled", True, "r", predicted_psnr_db=29.0, risk=0.69, psnr_db=31.0 if truth else None),
        FrameQc(1006, "filled", False, predicted_psnr_db=38.0, risk=0.0002, psnr_db=37.0 if truth else None),
        FrameQc(1008, "held", True, "scene cut between its rendered neighbours", source="held"),
        FrameQc(1010, "filled", True, "r", predicted_psnr_db=27.5, risk=0.89, psnr_db=29.5 if truth else None),
        FrameQc(1012, "filled", False, predicted_psnr_db=33.0, risk=0.07, psnr_db=28.0 if truth else None),
    )
    return QcResult(pattern="/shots/a/beauty.####.exr", threshold_db=30.0, calibration_id="abc123def456",
                    calibration_source="default", margin_db=2.5, frames=frames,
                    rendered=(1001, 1003, 1005, 1007, 1009, 1011, 1013), truth="/truth/a.####.exr" if truth else None,
                    cost_per_frame_min=45.0)


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
        "frames_never_rendered": 2, "render_fraction_saved": round(2 / 13, 4), "cost_per_frame_min": 45.0,
        "render_minutes_saved": 90.0,
    }
    assert [f["frame"] for f in doc["frames"]] == [1002, 1004, 1006, 1008, 1010, 1012]
    assert doc["frames"][3] == {"frame": 1008, "status": "held", "flagged": True,
                                "reason": "scene cut between its rendered neighbours", "source": "held"}


def test_stepped_rerender_lists_use_each_style():
    frames = tuple(FrameQc(f, "filled", True, "r", predicted_psnr_db=20.0, risk=1.0) for f in (2, 4, 6, 8))
    res = QcResult("a.####.exr", 30.0, "x", "default", 1.0, frames, (1, 3, 5, 7, 9), None, 30.0)
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


def test_report_without_truth_has_no_psnr_curve():
    page = render_report(_result(truth=False))
    assert 'class="risk-curve"' in page and 'class="psnr-curve"' not in page
    assert "recall" not in page
