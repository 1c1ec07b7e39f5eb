"""The host-side client (plugins/common/framefill_host): events, runs, cancel, command lines, patterns.

Runs use real subprocesses (this Python standing in for the CLI) so that
streaming, cancel and process-group termination are tested for real; the
pattern and range translation is held against the core's own parser.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parents[2] / "plugins" / "common"
# The shared client is not an installed package (hosts find it through their plugin paths);
# this puts it where a host would, until pytest's `pythonpath` setting lists plugins/common.
if str(COMMON) not in sys.path:
    sys.path.insert(0, str(COMMON))

from framefill_host import HostError  # noqa: E402
from framefill_host.commands import (  # noqa: E402
    bundle_argv,
    export_nuke_argv,
    interpolate_argv,
    qc_argv,
    split_extra,
    upscale_argv,
)
from framefill_host.events import HostEvent, ProgressState, parse_event_line  # noqa: E402
from framefill_host.patterns import (  # noqa: E402
    find_token,
    first_last_range,
    format_range,
    frame_path,
    framefill_range_to_nuke,
    nuke_range_to_framefill,
    parse_range,
    to_framefill,
    to_houdini,
    to_nuke,
)
from framefill_host.runner import CliRun, outcome_from, resolve_cli, run_cli  # noqa: E402
from framefill_host.settings import get_python, load_settings, set_python  # noqa: E402

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="process groups and signals as on Linux/macOS")


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("line,expected", [
    pytest.param('{"kind": "start", "stage": "fill", "message": "filling 3 frame(s)", "total": 3}',
                 HostEvent("start", "fill", "filling 3 frame(s)", None, 3), id="start"),
    pytest.param('{"kind": "frame", "stage": "fill", "frame": 1002, "done": 1, "total": 3, "data": {"status": "filled"}}',
                 HostEvent("frame", "fill", "", 1, 3, 1002, {"status": "filled"}), id="frame"),
    pytest.param('  {"kind": "warning", "message": "frame 1005 held"}\n', HostEvent("warning", "", "frame 1005 held"),
                 id="warning-with-whitespace"),
    pytest.param('{"data": {"exit_code": 2}, "kind": "error", "message": "no frames"}',
                 HostEvent("error", "", "no frames", data={"exit_code": 2}), id="error"),
    pytest.param('{"kind": "done", "data": {"filled": 4}}', HostEvent("done", data={"filled": 4}), id="done"),
    pytest.param('{"kind": "progress", "done": "3", "total": true, "frame": 2.5}', HostEvent("progress"),
                 id="wrong-types-dropped"),
    pytest.param('{"kind": "progress", "done": 3.0, "data": [1]}', HostEvent("progress", done=3), id="whole-float"),
])
def test_event_lines_parse(line, expected):
    assert parse_event_line(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "progress 3/4", "{not json", "[1, 2]", '"text"',
                                  '{"kind": "frames"}', '{"stage": "fill"}', '{"kind": null}', "{}"])
def test_malformed_lines_are_ignored(line):
    assert parse_event_line(line) is None


def test_progress_state_follows_stages_warnings_and_the_result():
    state = ProgressState()
    assert state.fraction is None and state.percent() == 0 and state.label() == ""
    for line in [
        '{"kind": "start", "stage": "fill", "message": "filling 4 frame(s)", "total": 4}',
        '{"kind": "frame", "stage": "fill", "frame": 1002, "done": 1, "total": 4}',
        '{"kind": "warning", "stage": "fill", "frame": 1004, "message": "frame 1004 held: scene cut"}',
        '{"kind": "frame", "stage": "fill", "frame": 1004, "done": 3, "total": 4}',
    ]:
        state.update(parse_event_line(line))
    assert (state.stage, state.done, state.total, state.frame) == ("fill", 3, 4, 1004)
    assert state.percent() == 75 and state.frames == [1002, 1004]
    assert state.label() == "fill 3/4 (frame 1004): filling 4 frame(s)"
    assert state.warnings == ["frame 1004 held: scene cut"]
    state.update(parse_event_line('{"kind": "progress", "stage": "qc", "message": "scoring"}'))
    assert (state.stage, state.done, state.total, state.fraction) == ("qc", None, None, None)
    state.update(parse_event_line('{"kind": "done", "data": {"filled": 3, "needs_render": "1004"}}'))
    state.update(parse_event_line('{"kind": "error", "message": "frames 1004 need a real render", '
                                  '"data": {"exit_code": 1}}'))
    assert state.result == {"filled": 3, "needs_render": "1004"}
    assert (state.error, state.error_code) == ("frames 1004 need a real render", 1)


# --------------------------------------------------------------------------- outcomes


def _state(*lines: str) -> ProgressState:
    state = ProgressState()
    for line in lines:
        state.update(parse_event_line(line))
    return state


def test_outcomes_by_exit_code():
    done = '{"kind": "done", "data": {"copied": 2}}'
    ok = outcome_from(0, _state(done))
    assert (ok.status, ok.ok, ok.result) == ("ok", True, {"copied": 2})
    failed = outcome_from(1, _state(done), ["framefill: error: frames 1004 need a real render (held, not filled)"])
    assert (failed.status, failed.message, failed.result) == (
        "failed", "frames 1004 need a real render (held, not filled)", {"copied": 2})
    bad = outcome_from(2, _state('{"kind": "error", "message": "unknown model \'rife-9\'", "data": {"exit_code": 2}}'))
    assert (bad.status, bad.message, bad.result) == ("error", "unknown model 'rife-9'", None)
    interrupted = outcome_from(130, _state())
    assert interrupted.status == "cancelled"
    assert outcome_from(0, _state(done), cancelled=True).status == "cancelled"


def test_a_crash_shows_the_traceback_s_last_line_not_the_traceback():
    stderr = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
              "RuntimeError: CUDA out of memory.   Tried to allocate 2 GiB", ""]
    crash = outcome_from(1, _state(), stderr)
    assert crash.message == "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB"
    killed = outcome_from(-9, _state(), [])
    assert (killed.status, killed.message) == ("error", "framefill exited with code -9")


# --------------------------------------------------------------------------- runs (real subprocesses)


def _script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def test_a_run_streams_events_in_order_and_ignores_noise():
    argv = _script("""
        import json, sys
        print("loading torch...")
        for i in range(1, 4):
            print(json.dumps({"kind": "frame", "stage": "fill", "frame": 1000 + i, "done": i, "total": 3}))
            print("{half a line")
        print("framefill: note", file=sys.stderr)
        print(json.dumps({"kind": "done", "data": {"filled": 3}}))
    """)
    seen: list[HostEvent] = []
    outcome = run_cli(argv, on_event=seen.append)
    assert [(e.kind, e.frame) for e in seen] == [("frame", 1001), ("frame", 1002), ("frame", 1003), ("done", None)]
    assert (outcome.status, outcome.exit_code, outcome.result) == ("ok", 0, {"filled": 3})
    assert outcome.stderr_tail == ("framefill: note",)


def test_a_large_stderr_does_not_block_the_run():
    outcome = run_cli(_script("""
        import sys
        for _ in range(20000):
            sys.stderr.write("x" * 99 + "\\n")
        print('{"kind": "done", "data": {}}')
    """))
    assert outcome.status == "ok" and len(outcome.stderr_tail) == 40


@POSIX_ONLY
def test_cancel_interrupts_the_cli_which_exits_cleanly():
    argv = _script("""
        import json, signal, sys, time
        def stop(*_):
            print(json.dumps({"kind": "error", "message": "interrupted", "data": {"exit_code": 130}}), flush=True)
            sys.exit(130)
        signal.signal(signal.SIGINT, stop)
        for i in range(1000):
            print(json.dumps({"kind": "progress", "stage": "fill", "done": i, "total": 1000}), flush=True)
            time.sleep(0.02)
    """)
    seen: list[HostEvent] = []
    started = time.monotonic()
    outcome = run_cli(argv, on_event=seen.append, is_cancelled=lambda: len(seen) >= 3)
    assert outcome.status == "cancelled" and outcome.exit_code == 130
    assert outcome.message == "cancelled; finished frames are kept and a rerun resumes"
    assert time.monotonic() - started < 10


@POSIX_ONLY
def test_cancel_terminates_the_whole_process_group_when_the_cli_ignores_interrupts(tmp_path):
    pid_file = tmp_path / "child.pid"
    argv = _script(f"""
        import json, signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        while True:
            print(json.dumps({{"kind": "progress", "message": "busy"}}), flush=True)
            time.sleep(0.05)
    """)
    run = CliRun(argv, grace_s=0.5).start()
    seen: list[HostEvent] = []
    started = time.monotonic()
    outcome = run.wait(on_event=seen.append, is_cancelled=lambda: len(seen) >= 2 and pid_file.exists())
    assert outcome.status == "cancelled" and outcome.exit_code == -signal.SIGTERM
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while True:  # the grandchild got the group's SIGTERM too
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the CLI's child process outlived the cancel"
        time.sleep(0.05)


def test_a_missing_executable_is_an_error_outcome_not_an_exception(tmp_path):
    outcome = run_cli([str(tmp_path / "no-such-framefill"), "interpolate", "--events"])
    assert outcome.status == "error" and outcome.message.startswith(f"cannot start {tmp_path / 'no-such-framefill'}")


def test_the_real_cli_reports_bad_input_as_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "core")}
    argv = interpolate_argv([sys.executable, "-m", "framefill"], input_pattern=str(tmp_path / "none.%04d.exr"),
                            output_pattern=str(tmp_path / "out" / "none.####.exr"), model="blend")
    outcome = run_cli(argv, env=env)
    assert outcome.status == "error" and outcome.exit_code == 2
    assert "none.####.exr" in outcome.message and "\n" not in outcome.message


# --------------------------------------------------------------------------- finding the CLI


def test_resolve_cli_order(tmp_path):
    python = tmp_path / "python3.11"
    python.write_text("")
    tool = tmp_path / "framefill"
    tool.write_text("")
    no_path = {"which": lambda name: None}
    assert resolve_cli(str(python), environ={}, **no_path) == [str(python), "-m", "framefill"]
    assert resolve_cli(str(tool), environ={"FRAMEFILL_PYTHON": str(python)}, **no_path) == [str(tool)]
    assert resolve_cli(None, environ={"FRAMEFILL_PYTHON": str(tool)}, **no_path) == [str(tool), "-m", "framefill"]
    assert resolve_cli("", environ={}, which=lambda name: f"/usr/bin/{name}") == ["/usr/bin/framefill"]
    with pytest.raises(HostError, match="framefill not found: set the framefill Python preference"):
        resolve_cli(None, environ={}, **no_path)
    with pytest.raises(HostError, match=r"the framefill preference points to /nowhere/python, which does not exist"):
        resolve_cli("/nowhere/python", environ={}, **no_path)


def test_settings_round_trip(tmp_path):
    path = str(tmp_path / ".nuke" / "framefill.json")
    assert load_settings(path) == {} and get_python(path) is None
    set_python(path, " /opt/ff/bin/python ")
    assert get_python(path) == "/opt/ff/bin/python"
    assert json.loads(Path(path).read_text()) == {"python": "/opt/ff/bin/python"}
    set_python(path, "")
    assert get_python(path) is None
    Path(path).write_text("{broken")
    assert load_settings(path) == {}


# --------------------------------------------------------------------------- command lines


CLI = ["/opt/ff/bin/python", "-m", "framefill"]


def test_interpolate_command_line():
    assert interpolate_argv(
        CLI, input_pattern="/s/a/beauty.%04d.exr", output_pattern="/s/a/filled/beauty.####.exr",
        frames="1001-1100x2 1200", model="rife-4", device="cuda:0", mode="direct", scale=0.5,
        extra=["--no-cut-detection"],
    ) == [*CLI, "interpolate", "/s/a/beauty.####.exr", "--out", "/s/a/filled/beauty.####.exr",
          "--frames", "1001-1099:2,1200", "--model", "rife-4", "--device", "cuda:0", "--mode", "direct",
          "--scale", "0.5", "--no-cut-detection", "--events"]
    assert interpolate_argv(CLI, input_pattern="a.$F4.exr", output_pattern="b.@@@@.exr") == [
        *CLI, "interpolate", "a.####.exr", "--out", "b.####.exr", "--events"]


def test_upscale_command_line():
    assert upscale_argv(CLI, input_pattern="plate.%d.png", output_pattern="up/plate.#.png", frames="1-10",
                        model="realesrgan-x4plus", scale=2, tile_px=512, device="cpu") == [
        *CLI, "upscale", "plate.#.png", "--out", "up/plate.#.png", "--frames", "1-10", "--model",
        "realesrgan-x4plus", "--device", "cpu", "--scale", "2", "--tile", "512", "--events"]
    assert upscale_argv(CLI, input_pattern="p.####.exr", output_pattern="u.####.exr", size="3840x2160")[-3:] == [
        "--size", "3840x2160", "--events"]
    with pytest.raises(HostError, match="not both"):
        upscale_argv(CLI, input_pattern="p.####.exr", output_pattern="u.####.exr", scale=2, size="100x100")


def test_qc_bundle_and_export_command_lines():
    assert qc_argv(CLI, pattern="f/sh.%04d.exr", filled="1002-1010x2", truth="r/sh.%04d.exr", report_dir="f/qc",
                   threshold_db=30) == [
        *CLI, "qc", "f/sh.####.exr", "--filled", "1002-1010:2", "--truth", "r/sh.####.exr", "--report", "f/qc",
        "--threshold", "30.0", "--events"]
    assert bundle_argv(CLI, kind="fill", out_dir="/tmp/b", input_pattern="r/sh.%04d.exr",
                       output_pattern="f/sh.####.exr", frames="1001-1100", model="rife-4",
                       params={"Mode": "direct", "Device": "cuda"}) == [
        *CLI, "farm", "bundle", "fill", "--out", "/tmp/b", "--input", "r/sh.####.exr", "--output", "f/sh.####.exr",
        "--frames", "1001-1100", "--model", "rife-4", "-p", "Device=cuda", "-p", "Mode=direct", "--events"]
    # A host's own render step travels as a file (--render-step), the same route for every host.
    assert bundle_argv(CLI, kind="sparse_pipeline", out_dir="/tmp/b", input_pattern="r/sh.$F4.exr",
                       output_pattern="f/sh.####.exr", frames="1001-1010", keyframes="1001-1009x2 1010",
                       render_step="/tmp/step.json", params={"BlendFile": "/s/shot.blend"}) == [
        *CLI, "farm", "bundle", "sparse_pipeline", "--out", "/tmp/b", "--input", "r/sh.####.exr", "--output",
        "f/sh.####.exr", "--frames", "1001-1010", "--keyframes", "1001-1009:2,1010", "--render-step",
        "/tmp/step.json", "-p", "BlendFile=/s/shot.blend", "--events"]
    with pytest.raises(HostError, match="unknown job kind 'render'"):
        bundle_argv(CLI, kind="render", out_dir="/tmp/b")
    assert export_nuke_argv(CLI, model="rife-4", out_dir="/m") == [
        *CLI, "export", "nuke", "--model", "rife-4", "--out", "/m", "--events"]


def test_extra_options_split_like_a_shell_without_one():
    assert split_extra(' --mode recursive  --note "two words" ') == ["--mode", "recursive", "--note", "two words"]
    assert split_extra("") == [] and split_extra(None) == []
    with pytest.raises(HostError, match="cannot read the extra options"):
        split_extra('--note "open')


# --------------------------------------------------------------------------- patterns


PATTERNS = [
    pytest.param("/s/a/beauty.####.exr", "/s/a/beauty.####.exr", "/s/a/beauty.%04d.exr", "/s/a/beauty.$F4.exr",
                 id="hashes"),
    pytest.param("/s/a/beauty.%04d.exr", "/s/a/beauty.####.exr", "/s/a/beauty.%04d.exr", "/s/a/beauty.$F4.exr",
                 id="printf"),
    pytest.param("beauty.%d.exr", "beauty.#.exr", "beauty.%d.exr", "beauty.$F.exr", id="printf-unpadded"),
    pytest.param("/s/$HIP/beauty.$F4.exr", "/s/$HIP/beauty.####.exr", "/s/$HIP/beauty.%04d.exr",
                 "/s/$HIP/beauty.$F4.exr", id="houdini-with-other-dollar"),
    pytest.param("r/sh_@@@@@.tif", "r/sh_#####.tif", "r/sh_%05d.tif", "r/sh_$F5.tif", id="at-signs"),
    pytest.param("100%%_done.%03d.png", "100%%_done.###.png", "100%%_done.%03d.png", "100%%_done.$F3.png",
                 id="escaped-percent"),
]


@pytest.mark.parametrize("given,framefill,nuke_printf,houdini", PATTERNS)
def test_pattern_translation_round_trips(given, framefill, nuke_printf, houdini):
    from framefill.frames.sequence import FramePattern

    assert to_framefill(given) == framefill
    assert to_nuke(given, style="printf") == nuke_printf
    assert to_nuke(given) == framefill
    assert to_houdini(given) == houdini
    for spelling in (framefill, nuke_printf, houdini):
        assert to_framefill(spelling) == framefill
    # The core reads every spelling the same way.
    assert FramePattern.parse(nuke_printf).as_hashes() == FramePattern.parse(houdini).as_hashes() == framefill


def test_frame_paths_match_the_core():
    from framefill.frames.sequence import FramePattern

    for pattern in ("a.####.exr", "a.%02d.exr", "a.$F.exr"):
        for frame in (-12, -1, 0, 7, 1001, 123456):
            assert frame_path(pattern, frame) == FramePattern.parse(pattern).path(frame)


@pytest.mark.parametrize("pattern,error", [
    pytest.param("beauty.exr", "has no frame token", id="none"),
    pytest.param("v###/beauty.####.exr", "has 2 frame tokens", id="two"),
])
def test_patterns_without_one_token_are_refused(pattern, error):
    with pytest.raises(HostError, match=error):
        find_token(pattern)


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize("text,frames", [
    pytest.param("1001", [1001], id="single"),
    pytest.param("1001-1004", [1001, 1002, 1003, 1004], id="range"),
    pytest.param("1-9x4", [1, 5, 9], id="nuke-step"),
    pytest.param("1-9:4", [1, 5, 9], id="openjd-step"),
    pytest.param("1-3 7 10-14x2", [1, 2, 3, 7, 10, 12, 14], id="nuke-spaces"),
    pytest.param("1, 3, 5 - 6", [1, 3, 5, 6], id="commas-and-spaces"),
    pytest.param("-3--1", [-3, -2, -1], id="negative"),
    pytest.param("5-1:-2", [1, 3, 5], id="descending"),
    pytest.param("4,2,4,3", [2, 3, 4], id="unsorted-duplicates"),
])
def test_ranges_parse(text, frames):
    assert parse_range(text) == frames


@pytest.mark.parametrize("text", ["1001-1004", "1-9x4", "1-9:4", "-3--1", "5-1:-2", "4,2,4,3", "1, 3, 5 - 6"])
def test_range_parsing_agrees_with_the_core(text):
    from framefill.frames.sequence import parse_frame_range

    assert parse_range(text) == list(parse_frame_range(text))


@pytest.mark.parametrize("text,error", [
    pytest.param("", "empty frame range", id="empty"),
    pytest.param("10-1", "runs backwards; write it 1-10", id="backwards"),
    pytest.param("1-10x0", "step 0", id="zero-step"),
    pytest.param("1-10:-1", "points away", id="wrong-sign"),
    pytest.param("first-last", "bad frame range", id="words"),
    pytest.param("1-2000000", "more than 1,000,000 frames", id="too-many"),
])
def test_bad_ranges_are_refused_in_one_line(text, error):
    with pytest.raises(HostError, match=error):
        parse_range(text)


def test_formatted_ranges_parse_back_exactly_in_both_syntaxes():
    from framefill.frames.sequence import parse_frame_range

    rng = random.Random(7)
    for _ in range(300):
        frames = sorted(set(rng.sample(range(-20, 200), rng.randint(1, 40))))
        if rng.random() < 0.3:  # stepped runs too
            start, step = rng.randint(-10, 50), rng.randint(2, 5)
            frames = sorted(set(frames) | set(range(start, start + 8 * step, step)))
        framefill_text = format_range(frames)
        nuke_text = format_range(frames, style="nuke")
        assert parse_range(framefill_text) == frames and parse_range(nuke_text) == frames
        assert list(parse_frame_range(framefill_text)) == frames  # the core reads what we write
        assert nuke_range_to_framefill(nuke_text) == framefill_text
        assert framefill_range_to_nuke(framefill_text) == nuke_text


def test_range_formatting_examples():
    assert format_range([1001, 1002, 1003, 1005, 1007, 1009, 1020]) == "1001-1003,1005-1009:2,1020"
    assert format_range([1001, 1002, 1003, 1005, 1007, 1009, 1020], style="nuke") == "1001-1003 1005-1009x2 1020"
    assert format_range([]) == "" and format_range([5]) == "5" and format_range([4, 6]) == "4,6"
    assert first_last_range(1001, 1100) == "1001-1100" and first_last_range(7, 7) == "7"
    assert first_last_range(1, 9, 2) == "1-9:2"
    with pytest.raises(HostError, match="runs backwards"):
        first_last_range(10, 1)
