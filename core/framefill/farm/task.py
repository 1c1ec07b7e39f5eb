"""What a farm task runs: ``framefill farm task -- CMD ...`` and ``framefill farm prepare``.

OpenJD reads progress from stdout lines (``openjd_progress: 42.0``,
``openjd_status: ...``, ``openjd_fail: ...``) and takes environment variables
from an environment's ``openjd_env: NAME=VALUE`` lines. The framefill CLI speaks
JSON lines (``--events``); this module runs a framefill command as a child
process and translates. Arguments travel as a list from OpenJD to the child
process, never through a shell.

OpenJD 2023-09 cannot leave an argument out conditionally, so an option whose
value is the empty string (``--mode ""``) is dropped: an empty job parameter
means "framefill's default".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from framefill.events import Event, parse_event_line
from framefill.farm.worker import ADDRESS_ENV

__all__ = [
    "KILL_AFTER_FRAMES_ENV",
    "task_argv",
    "translate_event",
    "run_task",
    "prepare_session",
    "start_session_worker",
    "stop_session_worker",
    "models_cache_dir",
]

# Fault injection for tests: kill the framefill child (SIGKILL, like a worker that
# dies) once it has reported this many finished frames, then fail the task. Only
# the farm wrapper reads it; the framefill commands themselves never do.
KILL_AFTER_FRAMES_ENV = "FRAMEFILL_FARM_TEST_KILL_AFTER_FRAMES"


def task_argv(args: Sequence[str]) -> list[str]:
    """The framefill arguments to run for a task: empty-valued options dropped, ``--events`` added.

    ``["interpolate", "a.####.exr", "--mode", "", "--device", "cpu"]`` becomes
    ``["interpolate", "a.####.exr", "--device", "cpu", "--events"]``. Only an
    argument starting with ``--`` followed by an empty string is dropped (with
    that string); an empty positional argument stays.
    """
    out: list[str] = []
    items = list(args)
    if items and items[0] == "--":
        items = items[1:]
    i = 0
    while i < len(items):
        arg = items[i]
        if arg.startswith("--") and len(arg) > 2 and i + 1 < len(items) and items[i + 1] == "":
            i += 2
            continue
        out.append(arg)
        i += 1
    if "--events" not in out:
        out.append("--events")
    return out


def translate_event(event: Event) -> list[str]:
    """The stdout lines OpenJD should see for one framefill event (a log line first)."""
    lines: list[str] = []
    label = f"[{event.stage}] " if event.stage else ""
    counter = f" ({event.done}/{event.total})" if event.done is not None and event.total else ""
    if event.kind == "error":
        lines.append(f"framefill error: {event.message}")
        lines.append(f"openjd_fail: {event.message}")
        return lines
    if event.kind == "warning":
        lines.append(f"framefill warning: {event.message}")
        return lines
    if event.kind == "done":
        if event.data:
            lines.append(f"framefill result: {json.dumps(event.data, sort_keys=True, default=str)}")
        lines.append("openjd_progress: 100")
        return lines
    if event.kind == "frame" and event.frame is not None:
        text = f"{label}frame {event.frame}{' ' + event.message if event.message else ''}{counter}"
    else:
        text = f"{label}{event.message}{counter}".strip()
    if text:
        lines.append(text)
        lines.append(f"openjd_status: {text}")
    if event.done is not None and event.total:
        pct = max(0.0, min(100.0, 100.0 * event.done / event.total))
        lines.append(f"openjd_progress: {pct:.1f}")
    return lines


def run_task(
    args: Sequence[str],
    *,
    stdout: IO[str] | None = None,
    python: str | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> int:
    """Run ``framefill ARGS --events`` and translate its events for OpenJD.

    With ``FRAMEFILL_WORKER`` set (a step environment started a session worker,
    :mod:`framefill.farm.worker`) the command runs in that worker, where torch and the
    model are already loaded; otherwise, or when the worker does not answer, in a
    child process. Both run the same CLI code and write the same bytes.

    Returns:
        The exit code for the task: the command's, or 1 when it was killed.
    """
    from framefill.farm.worker import WorkerUnavailable

    sink = stdout or sys.stdout
    argv = task_argv(args)
    address = os.environ.get(ADDRESS_ENV, "").strip()
    if address and python is None:
        relay = _Relay(sink, on_event)
        try:
            return relay.finish(args, _run_in_worker(Path(address), argv, relay))
        except WorkerUnavailable as err:
            _emit(sink, [f"framefill warning: {err}; running the task in its own process"])
    relay = _Relay(sink, on_event)
    return relay.finish(args, _run_child(argv, relay, python))


class _Relay:
    """Turns a command's output lines into OpenJD lines and keeps what the task's exit code needs."""

    def __init__(self, sink: IO[str], on_event: Callable[[Event], None] | None) -> None:
        self.sink = sink
        self.on_event = on_event
        self.kill_after = _kill_after_frames()
        self.frames_done = 0
        self.failed_reported = False
        self.killed = False

    def line(self, line: str) -> None:
        """Relay one output line; sets ``kill_now`` when the test hook says the command must die."""
        event = parse_event_line(line)
        if event is None:
            _emit(self.sink, [line])
            return
        if self.on_event is not None:
            self.on_event(event)
        self.failed_reported = self.failed_reported or event.kind == "error"
        _emit(self.sink, translate_event(event))
        if event.kind == "frame":
            self.frames_done += 1

    @property
    def kill_now(self) -> bool:
        return self.kill_after is not None and self.frames_done >= self.kill_after and not self.killed

    def finish(self, args: Sequence[str], rc: int) -> int:
        if self.killed:
            _emit(self.sink, [f"openjd_fail: killed after {self.frames_done} frame(s) ({KILL_AFTER_FRAMES_ENV})"])
            return 1
        if rc != 0 and not self.failed_reported:
            _emit(self.sink, [f"openjd_fail: framefill {args_label(args)} exited with code {rc}"])
        return rc if 0 <= rc < 256 else 1


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_child(argv: list[str], relay: _Relay, python: str | None) -> int:
    """The command in a child process (``python -m framefill ARGV``); returns its exit code."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop(ADDRESS_ENV, None)
    proc = subprocess.Popen(  # noqa: S603 - argv is a list, no shell
        [python or sys.executable, "-m", "framefill", *argv], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=env, text=True, encoding="utf-8", errors="replace", bufsize=1,
        # The cancel below is a SIGINT: the child must not inherit it ignored (a task started in the background).
        preexec_fn=_default_sigint if os.name == "posix" else None,  # noqa: PLW1509 - one call, before exec
    )
    def interrupt() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    previous = _on_sigterm(interrupt)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            relay.line(raw.rstrip("\r\n"))
            if relay.kill_now:  # the test hook: die like a worker that crashes
                proc.kill()
                relay.killed = True
        return proc.wait()
    finally:
        _restore_sigterm(previous)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run_in_worker(address_file: Path, argv: list[str], relay: _Relay) -> int:
    """The command in the session's worker; SIGTERM (OpenJD's cancel) asks the worker to stop it."""
    from framefill.farm.worker import run_in_worker

    terminated: list[bool] = []
    previous = _on_sigterm(lambda: terminated.append(True))

    def cancel_requested() -> bool:
        if relay.kill_now:  # the test hook: the command stops as if its process died
            relay.killed = True
        return bool(terminated) or relay.killed

    try:
        return run_in_worker(address_file, argv, on_line=relay.line, cancel_requested=cancel_requested)
    finally:
        _restore_sigterm(previous)


