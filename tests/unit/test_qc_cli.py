"""`framefill plan` and the shape of `framefill qc` (parsing, help, bad input) without any model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from framefill import api
from framefill.cli import _attach_subcommands, cli
from framefill.errors import RequestError
from framefill.pipeline.qc import FrameQc, KeyframeCheckQc, QcResult
from framefill.requests import QcRequest

_attach_subcommands()


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_plan_prints_the_keyframes_as_a_range():
    res = _run("plan", "shots/a.####.exr", "--every", "2", "--frames", "1001-1024")
    assert res.exit_code == 0, res.output
    assert res.stdout == "1001-1023:2,1024\n"


def test_plan_json_has_both_range_styles_and_the_fill_list():
    res = _run("plan", "shots/a.####.exr", "--every", "3", "--frames", "1-10", "--json")
    doc = json.loads(res.stdout)
    assert doc["render"] == "1-10:3" and doc["render_nuke"] == "1-10x3"
    assert doc["render_frames"] == [1, 4, 7, 10] and doc["render_count"] == 4
    assert doc["fill"] == "2-3,5-6,8-9" and doc["fill_count"] == 6
    assert doc["frames"] == "1-10" and doc["every"] == 3


def test_plan_reads_the_range_from_disk(tmp_path):
    for f in (1001, 1004, 1010):
        (tmp_path / f"a.{f:04d}.exr").write_bytes(b"")
    res = _run("plan", str(tmp_path / "a.####.exr"), "--every", "4")
    assert res.stdout == "1001-1009:4,1010\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(("--every", "2"), "give the shot's range with --frames", id="nothing-on-disk"),
        pytest.param(("--every", "0", "--frames", "1-5"), "--every must be 1 or more", id="every-0"),
        pytest.param(("--every", "2", "--frames", "5-1"), "runs backwards", id="bad-range"),
    ],
)
def test_plan_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    res = CliRunner().invoke(cli, ["plan", str(tmp_path / "none.####.exr"), *args])
    assert res.exit_code == 2
    assert needle in res.stderr and res.stderr.count("\n") == 1


def test_qc_help_lists_calibrate_and_scoring_options():
    res = _run("qc", "--help")
    assert res.exit_code == 0 and "calibrate" in res.stdout and "--threshold" in res.stdout
    assert "--confidence" in res.stdout and "--no-keyframe-check" in res.stdout
    res = _run("qc", "some.####.exr", "--help")
    assert res.exit_code == 0 and "--filled" in res.stdout and "--truth" in res.stdout
    assert "--confidence" in res.stdout and "--keyframe-check / --no-keyframe-check" in res.stdout
    res = _run("qc", "calibrate", "--help")
    assert res.exit_code == 0 and "--every" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(("--threshold", "thirty"), "--threshold must be a number", id="threshold"),
        pytest.param(("--confidence", "high"), "--confidence must be a probability from 0.5 to below 1 (e.g. 0.95), "
                     "got 'high'", id="confidence-word"),
        pytest.param(("--confidence", "95"), "--confidence must be a probability from 0.5 to below 1 (e.g. 0.95), "
                     "got 95.0", id="confidence-percent"),
        pytest.param(("--confidence", "0.4"), "--confidence must be a probability", id="confidence-low"),
        pytest.param(("--confidence", "1"), "--confidence must be a probability", id="confidence-one"),
        pytest.param(("--confidence", "nan"), "--confidence must be a probability", id="confidence-nan"),
        pytest.param(("--confidence", "inf"), "--confidence must be a probability", id="confidence-inf"),
        pytest.param((), "no framefill manifest entries", id="no-manifest"),
        pytest.param(("--filled", "1-x"), "bad frame range", id="filled"),
    ],
)
def test_qc_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    res = CliRunner().invoke(cli, ["qc", str(tmp_path / "a.####.exr"), *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("confidence", True, "confidence must be a probability from 0.5 to below 1 (e.g. 0.95), got True"),
        ("confidence", "0.95", "confidence must be a probability"),
        ("confidence", 0.49, "confidence must be a probability"),
        ("confidence", 1.0, "confidence must be a probability"),
        ("keyframe_check", "yes", "keyframe_check must be true or false, got 'yes'"),
        ("keyframe_check", 1, "keyframe_check must be true or false, got 1"),
        ("keyframe_check", None, "keyframe_check must be true or false"),
    ],
)
def test_qc_request_refuses_bad_confidence_and_keyframe_check(field, value, needle):
    with pytest.raises(RequestError) as info:
        QcRequest("shot.####.exr", **{field: value})
    assert info.value.field == field and needle in str(info.value)


def test_qc_request_defaults_and_accepted_values():
    request = QcRequest("shot.####.exr")
    assert request.keyframe_check is True and request.confidence is None
    assert QcRequest("shot.####.exr", confidence=0.5).confidence == 0.5
    assert QcRequest("shot.####.exr", confidence=0.999, keyframe_check=False).keyframe_check is False


def _fake_result(request: QcRequest) -> QcResult:
    frames = (
        FrameQc(1002, "filled", True, "beside a failed keyframe check: frame 1003 filled across 2 frames "
                "measured 24.5 dB", predicted_psnr_db=26.0, risk=0.99, basis="keyframe-check",
                interval_db=(24.36, 27.64), keyframe_checks=(1003,)),
        FrameQc(1004, "filled", False, predicted_psnr_db=36.0, risk=0.001, basis="keyframe-check",
                interval_db=(34.36, 37.64), keyframe_checks=(1003, 1005)),
        FrameQc(1006, "filled", False, predicted_psnr_db=39.0, risk=0.01, basis="features",
                interval_db=(32.4, 45.6)),
    )
    checks = (KeyframeCheckQc(1003, 1001, 1005, 24.5, 31.0), KeyframeCheckQc(1005, 1003, 1007, None, None))
    return QcResult(request.pattern, 30.0, "abc123def456", "default", request.confidence or 0.95, frames,
                    (1001, 1003, 1005, 1007), None, 30.0, keyframe_checks=checks)


def test_qc_passes_confidence_and_keyframe_check_to_the_request_and_prints_the_evidence(monkeypatch):
    seen: list[QcRequest] = []

    def fake_qc_shot(request, **_):
        seen.append(request)
        return _fake_result(request)

    monkeypatch.setattr(api, "qc_shot", fake_qc_shot)
    res = _run("qc", "shots/a.####.exr", "--confidence", "0.99", "--no-keyframe-check")
    assert res.exit_code == 0, res.output
    assert seen[-1].confidence == 0.99 and seen[-1].keyframe_check is False
    lines = res.stdout.splitlines()
    assert lines[0] == ("keyframe checks (rendered frame filled from its rendered neighbours, true PSNR): "
                        "1003 24.5 dB, 1005 (cut)")
    row = next(line for line in lines if line.lstrip().startswith("1002"))
    assert "26.00" in row and "24.4-27.6" in row and "keyframe-check" in row
    assert row.endswith("yes: beside a failed keyframe check: frame 1003 filled across 2 frames measured 24.5 dB")
    row = next(line for line in lines if line.lstrip().startswith("1006"))
    assert "32.4-45.6" in row and "features" in row and "yes" not in row
    # Defaults: the calibration's confidence, checks on; --json carries the same evidence.
    res = _run("qc", "shots/a.####.exr", "--json")
    assert seen[-1].confidence is None and seen[-1].keyframe_check is True
    doc = json.loads(res.stdout)
    assert doc["confidence"] == 0.95 and [c["frame"] for c in doc["keyframe_checks"]] == [1003, 1005]
    assert doc["frames"][1]["interval_db"] == [34.36, 37.64] and doc["frames"][1]["keyframe_checks"] == [1003, 1005]


def test_qc_calibrate_rejects_bad_every(tmp_path):
    res = CliRunner().invoke(cli, ["qc", "calibrate", str(tmp_path / "a.####.exr"), "--out",
                                   str(tmp_path / "c.json"), "--every", "1"])
    assert res.exit_code == 2 and "--every needs numbers of 2 or more" in res.stderr
