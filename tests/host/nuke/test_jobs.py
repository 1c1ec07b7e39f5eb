"""What the framefill nodes run and show, without Nuke (framefill_nuke.jobs).

GIVEN a node's knob values as a JobRequest WHEN turned into CLI arguments,
job-bundle arguments or, after a run, what the node shows THEN the exact
command lines and Read settings come out, in Nuke's and framefill's spellings.
"""

from __future__ import annotations

import pytest
from framefill_host import HostError
from framefill_host.runner import RunOutcome
from framefill_nuke.jobs import (
    JobRequest,
    default_output,
    heatmap_pattern,
    job_argv,
    job_bundle_argv,
    nuke_bbox,
    result_view,
    spec_for,
)

CLI = ["/opt/ff/python", "-m", "framefill"]


def _request(node_class: str, **kw) -> JobRequest:
    base = dict(node_class=node_class, input_pattern="/s/a/beauty.%04d.exr", first=1001, last=1010, output="")
    base.update(kw)
    return JobRequest(**base)


def test_interpolate_command_line():
    request = _request("FF_Interpolate", model="rife-4", device="cuda:0", frames="1001-1005 1008",
                       options={"mode": "recursive", "scale": "0.5"}, extra="--no-cut-detection")
    assert job_argv(request, CLI) == [
        *CLI, "interpolate", "/s/a/beauty.####.exr", "--out", "/s/a/framefill_filled/beauty.####.exr",
        "--frames", "1001-1005,1008", "--model", "rife-4", "--device", "cuda:0", "--mode", "recursive",
        "--scale", "0.5", "--no-cut-detection", "--events"]


def test_interpolate_defaults_use_the_read_range_and_let_the_cli_choose():
    request = _request("FF_Interpolate", model="rife-4", output="/out/sh.####.exr",
                       options={"mode": "direct", "scale": "auto"})
    assert job_argv(request, CLI) == [
        *CLI, "interpolate", "/s/a/beauty.####.exr", "--out", "/out/sh.####.exr", "--frames", "1001-1010",
        "--model", "rife-4", "--device", "auto", "--mode", "direct", "--events"]


def test_upscale_command_line():
    request = _request("FF_Upscale", model="realesrgan-x4plus", device="cpu",
                       options={"factor": "2", "size": "", "tile_px": 256})
    assert job_argv(request, CLI) == [
        *CLI, "upscale", "/s/a/beauty.####.exr", "--out", "/s/a/framefill_upscaled/beauty.####.exr",
        "--frames", "1001-1010", "--model", "realesrgan-x4plus", "--device", "cpu", "--scale", "2",
        "--tile", "256", "--events"]
    default = _request("FF_Upscale", options={"factor": "default", "size": "3840x2160", "tile_px": 0})
    assert job_argv(default, CLI)[-5:] == ["--device", "auto", "--size", "3840x2160", "--events"]


def test_qc_command_line_with_and_without_a_filled_range():
    request = _request("FF_FlowError", input_pattern="/s/f/sh.####.exr",
                       options={"filled": "1002-1010x2", "truth": "/s/r/sh.%04d.exr", "threshold_db": 32.0})
    assert job_argv(request, CLI) == [
        *CLI, "qc", "/s/f/sh.####.exr", "--filled", "1002-1010:2", "--truth", "/s/r/sh.####.exr",
        "--report", "/s/f/framefill_qc", "--threshold", "32.0", "--events"]
    # No range: framefill reads the filled frames from the sequence's manifest; threshold 0 = default.
    bare = _request("FF_FlowError", input_pattern="/s/f/sh.####.exr",
                    options={"filled": "", "truth": "", "threshold_db": 0.0})
    assert job_argv(bare, CLI) == [*CLI, "qc", "/s/f/sh.####.exr", "--report", "/s/f/framefill_qc", "--events"]


def test_bundles_describe_the_same_jobs():
    fill = _request("FF_Interpolate", model="rife-4", device="cuda", options={"mode": "direct", "scale": "auto"})
    assert job_bundle_argv(fill, CLI, "/tmp/job") == [
        *CLI, "farm", "bundle", "fill", "--out", "/tmp/job", "--input", "/s/a/beauty.####.exr",
        "--output", "/s/a/framefill_filled/beauty.####.exr", "--frames", "1001-1010", "--model", "rife-4",
        "-p", "Device=cuda", "-p", "Mode=direct", "--events"]
    up = _request("FF_Upscale", model="realesr-animevideov3-x2", options={"factor": "default", "size": "",
                                                                           "tile_px": 512})
    assert job_bundle_argv(up, CLI, "/tmp/job")[-3:] == ["-p", "TilePx=512", "--events"]
    qc = _request("FF_FlowError", input_pattern="/s/f/sh.####.exr", device="cuda",
                  options={"filled": "1002-1010x2", "threshold_db": 30})
    assert job_bundle_argv(qc, CLI, "/tmp/job") == [
        *CLI, "farm", "bundle", "qc", "--out", "/tmp/job", "--output", "/s/f/sh.####.exr",
        "--filled", "1002-1010:2", "--report", "/s/f/framefill_qc", "-p", "Threshold=30.0", "--events"]
    with pytest.raises(HostError, match="a qc job needs the filled frames"):
        job_bundle_argv(_request("FF_FlowError", options={"filled": ""}), CLI, "/tmp/job")


