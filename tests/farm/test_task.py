"""The task-side wrapper: `framefill farm task` / `farm prepare` turn --events into OpenJD lines."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from farm_helpers import framefill_argv
from framefill.events import Event
from framefill.farm.task import (
    KILL_AFTER_FRAMES_ENV,
    prepare_session,
    run_task,
    task_argv,
    translate_event,
)

# A stand-in for `python -m framefill ...`: records its argv, then plays the script in FAKE_SCRIPT.
FAKE_PYTHON = """#!{python}
import json, os, signal, sys, time
args = sys.argv[3:]  # after "-m framefill"
log = os.environ.get("FAKE_ARGV_LOG")
if log:
    with open(log, "a") as fh:
        fh.write(json.dumps(args) + "\\n")
signal.signal(signal.SIGINT, lambda *a: (print("child got SIGINT", flush=True), sys.exit(130)))
for step in json.loads(os.environ.get("FAKE_SCRIPT", "[]")):
    if "event" in step:
        print(json.dumps(step["event"]), flush=True)
    elif "line" in step:
        print(step["line"], flush=True)
    elif "sleep" in step:
        time.sleep(step["sleep"])
    elif "exit" in step:
        sys.exit(step["exit"])
"""


@pytest.fixture
def fake_python(tmp_path):
    path = tmp_path / "fake-python"
    path.write_text(FAKE_PYTHON.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def _run(fake_python, monkeypatch, script, args=("interpolate", "a.####.exr")):
    monkeypatch.setenv("FAKE_SCRIPT", json.dumps(script))
    sink = io.StringIO()
    rc = run_task(list(args), stdout=sink, python=fake_python)
    return rc, sink.getvalue().splitlines()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--", "interpolate", "a b.####.exr", "--mode", "", "--device", "cpu"],
                     ["interpolate", "a b.####.exr", "--device", "cpu", "--events"], id="drops-empty-option"),
        pytest.param(["qc", "", "--threshold", ""], ["qc", "", "--events"], id="keeps-empty-positional"),
        pytest.param(["qc", "x", "--events"], ["qc", "x", "--events"], id="events-once"),
        pytest.param(["upscale", "x", "--scale", "", "--size", "", "--tile", "512"],
                     ["upscale", "x", "--tile", "512", "--events"], id="several"),
        pytest.param(["qc", "--", ""], ["qc", "--", "", "--events"], id="bare-double-dash"),
    ],
)
def test_task_argv(args, expected):
    assert task_argv(args) == expected


@pytest.mark.parametrize(
    ("event", "lines"),
    [
        pytest.param(Event("progress", stage="fill", message="loading", done=1, total=4),
                     ["[fill] loading (1/4)", "openjd_status: [fill] loading (1/4)", "openjd_progress: 25.0"],
                     id="progress"),
        pytest.param(Event("frame", stage="fill", message="filled", done=3, total=8, frame=1003),
                     ["[fill] frame 1003 filled (3/8)", "openjd_status: [fill] frame 1003 filled (3/8)",
                      "openjd_progress: 37.5"], id="frame"),
        pytest.param(Event("warning", message="cut at 1010"), ["framefill warning: cut at 1010"], id="warning"),
        pytest.param(Event("error", message="frame 1012 missing"),
                     ["framefill error: frame 1012 missing", "openjd_fail: frame 1012 missing"], id="error"),
        pytest.param(Event("done", data={"filled": 4}), ['framefill result: {"filled": 4}', "openjd_progress: 100"],
                     id="done"),
    ],
)
def test_translate_event(event, lines):
    assert translate_event(event) == lines


def test_run_task_translates_a_whole_run(fake_python, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_ARGV_LOG", str(tmp_path / "argv.log"))
    rc, lines = _run(fake_python, monkeypatch, [
        {"line": "plain text passes through"},
        {"event": {"kind": "start", "stage": "fill", "message": "2 frames"}},
        {"event": {"kind": "frame", "stage": "fill", "frame": 7, "message": "copied", "done": 1, "total": 2}},
        {"event": {"kind": "frame", "stage": "fill", "frame": 8, "message": "filled", "done": 2, "total": 2}},
        {"event": {"kind": "done", "data": {"filled": 1}}},
    ], args=["--", "interpolate", "in dir/a.####.exr", "--mode", "", "--frames", "7-8"])
    assert rc == 0
    assert lines == [
        "plain text passes through",
        "[fill] 2 frames", "openjd_status: [fill] 2 frames",
        "[fill] frame 7 copied (1/2)", "openjd_status: [fill] frame 7 copied (1/2)", "openjd_progress: 50.0",
        "[fill] frame 8 filled (2/2)", "openjd_status: [fill] frame 8 filled (2/2)", "openjd_progress: 100.0",
        'framefill result: {"filled": 1}', "openjd_progress: 100",
    ]
    argv = [json.loads(x) for x in (tmp_path / "argv.log").read_text().splitlines()]
    assert argv == [["interpolate", "in dir/a.####.exr", "--frames", "7-8", "--events"]]


def test_run_task_reports_a_silent_failure(fake_python, monkeypatch):
    rc, lines = _run(fake_python, monkeypatch, [{"exit": 3}])
    assert rc == 3
    assert lines == ["openjd_fail: framefill interpolate exited with code 3"]


def test_run_task_fails_once_with_the_error_event(fake_python, monkeypatch):
    rc, lines = _run(fake_python, monkeypatch, [
        {"event": {"kind": "error", "message": "frame 5 missing from a.####.exr", "data": {"exit_code": 2}}},
        {"exit": 2},
    ])
    assert rc == 2
    assert [ln for ln in lines if ln.startswith("openjd_fail:")] == ["openjd_fail: frame 5 missing from a.####.exr"]


def test_kill_after_frames_fails_the_task(fake_python, monkeypatch):
    monkeypatch.setenv(KILL_AFTER_FRAMES_ENV, "2")
    t0 = time.monotonic()
    rc, lines = _run(fake_python, monkeypatch, [
        {"event": {"kind": "frame", "frame": 1, "done": 1, "total": 3}},
        {"event": {"kind": "frame", "frame": 2, "done": 2, "total": 3}},
        {"sleep": 60},
        {"event": {"kind": "frame", "frame": 3, "done": 3, "total": 3}},
    ])
    assert rc == 1
    assert time.monotonic() - t0 < 30
    assert lines[-1] == f"openjd_fail: killed after 2 frame(s) ({KILL_AFTER_FRAMES_ENV})"
    assert not any("frame 3" in ln for ln in lines)


def test_prepare_exports_the_model_cache(fake_python, monkeypatch, tmp_path):
    monkeypatch.setenv("FRAMEFILL_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("FAKE_ARGV_LOG", str(tmp_path / "argv.log"))
    monkeypatch.setenv("FAKE_SCRIPT", json.dumps([{"event": {"kind": "done", "data": {}}}]))
    sink = io.StringIO()
    assert prepare_session("rife-4", stdout=sink, python=fake_python) == 0
    lines = sink.getvalue().splitlines()
    assert lines[0] == "openjd_status: fetching and verifying model rife-4"
    assert lines[-2:] == [f"openjd_env: FRAMEFILL_MODELS={(tmp_path / 'models').resolve()}",
                          "openjd_status: model rife-4 ready"]
    assert json.loads((tmp_path / "argv.log").read_text()) == ["models", "fetch", "rife-4", "--events"]


def test_prepare_exports_nothing_when_the_fetch_fails(fake_python, monkeypatch):
    monkeypatch.setenv("FAKE_SCRIPT", json.dumps([
        {"event": {"kind": "error", "message": "unknown model 'nope'"}}, {"exit": 2}]))
    sink = io.StringIO()
    assert prepare_session("nope", stdout=sink, python=fake_python) == 2
    assert not [ln for ln in sink.getvalue().splitlines() if ln.startswith("openjd_env:")]


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM forwarding is POSIX-only")
def test_sigterm_is_forwarded_as_sigint(fake_python, tmp_path, env):
    code = ("import sys\nfrom framefill.farm.task import run_task\n"
            f"sys.exit(run_task(['interpolate'], python={fake_python!r}))\n")
    script = [{"event": {"kind": "start", "message": "ready"}}, {"sleep": 60}]
    proc = subprocess.Popen([sys.executable, "-c", code], env={**env, "FAKE_SCRIPT": json.dumps(script)},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 130
    assert "child got SIGINT" in rest


def test_farm_task_command_runs_a_real_framefill_command(env):
    # `farm templates --events` is a real framefill command with a done event.
    proc = subprocess.run(framefill_argv("farm", "task", "--", "farm", "templates"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "openjd_progress: 100"
    result = json.loads(lines[-2].removeprefix("framefill result: "))
    assert sorted(result["templates"]) == ["fill", "qc", "sparse_pipeline", "upscale", "upscale_video"]
    assert Path(result["templates"]["fill"]).name == "fill.yaml"


def test_farm_task_without_a_command(env):
    proc = subprocess.run(framefill_argv("farm", "task", "--"), env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "framefill: error: farm task needs a framefill command, e.g. farm task -- interpolate ..."]
