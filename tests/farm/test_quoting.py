"""Hostile paths and values reach framefill as single literal arguments when openjd runs a template."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from farm_helpers import TEMPLATES, openjd_argv, read_fake_log, write_fake_framefill

NASTY_DIR = "dir with spaces/it's \"quoted\" $(touch PWNED_DIR); `touch PWNED_TICK` & echo $HOME | cat >x"
NASTY_NAME = "a;b $(touch PWNED_NAME) 'q'.####.exr"
NASTY_MODEL = "rife-4; touch PWNED_MODEL"
NASTY_DEVICE = "cpu $(touch PWNED_DEVICE)"


def _run_template(kind: str, values: dict[str, str], tmp_path: Path, env: dict[str, str]) -> list[list[str]]:
    fake_bin = write_fake_framefill(tmp_path / "fakebin")
    log = tmp_path / "argv.log"
    run_env = {**env, "PATH": f"{fake_bin}:{env['PATH']}", "FAKE_FRAMEFILL_LOG": str(log)}
    args = openjd_argv("run", str(TEMPLATES / f"{kind}.yaml"))
    for key, value in values.items():
        args += ["-p", f"{key}={value}"]
    proc = subprocess.run(args, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    # Nothing was executed by a shell: no file named PWNED_* appeared anywhere.
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    # The session's working directory differs per run: named, not compared.
    calls = read_fake_log(log)
    for call in calls:
        if "--session-dir" in call:
            call[call.index("--session-dir") + 1] = "SESSION"
    return calls


def test_fill_arguments_arrive_literally(tmp_path, env):
    in_dir = tmp_path / NASTY_DIR / "in"
    out_dir = tmp_path / NASTY_DIR / "out"
    # openjd writes NONCONTIGUOUS chunks as OpenJD range lists ("1,2", "3"): framefill's --frames reads them.
    calls = _run_template("fill", {
        "InputDir": str(in_dir), "InputPattern": NASTY_NAME, "OutputDir": str(out_dir),
        "OutputPattern": "o.####.exr", "Frames": "1-3", "ChunkSize": "2", "Model": NASTY_MODEL,
        "Device": NASTY_DEVICE, "Batch": "2",
    }, tmp_path, env)
    assert calls == [
        ["farm", "worker", "start", "--model", NASTY_MODEL, "--device", NASTY_DEVICE, "--session-dir", "SESSION"],
        ["farm", "task", "--", "interpolate", f"{in_dir}/{NASTY_NAME}", "--out", f"{out_dir}/o.####.exr",
         "--frames", "1,2", "--model", NASTY_MODEL, "--mode", "", "--device", NASTY_DEVICE, "--batch", "2",
         "--allow-held"],
        ["farm", "task", "--", "interpolate", f"{in_dir}/{NASTY_NAME}", "--out", f"{out_dir}/o.####.exr",
         "--frames", "3", "--model", NASTY_MODEL, "--mode", "", "--device", NASTY_DEVICE, "--batch", "2",
         "--allow-held"],
        ["farm", "worker", "stop", "--session-dir", "SESSION"],
    ]


def test_sparse_pipeline_arguments_arrive_literally(tmp_path, env):
    in_dir = tmp_path / NASTY_DIR / "keys"
    out_dir = tmp_path / NASTY_DIR / "out"
    report = tmp_path / NASTY_DIR / "report"
    calls = _run_template("sparse_pipeline", {
        "InputDir": str(in_dir), "InputPattern": NASTY_NAME, "OutputDir": str(out_dir),
        "OutputPattern": NASTY_NAME, "Frames": "1-5", "Keyframes": "1-5:2", "Filled": "2-4:2",
        "ChunkSize": "5", "ReportDir": str(report), "Threshold": "30; rm -rf /", "Mode": "recursive",
    }, tmp_path, env)
    out = f"{out_dir}/{NASTY_NAME}"
    assert calls == [
        ["farm", "worker", "start", "--model", "rife-4", "--device", "auto", "--session-dir", "SESSION"],
        ["farm", "task", "--", "interpolate", f"{in_dir}/{NASTY_NAME}", "--out", out, "--frames", "1-5",
         "--model", "rife-4", "--mode", "recursive", "--device", "auto", "--batch", "1", "--allow-held"],
        ["farm", "worker", "stop", "--session-dir", "SESSION"],
        ["farm", "worker", "start", "--model", "", "--device", "auto", "--session-dir", "SESSION"],
        ["farm", "task", "--", "qc", out, "--filled", "2-4:2", "--frames", "2,4", "--threshold", "30; rm -rf /"],
        ["farm", "worker", "stop", "--session-dir", "SESSION"],
        ["farm", "task", "--", "qc", out, "--filled", "2-4:2", "--report", str(report), "--threshold", "30; rm -rf /"],
    ]


@pytest.mark.parametrize("kind", ["upscale", "qc"])
def test_other_templates_pass_values_as_whole_arguments(kind, tmp_path, env):
    values = {
        "upscale": {"InputDir": str(tmp_path / NASTY_DIR), "InputPattern": NASTY_NAME,
                    "OutputDir": str(tmp_path / "up"), "OutputPattern": NASTY_NAME, "Frames": "1-2",
                    "Size": "1920x1080 $(touch PWNED_SIZE)"},
        "qc": {"OutputDir": str(tmp_path / NASTY_DIR), "OutputPattern": NASTY_NAME, "Filled": "2",
               "ReportDir": str(tmp_path / "r")},
    }[kind]
    calls = _run_template(kind, values, tmp_path, env)
    task_calls = [c for c in calls if c[:2] == ["farm", "task"]]
    assert task_calls
    for call in task_calls:
        assert f"{tmp_path / NASTY_DIR}/{NASTY_NAME}" in call
    if kind == "upscale":
        assert task_calls[0][task_calls[0].index("--size") + 1] == "1920x1080 $(touch PWNED_SIZE)"
