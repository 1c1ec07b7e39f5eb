"""One framefill process per farm session that keeps torch and the model loaded.

A job template's step environment runs ``framefill farm worker start`` on entering
the session: it starts ``framefill farm worker serve`` detached, waits until the
worker has imported torch and loaded the model on its device, and exports
``FRAMEFILL_WORKER`` (the worker's address file) with an ``openjd_env`` line. Each
task's ``framefill farm task -- CMD ...`` then hands ``CMD`` to the worker instead of
starting a process, importing torch and loading the model again. The worker runs
the command through the same CLI entry point as a shell would, so it writes the
same bytes; only the model load is shared (see
:func:`framefill.models.loading.keep_models_loaded`). The environment's exit runs
``framefill farm worker stop``.

The worker's life follows its session:
- ``worker stop`` (the environment's onExit) asks it to exit; SIGTERM does too.
- It exits by itself when the session's working directory is removed (the session
  ended without running onExit) or after ``--idle-timeout`` seconds without a task.
- A cancelled task (OpenJD sends the task SIGTERM) tells the worker, which stops
  the command the way Ctrl-C stops the CLI (finished frames kept, nothing
  half-written) and stays up for the next task. A task whose connection drops is
  cancelled the same way.

The address file (JSON: host, port, authkey, pid) is readable by its owner only;
connections authenticate with its key (``multiprocessing.connection``'s HMAC
challenge) and carry JSON messages, never pickles. Local TCP keeps this working on
Windows as on Linux.
"""

from __future__ import annotations

import _thread
import contextlib
import io
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import IO, Any

from framefill.atomic import atomic_write_text
from framefill.errors import FramefillError, InputError
from framefill.events import clear_interrupt, request_interrupt
from framefill.runtime.memory import release_freed_memory

__all__ = [
    "ADDRESS_ENV",
    "ADDRESS_FILE",
    "WorkerAddress",
    "WorkerUnavailable",
    "run_in_worker",
    "serve",
    "start_worker",
    "stop_worker",
]

ADDRESS_ENV = "FRAMEFILL_WORKER"
ADDRESS_FILE = "framefill-worker.json"
LOG_FILE = "framefill-worker.log"
DEFAULT_IDLE_TIMEOUT_S = 3600.0
# How often the worker checks its session folder, the idle clock and a stop request.
_POLL_S = 0.5


class WorkerUnavailable(Exception):
    """No worker answers at the address (it exited or never started): run the task in its own process."""


