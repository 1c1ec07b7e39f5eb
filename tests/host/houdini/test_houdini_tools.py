"""Out-of-process tools against the fake ``hou``: patterns, command lines, progress, cancel, errors, results.

GIVEN a ROP or File COP whose path is written with $HIP/$JOB/$OS and $F4/$F WHEN a
tool runs THEN framefill gets a #### pattern with everything else expanded (the frame
never expanded to the current one), the exact CLI command, Houdini's interrupt dialog
follows its --events, its cancel interrupts the CLI, every problem is one message line,
and the result comes back as a File COP.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="process-group signals are POSIX")

# A stand-in for the framefill CLI: records its argv, then acts as FAKE_MODE says.
FAKE_CLI = textwrap.dedent("""
    import json, os, signal, sys, time
    with open(os.environ["FAKE_ARGV"], "a") as fh:
        fh.write(json.dumps(sys.argv[1:]) + "\\n")
    mode = os.environ.get("FAKE_MODE", "ok")
    def emit(**event):
        print(json.dumps(event), flush=True)
    if mode == "error":
        print("framefill: error: no frames match /shots/x.####.exr", file=sys.stderr)
        emit(kind="error", message="no frames match /shots/x.####.exr", data={"exit_code": 2})
        sys.exit(2)
    if mode == "slow":
        def stop(*_):
            emit(kind="error", message="interrupted", data={"exit_code": 130})
            sys.exit(130)
        signal.signal(signal.SIGINT, stop)
        for i in range(2000):
            emit(kind="progress", stage="fill", done=i, total=2000)
            time.sleep(0.02)
    argv = sys.argv[1:]
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    statuses = {1001: "copied", 1002: "filled", 1003: "copied", 1004: "filled", 1005: "copied"}
    emit(kind="start", stage="fill", message="loading model")
    for i, (frame, status) in enumerate(sorted(statuses.items()), 1):
        emit(kind="frame", stage="fill", frame=frame, done=i, total=5, data={"status": status})
    if argv[0] == "qc":
        emit(kind="done", data={"rerender_frames": [1002, 1004], "qc_json": "/r/qc.json"})
        sys.exit(1)
    emit(kind="done", data={"output": out, "filled": 2, "copied": 3, "held": 0,
                            "frames": [{"frame": f, "status": s} for f, s in sorted(statuses.items())]})
