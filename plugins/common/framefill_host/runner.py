"""Run the ``framefill`` CLI out of process and follow its ``--events`` stream.

The CLI is started from an argument list (never through a shell) in a process
group of its own, so a cancel reaches it and everything it started. Cancel
sends an interrupt first: the CLI turns that into a clean exit (code 130)
after the frame in flight, and framefill's outputs are written atomically
(temporary file, then rename), so finished frames stay and a rerun resumes.
Only a CLI that does not stop within ``grace_s`` is terminated, then killed.

Two reader threads drain stdout (events) and stderr (the one-line error) so the
pipes never fill up; :meth:`CliRun.wait` runs in the caller's thread and hands
it every event in order, which is where a host updates its progress UI.
"""

import collections
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from framefill_host import HostError
from framefill_host.events import HostEvent, ProgressState, parse_event_line

__all__ = [
    "EXIT_OK",
    "EXIT_JOB_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "RunOutcome",
    "resolve_cli",
    "outcome_from",
    "CliRun",
    "run_cli",
]

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
# What the CLI returns after an interrupt (128 + SIGINT, the shell convention).
EXIT_INTERRUPTED = 130

# How long a cancelled CLI gets to finish its frame and exit before it is
# terminated (and as long again before it is killed): one 4K RIFE frame on a
# laptop GPU takes a few seconds.
DEFAULT_GRACE_S = 15.0
# How often the waiting thread looks at the cancel flag when no event arrives.
POLL_S = 0.1
# Lines of stderr kept for the error message (the CLI writes one; a crash a traceback).
STDERR_TAIL_LINES = 40
_ERROR_PREFIX = "framefill: error: "


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended.

    ``status``: "ok" (exit 0), "failed" (exit 1: the job ran but, e.g., frames
    still need a render), "error" (bad input, a crash, no CLI) or "cancelled".
    ``message`` is one line for the user; ``result`` the ``done`` event's data.
    """

    status: str
    exit_code: Optional[int]
    message: str = ""
    result: Optional[Dict[str, Any]] = None
    warnings: Tuple[str, ...] = ()
    stderr_tail: Tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def resolve_cli(
    preference: Optional[str] = None,
    *,
    environ: Optional[Mapping[str, str]] = None,
    which: Callable[[str], Optional[str]] = shutil.which,
) -> List[str]:
    """The command that starts the CLI: from the preference, ``$FRAMEFILL_PYTHON``, or ``framefill`` on PATH.

    A preference or ``$FRAMEFILL_PYTHON`` naming a Python interpreter gives
    ``[python, "-m", "framefill"]``; a preference naming anything else (a
    ``framefill`` executable) is run as is.

    Raises:
        HostError: the configured file does not exist, or nothing is configured
            and ``framefill`` is not on PATH.
    """
    env = os.environ if environ is None else environ
    for source, value, python_only in (("the framefill preference", preference, False),
                                       ("$FRAMEFILL_PYTHON", env.get("FRAMEFILL_PYTHON"), True)):
        if value and value.strip():
            path = os.path.expanduser(value.strip())
            if not os.path.isfile(path):
                raise HostError("{} points to {}, which does not exist; fix it or clear it".format(source, path))
            if python_only or _is_python(path):
                return [path, "-m", "framefill"]
            return [path]
    found = which("framefill")
    if found:
        return [found]
    raise HostError(
        "framefill not found: set the framefill Python preference, or $FRAMEFILL_PYTHON to a Python "
        "with framefill installed, or put the framefill command on PATH"
    )


def _is_python(path: str) -> bool:
    name = os.path.basename(path).lower()
    for suffix in (".exe", ".bat", ".cmd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.startswith("python") or name in ("py", "pythonw")


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line[len(_ERROR_PREFIX):] if line.startswith(_ERROR_PREFIX) else line


def _stderr_message(lines: Sequence[str]) -> str:
    """The line a person should read: framefill's own error line, else a traceback's last line."""
    for line in reversed(lines):
        if line.startswith(_ERROR_PREFIX):
            return _one_line(line)
    for line in reversed(lines):
        if line.strip():
            return _one_line(line)
    return ""


def outcome_from(
    exit_code: Optional[int],
    state: ProgressState,
    stderr_lines: Sequence[str] = (),
    *,
    cancelled: bool = False,
) -> RunOutcome:
    """Turn an exit code, the folded events and stderr into a :class:`RunOutcome`."""
    tail = tuple(stderr_lines)
    warnings = tuple(state.warnings)
    if cancelled or exit_code == EXIT_INTERRUPTED:
        return RunOutcome("cancelled", exit_code, "cancelled; finished frames are kept and a rerun resumes",
                          state.result, warnings, tail)
    if exit_code == EXIT_OK:
        return RunOutcome("ok", exit_code, state.message, state.result or {}, warnings, tail)
    message = state.error or _stderr_message(tail)
    if exit_code == EXIT_JOB_FAILED:
        return RunOutcome("failed", exit_code, message or "the framefill job failed", state.result, warnings, tail)
    if not message:
        message = "framefill exited with code {}".format(exit_code)
    return RunOutcome("error", exit_code, message, state.result, warnings, tail)


class CliRun:
    """One CLI process: :meth:`start`, then :meth:`wait` (in a worker thread) until it ends.

    ``argv`` must already hold ``--events``. ``popen`` is injectable for tests.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        grace_s: float = DEFAULT_GRACE_S,
        popen: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        if not argv:
            raise HostError("no framefill command to run")
        self.argv = [str(a) for a in argv]
        self.env = dict(os.environ if env is None else env)
        # Events must arrive as they happen, not when a buffer fills.
        self.env["PYTHONUNBUFFERED"] = "1"
        self.cwd = cwd
        self.grace_s = grace_s
        self._popen = popen
        self._proc: Any = None
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr: Deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._threads: List[threading.Thread] = []
        self._cancel_at: Optional[float] = None
        self._escalated = 0
        self.state = ProgressState()

    # -- process ------------------------------------------------------------

    def start(self) -> "CliRun":
        """Start the process.

        Raises:
            HostError: the executable cannot be started.
        """
        kwargs: Dict[str, Any] = dict(
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, cwd=self.cwd,
            universal_newlines=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        if os.name == "nt":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        else:
            kwargs["start_new_session"] = True
        try:
            self._proc = self._popen(self.argv, **kwargs)
        except OSError as err:
            raise HostError("cannot start {}: {}".format(self.argv[0], err.strerror or err)) from None
        for stream, sink, marks_end in ((self._proc.stdout, self._lines.put, True),
                                        (self._proc.stderr, self._stderr.append, False)):
            thread = threading.Thread(target=_pump, args=(stream, sink, marks_end), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def pid(self) -> Optional[int]:
        return None if self._proc is None else self._proc.pid

    def cancel(self) -> None:
        """Ask the CLI to stop (an interrupt to its process group); :meth:`wait` escalates if it does not."""
        if self._proc is None or self._cancel_at is not None:
            return
        self._cancel_at = time.monotonic()
        self._signal(0)

    @property
    def cancelled(self) -> bool:
        return self._cancel_at is not None

    def _signal(self, level: int) -> None:
        """level 0: interrupt, 1: terminate, 2: kill, each sent to the whole group."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            if os.name == "nt":
                if level == 0:
                    proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
                elif level == 1:
                    proc.terminate()
                else:
                    proc.kill()
                return
            sig = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)[level]
            os.killpg(os.getpgid(proc.pid), sig)
        except (ProcessLookupError, PermissionError, OSError):
            pass  # already gone

    # -- following ----------------------------------------------------------

    def wait(
        self,
        *,
        on_event: Optional[Callable[[HostEvent], None]] = None,
        is_cancelled: Optional[Callable[[], bool]] = None,
        poll_s: float = POLL_S,
    ) -> RunOutcome:
        """Follow the run to its end, calling ``on_event`` for each event in this thread.

        ``is_cancelled`` is polled (e.g. a progress dialog's cancel button);
        when it turns true the run is cancelled as :meth:`cancel` does.
        """
        if self._proc is None:
            raise HostError("the framefill run was not started")
        stdout_open = True
        while True:
            if is_cancelled is not None and not self.cancelled and is_cancelled():
                self.cancel()
            self._escalate()
            try:
                line = self._lines.get(timeout=poll_s)
            except queue.Empty:
                if not stdout_open and self._proc.poll() is not None:
                    break
                continue
            if line is None:  # stdout closed
                stdout_open = False
                continue
            event = parse_event_line(line)
            if event is None:
                continue
            self.state.update(event)
            if on_event is not None:
                on_event(event)
        code = self._proc.wait()
        for thread in self._threads:
            thread.join(timeout=1.0)
        return outcome_from(code, self.state, list(self._stderr), cancelled=self.cancelled)

    def _escalate(self) -> None:
        if self._cancel_at is None or self._escalated >= 2:
            return
        waited = time.monotonic() - self._cancel_at
        if waited >= self.grace_s * (self._escalated + 1):
            self._escalated += 1
            self._signal(self._escalated)


def _pump(stream: Any, sink: Callable[[Any], None], marks_end: bool) -> None:
    """Copy lines from a pipe into ``sink`` until it closes; then, with ``marks_end``, send None."""
    try:
        for line in iter(stream.readline, ""):
            sink(line.rstrip("\r\n"))
    except (OSError, ValueError):
        pass  # the pipe went away with the process
    finally:
        if marks_end:
            sink(None)


def run_cli(
    argv: Sequence[str],
    *,
    on_event: Optional[Callable[[HostEvent], None]] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
    grace_s: float = DEFAULT_GRACE_S,
) -> RunOutcome:
    """Start the CLI and follow it to the end (blocking: call it from a worker thread).

    A CLI that cannot be started gives an "error" outcome, not an exception.
    """
    try:
        run = CliRun(argv, env=env, cwd=cwd, grace_s=grace_s).start()
    except HostError as err:
        return RunOutcome("error", None, err.msg)
    return run.wait(on_event=on_event, is_cancelled=is_cancelled)


def python_cli() -> List[str]:
    """The CLI of the Python running this code (tests, and hosts whose Python has framefill)."""
    return [sys.executable, "-m", "framefill"]
