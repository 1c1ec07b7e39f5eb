"""The engine's writer thread: a frame's write overlaps the next frames' work, frames are recorded
in order, at most one frame holding pixels is in flight (a copy never makes the engine wait), and a
cancel or an error still records the frames in flight."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from framefill.errors import CancelledError
from framefill.events import Event, clear_interrupt, never_cancelled, request_interrupt
from framefill.pipeline.engine import Made, Pending, run_frames


@dataclass(frozen=True)
class Outcome:
    frame: int
    seconds: float = 0.0


class Job:
    stage = "test"

    def __init__(self, fail_on: int | None = None) -> None:
        self.log: list[str] = []
        self.fail_on = fail_on
        self.writing = threading.Lock()
        self.max_in_flight = 0
        self.in_flight = 0

    def skip(self, frame: int) -> Made[Outcome] | None:
        return Made(frame, Outcome(frame), event={"status": "skipped"}) if frame == 3 else None

    def make(self, frame: int) -> Made[Outcome] | Pending[Outcome]:
        self.log.append(f"make {frame}")
        if frame == 5:  # written in place: the engine records it right away, after the frame in flight
            return Made(frame, Outcome(frame))
        with self.writing:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

        def finish() -> Made[Outcome]:
            self.log.append(f"write {frame}")
            with self.writing:
                self.in_flight -= 1
            if frame == self.fail_on:
                raise OSError(f"disk full writing frame {frame}")
            return Made(frame, Outcome(frame))

        return Pending(frame, finish)


def test_frames_are_recorded_in_order_with_one_in_flight():
    job = Job()
    recorded, run = _run_capturing(job, [1, 2, 3, 4, 5, 6], into=[])
    assert recorded == [1, 2, 3, 4, 5, 6]
    assert [o.frame for o in run.outcomes] == [1, 2, 3, 4, 5, 6]
    assert job.max_in_flight <= 2 and job.in_flight == 0  # one written while the next is made
    assert [e for e in job.log if e.startswith("write")] == ["write 1", "write 2", "write 4", "write 6"]
    # Frame 2 is made before frame 1 is recorded, never before frame 1's write was handed over.
    assert job.log.index("make 2") > job.log.index("make 1")


def test_a_cancel_records_the_frame_in_flight_first():
    job = Job()
    recorded: list[int] = []
    with pytest.raises(CancelledError, match="cancelled after 2 of 4 frames"):
        _run_capturing(job, [1, 2, 4, 6], cancel_after=2, into=recorded)
    assert recorded == [1, 2] and "write 2" in job.log


def test_an_interrupt_asked_for_from_another_thread_stops_before_the_next_frame():
    """The session worker's cancel, even when its simulated Ctrl-C is lost: the engine checks before each frame."""
    job = Job()
    recorded: list[int] = []

    def report(event: Event) -> None:
        if event.kind == "frame":
            recorded.append(event.frame)
            if event.frame == 2:  # recorded once frame 4 is made (frame 2 was written meanwhile)
                asker = threading.Thread(target=request_interrupt)
                asker.start()
                asker.join()

    try:
        with pytest.raises(KeyboardInterrupt):
            run_frames([1, 2, 4, 6], job, manifest=None, report=report, cancelled=never_cancelled,
                       start_message="")
        # Frame 4, made already, is written and recorded on the way out; frame 6 is never made.
        assert recorded == [1, 2, 4] and "write 4" in job.log and "make 6" not in job.log
    finally:
        clear_interrupt()
    # Asked for once: the next command runs.
    assert [o.frame for o in run_frames([1], Job(), manifest=None, report=lambda e: None,
                                        cancelled=never_cancelled, start_message="").outcomes] == [1]


def test_an_error_in_a_write_is_raised_after_the_frames_before_it_are_recorded():
    job = Job(fail_on=4)
    recorded: list[int] = []
    with pytest.raises(OSError, match="disk full writing frame 4"):
        _run_capturing(job, [1, 2, 4, 6], into=recorded)
    assert recorded == [1, 2]


class CopyBetweenFills:
    """Frames 2 and 4 are fills (their writes hold pixels), frame 3 a copy of a render (light). Frame 2's
    write finishes only once frame 4 is being made, or after a minute."""

    stage = "test"

    def __init__(self, light: tuple[int, ...] = (3,)) -> None:
        self.making_4 = threading.Event()
        self.log: list[str] = []
        self.light = light

    def skip(self, frame: int) -> Made[Outcome] | None:
        return None

    def make(self, frame: int) -> Pending[Outcome]:
        self.log.append(f"make {frame}")
        if frame == 4:
            self.making_4.set()

        def finish() -> Made[Outcome]:
            if frame == 2:
                self.log.append(f"frame 4 made while frame 2 was written: {self.making_4.wait(timeout=60)}")
            self.log.append(f"write {frame}")
            return Made(frame, Outcome(frame))

        return Pending(frame, finish, holds_pixels=frame not in self.light)


def test_a_copied_render_between_two_fills_does_not_hold_back_the_second():
    """With rendered frames 1, 3, 5 (every other frame), each fill's write overlaps the next fill's
    network: the copy handed over between them does not wait for the write before it."""
    job = CopyBetweenFills()
    recorded, run = _run_capturing(job, [2, 3, 4], into=[])
    assert "frame 4 made while frame 2 was written: True" in job.log
    assert recorded == [2, 3, 4] and [o.frame for o in run.outcomes] == [2, 3, 4]
    assert [e for e in job.log if e.startswith("write")] == ["write 2", "write 3", "write 4"]


def test_a_frame_holding_pixels_waits_for_the_one_in_flight():
    """Three fills in a row: frame 3 may be made while frame 2 is written, but is handed over (and
    frame 4 made) only once frame 2 is written: one frame being written, one being made."""
    job = CopyBetweenFills(light=())
    job.making_4.set()  # frame 2's write does not wait for anything
    _run_capturing(job, [2, 3, 4], into=[])
    assert job.log.index("write 2") < job.log.index("make 4")
    assert [e for e in job.log if e.startswith("write")] == ["write 2", "write 3", "write 4"]


def _run_capturing(job: Job, frames: list[int], *, into: list[int], cancel_after: int | None = None):
    def report(event: Event) -> None:
        if event.kind == "frame":
            into.append(event.frame)

    seen = {"n": 0}

    def cancelled() -> bool:
        seen["n"] += 1
        return cancel_after is not None and seen["n"] > cancel_after

    run = run_frames(frames, job, manifest=None, report=report, cancelled=cancelled, start_message="")
    return into, run
