"""Interpolate a video file: retime it to another frame rate, or replace its repeated frames.

Frames are decoded to RGB in the file's own encoding, which is what RIFE was
trained on, so the network sees them as they are (no colour transform, as in
the upscale video job), and its motion warps and blends those same pixels.

**Retime** (``fps``). The output timeline is ``t_k = k / fps_out`` from the
first frame's time, and output time ``t`` sits at source position
``s = t * fps_in`` (exact fractions, so 24000/1001 -> 60000/1001 is exact).
Where ``s`` is a whole number the decoded source frame is written unchanged;
otherwise frame ``k`` is the fill between source frames ``floor(s)`` and
``floor(s) + 1`` at timestep ``frac(s)``. Output times past the last source
frame repeat it (there is nothing after it to move towards). The frame count
follows FFmpeg's ``fps`` filter (round=near, eof_action=round): ``round(D *
fps_out)``, halves up, for the input's duration ``D = n_in / fps_in``, so the
output lasts as long as the input to within half an output frame.

**Repeated frames** (``replace_duplicates``). A frame whose mean absolute
difference to the frame before it is below ``DUPLICATE_MAD`` (0.5 of an 8-bit
code value, over every pixel and channel) is a repeat; the first frame never
is. A run of repeats between the distinct frames ``a`` and ``b`` is replaced by
the fills between ``a`` and ``b`` at ``j / (b - a)``. Runs longer than
``MAX_DUPLICATE_RUN`` are holds (a still, a held drawing) and kept, as are
repeats at the very end (no ``b``) and repeats before a cut. With both, the
repeats are replaced first and the retime runs on the result.

**Cuts** are detected as the EXR fill does (:func:`framefill.ops.cuts.cut_score`
on the decoded pixels): nothing is interpolated across one. A retimed frame
between two shots is the nearer source frame (the earlier at exactly half
way), reported as ``held``.

Memory: decoding streams; only the two source frames around the current output
time are kept (plus a run of at most ``MAX_DUPLICATE_RUN`` repeats).

Resume: every fill is kept in the frame cache of :mod:`framefill.pipeline.video`
(16-bit PNG, keyed by the input's sha256 and the settings) and encoded as the
cache holds it; an interrupted run decodes again, reads the fills it has and
makes only the rest. Source frames are decoded, never cached. The output file
appears only when complete. Audio is passed through as by the upscale job.

**--model auto** picks the model as a sequence fill does
(:func:`framefill.pipeline.model_choice.choose_model`), from checks on the
video itself: source frame ``k`` filled from ``k - 1`` and ``k + 1`` (twice the
gap a retime fills across) and compared with the real ``k``, at most
``MAX_CHECKS`` of them spread over the video. Only the checks' frames are
decoded (and one more frame either side of each check) and handed over as
linear Rec.709 (the inverse of the network's sRGB encoding, so the network sees
the decoded pixels). A frame beside a cut (detected as above, whatever
``detect_cuts`` says) or a repeat (``DUPLICATE_MAD``), on either side, is no
evidence: a check with one is left out. The choice, its evidence and the
checked frames go in ``job["model_choice"]`` and a progress event; the fills
are those of the chosen model at the chosen scale, so the output equals a run
with ``--model <chosen>`` and the frame cache (keyed by the chosen model, its
weights and scale) is shared with such a run. A rerun makes the choice again
(deterministic where the fills are, see ``job["bit_identical"]``), so it finds
its fills.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from framefill.errors import InputError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames.video import (
    DecodedFrame,
    VideoCodec,
    VideoInfo,
    VideoWriter,
    nominal_rate,
    probe_video,
    read_video,
)
from framefill.models.interp import Interpolator
from framefill.ops.cuts import CUT_THRESHOLD, cut_score
from framefill.pipeline.engine import Made, run_frames
from framefill.pipeline.video import FrameCache, check_not_input, check_written, video_facts
from framefill.requests import AUTO_INTERPOLATION_MODEL, VideoInterpRequest

if TYPE_CHECKING:
    from framefill.frames import ExrImage
    from framefill.pipeline.model_choice import ModelChoice

__all__ = ["VideoInterpOptions", "VideoFrameOutcome", "VideoInterpResult", "interpolate_video", "run_video_interp",
           "output_frame_count", "fill_rgb", "DUPLICATE_MAD", "MAX_DUPLICATE_RUN"]

VideoFrameStatus = Literal["source", "filled", "deduplicated", "held"]
# A repeat: mean |difference| to the previous frame under half an 8-bit code value. An
# encoder's noise on a truly repeated frame stays far below it; a frame with any motion
# (a few pixels moving by many codes) is far above.
DUPLICATE_MAD = 0.5 / 255
# Longer runs of repeats are holds (a still, a held drawing on threes and beyond, a
# freeze), not dropped frames: a fill across them would turn a pause into a drift.
MAX_DUPLICATE_RUN = 4
# A source position this close to a whole number is that frame (exact fractions make
# this a guard only, for rates given as decimals).
ON_FRAME = Fraction(1, 1_000_000)
# Bumped when the cached fills' meaning changes, so old caches are not reused.
CACHE_FORMAT = 1
# A frame's time further than this (in frames) from index / fps: a variable frame rate.
VFR_SLACK_FRAMES = 0.5
# `--model auto`: a check fills source frame k from k - 1 and k + 1 (every frame of a video is real).
CHECK_SPAN = 2


@dataclass(frozen=True)
class VideoInterpOptions:
    """How to interpolate. ``fps``: the output rate (None: the input's, with ``replace_duplicates``)."""

    model_id: str
    model_sha256: str = ""
    fps: Fraction | None = None
    replace_duplicates: bool = False
    detect_cuts: bool = True
    cut_threshold: float = CUT_THRESHOLD
    device: str = "cpu"
    precision: str = "fp32"
    rife_scale: float = 1.0
    extra_job: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoFrameOutcome:
    """One output frame: what it is, from which source frames (decode order) at which timestep, and why.

    ``source`` is the frame's position on the source timeline (``s``); ``cached``
    says the fill came from the frame cache.
    """

    frame: int
    status: VideoFrameStatus
    source: float
    sources: tuple[int, ...] = ()
    t: float | None = None
    reason: str = ""
    cached: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class VideoInterpResult:
    output: str
    model: str
    model_sha256: str
    fps_in: Fraction
    fps_out: Fraction
    frames: tuple[VideoFrameOutcome, ...]
    cuts: tuple[int, ...]
    duplicates: tuple[int, ...]
    seconds: float
    peak_rss_mb: float
    peak_device_mb: float | None
    video: dict[str, Any]
    job: dict[str, Any] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for o in self.frames if o.status == status)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: totals, cuts and repeats found, the streams, and every output frame."""
        return {
            "output": self.output, "model": self.model, "model_sha256": self.model_sha256,
            "fps_in": str(self.fps_in), "fps_out": str(self.fps_out),
            **{status: self.count(status) for status in ("source", "filled", "deduplicated", "held")},
            "cached": sum(1 for o in self.frames if o.cached),
            "cuts": list(self.cuts), "duplicates": list(self.duplicates),
            "seconds": round(self.seconds, 3), "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_device_mb": None if self.peak_device_mb is None else round(self.peak_device_mb, 1),
            "video": self.video, "job": self.job,
            "frames": [
                {"frame": o.frame, "status": o.status, "source": round(o.source, 6), "sources": list(o.sources),
                 "t": o.t, "reason": o.reason, "cached": o.cached, "seconds": round(o.seconds, 3)}
                for o in self.frames
            ],
        }


# ---------------------------------------------------------------------------------------
# One in-between frame of two decoded RGB frames
# ---------------------------------------------------------------------------------------


def fill_rgb(rgb0: np.ndarray, rgb1: np.ndarray, t: float, interpolator: Interpolator, *, device: str) -> np.ndarray:
    """The frame at ``t`` between two RGB frames (H,W,3 float32 in [0, 1], display-encoded): the
    network's motion warps and blends these same pixels. Returns H,W,3 float32."""
    import torch

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None].to(device)

    a, b = tensor(rgb0), tensor(rgb1)
    motion = interpolator.motion(a, b, t)
    out = motion.blend(a, b)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).float().cpu().numpy())


