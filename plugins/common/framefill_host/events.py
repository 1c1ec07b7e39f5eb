"""Parse the CLI's ``--events`` JSON lines and fold them into progress state.

One event a line: ``{"kind": start|progress|frame|warning|error|done, "stage",
"message", "done", "total", "frame", "data"}``. The last line of a run that
finished is ``kind: done`` with the command's result in ``data``; a failure
is ``kind: error`` with ``message`` and ``data.exit_code``. Anything else on
stdout (a stray print, half a line) is ignored, never fatal.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

__all__ = ["EVENT_KINDS", "HostEvent", "parse_event_line", "ProgressState"]

EVENT_KINDS = ("start", "progress", "frame", "warning", "error", "done")


@dataclass(frozen=True)
class HostEvent:
    """One event from the CLI (the host-side twin of ``framefill.events.Event``)."""

    kind: str
    stage: str = ""
    message: str = ""
    done: Optional[int] = None
    total: Optional[int] = None
    frame: Optional[int] = None
    data: Mapping[str, Any] = field(default_factory=dict)


def _int_or_none(value: Any) -> Optional[int]:
    # bool is an int in Python; a count of True is not meant.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def parse_event_line(line: str) -> Optional[HostEvent]:
    """Parse one stdout line; None for anything that is not a well-formed event."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        payload = json.loads(text)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return None
    if not isinstance(payload, dict) or payload.get("kind") not in EVENT_KINDS:
        return None
    data = payload.get("data")
    return HostEvent(
        kind=payload["kind"],
        stage=str(payload.get("stage") or ""),
        message=str(payload.get("message") or ""),
        done=_int_or_none(payload.get("done")),
        total=_int_or_none(payload.get("total")),
        frame=_int_or_none(payload.get("frame")),
        data=dict(data) if isinstance(data, dict) else {},
    )


class ProgressState:
    """What a host shows while a run goes on: fold every event in with :meth:`update`.

    ``fraction`` is done/total of the current stage (None before any count
    arrives); ``result`` is the ``done`` event's data; ``error``/``error_code``
    come from an ``error`` event; ``warnings`` collects warning messages;
    ``frames`` the frames reported done, in order.
    """

    def __init__(self) -> None:
        self.stage = ""
        self.message = ""
        self.done: Optional[int] = None
        self.total: Optional[int] = None
        self.frame: Optional[int] = None
        self.frames: List[int] = []
        self.warnings: List[str] = []
        self.result: Optional[Dict[str, Any]] = None
        self.error: Optional[str] = None
        self.error_code: Optional[int] = None

    def update(self, event: HostEvent) -> None:
        if event.kind == "warning":
            if event.message:
                self.warnings.append(event.message)
            return
        if event.kind == "error":
            self.error = event.message or "framefill failed"
            code = event.data.get("exit_code")
            self.error_code = code if isinstance(code, int) and not isinstance(code, bool) else None
            return
        if event.kind == "done":
            self.result = dict(event.data)
            if event.message:
                self.message = event.message
            return
        if event.stage and event.stage != self.stage:
            # A new stage starts its own count.
            self.stage = event.stage
            self.done = None
            self.total = None
        if event.message:
            self.message = event.message
        if event.total is not None:
            self.total = event.total
        if event.done is not None:
            self.done = event.done
        if event.frame is not None:
            self.frame = event.frame
            if event.kind == "frame":
                self.frames.append(event.frame)

    @property
    def fraction(self) -> Optional[float]:
        """done/total of the current stage in [0, 1], or None while unknown."""
        if self.total is None or self.done is None or self.total <= 0:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)

    def percent(self) -> int:
        """``fraction`` as 0-100 (0 while unknown), for progress bars."""
        fraction = self.fraction
        return 0 if fraction is None else int(round(fraction * 100))

    def label(self) -> str:
        """One line such as ``fill 12/48 (frame 1012): warping``."""
        parts = []
        if self.stage:
            parts.append(self.stage)
        if self.total is not None and self.done is not None:
            parts.append("{}/{}".format(self.done, self.total))
        if self.frame is not None:
            parts.append("(frame {})".format(self.frame))
        head = " ".join(parts)
        if self.message and head:
            return "{}: {}".format(head, self.message)
        return self.message or head