""")


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    script = tmp_path / "fake_framefill.py"
    script.write_text(FAKE_CLI, encoding="utf-8")
    argv_log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_ARGV", str(argv_log))

    class Cli:
        cli = [sys.executable, str(script)]

        @staticmethod
        def calls() -> list[list[str]]:
            return [json.loads(line) for line in argv_log.read_text().splitlines()] if argv_log.exists() else []

    return Cli


def _karma(hou):
    rop = hou.node("/out").createNode("karma", "karma1")
    rop.parmTuple("f").set((1001, 1005, 1))
    return rop


# --------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(("raw", "node_name", "expected"), [
    pytest.param("$HIP/render/$HIPNAME.$OS.$F4.exr", "karma1",
                 "/shots/sq010/sh020/render/sh020_light.karma1.####.exr", id="hip-os-F4"),
    pytest.param("$JOB/plates/bg.${F}.exr", None, "/shots/sq010/plates/bg.#.exr", id="job-braced-F"),
    pytest.param("$JOB/plates/bg.$F.exr", None, "/shots/sq010/plates/bg.#.exr", id="job-F"),
    pytest.param("${HIP}/comp/c_$F6.exr", None, "/shots/sq010/sh020/comp/c_######.exr", id="braced-hip-F6"),
    pytest.param("/abs/plate.%04d.exr", None, "/abs/plate.####.exr", id="printf-kept"),
    pytest.param("$HIP/fps$FPS/s.$F4.exr", None, "/shots/sq010/sh020/fps24/s.####.exr", id="FPS-not-a-frame"),
])
def test_houdini_paths_become_framefill_patterns(fake_hou, monkeypatch, raw, node_name, expected):
    from framefill_houdini.paths import houdini_to_framefill

    fake_hou.vars["FPS"] = "24"  # $FPS is a variable, never a frame token
    assert houdini_to_framefill(raw, expand=fake_hou.expandString, node_name=node_name) == expected


@pytest.mark.parametrize(("raw", "error"), [
    pytest.param("$HIP/render/shot.exr", r"has no frame number; write it with \$F4", id="no-frame"),
    pytest.param("$HIP/$F4/shot.$F4.exr", r"has 2 frame tokens; keep exactly one \$F4", id="two-frames"),
    pytest.param("$SHOTS/x.$F4.exr", r"Houdini could not expand \$SHOTS", id="unknown-var"),
    pytest.param("  ", "is empty", id="empty"),
])
def test_bad_paths_are_one_line_errors(fake_hou, raw, error):
    from framefill_host import HostError
    from framefill_houdini.paths import houdini_to_framefill

    with pytest.raises(HostError, match=error) as caught:
        houdini_to_framefill(raw, expand=fake_hou.expandString, where="/out/karma1 parameter picture")
    assert "\n" not in caught.value.msg and caught.value.msg.startswith("/out/karma1 parameter picture")


def test_a_rop_gives_its_pattern_and_frame_range_and_the_exact_commands(fake_hou):
    from framefill_houdini import tools

    rop = _karma(fake_hou)
    rop.parmTuple("f").set((1001, 1100, 2))
    pattern, frames = tools.source_of(rop)
    assert (pattern, frames) == ("/shots/sq010/sh020/render/sh020_light.karma1.####.exr", "1001-1100:2")
    cli = ["/opt/ff/bin/python", "-m", "framefill"]
    out = "/shots/sq010/sh020/render/framefill_filled/sh020_light.karma1.####.exr"
    assert tools.tool_argv("interpolate", cli, pattern=pattern, frames=frames, model="rife-4") == [
        *cli, "interpolate", pattern, "--out", out, "--frames", "1001-1099:2", "--model", "rife-4", "--events"]
    assert tools.tool_argv("upscale", cli, pattern=pattern, model="realesr-animevideov3-x2") == [
        *cli, "upscale", pattern, "--out", out.replace("framefill_filled", "framefill_upscaled"),
        "--model", "realesr-animevideov3-x2", "--events"]
    assert tools.tool_argv("qc", cli, pattern=pattern) == [
        *cli, "qc", pattern, "--report", "/shots/sq010/sh020/render/framefill_qc", "--events"]
    file_cop = fake_hou.node("/img").createNode("file", "plate")
    file_cop.parm("filename").set("$JOB/plates/bg.$F.exr")
    assert tools.source_of(file_cop) == ("/shots/sq010/plates/bg.#.exr", None)


# --------------------------------------------------------------------------- running


@POSIX_ONLY
def test_interpolate_sequence_shows_progress_and_loads_the_result(fake_hou, fake_cli):
    from framefill_houdini import shelf

    fake_hou.selection = [_karma(fake_hou)]
    fake_hou.answers.extend(["rife-4"])
    loaded = shelf.interpolate_sequence({}, cli=fake_cli.cli)
    pattern = "/shots/sq010/sh020/render/sh020_light.karma1.####.exr"
    out = "/shots/sq010/sh020/render/framefill_filled/sh020_light.karma1.####.exr"
    assert fake_cli.calls() == [["interpolate", pattern, "--out", out, "--frames", "1001-1005", "--model", "rife-4",
                                 "--events"]]
    (operation,) = fake_hou.operations
    assert operation.dialog and operation.entered and operation.exited
    assert operation.name == "framefill: Interpolate sequence"
    assert operation.progress == sorted(operation.progress) and operation.progress[-1] == 1.0
    assert "fill 5/5 (frame 1005): loading model" in operation.status
    assert loaded.path() == "/img/framefill_interpolate" and loaded.type().name() == "file"
    assert loaded.parm("filename").eval() == out.replace("####", "$F4")
    assert fake_hou.messages == [("framefill: 2 filled, 3 copied, 0 held", "Message")]


@POSIX_ONLY
def test_cancel_in_the_interrupt_dialog_stops_the_cli(fake_hou, fake_cli, monkeypatch):
    from framefill_houdini import shelf

    monkeypatch.setenv("FAKE_MODE", "slow")
    fake_hou.cancel_after_updates = 3
    fake_hou.selection = [_karma(fake_hou)]
    fake_hou.answers.extend(["realesr-animevideov3-x2"])
    assert shelf.upscale_sequence({}, cli=fake_cli.cli) is None
    assert fake_hou.messages == [("framefill: cancelled; finished frames are kept and running the tool "
                                  "again resumes", "Message")]
    assert fake_hou.node("/img").children() == ()  # nothing loaded


@pytest.mark.parametrize("mode", ["error", "missing-cli"])
def test_errors_are_one_message_line_and_load_nothing(fake_hou, fake_cli, monkeypatch, tmp_path, mode):
    from framefill_houdini import shelf

    fake_hou.selection = [_karma(fake_hou)]
    fake_hou.answers.extend(["rife-4"])
    if mode == "error":
        monkeypatch.setenv("FAKE_MODE", "error")
        shelf.interpolate_sequence({}, cli=fake_cli.cli)
        want = "framefill: no frames match /shots/x.####.exr"
    else:
        monkeypatch.setenv("FRAMEFILL_PYTHON", str(tmp_path / "nowhere" / "python"))
        shelf.interpolate_sequence({})
        want = "framefill: $FRAMEFILL_PYTHON points to {}, which does not exist; fix it or clear it".format(
            tmp_path / "nowhere" / "python")
    assert fake_hou.messages == [(want, "Error")]
    assert fake_hou.node("/img").children() == ()


def test_a_package_placeholder_is_not_a_framefill_python(fake_hou, fake_cli, monkeypatch):
    # The package file keeps "$FRAMEFILL_PYTHON" where the studio set nothing: that means unset.
    from framefill_houdini.paths import clean_env

    env = clean_env({"FRAMEFILL_PYTHON": "$FRAMEFILL_PYTHON", "FRAMEFILL_MODELS": "/cache/models", "HOME": "/h"})
    assert env == {"FRAMEFILL_MODELS": "/cache/models", "HOME": "/h"}


def test_nothing_selected_asks_for_a_file_and_a_bad_pick_is_one_line(fake_hou, fake_cli):
    from framefill_houdini import shelf

    fake_hou.answers.extend(["$HIP/render/sh020.1001.exr", None])  # a frame file; then cancel the model
    assert shelf.interpolate_sequence({}, cli=fake_cli.cli) is None
    assert fake_hou.prompts[0] == ("selectFile", "Interpolate sequence: pick one frame of the sequence")
    fake_hou.answers.extend(["$HIP/render/notes.exr"])
    shelf.flow_error({}, cli=fake_cli.cli)
    assert fake_hou.messages == [("framefill: $HIP/render/notes.exr has no frame number; pick one frame of a "
                                  "sequence (shot.1001.exr)", "Error")]
    assert fake_cli.calls() == []


@POSIX_ONLY
def test_flow_error_loads_the_heatmaps_and_reports_the_rerender_list(fake_hou, fake_cli):
    from framefill_houdini import shelf

    plate = fake_hou.node("/img").createNode("file", "filled")
    plate.parm("filename").set("$HIP/render/framefill_filled/sh020.$F4.exr")
    fake_hou.selection = [plate]
    loaded = shelf.flow_error({}, cli=fake_cli.cli)
    assert fake_cli.calls() == [["qc", "/shots/sq010/sh020/render/framefill_filled/sh020.####.exr", "--report",
                                 "/shots/sq010/sh020/render/framefill_filled/framefill_qc", "--events"]]
    assert loaded.parm("filename").eval() == (
        "/shots/sq010/sh020/render/framefill_filled/framefill_qc/heatmaps/sh020.$F4.exr")
    assert fake_hou.messages == [("framefill: frames to re-render: 1002,1004", "Message")]
