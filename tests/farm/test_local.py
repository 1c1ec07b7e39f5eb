"""`framefill farm run-local`: openjd runs the template here, chunks split among workers, dependencies kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from farm_helpers import framefill_argv
from framefill.errors import InputError
from framefill.farm.local import split_blocks, worker_devices

# Step A writes one marker per chunk (chunk, device, session id); its step environment
# writes one marker per session. Step B checks that every frame of A is done first.
TASK_A = r"""
import os, sys
out, chunk, device, fail_on, session = sys.argv[1:6]
frames = []
for part in chunk.split(","):
    lo, _, hi = part.partition("-")
    frames += range(int(lo), int(hi or lo) + 1)
if fail_on and int(fail_on) in frames:
    print(f"openjd_fail: frame {fail_on} broke", flush=True)
    sys.exit(1)
for f in frames:
    open(os.path.join(out, f"A.{f:04d}"), "w").write(f"{device} {session}")
"""
ENTER = r"""
import os, sys, uuid
out, device = sys.argv[1:3]
os.makedirs(out, exist_ok=True)
sid = uuid.uuid4().hex[:8]
open(os.path.join(out, f"session-{sid}"), "w").write(device)
print(f"openjd_env: SESSION_ID={sid}")
"""
TASK_B = r"""
import os, sys
out, frames = sys.argv[1], int(sys.argv[2])
done = sorted(n for n in os.listdir(out) if n.startswith("A."))
if len(done) != frames:
    print(f"openjd_fail: B ran before A finished ({len(done)} of {frames})", flush=True)
    sys.exit(1)
