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

__all__ = [
    "KILL_AFTER_FRAMES_ENV",
    "task_argv",
    "translate_event",
    "run_task",
    "prepare_session",
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
    """Run ``framefill ARGS --events`` as a child process and translate its events for OpenJD.

    Returns:
        The exit code for the task: the child's, or 1 when the child was killed.
    """
    sink = stdout or sys.stdout
    argv = [python or sys.executable, "-m", "framefill", *task_argv(args)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    kill_after = _kill_after_frames()
    proc = subprocess.Popen(  # noqa: S603 - argv is a list, no shell
        argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True, encoding="utf-8",
        errors="replace", bufsize=1,
    )
    previous = _forward_sigterm(proc)
    frames_done = 0
    failed_reported = False
    killed = False
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\r\n")
            event = parse_event_line(line)
            if event is None:
                _emit(sink, [line])
                continue
            if on_event is not None:
                on_event(event)
            failed_reported = failed_reported or event.kind == "error"
            _emit(sink, translate_event(event))
            if event.kind == "frame":
                frames_done += 1
                if kill_after is not None and frames_done >= kill_after and not killed:
                    proc.kill()
                    killed = True
        rc = proc.wait()
    finally:
        _restore_sigterm(previous)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if killed:
        _emit(sink, [f"openjd_fail: killed after {frames_done} frame(s) ({KILL_AFTER_FRAMES_ENV})"])
        return 1
    if rc != 0 and not failed_reported:
        _emit(sink, [f"openjd_fail: framefill {args_label(args)} exited with code {rc}"])
    return rc if 0 <= rc < 256 else 1


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


def _forward_sigterm(proc: subprocess.Popen[str]) -> _Handler:
    """On SIGTERM (OpenJD's cancel notice) ask the child to stop like Ctrl-C.

    framefill turns SIGINT into a clean stop: the frame in hand is finished or
    dropped, never left half-written, and the manifest stays consistent.
    """
    if os.name != "posix":
        return None

    def handler(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)

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
