"""Run a framefill job template on this machine with openjd (``framefill farm run-local``).

The very template a farm runs is run here by ``openjd run`` (openjd-cli), so
local and farm results agree. With one worker the whole job runs in one
``openjd run``. With N workers each step's chunk tasks are split into N
contiguous blocks that run at once, each block in its own ``openjd run --step
S --tasks ...`` session (the step environment is entered once per worker, as on
a farm worker); a step starts only when every step it depends on has finished.

The tasks call ``framefill``; a small launcher for this very interpreter and
framefill package is put first on PATH, so the tasks run the same framefill as
the one that started them. With ``environments`` (OpenJD environment templates,
e.g. the queue environment ``queue_env_framefill_venv.yaml``) every session
enters them first, as a Deadline Cloud queue does, and the tasks run whatever
framefill they put on PATH: then there is no launcher and no PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import framefill
from framefill.errors import FarmError, InputError, TemplateError
from framefill.events import Event, Reporter, null_reporter
from framefill.farm.bundle import bundle_template_path, read_bundle_values
from framefill.farm.templates import (
    StepPlan,
    flatten_openjd_error,
    plan_job,
    read_template_file,
    resolve_parameter_values,
    validate_template,
)

__all__ = ["LocalRun", "WorkerRun", "run_local", "write_framefill_launcher", "worker_devices", "split_blocks"]

# The most workers one machine sensibly runs; more only queue behind each other.
MAX_WORKERS = 64


@dataclass(frozen=True)
class WorkerRun:
    """One ``openjd run`` session: a step (or the whole job) on one worker."""

    step: str  # "" for a whole-job run
    worker: int
    device: str | None
    tasks: tuple[str, ...]  # the chunk values, e.g. ("1001-1008", "1009-1016")
    ok: bool
    message: str
    duration_s: float
    log: str  # path of the openjd session log (kept when the run failed)


@dataclass(frozen=True)
class LocalRun:
    """The result of :func:`run_local`."""

    ok: bool
    job_name: str
    workers: int
    runs: tuple[WorkerRun, ...]
    duration_s: float
    logs_dir: str | None  # kept only when something failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "job_name": self.job_name,
            "workers": self.workers,
            "duration_s": round(self.duration_s, 3),
            "logs_dir": self.logs_dir,
            "runs": [
                {
                    "step": r.step or None,
                    "worker": r.worker,
                    "device": r.device,
                    "tasks": list(r.tasks),
                    "ok": r.ok,
                    "message": r.message,
                    "duration_s": round(r.duration_s, 3),
                    "log": r.log if not r.ok else None,
                }
                for r in self.runs
            ],
        }


def run_local(
    source: str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    environments: Sequence[str | os.PathLike[str]] = (),
    reporter: Reporter = null_reporter,
) -> LocalRun:
    """Run a job bundle folder or a template file locally with openjd.

    ``params`` override the bundle's parameter values; a value for a parameter
    that only an environment template defines (``FramefillVenvRoot``) goes to
    that environment. ``environments`` are entered around every session, the
    first outermost (``openjd run --environment``). With ``workers`` > 1,
    worker i gets ``devices[i]`` as its ``Device`` parameter; without
    ``devices``, a ``Device`` of ``auto`` becomes ``cuda:i`` when this machine
    has at least ``workers`` CUDA GPUs, else ``cpu``.

    Raises:
        InputError: no such file, bad worker count or device list.
        TemplateError: the template or the values do not validate.
        FarmError: openjd cannot be started.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers!r}")
    src = Path(source).expanduser()
    if src.is_dir():
        template_file = bundle_template_path(src)
        values: dict[str, Any] = read_bundle_values(src)
    elif src.is_file():
        template_file = src
        values = {}
    else:
        raise InputError(f"no job bundle or template at {src}; make one with `framefill farm bundle`")
    values.update({str(k): v for k, v in (params or {}).items()})
    template = read_template_file(template_file)
    where = f"job template {template_file}"
    job_template = validate_template(template, where=where)
    env_files, env_parameters = _environment_templates(environments)
    job_parameters = {str(p.get("name")) for p in template.get("parameterDefinitions") or [] if isinstance(p, dict)}
    env_values = {k: str(v) for k, v in values.items() if k in env_parameters and k not in job_parameters}
    values = {k: v for k, v in values.items() if k not in env_values}
    resolved = resolve_parameter_values(job_template, values, template_dir=template_file.parent.resolve(), where=where)
    plan = plan_job(job_template, resolved)
    steps, job_name = plan.steps, plan.name

    # Only "auto" is replaced: a device the bundle or the caller chose is kept.
    assign_devices = workers > 1 and resolved.get("Device") == "auto" and "Device" not in (params or {})
    worker_dev: list[str | None] = [None] * workers
    if devices is not None:
        if len(devices) != workers:
            raise InputError(f"{len(devices)} devices given for {workers} workers; give one per worker")
        worker_dev = list(devices)
    elif assign_devices:
        worker_dev = list(worker_devices(workers))

    start = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="framefill-run-local-"))
    keep_logs = False
    runs: list[WorkerRun] = []
    try:
        env = _environment_task_env() if env_files else _task_env(write_framefill_launcher(logs / "bin"))
        session = _Session(env=env, logs=logs, environments=tuple(env_files), env_values=env_values)
        if workers == 1 and devices is None:
            reporter(Event("start", stage="run-local", message=f"{job_name}: {len(steps)} step(s) on 1 worker"))
            run = _run_openjd(template_file, resolved, step=None, tasks=None, worker=0, device=None, session=session)
            runs.append(run)
            reporter(Event("progress", stage="run-local", message=run.message, done=1, total=1))
        else:
            reporter(Event("start", stage="run-local",
                           message=f"{job_name}: {len(steps)} step(s) on {workers} workers"))
            for i, step in enumerate(steps):
                step_runs = _run_step(template_file, resolved, step, worker_dev, session=session)
                runs.extend(step_runs)
                reporter(Event("progress", stage="run-local", message=f"step {step.name} finished",
                               done=i + 1, total=len(steps),
                               data={"step": step.name, "ok": all(r.ok for r in step_runs)}))
                if not all(r.ok for r in step_runs):
                    break
        ok = bool(runs) and all(r.ok for r in runs)
        keep_logs = not ok
        return LocalRun(
            ok=ok, job_name=job_name, workers=workers, runs=tuple(runs),
            duration_s=time.monotonic() - start, logs_dir=str(logs) if keep_logs else None,
        )
    finally:
        if not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)


