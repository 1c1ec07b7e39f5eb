"""`framefill farm submit` without a farm or credentials: exit 2, one line on stderr, fast."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from farm_helpers import framefill_argv

FARM = "farm-0123456789abcdef0123456789abcdef"
QUEUE = "queue-0123456789abcdef0123456789abcdef"
# Generous for a loaded 2-core machine; a network retry loop or region scan takes far longer.
FAST_S = 30


@pytest.fixture
def bundle(tmp_path, env):
    subprocess.run(
        framefill_argv("farm", "bundle", "fill", "--out", str(tmp_path / "bundle"), "--input",
                       str(tmp_path / "r/a.####.exr"), "--output", str(tmp_path / "o/a.####.exr"), "--frames", "1-4"),
        env=env, check=True, capture_output=True,
    )
    return tmp_path / "bundle"


def _submit(env, *args):
    t0 = time.monotonic()
    proc = subprocess.run(framefill_argv("farm", "submit", *args), env=env, capture_output=True, text=True, timeout=120)
    return proc, time.monotonic() - t0


@pytest.mark.parametrize(
    ("extra_env", "flags", "expected"),
    [
        pytest.param({}, [], "framefill: error: no Deadline Cloud farm/queue: pass --farm-id and --queue-id", id="no-farm"),
        pytest.param({}, ["--farm-id", FARM], "framefill: error: no Deadline Cloud farm/queue: pass --queue-id", id="no-queue"),
        pytest.param({}, ["--farm-id", FARM, "--queue-id", QUEUE], "framefill: error: no AWS region for Deadline Cloud",
                     id="no-region"),
        pytest.param({"AWS_DEFAULT_REGION": "us-west-2"}, ["--farm-id", FARM, "--queue-id", QUEUE],
                     "framefill: error: no AWS credentials for Deadline Cloud", id="no-credentials"),
        pytest.param(
            {"AWS_DEFAULT_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
             "AWS_SECRET_ACCESS_KEY": "not-a-secret", "AWS_ENDPOINT_URL_DEADLINE": "http://127.0.0.1:9"},
            ["--farm-id", FARM, "--queue-id", QUEUE], "framefill: error: cannot reach Deadline Cloud", id="unreachable",
        ),
    ],
)
def test_submit_fails_cleanly(bundle, env, extra_env, flags, expected):
    proc, seconds = _submit({**env, **extra_env}, str(bundle), *flags)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(expected), lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert seconds < FAST_S


def test_submit_json_mode_puts_the_error_on_stdout_too(bundle, env):
    proc, _ = _submit(env, str(bundle), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert len(proc.stderr.splitlines()) == 1


def test_submit_reads_farm_and_queue_from_the_deadline_config(bundle, env, tmp_path):
    # GIVEN farm and queue set the way a user sets them, with the deadline CLI
    cfg_env = {**env, "DEADLINE_CONFIG_FILE_PATH": str(tmp_path / "deadline.cfg")}
    deadline = str(Path(sys.executable).parent / "deadline")
    for key, value in (("defaults.farm_id", FARM), ("defaults.queue_id", QUEUE)):
        subprocess.run([deadline, "config", "set", key, value], env=cfg_env, check=True, capture_output=True)
    proc, _ = _submit(cfg_env, str(bundle))
    # The ids came from the config: the failure is the missing region, not the missing farm.
    assert proc.returncode == 2
    assert proc.stderr.startswith("framefill: error: no AWS region"), proc.stderr


def test_submit_without_a_bundle(tmp_path, env):
    proc, _ = _submit(env, str(tmp_path / "nothing"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"framefill: error: no job bundle folder at {tmp_path / 'nothing'}; "
                                        "make one with `framefill farm bundle`"]
