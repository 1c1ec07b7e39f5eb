"""Which frames to render, and where each output frame comes from.

``keyframes`` answers "render every Nth frame": the first and last frames of the
range are always included so every gap has a rendered frame on both sides.
``plan_frames`` maps each output frame to a copy of a rendered frame, a fill
between its two nearest rendered neighbours at the right t, or a hold (no
neighbour on one side).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from framefill.errors import InputError, SequenceError

__all__ = ["keyframes", "FrameTask", "plan_frames", "recursive_sources", "bisection_levels", "PlanResult",
           "plan_render"]

TaskKind = Literal["copy", "fill", "hold"]


def keyframes(frames: Sequence[int], every: int) -> tuple[int, ...]:
    """Every ``every``-th frame of ``frames`` from the first, plus the last.

    Raises:
        InputError: ``every`` < 1.
    """
    if every < 1:
        raise InputError(f"--every must be 1 or more, got {every}")
    ordered = sorted(set(frames))
    if not ordered:
        return ()
    picked = set(ordered[::every])
    picked.add(ordered[-1])
    return tuple(sorted(picked))


@dataclass(frozen=True)
class FrameTask:
    """How one output frame is made."""

    frame: int
    kind: TaskKind
    source0: int | None = None  # the rendered frame before (or the held/copied one)
    source1: int | None = None  # the rendered frame after
    t: float = 0.0
    reason: str = ""

    @property
    def nearest_source(self) -> int:
        if self.kind != "fill" or self.source1 is None:
            assert self.source0 is not None
            return self.source0
        assert self.source0 is not None
        return self.source0 if self.t <= 0.5 else self.source1


def plan_frames(frames: Iterable[int], rendered: Iterable[int]) -> list[FrameTask]:
    """A task for every output frame, from the frames that exist.

    Raises:
        SequenceError: nothing rendered at all.
    """
    have = sorted(set(rendered))
    if not have:
        raise SequenceError("no rendered frames to fill from; render at least the first and last frame")
    tasks = []
    import bisect

    for frame in sorted(set(frames)):
        i = bisect.bisect_left(have, frame)
        if i < len(have) and have[i] == frame:
            tasks.append(FrameTask(frame, "copy", frame))
            continue
        before = have[i - 1] if i > 0 else None
        after = have[i] if i < len(have) else None
        if before is None:
            assert after is not None
            tasks.append(FrameTask(frame, "hold", after, reason=f"no rendered frame before {frame}"))
        elif after is None:
            tasks.append(FrameTask(frame, "hold", before, reason=f"no rendered frame after {frame}"))
        else:
            t = (frame - before) / (after - before)
            tasks.append(FrameTask(frame, "fill", before, after, t))
    return tasks


def recursive_sources(before: int, after: int, frame: int) -> list[tuple[int, int, int]]:
    """The bisection chain that makes ``frame`` in recursive mode.

    Returns (a, b, m) steps, innermost last: each midpoint m is made from a and
    b at t = (m - a) / (b - a) (0.5 when the gap is even), and later steps use
    earlier midpoints as sources. The chain ends with ``frame`` as its last m.
    """
    steps: list[tuple[int, int, int]] = []
    a, b = before, after
    while True:
        m = (a + b) // 2
        steps.append((a, b, m))
        if m == frame:
            return steps
        if frame < m:
            b = m
        else:
            a = m


def bisection_levels(before: int, after: int, frames: Sequence[int]) -> list[list[tuple[int, int, int]]]:
    """The recursive-mode steps that make ``frames`` of one gap, level by level.

    Level k holds the k-th step of each frame's :func:`recursive_sources` chain, once each and
    in frame order; a level's steps use only the gap's rendered frames and earlier levels'
    midpoints, so a level's pairs can run through the network at once.
    """
    levels: list[set[tuple[int, int, int]]] = []
    for frame in frames:
        for depth, step in enumerate(recursive_sources(before, after, frame)):
            if depth == len(levels):
                levels.append(set())
            levels[depth].add(step)
    return [sorted(level, key=lambda step: step[2]) for level in levels]


@dataclass(frozen=True)
class PlanResult:
    """The frames of a shot to render first, and the ones framefill fills."""

    pattern: str
    every: int
    frames: tuple[int, ...]
    render: tuple[int, ...]

    @property
    def fill(self) -> tuple[int, ...]:
        keys = set(self.render)
        return tuple(f for f in self.frames if f not in keys)

    def to_json(self) -> dict[str, object]:
        """The ``framefill plan --json`` document."""
        from framefill.frames import format_frame_range

        return {
            "pattern": self.pattern, "every": self.every, "frames": format_frame_range(self.frames),
            "render": format_frame_range(self.render), "render_nuke": format_frame_range(self.render, style="nuke"),
            "render_frames": list(self.render), "render_count": len(self.render),
            "fill": format_frame_range(self.fill), "fill_count": len(self.fill),
        }


def plan_render(pattern: str, *, every: int, frames: str | Sequence[int] | None = None) -> PlanResult:
    """Which frames of ``pattern``'s shot to render first: every ``every``-th plus the last.

    ``frames``: the shot's range (a range string or frame numbers); default: first
    to last frame on disk.

    Raises:
        SequenceError: no range given and no frame on disk; a bad range.
        InputError: ``every`` < 1.
    """
    from framefill.frames import FramePattern, parse_frame_range

    pat = FramePattern.parse(pattern)
    if isinstance(frames, str):
        shot = tuple(parse_frame_range(frames))
    elif frames is not None:
        shot = tuple(frames)
    else:
        on_disk = pat.scan()
        if not on_disk:
            raise SequenceError(f"no frames of {pat} on disk yet; give the shot's range with --frames, "
                                "e.g. --frames 1001-1100")
        shot = tuple(range(min(on_disk), max(on_disk) + 1))
    return PlanResult(str(pat), every, shot, keyframes(shot, every))