def prepare_session(model: str, *, stdout: IO[str] | None = None, python: str | None = None) -> int:
    """A step environment's onEnter: fetch and verify ``model`` once, then export the cache.

    Every task of the session then loads verified weights from the exported
    ``FRAMEFILL_MODELS`` folder without fetching or re-hashing per task.
    """
    sink = stdout or sys.stdout
    _emit(sink, [f"openjd_status: fetching and verifying model {model}"])
    rc = run_task(["models", "fetch", model], stdout=sink, python=python)
    if rc != 0:
        return rc
    _emit(sink, [f"openjd_env: FRAMEFILL_MODELS={models_cache_dir()}", f"openjd_status: model {model} ready"])
    return 0


def start_session_worker(model: str, device: str, session_dir: Path, *, stdout: IO[str] | None = None,
                         idle_timeout_s: float | None = None) -> int:
    """A step environment's onEnter: fetch and verify ``model``, start the session's worker with it
    loaded on ``device``, and export ``FRAMEFILL_MODELS`` and ``FRAMEFILL_WORKER`` for the tasks.

    An empty ``model`` starts a worker that has imported torch and loads models as commands ask.
    """
    from framefill.errors import FramefillError
    from framefill.farm.worker import DEFAULT_IDLE_TIMEOUT_S, start_worker

    sink = stdout or sys.stdout
    if model:  # none for a step whose model each command reads (QC reruns the manifest's model)
        rc = prepare_session(model, stdout=sink)
        if rc != 0:
            return rc
    os.environ["FRAMEFILL_MODELS"] = str(models_cache_dir())
    _emit(sink, [f"openjd_status: starting the framefill worker ({model or 'no model yet'} on {device})"])
    try:
        address = start_worker(session_dir, model=model, device=device,
                               idle_timeout_s=idle_timeout_s or DEFAULT_IDLE_TIMEOUT_S)
    except FramefillError as err:
        _emit(sink, [f"framefill error: {err.msg}", f"openjd_fail: {err.msg}"])
        return err.exit_code
    _emit(sink, [f"openjd_env: {ADDRESS_ENV}={address}", "openjd_status: framefill worker ready"])
    return 0


def stop_session_worker(session_dir: Path, *, stdout: IO[str] | None = None) -> int:
    """A step environment's onExit: stop the session's worker (nothing to do when none runs)."""
    from framefill.farm.worker import stop_worker

    stopped = stop_worker(session_dir)
    _emit(stdout or sys.stdout, ["framefill worker stopped" if stopped else "no framefill worker was running"])
    return 0


def models_cache_dir() -> Path:
    """The model cache framefill uses: ``$FRAMEFILL_MODELS`` or ``~/.cache/framefill/models`` (absolute)."""
    env = os.environ.get("FRAMEFILL_MODELS")
    folder = Path(env).expanduser() if env else Path.home() / ".cache" / "framefill" / "models"
    return folder.resolve()


def args_label(args: Sequence[str]) -> str:
    items = [a for a in args if a != "--"]
    return items[0] if items else "(no command)"


def _emit(sink: IO[str], lines: Sequence[str]) -> None:
    for line in lines:
        sink.write(line + "\n")
    sink.flush()


def _kill_after_frames() -> int | None:
    raw = os.environ.get(KILL_AFTER_FRAMES_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


_Handler = Callable[[int, FrameType | None], object] | int | None


def _on_sigterm(action: Callable[[], object]) -> _Handler:
    """On SIGTERM (OpenJD's cancel notice) run ``action``: stop the command like Ctrl-C.

    framefill turns an interrupt into a clean stop: the frame in hand is finished or
    dropped, never left half-written, and the manifest stays consistent.
    """
    if os.name != "posix":
        return None

    def handler(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        action()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (a host calling in-process): no forwarding
        return None


def _restore_sigterm(previous: _Handler) -> None:
    if os.name != "posix" or previous is None:
        return
    try:
        signal.signal(signal.SIGTERM, previous)
    except ValueError:
        pass
