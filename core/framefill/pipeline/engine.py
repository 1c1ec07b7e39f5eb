"""The frame-job engine: the one loop every frame-writing job runs on.

Fill, upscale (sequences and video) and qc differ in what they make of a frame;
everything around that is here, once:

* walk the planned frames in order, honouring cancellation between frames;
* skip a frame whose output the job can prove done (:class:`OutputLedger`:
  the manifest entry's recipe and the output file's sha256 still match);
* make the frame (the job writes its output atomically) and record its
  :class:`~framefill.pipeline.manifest.ManifestEntry`;
* overlap: a job may return the frame's last part (encoding and writing it) as
  :class:`Pending`; that part runs on one writer thread while the next frames are
  made, and each frame is recorded once it is written, always in frame order. At
  most one frame holding its pixels is in flight (so memory stays bounded); a
  light one (a copy of a file) never makes the engine wait, so a fill's write
  overlaps the next fill's work even with a copied render between them. The
  bytes are the same as made in sequence; a cancel or an error waits for the
  frames in flight and records them first;
* report progress (``start``, one ``frame`` event per frame, warnings);
* time each frame and measure the job's peak memory.

A job implements :class:`FrameJob`: ``skip`` (proof from the manifest or a
cache, or None) and ``make`` (the work). The engine never looks inside a frame.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from framefill.atomic import file_sha256
from framefill.errors import CancelledError
from framefill.events import Event, Reporter, raise_if_interrupted
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.runtime.memory import peak_device_mb, peak_rss_mb

__all__ = ["Made", "Pending", "FrameJob", "JobRun", "OutputLedger", "run_frames"]

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
Item_contra = TypeVar("Item_contra", contravariant=True)
# Frames made between two checkpoints of a long job.
CHECKPOINT_FRAMES = 50
# Frames handed to the writer thread and not recorded yet, at most (light ones: copies).
MAX_IN_FLIGHT = 8


@dataclass(frozen=True)
class Made(Generic[Outcome]):
    """What a job made of one frame.

    ``outcome`` is the job's own record of the frame (a dataclass with a
    ``seconds`` field, which the engine fills in). ``entry`` is recorded in the
    manifest (None: nothing to record). ``event`` is the data of the frame's
    progress event; ``warnings`` follow that event.
    """

    frame: int
    outcome: Outcome
    entry: ManifestEntry | None = None
    event: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pending(Generic[Outcome]):
    """A frame whose last part, ``finish`` (encode and write the output, then say what was made),
    may run on the engine's writer thread while the next frames are made. ``finish`` must touch
    nothing the next frames' work changes. ``holds_pixels``: ``finish`` keeps a decoded frame in
    memory until it runs (False for a copy of a file: the engine then does not wait for it)."""

    frame: int
    finish: Callable[[], Made[Outcome]]
    holds_pixels: bool = True


class FrameJob(Protocol[Item_contra, Outcome]):
    """A job the engine runs: ``stage`` names it in events and messages."""

    stage: str

    def skip(self, item: Item_contra) -> Made[Outcome] | None:
        """The frame's record when it is proven done already, else None."""

    def make(self, item: Item_contra) -> Made[Outcome] | Pending[Outcome]:
        """Make the frame (writing its output atomically) and say what was made, or leave the
        writing to the engine's writer thread (:class:`Pending`)."""


@dataclass(frozen=True)
class JobRun(Generic[Outcome]):
    """The engine's account of a run: outcomes in frame order, wall time, peak memory."""

    outcomes: tuple[Outcome, ...]
    seconds: float
    peak_rss_mb: float
    peak_device_mb: float | None