open(os.path.join(out, "B"), "w").write("ok")
"""


def _template(path: Path) -> Path:
    doc = {
        "specificationVersion": "jobtemplate-2023-09",
        "extensions": ["TASK_CHUNKING"],
        "name": "run-local test",
        "parameterDefinitions": [
            {"name": "OutDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT"},
            {"name": "Frames", "type": "STRING", "default": "1-10"},
            {"name": "Count", "type": "INT", "default": 10},
            {"name": "Device", "type": "STRING", "default": "auto"},
            {"name": "FailOn", "type": "STRING", "default": ""},
        ],
        "steps": [
            {
                "name": "A",
                "parameterSpace": {"taskParameterDefinitions": [{
                    "name": "Frame", "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
                    "chunks": {"defaultTaskCount": 2, "rangeConstraint": "CONTIGUOUS"}}]},
                "stepEnvironments": [{"name": "Session", "script": {"actions": {"onEnter": {
                    "command": sys.executable, "args": ["-c", ENTER, "{{Param.OutDir}}", "{{Param.Device}}"]}}}}],
                "script": {"actions": {"onRun": {"command": sys.executable, "args": [
                    "-c", TASK_A, "{{Param.OutDir}}", "{{Task.Param.Frame}}", "{{Param.Device}}", "{{Param.FailOn}}",
                    "{{Session.WorkingDirectory}}"]}}},
            },
            {
                "name": "B",
                "dependencies": [{"dependsOn": "A"}],
                "script": {"actions": {"onRun": {"command": sys.executable, "args": [
                    "-c", TASK_B, "{{Param.OutDir}}", "{{Param.Count}}"]}}},
            },
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run_local(source: Path, env, *args: str):
    proc = subprocess.run(framefill_argv("farm", "run-local", str(source), *args, "--json"), env=env,
                          capture_output=True, text=True, timeout=300)
    return proc


def _markers(out: Path) -> dict[int, str]:
    return {int(p.name[2:]): p.read_text().split()[0] for p in out.glob("A.*")}


def test_one_worker_runs_the_whole_job(tmp_path, env):
    out = tmp_path / "out"
    proc = _run_local(_template(tmp_path / "t.yaml"), env, "-p", f"OutDir={out}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["workers"] == 1
    assert _markers(out) == {f: "auto" for f in range(1, 11)}
    assert (out / "B").read_text() == "ok"
    assert len(list(out.glob("session-*"))) == 1  # one session: the model is "loaded" once


def test_two_workers_split_the_chunks_and_keep_dependencies(tmp_path, env):
    out = tmp_path / "out"
    proc = _run_local(_template(tmp_path / "t.yaml"), env, "-p", f"OutDir={out}", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    runs = [(r["step"], r["worker"], r["device"], r["tasks"]) for r in result["runs"]]
    # No CUDA here, so each worker gets the CPU; 5 chunks split 3 + 2, contiguous.
    assert runs == [
        ("A", 0, "cpu", ["1-2", "3-4", "5-6"]),
        ("A", 1, "cpu", ["7-8", "9-10"]),
        ("B", 0, "cpu", []),
    ]
    assert _markers(out) == {f: "cpu" for f in range(1, 11)}
    assert (out / "B").read_text() == "ok"
    # Each worker entered the step environment once and ran all its chunks in that session.
    sessions = {p.name[len("session-"):] for p in out.glob("session-*")}
    assert len(sessions) == 2
    by_session: dict[str, set[int]] = {}
    for p in out.glob("A.*"):
        by_session.setdefault(p.read_text().split()[1], set()).add(int(p.name[2:]))
    assert sorted(by_session.values(), key=min) == [set(range(1, 7)), set(range(7, 11))]


def test_explicit_devices_go_one_per_worker(tmp_path, env):
    out = tmp_path / "out"
    proc = _run_local(_template(tmp_path / "t.yaml"), env, "-p", f"OutDir={out}", "--workers", "2",
                      "--devices", "cuda:1,cuda:0")
    assert proc.returncode == 0, proc.stderr
    assert _markers(out) == {**{f: "cuda:1" for f in range(1, 7)}, **{f: "cuda:0" for f in range(7, 11)}}


def test_a_failed_chunk_fails_the_job_in_one_line(tmp_path, env):
    out = tmp_path / "out"
    proc = subprocess.run(
        framefill_argv("farm", "run-local", str(_template(tmp_path / "t.yaml")), "-p", f"OutDir={out}",
                       "-p", "FailOn=8", "--workers", "2"),
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("framefill: error: step A on worker 1 failed: frame 8 broke; openjd logs kept in ")
    logs = Path(lines[-1].rsplit("openjd logs kept in ", 1)[1])
    assert (logs / "A-w1.log").is_file()
    assert "openjd_fail: frame 8 broke" in (logs / "A-w1.log").read_text()
    assert not (out / "B").exists()  # B never started
    assert set(_markers(out)) == set(range(1, 7))  # worker 0 finished its chunks
    subprocess.run(["rm", "-rf", str(logs)], check=False)


def test_bundle_values_and_overrides(tmp_path, env):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    _template(bundle / "template.yaml")
    out = tmp_path / "out"
    (bundle / "parameter_values.yaml").write_text(yaml.safe_dump({"parameterValues": [
        {"name": "OutDir", "value": str(out)}, {"name": "Frames", "value": "1-4"}, {"name": "Count", "value": 4},
        {"name": "deadline:priority", "value": 50}]}))
    proc = _run_local(bundle, env, "-p", "Device=from-cli")
    assert proc.returncode == 0, proc.stderr
    assert _markers(out) == {f: "from-cli" for f in range(1, 5)}


def test_bad_source_and_values(tmp_path, env):
    proc = _run_local(tmp_path / "missing", env)
    assert proc.returncode == 2
    assert "no job bundle or template at" in proc.stderr
    proc = _run_local(_template(tmp_path / "t.yaml"), env, "-p", "OutDir=x", "-p", "Nope=1")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "framefill: error: job template " + str(tmp_path / "t.yaml")
        + ": bad job parameter values: Job parameter values provided for parameters that are not defined in the "
        "template: Nope"
    ]


@pytest.mark.parametrize(
    ("n", "blocks"),
    [
        pytest.param(1, [[1, 2, 3, 4, 5]], id="one"),
        pytest.param(2, [[1, 2, 3], [4, 5]], id="two"),
        pytest.param(3, [[1, 2], [3, 4], [5]], id="three"),
        pytest.param(8, [[1], [2], [3], [4], [5]], id="more-workers-than-chunks"),
    ],
)
def test_split_blocks(n, blocks):
    assert split_blocks([1, 2, 3, 4, 5], n) == blocks


def test_worker_devices_without_cuda():
    # This machine (and CI) has no CUDA: every worker runs on the CPU.
    import shutil

    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU machine: device assignment is checked by test_two_workers_... there")
    assert worker_devices(3) == ("cpu", "cpu", "cpu")


def test_run_local_rejects_bad_worker_counts(tmp_path):
    from framefill.farm import run_local

    with pytest.raises(InputError, match="--workers must be between 1 and 64"):
        run_local(tmp_path, workers=0)
