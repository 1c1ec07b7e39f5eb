"""`framefill plan` and the shape of `framefill qc` (parsing, help, bad input) without any model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from framefill.cli import _attach_subcommands, cli

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
    res = _run("qc", "some.####.exr", "--help")
    assert res.exit_code == 0 and "--filled" in res.stdout and "--truth" in res.stdout
    res = _run("qc", "calibrate", "--help")
    assert res.exit_code == 0 and "--every" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(("--threshold", "thirty"), "--threshold must be a number", id="threshold"),
        pytest.param((), "no framefill manifest entries", id="no-manifest"),
        pytest.param(("--filled", "1-x"), "bad frame range", id="filled"),
    ],
)
def test_qc_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    res = CliRunner().invoke(cli, ["qc", str(tmp_path / "a.####.exr"), *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stderr.count("\n") == 1


def test_qc_calibrate_rejects_bad_every(tmp_path):
    res = CliRunner().invoke(cli, ["qc", "calibrate", str(tmp_path / "a.####.exr"), "--out",
                                   str(tmp_path / "c.json"), "--every", "1"])
    assert res.exit_code == 2 and "--every needs numbers of 2 or more" in res.stderr
