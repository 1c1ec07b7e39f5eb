"""Keyframe checks in `framefill qc`: which checks run, that a check is the fill it stands for, that they are
cached, that they decide, and that qc's output is the same bytes on every run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ffpaths import SAMPLE_PATTERN
from framefill.color import ColorSetup
from framefill.frames import FramePattern, read_exr
from framefill.models.interp import DisFlowInterpolator
from framefill.ops.metrics import display_proxy, psnr
from framefill.pipeline.calibration import CheckEvidence, FillEvidence, load_calibration
from framefill.pipeline.fill import FillOptions, fill_sequence
from framefill.pipeline.keyframe_check import CheckTriplet, measure_check
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc import qc_sequence
from framefill.requests import QcRequest
from synthetic_shot import write_shot

ALL = tuple(range(1, 14))
KEYS = (1, 3, 5, 7, 9, 11, 13)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("kfshot")
    truth = write_shot(root / "truth", ALL, fg_speed=5)
    keys = write_shot(root / "keys", KEYS, fg_speed=5)
    out = str(root / "filled" / "shot.####.exr")
    fill_sequence(keys, out, frames=ALL, interpolator=DisFlowInterpolator(), options=FillOptions(model_id="flow"))
    return root, truth, out


def _beauty_psnr(a: str, b: str) -> float:
    def rgb(path: str) -> np.ndarray:
        part = read_exr(path).parts[0]
        return display_proxy(np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1))

    return psnr(rgb(a), rgb(b))


def test_qc_runs_one_check_per_inner_rendered_frame_and_records_it(shot):
    _, truth, out = shot
    result = qc_sequence(QcRequest(out))
    checks = {c.frame: (c.before, c.after) for c in result.keyframe_checks}
    assert checks == {3: (1, 5), 5: (3, 7), 7: (5, 9), 9: (7, 11), 11: (9, 13)}
    by_frame = {f.frame: f for f in result.frames}
    # Every fill has a check beside its gap: the ends' fills one, the others two.
    assert by_frame[2].keyframe_checks == (3,) and by_frame[12].keyframe_checks == (11,)
    assert by_frame[6].keyframe_checks == (5, 7)
    assert {f.basis for f in result.frames} == {"keyframe-check"}
    for f in result.frames:
        lo, hi = f.interval_db
        assert lo < f.predicted_psnr_db < hi
        assert f.flagged == (lo < result.threshold_db or any(
            c.psnr_db < result.threshold_db - load_calibration().check_allowance_db
            for c in result.keyframe_checks if c.frame in f.keyframe_checks))
    # The check's PSNR is the true error of filling that rendered frame from its neighbours.
    truth_pattern = FramePattern.parse(truth)
    for c in result.keyframe_checks:
        triplet = CheckTriplet(c.before, c.frame, c.after)
        images = [read_exr(truth_pattern.path(f)) for f in (c.before, c.frame, c.after)]
        again = measure_check(*images, triplet, DisFlowInterpolator(), color=ColorSetup(), device="cpu")
        assert again.psnr_db == pytest.approx(c.psnr_db, abs=1e-4)
    # The rendered frames' manifest entries cache the checks; the fills' entries the decision.
    entries = Manifest(out).entries()
    assert entries[5].qc["keyframe_check"]["psnr_db"] == pytest.approx(
        next(c.psnr_db for c in result.keyframe_checks if c.frame == 5), abs=1e-4)
    assert entries[6].qc["verdict"]["basis"] == "keyframe-check"
    assert entries[6].qc["verdict"]["keyframe_checks"] == [5, 7]


def test_a_rerun_reads_the_checks_from_the_manifest_and_writes_the_same_bytes(shot, tmp_path, monkeypatch):
    root, _, out = shot
    first = qc_sequence(QcRequest(out, report_dir=tmp_path / "a"))
    import framefill.pipeline.keyframe_check as kc

    def no_model(*args, **kwargs):
        raise AssertionError("a cached check was measured again")

    monkeypatch.setattr(kc, "measure_check", no_model)
    second = qc_sequence(QcRequest(out, report_dir=tmp_path / "a"))
    written = {name: (tmp_path / "a" / name).read_bytes() for name in ("qc.json", "report.html")}
    third = qc_sequence(QcRequest(out, report_dir=tmp_path / "a"))
    assert {name: (tmp_path / "a" / name).read_bytes() for name in written} == written  # bit-identical rerun
    assert third.to_json() == second.to_json()
    assert _decisions(second) == _decisions(first)  # only where the scores came from may differ
    monkeypatch.undo()
    # A fresh copy without any cached score or check: measured again, the same document and report bytes.
    copy = root / "fresh"
    shutil.copytree(Path(out).parent, copy)
    pattern = str(copy / "shot.####.exr")
    manifest = Manifest(pattern)
    for f, entry in manifest.entries().items():
        manifest.put(f, replace(entry, qc=None))
    manifest.publish()
    fresh = qc_sequence(QcRequest(pattern, report_dir=tmp_path / "b"))
    assert _decisions(fresh) == _decisions(first)


def _decisions(result) -> dict:
    """A qc document without its paths and without where each score came from (sidecar, cache)."""
    doc = {k: v for k, v in result.to_json().items() if k not in ("pattern", "report", "qc_json")}
    for frame in doc["frames"]:
        frame.pop("heatmap", None)
        frame.pop("source", None)
    return doc


def test_no_keyframe_check_falls_back_to_the_features(shot):
    _, _, out = shot
    with_checks = qc_sequence(QcRequest(out))
    without = qc_sequence(QcRequest(out, keyframe_check=False))
    assert without.keyframe_checks == ()
    assert {f.basis for f in without.frames} == {"features"}
    assert all(f.keyframe_checks == () for f in without.frames)
    cal = load_calibration()
    for a, b in zip(with_checks.frames, without.frames):
        assert b.flagged == (b.predicted_psnr_db - cal.margin_db("features") < without.threshold_db)
        # The features' own prediction is the same either way; only the evidence differs.
        assert a.aggregates == b.aggregates


def test_a_failed_check_lists_the_fills_beside_it_and_only_those(shot):
    _, _, out = shot
    cal = load_calibration()
    base = qc_sequence(QcRequest(out))
    checks = {c.frame: c for c in base.keyframe_checks}
    # Judge at a threshold just above check 7's PSNR plus the allowance: check 7 fails; the
    # fills whose gap it covers (6 and 8) are listed for it.
    thr = checks[7].psnr_db + cal.check_allowance_db + 0.01
    strict = qc_sequence(QcRequest(out, threshold_db=thr))
    by_frame = {f.frame: f for f in strict.frames}
    for f in (6, 8):
        assert by_frame[f].flagged and by_frame[f].reason.startswith("beside a failed keyframe check")
    failed = {c.frame for c in strict.keyframe_checks if c.psnr_db < thr - cal.check_allowance_db}
    for f in strict.frames:
        if f.reason.startswith("beside a failed keyframe check"):
            assert set(f.keyframe_checks) & failed


def test_qc_cli_prints_basis_interval_and_reason(shot):
    _, _, out = shot
    res = subprocess.run([sys.executable, "-m", "framefill", "qc", out, "--json"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [c["frame"] for c in doc["keyframe_checks"]] == [3, 5, 7, 9, 11]
    assert doc["confidence"] == load_calibration().confidence
    for f in doc["frames"]:
        assert f["basis"] == "keyframe-check" and len(f["interval_db"]) == 2
        assert ("reason" in f) == f["flagged"]
    text = subprocess.run([sys.executable, "-m", "framefill", "qc", out, "--confidence", "0.99",
                           "--no-keyframe-check"], capture_output=True, text=True, timeout=600)
    assert text.returncode == 0, text.stderr
    assert "features" in text.stdout and "keyframe checks" not in text.stdout
    bad = subprocess.run([sys.executable, "-m", "framefill", "qc", out, "--confidence", "1.5"], capture_output=True,
                         text=True, timeout=600)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("framefill: error: --confidence must be a probability")


@pytest.mark.weights
def test_a_check_scores_exactly_what_the_fill_of_that_frame_scores(tmp_path, model_files):
    """Filling 1005 from 1001 and 1009 with `framefill interpolate` gives the PSNR the check measured."""
    model_files("rife-4")
    truth = FramePattern.parse(SAMPLE_PATTERN)
    keys = FramePattern.parse(str(tmp_path / "keys" / "shot.####.exr"))
    Path(keys.path(0)).parent.mkdir()
    for f in (1001, 1009):
        shutil.copyfile(truth.path(f), keys.path(f))
    out = str(tmp_path / "out" / "shot.####.exr")
    res = subprocess.run([sys.executable, "-m", "framefill", "interpolate", str(keys), "--out", out, "--frames",
                          "1001-1009", "--model", "rife-4", "--device", "cpu", "--quiet"],
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr
    filled = _beauty_psnr(FramePattern.parse(out).path(1005), truth.path(1005))
    from framefill.models.loading import load_interpolator

    images = [read_exr(truth.path(f)) for f in (1001, 1005, 1009)]
    check = measure_check(*images, CheckTriplet(1001, 1005, 1009), load_interpolator("rife-4").model,
                          color=ColorSetup(), device="cpu")
    # The fill writes half floats; the check scores the float32 blend: they agree to a hundredth of a dB.
    assert check.psnr_db == pytest.approx(filled, abs=0.01)
    assert check.maps is not None and set(check.maps) >= {"residual", "flow_mag"}


def test_judge_uses_the_checks_only_when_the_calibration_has_a_keyframe_model():
    cal = load_calibration()
    evidence = FillEvidence(35.0, 2, (CheckEvidence(20.0, 30.0, 7, 4, -3.0),), -3.0)
    verdict = cal.judge(evidence)
    if cal.keyframe_model is None:
        assert verdict.basis == "features"
    else:
        assert verdict.basis == "keyframe-check" and verdict.listed
        assert verdict.reason == "beside a failed keyframe check: frame 7 filled across 4 frames measured 20.0 dB"
