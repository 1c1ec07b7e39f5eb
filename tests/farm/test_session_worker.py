"""The session worker (`framefill farm worker start|stop`): tasks run in one process that keeps
the model loaded, write the same bytes as the CLI, survive a cancelled task, and the worker's
life ends with its session."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from farm_helpers import REPO, framefill_argv

SAMPLE = REPO / "core" / "framefill" / "data" / "sample_shot"
WAIT_S = 120.0  # generous: the machine running the suite is loaded
WHOLE = "1001-1021"  # the frames of the cancel tests' task


def _worker_pid(session: Path) -> int:
    """The pid the worker published; from its log once it has exited and removed the address file."""
    try:
        return int(json.loads((session / "framefill-worker.json").read_text())["pid"])
    except FileNotFoundError:
        match = re.search(r"framefill worker: pid (\d+):", (session / "framefill-worker.log").read_text())
        assert match is not None
        return int(match.group(1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # our own child that exited (a zombie) is gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + WAIT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(session: Path, env: dict[str, str], *extra: str, model: str = "rife-4",
           sigint_ignored: bool = False) -> dict[str, str]:
    """Start the session's worker; returns the environment its tasks get (FRAMEFILL_WORKER added).

    ``sigint_ignored``: started as a shell without job control starts a background process (SIGINT
    ignored, inherited by the worker), which must not stop a cancel from working."""
    out = subprocess.run(framefill_argv("farm", "worker", "start", "--model", model, "--device", "cpu",
                                        "--session-dir", str(session), *extra),
                         env=env, capture_output=True, text=True, timeout=600, check=False,
                         preexec_fn=_ignore_sigint if sigint_ignored else None)
    assert out.returncode == 0, out.stdout + out.stderr
    exported = dict(line.split(": ", 1)[1].split("=", 1) for line in out.stdout.splitlines()
                    if line.startswith("openjd_env: "))
    assert exported["FRAMEFILL_WORKER"] == str(session / "framefill-worker.json")
    return {**env, **exported}


def _stop(session: Path, env: dict[str, str]) -> None:
    subprocess.run(framefill_argv("farm", "worker", "stop", "--session-dir", str(session)), env=env,
                   capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    """The sample shot with every 4th frame of 1001-1021 rendered: a 21-frame task has 16 fills, seconds of
    work left after its first frame, so a cancel sent then lands mid-task even on a loaded machine."""
    folder = tmp_path / "renders"
    folder.mkdir()
    for frame in range(1001, 1022, 4):
        shutil.copy2(SAMPLE / f"shot.{frame}.exr", folder / f"shot.{frame}.exr")
    return folder / "shot.####.exr"


@pytest.fixture
def session(tmp_path: Path, env: dict[str, str]) -> Iterator[Path]:
    folder = tmp_path / "session"
    folder.mkdir()
    yield folder
    _stop(folder, env)


def _task(task_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(framefill_argv("farm", "task", "--", *args), env=task_env, capture_output=True, text=True,
                          timeout=600, check=False)


def _task_at_its_first_frame(task_env: dict[str, str], shot: Path, out: Path) -> tuple[subprocess.Popen[str], str]:
    """A 21-frame fill task, started and read until its first frame is done; returns it and what it printed."""
    proc = subprocess.Popen(framefill_argv("farm", "task", "--", *_fill_args(shot, out, WHOLE)), env=task_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[fill] frame"):
            break
    return proc, "".join(seen)


def _fill_args(shot: Path, out: Path, frames: str) -> list[str]:
    return ["interpolate", str(shot), "--out", str(out), "--frames", frames, "--model", "rife-4", "--device", "cpu",
            "--mode", ""]


def test_tasks_in_the_worker_write_the_cli_bytes_and_load_the_model_once(
        shot: Path, session: Path, env: dict[str, str], tmp_path: Path) -> None:
    reference = tmp_path / "cli" / "shot.####.exr"
    cli = subprocess.run(framefill_argv(*_fill_args(shot, reference, "1001-1005")[:-2], "--json"), env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert cli.returncode == 0, cli.stderr
    task_env = _start(session, env)
    out = tmp_path / "farm" / "shot.####.exr"
    for chunk in ("1001-1002", "1003", "1004-1005"):
        done = _task(task_env, *_fill_args(shot, out, chunk))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "openjd_progress: 100" in done.stdout
    for frame in range(1001, 1006):
        name = f"shot.{frame}.exr"
        assert (out.parent / name).read_bytes() == (reference.parent / name).read_bytes(), name
    log = (session / "framefill-worker.log").read_text()
    assert log.count("model rife-4 loaded") == 1
    assert log.count("task done: exit 0") == 3
    manifest = json.loads((out.parent / "framefill.manifest.json").read_text())
    (frames,) = [seq["frames"] for seq in manifest["sequences"].values()]
    assert sorted(frames) == [str(f) for f in range(1001, 1006)]


def test_a_cancelled_task_stops_cleanly_and_the_worker_serves_the_next(
        shot: Path, session: Path, env: dict[str, str], tmp_path: Path) -> None:
    task_env = _start(session, env, sigint_ignored=True)
    pid = _worker_pid(session)
    out = tmp_path / "farm" / "shot.####.exr"
    proc, seen = _task_at_its_first_frame(task_env, shot, out)
    proc.send_signal(signal.SIGTERM)  # OpenJD's cancel, once the first frame is written
    rest = proc.communicate(timeout=WAIT_S)[0]
    assert proc.returncode != 0, seen + rest
    assert "interrupted" in rest
    assert _alive(pid)
    written = sorted(p.name for p in out.parent.glob("shot.*.exr"))
    assert 1 <= len(written) < 21
    # The next task (the retry) runs in the same worker and finishes the chunk to the CLI's bytes.
    retry = _task(task_env, *_fill_args(shot, out, WHOLE))
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert _worker_pid(session) == pid
    reference = tmp_path / "cli" / "shot.####.exr"
    cli = subprocess.run(framefill_argv(*_fill_args(shot, reference, WHOLE)[:-2], "--json"), env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert cli.returncode == 0, cli.stderr
    for frame in range(1001, 1022):
        name = f"shot.{frame}.exr"
        assert (out.parent / name).read_bytes() == (reference.parent / name).read_bytes(), name


def test_a_killed_task_cancels_its_command_and_the_worker_stays(
        shot: Path, session: Path, env: dict[str, str], tmp_path: Path) -> None:
    task_env = _start(session, env, sigint_ignored=True)
    pid = _worker_pid(session)
    proc, _ = _task_at_its_first_frame(task_env, shot, tmp_path / "farm" / "shot.####.exr")
    proc.kill()
    proc.wait(timeout=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    log = session / "framefill-worker.log"
    while "task done" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert "task connection dropped: cancelling its command" in text
    assert "task done: exit 130" in text
    assert _alive(pid)
    again = _task(task_env, "models", "list")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _worker_pid(session) == pid


def test_the_worker_exits_with_its_session(tmp_path: Path, env: dict[str, str]) -> None:
    # onExit: `worker stop`.
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    _start(stopped, env, model="")
    pid = _worker_pid(stopped)
    _stop(stopped, env)
    assert _wait_gone(pid)
    assert not (stopped / "framefill-worker.json").exists()
    # The session folder removed without onExit (the agent cleaned up after a crash).
    removed = tmp_path / "removed"
    removed.mkdir()
    _start(removed, env, model="")
    pid = _worker_pid(removed)
    shutil.rmtree(removed)
    assert _wait_gone(pid)
    # No task for --idle-timeout seconds.
    idle = tmp_path / "idle"
    idle.mkdir()
    _start(idle, env, "--idle-timeout", "1", model="")
    pid = _worker_pid(idle)
    assert _wait_gone(pid)
    assert "no task for 1 s: exiting" in (idle / "framefill-worker.log").read_text()
    # SIGTERM (the host shutting down).
    term = tmp_path / "term"
    term.mkdir()
    _start(term, env, model="")
    pid = _worker_pid(term)
    os.kill(pid, signal.SIGTERM)
    assert _wait_gone(pid)


def test_without_an_answering_worker_the_task_runs_in_its_own_process(
        shot: Path, env: dict[str, str], tmp_path: Path) -> None:
    task_env = {**env, "FRAMEFILL_WORKER": str(tmp_path / "no-such-worker.json")}
    out = tmp_path / "farm" / "shot.####.exr"
    done = _task(task_env, *_fill_args(shot, out, "1001-1002"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "running the task in its own process" in done.stdout
    assert sorted(p.name for p in out.parent.glob("shot.*.exr")) == ["shot.1001.exr", "shot.1002.exr"]


def test_a_second_start_in_one_session_reuses_the_running_worker(
        session: Path, env: dict[str, str]) -> None:
    _start(session, env, model="")
    pid = _worker_pid(session)
    _start(session, env, model="")
    assert _worker_pid(session) == pid


def test_models_kept_loaded_are_reused_only_while_their_files_are_unchanged(tmp_path: Path) -> None:
    code = (
        "import os, pathlib, shutil\n"
        "from framefill.models import loading\n"
        "from framefill.models.registry import MODELS\n"
        "from framefill.models.cache import require_files\n"
        "a = loading.load_interpolator('rife-4').model\n"
        "b = loading.load_interpolator('rife-4').model\n"
        "print('off', a is b)\n"
        "loading.keep_models_loaded()\n"
        "c = loading.load_interpolator('rife-4', scale=1.0)\n"
        "d = loading.load_interpolator('rife-4', scale=0.5)\n"
        "print('on', c.model.net is d.model.net, d.model.scale)\n"
        "w = pathlib.Path(os.environ['COPY'])\n"
        "shutil.copy2(require_files(MODELS.get('rife-4'))['weights'], w)\n"
        "e = loading.load_interpolator('rife-4', weights=w).model.net\n"
        "f = loading.load_interpolator('rife-4', weights=w).model.net\n"
        "os.utime(w, ns=(1, 1))\n"
        "g = loading.load_interpolator('rife-4', weights=w).model.net\n"
        "print('file', e is f, f is g)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"), COPY=str(tmp_path / "rife.pkl"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["off False", "on True 0.5", "file True False"]


def test_a_cancel_holds_when_the_simulated_ctrl_c_is_lost(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Once on a loaded machine a cancelled task ran to its end: the worker logged the cancel, its simulated
    Ctrl-C never surfaced. The cancel is also a request the frame engine checks before each frame."""
    import _thread

    from framefill.events import clear_interrupt, raise_if_interrupted
    from framefill.farm import worker

    monkeypatch.setattr(_thread, "interrupt_main", lambda *args: None)  # the lost Ctrl-C
    served = worker._Worker(tmp_path, 60.0, lambda argv: None)
    task = object()
    served._current = task
    try:
        served.interrupt(object())  # another task's late cancel: nothing
        raise_if_interrupted()
        served.interrupt(task)
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    finally:
        clear_interrupt()