@pytest.mark.parametrize("node_class,pattern,expected", [
    pytest.param("FF_Interpolate", "/s/a/beauty.%04d.exr", "/s/a/framefill_filled/beauty.####.exr", id="fill"),
    pytest.param("FF_Upscale", "plate.$F4.png", "framefill_upscaled/plate.####.png", id="upscale-relative"),
    pytest.param("FF_FlowError", "/s/f/sh.####.exr", "/s/f/framefill_qc", id="qc-folder"),
])
def test_default_outputs(node_class, pattern, expected):
    assert default_output(spec_for(node_class), pattern) == expected


@pytest.mark.parametrize("request_kw,error", [
    pytest.param(dict(input_pattern="/s/a/beauty.exr"), "has no frame token", id="no-token"),
    pytest.param(dict(frames="1-x"), "bad frame range", id="bad-range"),
    pytest.param(dict(output="/s/a/beauty.####.exr"), "is the input sequence", id="over-input"),
    pytest.param(dict(first=10, last=1), "runs backwards", id="backwards-read"),
    pytest.param(dict(node_class="Blur"), "Blur is not a framefill node", id="not-ours"),
])
def test_bad_requests_are_one_line_errors(request_kw, error):
    kw = {"node_class": "FF_Interpolate", **request_kw}
    with pytest.raises(HostError, match=error):
        job_argv(_request(**kw), CLI)


def test_results_become_the_internal_read_and_a_status():
    fill = _request("FF_Interpolate")
    result = {"output": "/s/a/framefill_filled/beauty.####.exr", "filled": 2, "copied": 3, "held": 1,
              "frames": [{"frame": f, "status": s} for f, s in
                         ((1001, "copied"), (1002, "filled"), (1003, "copied"), (1004, "filled"), (1005, "held"),
                          (1006, "copied"))]}
    view = result_view(fill, RunOutcome("failed", 1, "frames 1005 need a real render", result))
    assert (view.read_file, view.first, view.last) == ("/s/a/framefill_filled/beauty.####.exr", 1001, 1006)
    assert view.status == "2 filled, 3 copied, 1 held" and view.filled == "1002,1004"
    assert view.message == "frames 1005 need a real render"
    qc = _request("FF_FlowError", input_pattern="/s/f/sh.%04d.exr", output="/s/f/qc")
    done = result_view(qc, RunOutcome("ok", 0, "", {"rerender": "1002-1006:2", "frames": [
        {"frame": 1002, "status": "filled"}, {"frame": 1008, "status": "filled"}]}))
    assert (done.read_file, done.first, done.last) == ("/s/f/qc/heatmaps/sh.####.exr", 1002, 1008)
    assert done.rerender == "1002-1006x2" and done.status == "re-render: 1002-1006x2"
    assert heatmap_pattern("/s/f/sh.%04d.exr", "/r") == "/r/heatmaps/sh.####.exr"
    failed = result_view(fill, RunOutcome("error", 2, "no frames match /s/a/beauty.####.exr"))
    assert failed.read_file is None and failed.message == "no frames match /s/a/beauty.####.exr"
    cancelled = result_view(fill, RunOutcome("cancelled", 130, "cancelled"))
    assert cancelled.read_file is None and cancelled.message == ""


@pytest.mark.parametrize(
    ("request_kw", "error"),
    [
        pytest.param({"device": "cpu; touch PWNED"}, "-p Device: 'cpu; touch PWNED' is not a device", id="device"),
        pytest.param({"options": {"mode": "direct$(touch PWNED)"}}, "-p Mode: 'direct$(touch PWNED)' is not a fill mode",
                     id="mode"),
        pytest.param({"model": "rife-4`touch PWNED`"}, "--model 'rife-4`touch PWNED`' is not a known interpolate model",
                     id="model"),
    ],
)
def test_a_hostile_bundle_value_fails_when_the_bundle_is_written(request_kw, error, tmp_path):
    # GIVEN a node whose values would reach the farm's command lines
    from framefill_host.runner import python_cli, run_cli

    request = _request("FF_Interpolate", **{"model": "rife-4", **request_kw})
    # WHEN Nuke's route (the CLI, through bundle_argv) writes the bundle
    outcome = run_cli(job_bundle_argv(request, python_cli(), str(tmp_path / "job")), cwd=str(tmp_path))
    # THEN the CLI refuses it with one line naming the flag or parameter, and writes nothing
    assert outcome.status == "error" and outcome.exit_code == 2
    assert outcome.message.startswith(error) and "\n" not in outcome.message
    assert not (tmp_path / "job").exists() and not list(tmp_path.rglob("PWNED*"))


@pytest.mark.parametrize("box, window, expected", [
    pytest.param((0, 0, 15, 15), (0, 0, 99, 49), (0, 34, 16, 50), id="top-left"),
    pytest.param((84, 34, 99, 49), (0, 0, 99, 49), (84, 0, 100, 16), id="bottom-right"),
    pytest.param((0, 0, 99, 49), (0, 0, 99, 49), (0, 0, 100, 50), id="whole-window"),
    pytest.param((20, 30, 29, 39), (10, 20, 49, 59), (10, 20, 20, 30), id="window-off-origin"),
])
def test_regions_become_nuke_bboxes_y_up_with_exclusive_right_and_top(box, window, expected):
    assert nuke_bbox(box, window) == expected
