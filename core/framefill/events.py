"""Progress events shared by the pipelines, the CLI (``--events``) and the hosts.

Pipelines never print. They call ``report(Event)`` and check ``cancelled()``;
the CLI turns events into a progress bar, a JSON document or JSON lines, and a
host adapter turns the JSON lines back into its own progress UI.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Event", "Reporter", "null_reporter", "never_cancelled", "parse_event_line", "request_interrupt",
           "clear_interrupt", "raise_if_interrupted"]

EventKind = Literal["start", "progress", "frame", "warning", "error", "done"]


@dataclass(frozen=True)
class Event:
    """One thing that happened.

    ``kind`` is one of start | progress | frame | warning | error | done.
    ``done``/``total`` count work items (usually frames) of the current stage.
    ``frame`` is set on per-frame events; ``data`` holds anything extra that is
    JSON-serialisable (e.g. a frame's status or PSNR).
    """

    kind: EventKind
    stage: str = ""
    message: str = ""
    done: int | None = None
    total: int | None = None
    frame: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        payload = {k: v for k, v in asdict(self).items() if v not in (None, "", {})}
        payload["kind"] = self.kind
        return json.dumps(payload, sort_keys=True)


Reporter = Callable[[Event], None]


def null_reporter(event: Event) -> None:  # noqa: ARG001 - the do-nothing reporter
    """Ignore events."""


def never_cancelled() -> bool:
    """Default cancel check."""
    return False


_interrupt_requested = threading.Event()


def request_interrupt() -> None:
    """Ask the command running in this process's main thread to stop as Ctrl-C stops it, from any thread
    (the session worker's cancel). The frame engine honours it before each frame
    (:func:`raise_if_interrupted`), so a cancel holds even when the simulated Ctrl-C that stops a frame
    midway (``_thread.interrupt_main``) is lost, as it was once on a loaded machine."""
    _interrupt_requested.set()


def clear_interrupt() -> None:
    """Forget a requested interrupt (a new command starts)."""
    _interrupt_requested.clear()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt, once, when an interrupt was requested (:func:`request_interrupt`)."""
    if _interrupt_requested.is_set():
        _interrupt_requested.clear()
        raise KeyboardInterrupt


def parse_event_line(line: str) -> Event | None:
    """Parse one ``--events`` line; return None for anything that is not an event."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        payload = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or payload.get("kind") not in (
        "start", "progress", "frame", "warning", "error", "done"
    ):
        return None
    known = {"kind", "stage", "message", "done", "total", "frame", "data"}
    return Event(**{k: v for k, v in payload.items() if k in known})