def run_frames(
    items: Iterable[Item],
    job: FrameJob[Item, Outcome],
    *,
    total: int | None = None,
    manifest: Manifest | None,
    report: Reporter,
    cancelled: Callable[[], bool],
    start_message: str,
    device: str = "cpu",
    cancel_hint: str = "",
    checkpoint: Callable[[], None] | None = None,
) -> JobRun[Outcome]:
    """Run ``job`` over ``items`` in order; see the module docstring.

    ``items`` may be a stream (decoded video frames): then ``total`` says how many.
    ``checkpoint`` runs after every ``CHECKPOINT_FRAMES`` frames made (the merged
    manifest of a long job is kept current while it runs).

    Raises:
        CancelledError: ``cancelled()`` became true between frames; finished frames are kept.
    """
    started = time.perf_counter()
    if total is None:
        assert isinstance(items, Sized), "a stream of items needs its total"
        total = len(items)
    report(Event("start", stage=job.stage, message=start_message, total=total))
    outcomes: list[Outcome] = []
    made_count = 0
    # Frames handed to the writer, oldest first: (write, index, seconds to make, holds pixels).
    in_flight: deque[tuple[Future[tuple[Made[Outcome], float]], int, float, bool]] = deque()

    def record(made: Made[Outcome], index: int, seconds: float | None) -> None:
        """A frame done: its manifest entry, outcome and events (``seconds`` None: skipped)."""
        nonlocal made_count
        data = dict(made.event)
        if seconds is not None:
            if made.entry is not None and manifest is not None:
                manifest.put(made.frame, made.entry)
            made_count += 1
            if checkpoint is not None and made_count % CHECKPOINT_FRAMES == 0:
                checkpoint()
            data["seconds"] = round(seconds, 3)
            outcomes.append(replace(made.outcome, seconds=seconds))  # type: ignore[type-var]
        else:
            outcomes.append(made.outcome)
        report(Event("frame", stage=job.stage, frame=made.frame, done=index + 1, total=total, data=data))
        for message in made.warnings:
            report(Event("warning", stage=job.stage, frame=made.frame, message=message))

    def land(until: Callable[[], bool] = lambda: False) -> None:
        """Wait for the frames in flight, oldest first, and record them; stop once ``until()`` is true."""
        while in_flight and not until():
            future, index, made_s, _ = in_flight.popleft()
            made, write_s = future.result()
            record(made, index, made_s + write_s)

    def room_for(pending: Pending[Outcome]) -> bool:
        """Whether ``pending`` may join the frames in flight now: none is written yet (a written one is
        recorded first, keeping the events current), there is a place, and a frame that holds pixels
        would be the only one in flight that does."""
        if not in_flight:
            return True
        if in_flight[0][0].done():
            return False
        heavy = pending.holds_pixels and any(holds for *_, holds in in_flight)
        return len(in_flight) < MAX_IN_FLIGHT and not heavy

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="framefill-writer") as writer:
        try:
            for index, item in enumerate(items):
                raise_if_interrupted()  # Ctrl-C asked for from another thread (the session worker's cancel)
                if cancelled():
                    land()
                    raise CancelledError(f"cancelled after {index} of {total} frames; rerun to resume{cancel_hint}")
                t0 = time.perf_counter()
                skipped = job.skip(item)
                if skipped is not None:
                    land()
                    record(skipped, index, None)
                    continue
                made = job.make(item)
                made_s = time.perf_counter() - t0
                if isinstance(made, Pending):
                    pending = made
                    land(until=lambda: room_for(pending))  # earlier frames are recorded first
                    in_flight.append((writer.submit(_timed, pending.finish), index, made_s, pending.holds_pixels))
                else:
                    land()
                    record(made, index, made_s)
            land()
        except BaseException:
            try:  # a cancel or an error: the frames being written still count
                land()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise
    return JobRun(tuple(outcomes), time.perf_counter() - started, peak_rss_mb(), peak_device_mb(device))


def _timed(finish: Callable[[], Made[Outcome]]) -> tuple[Made[Outcome], float]:
    t0 = time.perf_counter()
    made = finish()
    return made, time.perf_counter() - t0


class OutputLedger:
    """An output sequence's manifest plus file hashes: what proves an output frame done."""

    def __init__(self, output_pattern: str) -> None:
        self.manifest = Manifest(output_pattern)
        self._sha: dict[Path, str] = {}

    def sha256(self, path: Path) -> str:
        """A file's sha256, hashed once per run (until :meth:`forget`)."""
        if path not in self._sha:
            self._sha[path] = file_sha256(path)
        return self._sha[path]

    def forget(self, path: Path) -> None:
        """Drop a cached hash (the file was just rewritten)."""
        self._sha.pop(path, None)

    def proven(self, frame: int, output: Path, recipe: Mapping[str, Any]) -> ManifestEntry | None:
        """The frame's entry when it was made from ``recipe`` and ``output`` still holds those bytes."""
        entry = self.manifest.get(frame)
        if entry is not None and entry.recipe == recipe and output.is_file() \
                and self.sha256(output) == entry.file_sha256:
            return entry
        return None
