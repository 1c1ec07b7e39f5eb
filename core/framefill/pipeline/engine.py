"""The frame-job engine: the one loop every frame-writing job runs on.

Fill, upscale (sequences and video) and qc differ in what they make of a frame;
everything around that is here, once:

* walk the planned frames in order, honouring cancellation between frames;
* skip a frame whose output the job can prove done (:class:`OutputLedger`:
  the manifest entry's recipe and the output file's sha256 still match);
* make the frame (the job writes its output atomically) and record its
  :class:`~framefill.pipeline.manifest.ManifestEntry`;
* overlap: a job may return the frame's last part (encoding and writing it) as
  :class:`Pending`; that part runs on one writer thread while the next frame is
  made, and the frame is recorded once it is written, always in frame order, with
  at most one frame in flight (so memory stays bounded). The bytes are the same
  as made in sequence; a cancel or an error waits for the frame in flight and
  records it first;
* report progress (``start``, one ``frame`` event per frame, warnings);
* time each frame and measure the job's peak memory.

A job implements :class:`FrameJob`: ``skip`` (proof from the manifest or a
cache, or None) and ``make`` (the work). The engine never looks inside a frame.
"""

from __future__ import annotations

import time
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
    may run on the engine's writer thread while the next frame is made. ``finish`` must touch
    nothing the next frame's work changes."""

    frame: int
    finish: Callable[[], Made[Outcome]]


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
    in_flight: tuple[Future[tuple[Made[Outcome], float]], int, float] | None = None  # the frame being written

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

    def land() -> None:
        """Wait for the frame in flight and record it."""
        nonlocal in_flight
        if in_flight is not None:
            future, index, made_s = in_flight
            in_flight = None
            made, write_s = future.result()
            record(made, index, made_s + write_s)

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
                land()  # the previous frame, written while this one was made, is recorded first
                if isinstance(made, Pending):
                    in_flight = (writer.submit(_timed, made.finish), index, made_s)
                else:
                    record(made, index, made_s)
            land()
        except BaseException:
            if in_flight is not None:  # a cancel or an error: the frame being written still counts
                try:
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