def split_blocks(items: Sequence[Any], n: int) -> list[list[Any]]:
    """Split ``items`` into at most ``n`` contiguous blocks whose sizes differ by at most one.

    Contiguous blocks keep neighbouring chunks (which read the same keyframes) on one worker.
    """
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    blocks: list[list[Any]] = []
    at = 0
    for i in range(n):
        take = size + (1 if i < extra else 0)
        blocks.append(list(items[at : at + take]))
        at += take
    return [b for b in blocks if b]


def worker_devices(workers: int) -> tuple[str, ...]:
    """``cuda:0..N-1`` when this machine has at least ``workers`` CUDA GPUs, else ``cpu`` for each."""
    count = _cuda_device_count()
    if count >= workers:
        return tuple(f"cuda:{i}" for i in range(workers))
    return ("cpu",) * workers


def write_framefill_launcher(folder: Path) -> Path:
    """Write a ``framefill`` launcher for this interpreter and framefill package into ``folder``.

    Returns:
        ``folder`` (to be put first on PATH).
    """
    folder.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    if os.name == "nt":
        (folder / "framefill.cmd").write_text(f'@"{python}" -m framefill %*\r\n', encoding="utf-8")
    else:
        script = folder / "framefill"
        script.write_text(f"#!/bin/sh\nexec {shlex.quote(python)} -m framefill \"$@\"\n", encoding="utf-8")
        script.chmod(0o755)
    return folder


@dataclass(frozen=True)
class _Session:
    """What every ``openjd run`` of one local run shares: environment, logs folder, environment templates."""

    env: Mapping[str, str]
    logs: Path
    environments: tuple[Path, ...]
    env_values: Mapping[str, str]  # values of parameters only the environment templates define


def _environment_templates(environments: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], set[str]]:
    """The environment template files (checked with openjd.model) and the parameter names they define.

    Raises:
        InputError: no such file. TemplateError: not a valid environment template.
    """
    from openjd.model import DecodeValidationError, decode_environment_template

    files: list[Path] = []
    names: set[str] = set()
    for item in environments:
        path = Path(item).expanduser().resolve()
        if not path.is_file():
            raise InputError(f"--environment {item}: no such file; give an OpenJD environment template "
                             "such as openjd_templates/queue_env_framefill_venv.yaml")
        doc = read_template_file(path)
        try:
            decode_environment_template(template=doc)
        except (DecodeValidationError, ValueError, TypeError) as err:
            raise TemplateError(f"--environment {item} is not an OpenJD environment template: "
                                f"{flatten_openjd_error(err)}") from err
        files.append(path)
        names.update(str(p.get("name")) for p in doc.get("parameterDefinitions") or [] if isinstance(p, dict))
    return files, names