def output_frame_count(n_in: int, fps_in: Fraction, fps_out: Fraction) -> int:
    """Output frames for ``n_in`` frames at ``fps_in`` retimed to ``fps_out``: FFmpeg's ``fps`` filter's
    count, ``round(n_in / fps_in * fps_out)`` with halves up (at least 1)."""
    return max(1, math.floor(Fraction(n_in) / fps_in * fps_out + Fraction(1, 2)))


# ---------------------------------------------------------------------------------------
# Source frames: decoded, with repeats found and marked for replacement
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A source frame (decode order ``index``). ``between`` = (a, b, t): a repeat to replace by the fill
    between the distinct frames a and b; ``kept`` says why a repeat stays as decoded."""

    decoded: DecodedFrame
    between: tuple[_Source, _Source, float] | None = None
    kept: str = ""

    @property
    def index(self) -> int:
        return self.decoded.index


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b), dtype=np.float64))


def _sources(decoded: Iterator[DecodedFrame], *, replace: bool, is_cut: Callable[[_Source, _Source], bool],
             ) -> Iterator[_Source]:
    """The decoded frames in order, repeats marked (see the module docstring); holds at most
    ``MAX_DUPLICATE_RUN`` repeats back while waiting for the next distinct frame."""
    hold = f"a hold of over {MAX_DUPLICATE_RUN} repeated frames (a still): kept"
    previous: DecodedFrame | None = None
    anchor: _Source | None = None
    run: list[DecodedFrame] = []
    in_hold = False
    for frame in decoded:
        repeat = replace and previous is not None and _mad(frame.rgb, previous.rgb) < DUPLICATE_MAD
        previous = frame
        if repeat and in_hold:
            yield _Source(frame, kept=hold)
            continue
        if repeat:
            run.append(frame)
            if len(run) > MAX_DUPLICATE_RUN:
                yield from (_Source(f, kept=hold) for f in run)
                run, in_hold = [], True
            continue
        current = _Source(frame)
        if run and anchor is not None:
            if is_cut(anchor, current):
                yield from (_Source(f, kept="repeats before a scene cut: kept") for f in run)
            else:
                span = len(run) + 1
                yield from (_Source(f, between=(anchor, current, (j + 1) / span)) for j, f in enumerate(run))
        run, in_hold, anchor = [], False, current
        yield current
    yield from (_Source(f, kept="repeats at the end of the clip: nothing after them to fill from") for f in run)


# ---------------------------------------------------------------------------------------
# Output slots: what each output frame is made of
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """Output frame ``index`` at ``pts``: one source frame (``t`` None), or the fill of two at ``t``."""

    index: int
    pts: int | None
    time_base: Fraction
    position: Fraction
    first: _Source
    second: _Source | None = None
    t: float | None = None
    reason: str = ""


class _Window:
    """The source frames around an increasing position, read from the stream as needed."""

    def __init__(self, sources: Iterator[_Source]) -> None:
        self._sources = sources
        self._frames: dict[int, _Source] = {}
        self._next = 0

    def forget_before(self, index: int) -> None:
        """Let go of the frames before ``index`` (no later position needs them)."""
        for old in [i for i in self._frames if i < index]:
            del self._frames[old]

    def get(self, index: int) -> _Source | None:
        while self._next <= index:
            source = next(self._sources, None)
            if source is None:
                return self._frames.get(index)
            self._frames[source.index] = source
            self._next = source.index + 1
        return self._frames.get(index)


class _Plan:
    """The output slots of a run, from the stream of source frames."""

    def __init__(self, info: VideoInfo, options: VideoInterpOptions, warn: Callable[[str], None]) -> None:
        self.info = info
        self.fps_in = nominal_rate(info.frame_rate)
        self.fps_out = options.fps or self.fps_in
        self.retime = options.fps is not None
        self.total = output_frame_count(info.frame_count, self.fps_in, self.fps_out) if self.retime \
            else info.frame_count
        self.time_base = 1 / self.fps_out if self.retime else info.time_base
        self.detect_cuts = options.detect_cuts
        self.cut_threshold = options.cut_threshold
        self.cut_scores: dict[tuple[int, int], float] = {}
        self.replaced: list[int] = []  # source frames replaced as repeats
        self.warn = warn
        self._start: Fraction | None = None
        self._vfr_told = False

    def is_cut(self, a: _Source, b: _Source) -> bool:
        """A scene cut between two source frames (scored on their decoded pixels, once per pair)."""
        if not self.detect_cuts:
            return False
        key = (a.index, b.index)
        if key not in self.cut_scores:
            self.cut_scores[key] = cut_score(a.decoded.rgb, b.decoded.rgb)
        return self.cut_scores[key] > self.cut_threshold

    def cuts(self) -> tuple[int, ...]:
        """The first source frame of each new shot found (between frames a fill would have joined)."""
        return tuple(sorted({b for (_, b), score in self.cut_scores.items() if score > self.cut_threshold}))

    def _check_timing(self, decoded: DecodedFrame) -> None:
        if decoded.pts is None or self._vfr_told:
            return
        seconds = Fraction(decoded.pts) * decoded.time_base
        if self._start is None:
            self._start = seconds
        if abs((seconds - self._start) * self.fps_in - decoded.index) > VFR_SLACK_FRAMES:
            self._vfr_told = True
            self.warn(f"{self.info.path} has a variable frame rate (frame {decoded.index} is at "
                      f"{float(seconds):.3f} s); it is retimed by frame number at {float(self.fps_in):.3f} fps")

    def _timed(self, decoded: Iterator[DecodedFrame]) -> Iterator[DecodedFrame]:
        for frame in decoded:
            self._check_timing(frame)
            yield frame

    def _noted(self, sources: Iterator[_Source]) -> Iterator[_Source]:
        for source in sources:
            if source.between is not None:
                self.replaced.append(source.index)
            yield source

    def slots(self, decoded: Iterator[DecodedFrame], *, replace: bool) -> Iterator[_Slot]:
        window = _Window(self._noted(_sources(self._timed(decoded), replace=replace, is_cut=self.is_cut)))
        ratio = self.fps_in / self.fps_out
        for k in range(self.total):
            position = k * ratio if self.retime else Fraction(k)
            index = math.floor(position)
            frac = position - index
            if frac > 1 - ON_FRAME:
                index, frac = index + 1, Fraction(0)
            window.forget_before(index)
            first = window.get(index)
            if first is None:
                raise InputError(f"cannot read {self.info.path}: it decoded to {index} frames, but its header says "
                                 f"{self.info.frame_count}; remux or re-encode it (e.g. ffmpeg -i IN -c copy OUT)")
            pts, time_base = self._pts(k, first)
            if frac < ON_FRAME:
                yield _Slot(k, pts, time_base, position, first)
                continue
            second = window.get(index + 1)
            if second is None:
                yield _Slot(k, pts, time_base, position, first, reason="after the last source frame: it is repeated")
            elif self.is_cut(first, second):
                nearer = first if frac <= Fraction(1, 2) else second
                yield _Slot(k, pts, time_base, position, nearer,
                            reason=f"scene cut between source frames {first.index} and {second.index}: "
                                   f"source frame {nearer.index} (the nearer) is held")
            else:
                yield _Slot(k, pts, time_base, position, first, second, float(frac))

    def _pts(self, k: int, first: _Source) -> tuple[int | None, Fraction]:
        if not self.retime:
            return first.decoded.pts, first.decoded.time_base
        start = self._start or Fraction(0)
        return round(start * self.fps_out) + k, self.time_base


# ---------------------------------------------------------------------------------------
# The job on the engine
# ---------------------------------------------------------------------------------------


class _InterpJob:
    """One output slot per item: its pixels (decoded, cached or filled), encoded in order."""

    stage = "interpolate"

    def __init__(self, interpolator: Interpolator, cache: FrameCache, writer: VideoWriter, info: VideoInfo,
                 options: VideoInterpOptions) -> None:
        self.interpolator = interpolator
        self.cache = cache
        self.writer = writer
        self.info = info
        self.options = options
        self.replaced: dict[int, tuple[np.ndarray, bool]] = {}  # the current run's fills, by source frame

    def skip(self, slot: _Slot) -> None:
        return None  # every frame is encoded, cached or not

    def _fill(self, name: str, rgb0: np.ndarray, rgb1: np.ndarray, t: float) -> tuple[np.ndarray, bool]:
        cached = self.cache.get(name, self.info.height, self.info.width)
        if cached is not None:
            return cached, True
        return self.cache.put(name, fill_rgb(rgb0, rgb1, t, self.interpolator, device=self.options.device)), False

    def pixels(self, source: _Source) -> tuple[np.ndarray, bool]:
        """A source frame's pixels, and whether they came from the frame cache: as decoded, or a
        replaced repeat's fill."""
        if source.between is None:
            return source.decoded.rgb, False
        if source.index not in self.replaced:
            a, b, t = source.between
            self.replaced = {i: v for i, v in self.replaced.items() if i > a.index}  # earlier runs are done
            self.replaced[source.index] = self._fill(f"src-{source.index:06d}", a.decoded.rgb, b.decoded.rgb, t)
        return self.replaced[source.index]

    def _retimed(self, slot: _Slot) -> tuple[np.ndarray, VideoFrameOutcome]:
        assert slot.second is not None and slot.t is not None
        name = f"out-{slot.index:06d}"
        rgb = self.cache.get(name, self.info.height, self.info.width)
        hit = rgb is not None
        if rgb is None:
            rgb, _ = self._fill(name, self.pixels(slot.first)[0], self.pixels(slot.second)[0], slot.t)
        return rgb, VideoFrameOutcome(slot.index, "filled", float(slot.position),
                                      (slot.first.index, slot.second.index), round(slot.t, 6), cached=hit)

    def _sourced(self, slot: _Slot) -> tuple[np.ndarray, VideoFrameOutcome]:
        source = slot.first
        rgb, hit = self.pixels(source)
        reason = slot.reason or source.kept
        if source.between is not None:
            a, b, t = source.between
            status: VideoFrameStatus = "held" if reason else "deduplicated"
            return rgb, VideoFrameOutcome(slot.index, status, float(slot.position), (a.index, b.index), round(t, 6),
                                          reason, cached=hit)
        return rgb, VideoFrameOutcome(slot.index, "held" if reason else "source", float(slot.position),
                                      (source.index,), reason=reason)

    def make(self, slot: _Slot) -> Made[VideoFrameOutcome]:
        rgb, outcome = self._retimed(slot) if slot.second is not None else self._sourced(slot)
        self.writer.write(rgb, pts=slot.pts, time_base=slot.time_base)
        warnings = (f"output frame {slot.index}: {slot.reason}",) if slot.reason.startswith("scene cut") else ()
        return Made(slot.index, outcome, event={"status": outcome.status, "cached": outcome.cached},
                    warnings=warnings)