@dataclass(frozen=True)
class WorkerAddress:
    """Where a worker listens and the key a client proves itself with."""

    host: str
    port: int
    authkey: str  # hex
    pid: int

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "authkey": self.authkey, "pid": self.pid}

    @classmethod
    def read(cls, path: Path) -> WorkerAddress:
        """Raises:
            WorkerUnavailable: missing or unreadable address file.
        """
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(str(doc["host"]), int(doc["port"]), str(doc["authkey"]), int(doc["pid"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise WorkerUnavailable(f"no framefill worker address in {path} ({err})") from None

    def connect(self, *, timeout_s: float = 5.0) -> Connection:
        """Raises:
            WorkerUnavailable: nothing listens there, or it does not know our key.
        """
        import socket

        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout_s)  # bounds the connect and the key handshake only
        try:
            conn = Client((self.host, self.port), authkey=bytes.fromhex(self.authkey))
        except (OSError, EOFError, ValueError) as err:
            raise WorkerUnavailable(f"framefill worker {self.host}:{self.port} (pid {self.pid}) "
                                    f"does not answer: {err}") from None
        finally:
            socket.setdefaulttimeout(previous)
        return conn


def _send(conn: Connection, **message: Any) -> None:
    conn.send_bytes(json.dumps(message).encode("utf-8"))


def _send_quietly(conn: Connection, **message: Any) -> None:
    """Send, or drop the message when the task has gone (its watcher then cancels the command)."""
    with contextlib.suppress(OSError):
        _send(conn, **message)


def _recv(conn: Connection) -> dict[str, Any]:
    doc = json.loads(conn.recv_bytes().decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("a worker message is a JSON object")
    return doc


# ---------------------------------------------------------------------------------------
# The client side: a task handing its command to the session's worker
# ---------------------------------------------------------------------------------------


def run_in_worker(
    address_file: Path,
    argv: Sequence[str],
    *,
    on_line: Callable[[str], None],
    cancel_requested: Callable[[], bool],
) -> int:
    """Run ``framefill ARGV`` in the worker; every stdout/stderr line goes to ``on_line``.

    ``cancel_requested`` is polled while the command runs; once it is true the
    worker is asked to stop the command (it answers with the command's exit code).

    Returns:
        The command's exit code.

    Raises:
        WorkerUnavailable: no worker answers (before the command was handed over).
    """
    address = WorkerAddress.read(address_file)
    conn = address.connect()
    with conn:
        try:
            _send(conn, run=list(argv), cwd=os.getcwd(), env=dict(os.environ))
        except OSError as err:
            raise WorkerUnavailable(f"framefill worker pid {address.pid} closed the connection: {err}") from None
        cancel_sent = False
        while True:
            if not cancel_sent and cancel_requested():
                _send(conn, cancel=True)
                cancel_sent = True
            try:
                if not conn.poll(0.2):
                    continue
                message = _recv(conn)
            except (EOFError, OSError):
                on_line(f"framefill error: the framefill worker (pid {address.pid}) exited during the task")
                return 1
            if "line" in message:
                on_line(str(message["line"]))
            elif "exit" in message:
                return int(message["exit"])


# ---------------------------------------------------------------------------------------
# Start and stop (the step environment's onEnter / onExit)
# ---------------------------------------------------------------------------------------


def start_worker(
    session_dir: Path,
    *,
    model: str,
    device: str,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    ready_timeout_s: float = 900.0,
    python: str | None = None,
) -> Path:
    """Start a detached worker for ``session_dir`` and wait until its model is loaded.

    Reuses a worker that already answers for this session. Returns the address file.

    Raises:
        InputError: ``session_dir`` is not a folder.
        FramefillError: the worker exited before it was ready (its log's last lines
            say why) or did not get ready in ``ready_timeout_s``.
    """
    folder = Path(session_dir)
    if not folder.is_dir():
        raise InputError(f"session folder {folder} does not exist; pass the session's working directory")
    address_file = folder / ADDRESS_FILE
    if _answers(address_file):
        return address_file
    address_file.unlink(missing_ok=True)
    log_path = folder / LOG_FILE
    argv = [python or sys.executable, "-m", "framefill", "farm", "worker", "serve", "--session-dir", str(folder),
            "--model", model, "--device", device, "--idle-timeout", str(idle_timeout_s)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv is a list, no shell
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
            **_detached(),
        )
    deadline = time.monotonic() + ready_timeout_s
    while not address_file.exists():
        if proc.poll() is not None:
            raise FramefillError(f"the framefill worker exited with code {proc.returncode} before it was ready: "
                                 f"{_log_tail(log_path)} (log: {log_path})")
        if time.monotonic() > deadline:
            proc.kill()
            raise FramefillError(f"the framefill worker was not ready after {ready_timeout_s:.0f} s (log: {log_path})")
        time.sleep(0.05)
    return address_file


def stop_worker(session_dir: Path, *, timeout_s: float = 30.0) -> bool:
    """Ask the session's worker to exit and wait for it; returns whether one was running."""
    address_file = Path(session_dir) / ADDRESS_FILE
    try:
        address = WorkerAddress.read(address_file)
    except WorkerUnavailable:
        return False
    try:
        with address.connect() as conn:
            _send(conn, stop=True)
    except (WorkerUnavailable, OSError):
        address_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout_s
    while _pid_alive(address.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(address.pid):
        with contextlib.suppress(OSError):
            os.kill(address.pid, signal.SIGTERM)
    address_file.unlink(missing_ok=True)
    return True


def _answers(address_file: Path) -> bool:
    try:
        with WorkerAddress.read(address_file).connect(timeout_s=2.0) as conn:
            _send(conn, ping=True)
            return bool(_recv(conn).get("pong"))
    except (WorkerUnavailable, OSError, EOFError, ValueError):
        return False


def _detached() -> dict[str, Any]:
    """Popen options that keep the worker out of the session action's process group (which OpenJD
    signals when the action ends or is cancelled)."""
    if os.name == "nt":
        flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":
        out = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True, text=True,
                             check=False)
        return str(pid) in out.stdout
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


# ---------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------


class _LineSink(io.TextIOBase):
    """A text stream that sends every complete line to the task's connection."""

    def __init__(self, send_line: Callable[[str], None]) -> None:
        self._send_line = send_line
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        for line in done:
            self._send_line(line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self._partial:
            self._send_line(self._partial)
            self._partial = ""


class _Worker:
    def __init__(self, session_dir: Path, idle_timeout_s: float, run: Callable[[list[str]], None]) -> None:
        self.session_dir = session_dir
        self.run = run
        self.idle_timeout_s = idle_timeout_s
        self.stop = threading.Event()
        self.connections: queue.Queue[Connection] = queue.Queue()
        self._busy = threading.Lock()
        self._current: object | None = None  # the running task's token

    def interrupt(self, task: object | None = None) -> None:
        """Stop the running command as Ctrl-C stops the CLI; with ``task``, only if that task still runs.

        Twice over: a simulated Ctrl-C stops the frame in hand, and the frame engine checks for the
        request before each frame (:func:`~framefill.events.request_interrupt`) in case the first is lost.
        """
        with self._busy:
            if self._current is not None and (task is None or task is self._current):
                request_interrupt()
                _thread.interrupt_main()

    def accept_forever(self, listener: Listener) -> None:
        while not self.stop.is_set():
            try:
                conn = listener.accept()
            except (OSError, EOFError, ValueError):  # a client with a wrong key, or the listener closed
                if self.stop.is_set():
                    return
                continue
            self.connections.put(conn)

    def serve_forever(self) -> None:
        idle_since = time.monotonic()
        while not self.stop.is_set():
            try:
                conn = self.connections.get(timeout=_POLL_S)
            except queue.Empty:
                if not self.session_dir.is_dir():
                    _log(f"session folder {self.session_dir} is gone: exiting")
                    return
                if time.monotonic() - idle_since > self.idle_timeout_s:
                    _log(f"no task for {self.idle_timeout_s:.0f} s: exiting")
                    return
                continue
            except KeyboardInterrupt:  # a cancel that arrived just after its command ended
                continue
            try:
                self.handle(conn)
            except KeyboardInterrupt:
                pass
            finally:
                with contextlib.suppress(OSError):
                    conn.close()
            idle_since = time.monotonic()

    def handle(self, conn: Connection) -> None:
        try:
            request = _recv(conn)
        except (EOFError, OSError, ValueError):
            return
        if request.get("ping"):
            _send(conn, pong=True)
            return
        if request.get("stop"):
            _log("stop requested")
            self.stop.set()
            return
        argv = request.get("run")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            return
        task = object()
        watcher = threading.Thread(target=self._watch_for_cancel, args=(conn, task), daemon=True)
        started = time.monotonic()
        _log(f"task: framefill {' '.join(argv)}")
        with self._busy:
            self._current = task
            clear_interrupt()
        try:
            watcher.start()
            code = _run_cli(self.run, argv, cwd=request.get("cwd"), env=request.get("env"),
                            send_line=lambda line: _send_quietly(conn, line=line))
        finally:
            with self._busy:
                self._current = None
                clear_interrupt()  # a cancel that came as the command ended is not the next task's
        _log(f"task done: exit {code} in {time.monotonic() - started:.2f} s")
        _send_quietly(conn, exit=code)

    def _watch_for_cancel(self, conn: Connection, task: object) -> None:
        """The task's connection sends ``cancel`` or drops (the task process was killed): stop its command."""
        try:
            while True:
                if _recv(conn).get("cancel"):
                    _log("task cancelled")
                    self.interrupt(task)
                    return
        except (EOFError, OSError, ValueError):
            with self._busy:
                dropped = task is self._current
            if dropped:
                _log("task connection dropped: cancelling its command")
                self.interrupt(task)


@contextlib.contextmanager
def _task_context(cwd: Any, env: Any) -> Iterator[None]:
    """The task's working folder and environment for the command, restored afterwards."""
    old_cwd = os.getcwd()
    old_env = dict(os.environ)
    try:
        if isinstance(env, Mapping):
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in env.items()})
        if isinstance(cwd, str) and os.path.isdir(cwd):
            os.chdir(cwd)
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def _run_cli(run: Callable[[list[str]], None], argv: Sequence[str], *, cwd: Any, env: Any,
             send_line: Callable[[str], None]) -> int:
    """``framefill ARGV`` in this process (``run``: the CLI's entry point), its output sent line by line;
    returns its exit code."""
    sink = _LineSink(send_line)
    stdout: IO[str] = sys.stdout
    stderr: IO[str] = sys.stderr
    code = 0
    with _task_context(cwd, env):
        sys.stdout = sys.stderr = sink
        try:
            run(list(argv))
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except KeyboardInterrupt:  # cancelled outside the command's own handling (e.g. while parsing)
            sink.write("framefill: error: interrupted; finished frames are kept and a rerun resumes\n")
            code = 130
        except Exception as err:  # noqa: BLE001 - a bug in one task must not take the session's worker down
            sink.write(f"framefill: error: {type(err).__name__}: {err}\n")
            code = 1
        finally:
            sink.finish()
            sys.stdout, sys.stderr = stdout, stderr
    release_freed_memory()  # an idle worker holds what it uses, not the peak of its largest task
    return code


def _log(message: str) -> None:
    sys.__stdout__.write(f"{time.strftime('%H:%M:%S')} framefill worker: {message}\n")  # type: ignore[union-attr]
    sys.__stdout__.flush()  # type: ignore[union-attr]


def serve(session_dir: Path, *, run: Callable[[list[str]], None], preload: Callable[[], str],
          idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S) -> int:
    """The worker process: ``preload()`` (the model), publish the address file, serve tasks.

    Each task's command runs as ``run(argv)``, the CLI's entry point (it exits with SystemExit).

    Returns:
        The exit code (0 after a stop request, an idle timeout or the end of the session).
    """
    folder = Path(session_dir)
    started = time.monotonic()
    loaded = preload()
    _log(f"pid {os.getpid()}: {loaded} in {time.monotonic() - started:.2f} s")
    worker = _Worker(folder, idle_timeout_s, run)
    # A cancel stops the running command with a simulated Ctrl-C (``_thread.interrupt_main``), which does
    # nothing while SIGINT is ignored, as it is in a process started in the background by a shell without
    # job control (nohup ... &, many agents): Python's own handler, whatever was inherited.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    authkey = secrets.token_bytes(32)
    listener = Listener(("127.0.0.1", 0), authkey=authkey)
    host, port = listener.address
    if os.name == "posix":
        def on_sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001
            worker.stop.set()
            worker.interrupt()

        signal.signal(signal.SIGTERM, on_sigterm)
    address = WorkerAddress(str(host), int(port), authkey.hex(), os.getpid())
    address_file = folder / ADDRESS_FILE
    old_umask = os.umask(0o077) if os.name == "posix" else None
    try:
        atomic_write_text(address_file, json.dumps(address.to_json()))
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    threading.Thread(target=worker.accept_forever, args=(listener,), daemon=True).start()
    try:
        worker.serve_forever()
    finally:
        worker.stop.set()
        listener.close()
        if _address_is_ours(address_file, address):
            address_file.unlink(missing_ok=True)
        _log("exited")
    return 0


def _address_is_ours(path: Path, address: WorkerAddress) -> bool:
    try:
        return WorkerAddress.read(path).pid == address.pid
    except WorkerUnavailable:
        return False