def _environment_task_env() -> dict[str, str]:
    # The environments decide which framefill runs: nothing of this process's Python leaks in.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _task_env(launcher_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(launcher_dir), env.get("PATH", "")])
    # The package that is running now, ahead of any other install on the tasks' path.
    package_root = str(Path(framefill.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [package_root, env.get("PYTHONPATH", "")] if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_step(
    template_file: Path,
    values: Mapping[str, str],
    step: StepPlan,
    worker_dev: Sequence[str | None],
    *,
    session: _Session,
) -> list[WorkerRun]:
    blocks = split_blocks(list(step.tasks), len(worker_dev))
    procs: list[tuple[int, list[dict[str, str]], subprocess.Popen[bytes], Path, float]] = []
    for i, block in enumerate(blocks):
        device = worker_dev[i]
        vals = dict(values)
        if device is not None and "Device" in vals:
            vals["Device"] = device
        argv, log = _openjd_argv(template_file, vals, step=step.name, tasks=block, tag=f"{step.name}-w{i}",
                                 session=session)
        procs.append((i, block, _spawn(argv, session.env, log), log, time.monotonic()))
    runs: list[WorkerRun] = []
    for i, block, proc, log, t0 in procs:
        proc.wait()
        ok, message = _read_result(log, proc.returncode)
        label = tuple(",".join(t.values()) for t in block if t)
        runs.append(WorkerRun(step.name, i, worker_dev[i], label, ok, message, time.monotonic() - t0, str(log)))
    return runs


def _run_openjd(
    template_file: Path,
    values: Mapping[str, str],
    *,
    step: str | None,
    tasks: list[dict[str, str]] | None,
    worker: int,
    device: str | None,
    session: _Session,
) -> WorkerRun:
    argv, log = _openjd_argv(template_file, values, step=step, tasks=tasks, tag=step or "job", session=session)
    t0 = time.monotonic()
    proc = _spawn(argv, session.env, log)
    proc.wait()
    ok, message = _read_result(log, proc.returncode)
    label = tuple(",".join(t.values()) for t in tasks or [] if t)
    return WorkerRun(step or "", worker, device, label, ok, message, time.monotonic() - t0, str(log))


def _openjd_argv(
    template_file: Path,
    values: Mapping[str, str],
    *,
    step: str | None,
    tasks: list[dict[str, str]] | None,
    tag: str,
    session: _Session,
) -> tuple[list[str], Path]:
    logs = session.logs
    params_file = logs / f"{tag}.params.json"
    params_file.write_text(json.dumps({**session.env_values, **values}, indent=1), encoding="utf-8")
    argv = [sys.executable, "-m", "openjd", "run", str(template_file), "--job-param", f"file://{params_file}"]
    if session.environments:
        argv += ["--environment", *(str(e) for e in session.environments)]
    if step is not None:
        argv += ["--step", step, "--no-run-dependencies"]
    if tasks is not None:
        tasks_file = logs / f"{tag}.tasks.json"
        tasks_file.write_text(json.dumps(tasks), encoding="utf-8")
        argv += ["--tasks", f"file://{tasks_file}"]
    return argv, logs / f"{tag}.log"


def _spawn(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    # stdout to a file, not a pipe: a long session's log would fill a pipe that
    # nobody reads while it runs.
    try:
        with open(log, "wb") as fh:
            return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env))  # noqa: S603
    except OSError as err:
        raise FarmError(f"cannot start openjd ({argv[0]} -m openjd): {err}; install framefill[farm]") from err


def _read_result(log: Path, returncode: int) -> tuple[bool, str]:
    """Success and a one-line message from an ``openjd run`` log (human-readable output).

    The human-readable output is parsed rather than ``--output json``, which drops
    the task logs when a session fails: exactly when they are needed.
    """
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    if returncode == 0:
        return True, "success"
    failure = ""
    action_error = ""
    for line in lines:
        text = line.split("\t", 1)[-1].strip()
        if "openjd_fail:" in text:
            failure = text.split("openjd_fail:", 1)[1].strip()
        elif text.startswith("framefill: error:") and not failure:
            failure = text
        elif "ERROR executing action" in text:
            action_error = text.replace("Open Job Description CLI: ", "")
    message = failure or action_error or (lines[-1].strip() if lines else f"openjd exited with code {returncode}")
    return False, " ".join(message.split())


def _cuda_device_count() -> int:
    # Asked of torch in a child process: the farm package never imports torch, and
    # the child's torch is exactly what the tasks will use.
    probe = "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
        return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else 0
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return 0