def _cache_key(options: VideoInterpOptions, fps_out: Fraction) -> Callable[[str], str]:
    import hashlib
    import json

    def key(input_sha256: str) -> str:
        doc = {
            "format": CACHE_FORMAT, "job": "interpolate", "input": input_sha256, "model": options.model_id,
            "sha": options.model_sha256, "fps": str(fps_out), "retime": options.fps is not None,
            "duplicates": [options.replace_duplicates, DUPLICATE_MAD, MAX_DUPLICATE_RUN],
            "cuts": [options.detect_cuts, options.cut_threshold], "precision": options.precision,
            "rife_scale": options.rife_scale,
            # A fused model's mix (fills it made before mixes existed were one warp along the mean motion).
            **({"mix": options.extra_job["mix"]} if options.extra_job.get("mix") is not None else {}),
            # Only when not torch: frames cached before backends existed keep their key.
            **({"backend": options.extra_job["backend"]} if options.extra_job.get("backend", "torch") != "torch"
               else {}),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]

    return key


def interpolate_video(
    input_path: str | Path,
    output_path: str | Path,
    *,
    interpolator: Interpolator,
    options: VideoInterpOptions,
    codec: VideoCodec = "auto",
    crf: int | None = None,
    cache_dir: str | Path | None = None,
    keep_cache: bool = False,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> VideoInterpResult:
    """Retime a video to ``options.fps`` and/or replace its repeated frames; see the module docstring.

    Raises:
        InputError: unreadable or unsupported input, an output equal to the
            input, an encoder missing from the build.
        CancelledError: ``cancelled()`` became true; the frame cache is kept for the rerun.
        JobFailedError: the written file does not hold the planned frame count.
    """
    src, dst = Path(input_path), Path(output_path)
    check_not_input(src, dst, "interpolated video")
    info = probe_video(src)

    def warn(message: str) -> None:
        report(Event("warning", stage="interpolate", message=message))

    plan = _Plan(info, options, warn)
    cache = FrameCache.open(src, dst, key=_cache_key(options, plan.fps_out), cache_dir=cache_dir, settings={
        "model": options.model_id, "fps": str(plan.fps_out), "replace_duplicates": options.replace_duplicates})
    with VideoWriter(dst, source=info, width=info.width, height=info.height, codec=codec, crf=crf, warn=warn,
                     frame_rate=plan.fps_out if plan.retime else None) as writer:
        job = _InterpJob(interpolator, cache, writer, info, options)
        what = f"retiming {src.name} from {float(plan.fps_in):.3f} to {float(plan.fps_out):.3f} fps" if plan.retime \
            else f"replacing the repeated frames of {src.name}"
        run = run_frames(plan.slots(read_video(src, info), replace=options.replace_duplicates), job,
                         total=plan.total, manifest=None, report=report, cancelled=cancelled, device=options.device,
                         cancel_hint=f" (frame cache: {cache.folder})",
                         start_message=f"{what}: {plan.total} output frame(s)")
    out_info = check_written(dst, len(run.outcomes), cache)
    if not keep_cache:
        cache.drop()
    return VideoInterpResult(
        output=str(dst), model=options.model_id, model_sha256=options.model_sha256, fps_in=plan.fps_in,
        fps_out=plan.fps_out, frames=run.outcomes,
        cuts=plan.cuts(), duplicates=tuple(plan.replaced), seconds=run.seconds, peak_rss_mb=run.peak_rss_mb,
        peak_device_mb=run.peak_device_mb,
        video=video_facts(info, out_info, info.frame_count, cache.folder if keep_cache else None),
        job={"precision": options.precision, "rife_scale": options.rife_scale, "device": options.device,
             "duplicate_mad": DUPLICATE_MAD, "max_duplicate_run": MAX_DUPLICATE_RUN, **options.extra_job},
    )


class _ChoiceFrames:
    """The frames ``--model auto``'s checks read, decoded on demand as linear images.

    ``read(n)`` gives source frame ``n``. Each planned check's frames are
    decoded in one pass with their neighbours (a seek to the keyframe before them, not the whole
    video); only the checks' own frames are kept. A frame beside a cut or a repeat raises
    InputError, which leaves every check with that frame out of the evidence.
    """

    def __init__(self, src: Path, info: VideoInfo, *, cut_threshold: float) -> None:
        from framefill.pipeline.keyframe_check import check_schedule
        from framefill.pipeline.model_choice import spread_checks

        self.src, self.info, self.cut_threshold = src, info, cut_threshold
        self.images: dict[int, ExrImage] = {}
        self.refused: dict[int, str] = {}
        planned = spread_checks(check_schedule(range(info.frame_count), min_span=CHECK_SPAN))
        self.groups = [(c.before, c.key, c.after) for c in planned]

    def _why_not(self, before: np.ndarray, after: np.ndarray, first: int) -> str:
        """Why source frames ``first`` and ``first + 1`` are no evidence (a repeat, a cut), or ""."""
        if _mad(before, after) < DUPLICATE_MAD:
            return f"frame {first + 1} repeats frame {first}"
        if cut_score(before, after) > self.cut_threshold:
            return f"a scene cut between frames {first} and {first + 1}"
        return ""

    def _decode(self, frames: tuple[int, ...]) -> None:
        from framefill.color import ColorSetup, from_network
        from framefill.frames.exr import image_from_arrays

        around = range(max(0, min(frames) - 1), min(self.info.frame_count, max(frames) + 2))
        rgb = {d.index: d.rgb for d in read_video(self.src, self.info, frames=around)}
        for frame in frames:
            reasons = [self._why_not(rgb[a], rgb[a + 1], a) for a in (frame - 1, frame) if a in rgb and a + 1 in rgb]
            if any(reasons):
                self.refused[frame] = next(r for r in reasons if r)
                continue
            linear = from_network(rgb[frame], ColorSetup())  # the exact inverse of what the network is given
            image = image_from_arrays({c: np.ascontiguousarray(linear[:, :, i], dtype=np.float32)
                                       for i, c in enumerate("RGB")})
            image.path = self.src
            self.images[frame] = image

    def read(self, frame: int) -> ExrImage:
        if frame not in self.images and frame not in self.refused:
            self._decode(next((g for g in self.groups if frame in g), (frame,)))
        if frame in self.refused:
            raise InputError(f"{self.src} frame {frame}: {self.refused[frame]}: no evidence for --model auto")
        return self.images[frame]


def _choose_video_model(src: Path, info: VideoInfo, *, width_scale: float, device: str, precision: str,
                        cut_threshold: float = CUT_THRESHOLD) -> ModelChoice:
    """``--model auto`` on a video: the model its own frames' checks favour (see the module docstring)."""
    from framefill.color import ColorSetup
    from framefill.models.loading import load_interpolator
    from framefill.pipeline.model_choice import choose_model

    frames = _ChoiceFrames(src, info, cut_threshold=cut_threshold)

    def load(model: str, scale: float) -> Interpolator:
        return load_interpolator(model, device=device, precision=precision, scale=scale).model

    return choose_model(range(info.frame_count), frames.read, width=info.width, width_scale=width_scale, load=load,
                        color=ColorSetup(), device=device, min_span=CHECK_SPAN)


def run_video_interp(request: VideoInterpRequest, *, report: Reporter = null_reporter,
                     cancelled: Callable[[], bool] = never_cancelled) -> VideoInterpResult:
    """Resolve the device, pick RIFE's scale by frame width (unless given), the model for ``--model auto``,
    and interpolate the video.

    The network loads on the first fill: a rerun whose fills are all in the frame cache never loads it
    (``--model auto`` still loads the candidates to make its choice again).

    Raises:
        InputError, ModelNotFoundError, WeightsMismatchError, UnsupportedModelError, DeviceError: as named.
        CancelledError: ``cancelled()`` became true; the frame cache is kept for the rerun.
    """
    from framefill.models.interp import LazyInterpolator
    from framefill.models.loading import auto_rife_scale, fused_mix, load_interpolator, model_identity
    from framefill.pipeline.fill import interp_runtime
    from framefill.runtime.device import configure_determinism, device_note, resolve_devices

    r = request
    info = probe_video(r.input_path)
    spec = resolve_devices(r.device)[0]
    if (note := device_note(r.device, spec)) is not None:
        report(Event("warning", stage="interpolate", message=note))
    determinism = configure_determinism()
    model, scale, mix = r.model, auto_rife_scale(info.width) if r.scale is None else r.scale, r.mix
    extra_job: dict[str, Any] = {}
    if r.model == AUTO_INTERPOLATION_MODEL:
        check_not_input(Path(r.input_path), Path(r.output_path), "interpolated video")
        choice = _choose_video_model(Path(r.input_path), info, width_scale=scale, device=spec.device,
                                     precision=spec.precision)
        model, scale, mix = choice.model, choice.scale, choice.mix
        extra_job["model_choice"] = choice.to_json()
        report(Event("progress", stage="interpolate", message=f"--model auto: {choice.described}: {choice.reason}",
                     data={"model_choice": choice.to_json()}))
    mix = fused_mix(model, mix)
    if mix is not None:
        extra_job["mix"] = mix
    name, sha = model_identity(model, r.weights)
    runtime = interp_runtime(r.backend, name, spec.device, is_cuda=spec.is_cuda)
    interpolator = LazyInterpolator(name, lambda: load_interpolator(
        model, weights=r.weights, device=spec.device, precision=spec.precision, scale=scale,
        backend=r.backend, mix=mix).model)
    options = VideoInterpOptions(
        model_id=name, model_sha256=sha, fps=r.fps, replace_duplicates=r.replace_duplicates,
        detect_cuts=r.detect_cuts, device=spec.device, precision=spec.precision, rife_scale=scale,
        extra_job={"determinism": determinism, "bit_identical": not spec.is_cuda, **runtime, **extra_job},
    )
    return interpolate_video(r.input_path, r.output_path, interpolator=interpolator, options=options, codec=r.codec,
                             crf=r.crf, cache_dir=r.cache_dir, keep_cache=r.keep_cache, report=report,
                             cancelled=cancelled)
