"""Run a framefill command on a worker thread with a Nuke progress bar; report back on the main thread.

Nuke's UI never waits: the CLI runs out of process, a worker thread follows
its events into a ``nuke.ProgressTask`` (whose Cancel button cancels the
run), and the outcome goes to ``on_done`` through ``nuke.executeInMainThread``,
the only thread that may touch the node graph.
"""

import threading
from typing import Any, Callable, Optional, Sequence

from framefill_host import HostError
from framefill_host.events import HostEvent
from framefill_host.runner import CliRun, RunOutcome

from framefill_nuke import host_api as nk

__all__ = ["run_in_background", "follow"]


def run_in_background(argv: Sequence[str], *, title: str, on_done: Callable[[RunOutcome], None]) -> threading.Thread:
    """Start ``argv`` (a full CLI command with ``--events``) and return the worker thread at once."""
    thread = threading.Thread(target=follow, args=(list(argv), title, on_done), name="framefill", daemon=True)
    thread.start()
    return thread


def follow(argv: Sequence[str], title: str, on_done: Callable[[RunOutcome], None]) -> RunOutcome:
    """The worker thread's body: run, show progress, hand the outcome to the main thread."""
    task: Optional[Any] = nk.progress_task(title)
    try:
        task.setMessage("starting framefill")
        try:
            run = CliRun(argv).start()
        except HostError as err:
            outcome = RunOutcome("error", None, err.msg)
        else:

            def on_event(_event: HostEvent) -> None:
                task.setMessage(run.state.label() or "working")
                task.setProgress(run.state.percent())

            try:
                outcome = run.wait(on_event=on_event, is_cancelled=task.isCancelled)
            except (HostError, OSError, ValueError) as err:  # the node must hear back, whatever happened
                run.cancel()
                outcome = RunOutcome("error", None, getattr(err, "msg", None) or str(err))
    finally:
        # Dropping the last reference closes Nuke's progress bar.
        task = None
    nk.in_main_thread(on_done, (outcome,))
    return outcome
