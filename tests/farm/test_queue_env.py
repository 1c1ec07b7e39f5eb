"""The framefill queue environment (openjd_templates/queue_env_framefill_venv.yaml): create and reuse paths.

The CREATE path is run offline: pip installs a wheel built from this checkout
(``pip wheel --no-deps`` of a copy of the source) with ``--no-index
--find-links WHEELS --no-deps``. It covers the venv, the temporary folder and
the rename, the version check, the launcher, PATH and concurrent sessions. It
does NOT cover resolving framefill's dependencies (torch, numpy, ...) from an
index: the venv it builds holds framefill without them, so its ``framefill``
cannot run; the probe job checks the venv through its python instead. The
REUSE path with real work (every template, frames compared with the CLI) is in
test_queue_env_templates.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from farm_helpers import CORE, QUEUE_ENV, REPO, TEMPLATES, openjd_argv, queue_env_task_env, venv_dir_name
from framefill._version import __version__

pytestmark = pytest.mark.slow

# A job whose one task prints where its python lives and what is first on PATH.
PROBE_JOB = {
    "specificationVersion": "jobtemplate-2023-09",
    "name": "probe",
    "steps": [{
        "name": "Probe",
        "script": {"actions": {"onRun": {"command": "python", "args": [
            "-c", "import importlib.metadata as m, os, sys; print('PROBE', sys.prefix, m.version('framefill'), "
                  "os.environ['PATH'].split(os.pathsep)[0], os.environ['VIRTUAL_ENV'])"]}}},
    }],
}
LAUNCHER = '#!/bin/sh\nexec "$(dirname -- "$0")/python" -m framefill "$@"\n'


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A framefill wheel of this checkout, built from a copy (nothing is written into the repository)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(CORE, src / "core", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(TEMPLATES, src / "openjd_templates")
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in out.iterdir()] == [f"framefill-{__version__}-py3-none-any.whl"]
    return out


def _probe_job(tmp_path: Path) -> Path:
    job = tmp_path / "probe.yaml"
    job.write_text(yaml.safe_dump(PROBE_JOB, sort_keys=False), encoding="utf-8")
    return job


def _enter(tmp_path: Path, env: dict[str, str], root: Path, *params: str) -> subprocess.CompletedProcess[str]:
    """``openjd run`` of the probe job inside the queue environment, venvs under ``root``; ``params``: NAME=VALUE."""
    values = [f"FramefillVenvRoot={root}", f"FramefillPython={sys.executable}", *params]
    argv = openjd_argv("run", str(_probe_job(tmp_path)), "--environment", str(QUEUE_ENV),
                       *[a for v in values for a in ("-p", v)])
    return subprocess.run(argv, env=queue_env_task_env(env), capture_output=True, text=True, timeout=1200)


def _offline(wheels: Path) -> str:
    return f"FramefillPipArgs=--no-index --find-links {wheels} --no-deps"


def test_the_default_requirement_is_this_version():
    doc = yaml.safe_load(QUEUE_ENV.read_text(encoding="utf-8"))
    params = {p["name"]: p for p in doc["parameterDefinitions"]}
    assert params["FramefillRequirement"]["default"] == f"framefill=={__version__}"
    assert {n: p.get("default") for n, p in params.items()} == {
        "FramefillRequirement": f"framefill=={__version__}", "FramefillPipArgs": "", "FramefillVenvRoot": "",
        "FramefillPython": "python3", "FramefillModels": ""}
    assert doc["specificationVersion"] == "environment-2023-09"
    # No shell: the chosen python runs the embedded script, on Linux and Windows alike.
    enter = doc["environment"]["script"]["actions"]["onEnter"]
    assert enter["command"] == "{{Param.FramefillPython}}" and enter["args"][0] == "{{Env.File.Setup}}"
    check = subprocess.run(openjd_argv("check", str(QUEUE_ENV)), capture_output=True, text=True, timeout=600)
    assert check.returncode == 0 and "passes validation checks" in check.stdout, check.stdout + check.stderr


def test_create_then_reuse(tmp_path, env, wheels):
    root = tmp_path / "venvs"
    venv = root / venv_dir_name(__version__)
    # GIVEN a broken folder where the venv belongs (no framefill in it)
    venv.mkdir(parents=True)
    (venv / "junk.txt").write_text("half a venv", encoding="utf-8")
    # WHEN a session enters the queue environment
    first = _enter(tmp_path, env, root, _offline(wheels), "FramefillModels=/shared/models")
    # THEN it builds a venv with this framefill, puts it in place of the broken one and on PATH
    assert first.returncode == 0, first.stdout[-4000:]
    assert f"framefill-venv: replaced a broken {venv} (framefill {__version__})" in first.stdout
    assert f"PROBE {venv} {__version__} {venv / 'bin'} {venv}" in first.stdout
    assert "openjd_env: FRAMEFILL_MODELS=/shared/models" in first.stdout
    assert not (venv / "junk.txt").exists()
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    metadata = (site / f"framefill-{__version__}.dist-info" / "METADATA").read_text(encoding="utf-8")
    assert f"\nVersion: {__version__}\n" in metadata
    assert (venv / "bin" / "framefill").read_text(encoding="utf-8") == LAUNCHER
    marker = json.loads((venv / "framefill-venv.json").read_text(encoding="utf-8"))
    assert (marker["requirement"], marker["framefill"]) == (f"framefill=={__version__}", __version__)
    assert sorted(p.name for p in root.iterdir()) == [venv.name]  # no temporary or stale folder left
    # WHEN a second session enters THEN it reuses the venv: no pip, same PATH
    second = _enter(tmp_path, env, root, "FramefillPipArgs=--no-index --find-links /nonexistent")
    assert second.returncode == 0, second.stdout[-4000:]
    assert f"framefill-venv: reusing {venv} (framefill {__version__})" in second.stdout
    assert "pip install" not in second.stdout
    assert f"PROBE {venv} {__version__} {venv / 'bin'} {venv}" in second.stdout
    assert "FRAMEFILL_MODELS" not in second.stdout


def test_two_sessions_at_once_build_one_venv(tmp_path, env, wheels):
    root = tmp_path / "venvs"
    venv = root / venv_dir_name(__version__)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # WHEN two sessions on one host start at the same moment with no venv there
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda d: _enter(tmp_path / d, env, root, _offline(wheels)), ["a", "b"]))
    # THEN both run in the one venv; the loser's build is removed
    for run in runs:
        assert run.returncode == 0, run.stdout[-4000:]
        assert f"PROBE {venv} {__version__} {venv / 'bin'} {venv}" in run.stdout
    said = "\n".join(r.stdout for r in runs)
    assert said.count(f"framefill-venv: created {venv}") + said.count("another session built") == 2
    assert sorted(p.name for p in root.iterdir()) == [venv.name]


def test_a_failed_install_fails_the_session_with_one_line(tmp_path, env):
    root = tmp_path / "venvs"
    empty = tmp_path / "no_wheels"
    empty.mkdir()
    run = _enter(tmp_path, env, root, f"FramefillPipArgs=--no-index --find-links {empty}")
    assert run.returncode != 0
    fails = [ln.split("openjd_fail:", 1)[1].strip() for ln in run.stdout.splitlines() if "openjd_fail:" in ln]
    assert fails == [f"framefill venv: pip install framefill=={__version__} failed with exit code 1 in {root}; "
                     "check FramefillPipArgs (index, mirror) and FramefillVenvRoot"]
    assert "PROBE" not in run.stdout
    assert list(root.iterdir()) == []  # the half-built venv is gone, never to be reused
