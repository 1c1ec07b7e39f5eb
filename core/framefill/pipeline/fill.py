"""Fill a sparsely rendered EXR shot: every missing frame from its two nearest
rendered neighbours, every layer warped from the ORIGINAL linear pixels.

Per filled frame:
  1. read the two source EXRs (all parts, layers, channels);
  2. build the network proxy of the beauty (OCIO, unclamped) and check for a cut;
  3. ask the interpolator for the motion at t (flows to both sources + blend mask);
  4. warp every channel of every part with those flows and blend with the mask
     (ID-like channels: nearest sample of one source, never a blend);
  5. cast back to each channel's pixel type, keep windows, compression and
     header attributes, add ``framefill/*`` attributes, write atomically;
  6. record the frame in the manifest (sources, t, model, sha256 of pixels and file).
Rendered frames are copied byte for byte. The loop, resume and progress are the
frame-job engine's (:mod:`framefill.pipeline.engine`); this module is the fill.
"""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill._version import __version__
from framefill.atomic import atomic_output
from framefill.color import ColorSetup
from framefill.errors import ExrError, InputError, SequenceError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import ExrImage, FramePattern, count_nonfinite, read_exr, write_exr
from framefill.frames.exr import pixel_sha256, with_attributes
from framefill.frames.raster import RasterFormat
from framefill.models.interp import Interpolator, Motion
from framefill.ops.cuts import CUT_THRESHOLD
from framefill.ops.pixels import Box
from framefill.pipeline.engine import Made, OutputLedger, Pending, run_frames
from framefill.pipeline.fill_ahead import AheadPair, MotionAhead
from framefill.pipeline.fill_frame import ProxyOf, apply_motion, make_proxy, pair_inputs, pair_motion
from framefill.pipeline.manifest import ManifestEntry
from framefill.pipeline.model_choice import AUTO_MODEL, ModelChoice
from framefill.pipeline.plan import FrameTask, bisection_levels, plan_frames, recursive_sources
from framefill.requests import FillMode, FillRequest
from framefill.runtime.memory import (
    DEFAULT_CHANNELS_PER_BATCH,
    SOURCE_CACHE_FRAMES,
    frame_budget,
)

__all__ = ["FillOptions", "FillResult", "FrameOutcome", "run_fill", "fill_sequence", "interpolate_exr", "check_output",
           "MAX_HELD_OUTSIDE"]

FillStatus = Literal["copied", "filled", "held", "skipped"]
# Per-frame stamps renderers write (Blender's metadata): a filled frame takes its
# source's header, so the frame number is rewritten and the render's own
# statistics, which describe another frame's render, are dropped.
FRAME_NUMBER_ATTRS = ("Frame",)
# Frames asked for beyond the first and last render can only be held copies of
# them: a few handles are normal, a range of thousands is a typo.
MAX_HELD_OUTSIDE = 100
RENDER_STATS_ATTRS = ("RenderTime", "Memory", "Date", "Time")
# A DPX fill takes its nearest source's header: its frame position becomes the
# fill's own and the time code, which names the source's frame, is dropped.
DPX_FRAME_STAMPS = ("smpte:TimeCode", "dpx:TimeCode", "dpx:UserBits")


@dataclass(frozen=True)
class FillOptions:
    """How to fill. ``model_id`` and ``model_sha256`` go into headers and the manifest."""

    model_id: str
    model_sha256: str = ""
    mode: FillMode = "direct"
    color: ColorSetup = ColorSetup()
    device: str = "cpu"
    detect_cuts: bool = True
    cut_threshold: float = CUT_THRESHOLD
    # Largest number of channels warped at once, and frames kept decoded beyond the
    # two sources: both bound memory at 4K-8K (see runtime/memory.py).
    channels_per_batch: int = DEFAULT_CHANNELS_PER_BATCH
    cached_frames: int = SOURCE_CACHE_FRAMES
    # Largest decoded size of one input frame (None: $FRAMEFILL_MEMORY_BUDGET or a quarter of the RAM).
    frame_budget_bytes: int | None = None
    # Compute QC feature maps while the motion is at hand and keep them in a sidecar
    # (.framefill/<sequence>/features/); the written frame is the same either way.
    qc_features: bool = True
    # Write the filled frames into the rendered sequence's own folder (output pattern = input).
    in_place: bool = False
    # `--model auto`: the RIFE scale of the chosen model, recorded in each fill's recipe (None: a named model).
    auto_scale: float | None = None
    # A fused model's share of its first network's fill, recorded in each fill's recipe (None: one network).
    mix: float | None = None
    # Fills per network run (`--batch`; recursive gaps: pairs per level), recorded in each fill's recipe over 1.
    batch: int = 1
    # Decode the next rendered frame the plan needs on a reader thread while this frame is made
    # (one decoded frame more in memory; off under --memory-budget).
    read_ahead: bool = True
    extra_job: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameFormats:
    """What the frames are read from and written as: a raster format, or None for EXR.

    Rendered frames are copied byte for byte when both are the same; otherwise
    (``convert``) they are decoded and written in the output's format.
    """

    source: RasterFormat | None = None
    target: RasterFormat | None = None

    @property
    def convert(self) -> bool:
        return self.source != self.target

    @property
    def involves_raster(self) -> bool:
        return self.source is not None or self.target is not None


@dataclass(frozen=True)
class FrameOutcome:
    frame: int
    status: FillStatus
    sources: tuple[int, ...] = ()
    t: float | None = None
    needs_render: bool = False
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class FillResult:
    frames: tuple[FrameOutcome, ...]
    output_pattern: str
    manifest: str
    peak_rss_mb: float
    peak_device_mb: float | None
    seconds: float
    memory_plan: dict[str, Any] = field(default_factory=dict)

    def needs_render(self) -> tuple[int, ...]:
        return tuple(o.frame for o in self.frames if o.needs_render)

    def count(self, status: str) -> int:
        return sum(1 for o in self.frames if o.status == status)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document of a fill: per-frame outcomes and the totals."""
        from framefill.frames import format_frame_range

        return {
            "output": self.output_pattern,
            "manifest": self.manifest,
            "copied": self.count("copied"),
            "filled": self.count("filled"),
            "held": self.count("held"),
            "skipped": self.count("skipped"),
            "needs_render": format_frame_range(self.needs_render()),
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_device_mb": None if self.peak_device_mb is None else round(self.peak_device_mb, 1),
            "memory_plan": self.memory_plan,
            "frames": [
                {"frame": o.frame, "status": o.status, "sources": list(o.sources), "t": o.t,
                 "needs_render": o.needs_render, "reason": o.reason, "seconds": round(o.seconds, 3)}
                for o in self.frames
            ],
        }


# ---------------------------------------------------------------------------------------
# One filled image from two decoded EXRs (the maths: pipeline/fill_frame.py)
# ---------------------------------------------------------------------------------------


def interpolate_exr(img0: ExrImage, img1: ExrImage, t: float, interpolator: Interpolator, *,
                    options: FillOptions, proxy_of: ProxyOf | None = None,
                    made: Motion | None = None) -> tuple[ExrImage, dict[str, Any]]:
    """One in-between EXR at time t, plus facts about it (cut score, whether held, QC features).

    ``proxy_of`` gives a rendered frame's colour proxy made for an earlier gap, ``made`` the
    pair's motion made ahead in a batch (see ``pair_motion``).

    Raises:
        ExrError: the frames have different layouts or no beauty.
    """
    pair = pair_motion(img0, img1, t, interpolator, color=options.color, device=options.device,
                       detect_cuts=options.detect_cuts, cut_threshold=options.cut_threshold, proxy_of=proxy_of,
                       made=made)
    facts: dict[str, Any] = {}
    if pair.cut_score is not None:
        facts["cut_score"] = round(pair.cut_score, 4)
    if pair.motion is None:
        facts["cut"] = True
        return (img0 if t <= 0.5 else img1), facts
    if options.qc_features:
        facts["qc_features"] = pair.qc_features(t)
        facts["canvas"] = pair.canvas
    return apply_motion(img0, img1, pair.motion, canvas=pair.canvas,
                        channels_per_batch=options.channels_per_batch), facts


# ---------------------------------------------------------------------------------------
# A whole sequence: the fill job on the engine
# ---------------------------------------------------------------------------------------


class _SourceCache:
    """Decoded frames by key, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def peek(self, key: Any) -> Any:
        """The item under ``key`` or None, without loading or reordering."""
        return self._items.get(key)

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def _sources(task: FrameTask) -> tuple[int, ...]:
    return tuple(s for s in (task.source0, task.source1) if s is not None)


def _framefill_attrs(task: FrameTask, options: FillOptions, facts: dict[str, Any],
                     header: dict[str, Any]) -> dict[str, Any]:
    source = {"frames": list(_sources(task)), "t": task.t, "mode": options.mode}
    if facts.get("cut"):
        source["held"] = "scene cut"
    attrs: dict[str, Any] = {
        "framefill/source": json.dumps(source, sort_keys=True),
        "framefill/model": json.dumps({"name": options.model_id, "sha256": options.model_sha256}),
        "framefill/version": __version__,
    }
    for name in FRAME_NUMBER_ATTRS:
        value = header.get(name)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            attrs[name] = str(task.frame).zfill(len(value.strip()))
        elif isinstance(value, int) and not isinstance(value, bool):
            attrs[name] = task.frame
    return attrs


class _FillJob:
    """The fill as a frame job: copy, fill or hold each planned frame.

    ``damaged`` maps rendered frames whose file is damaged to why: they were
    planned as missing, so they are filled (or held) and listed for a real render.
    ``ahead``: direct fills' motions, and recursive gaps level by level, are made a round of
    batches at a time (:mod:`framefill.pipeline.fill_ahead`); None: each with ``interpolator``
    when its frame is made.
    """

    stage = "fill"

    def __init__(self, rendered: dict[int, Path], output_pattern: str, interpolator: Interpolator,
                 options: FillOptions, damaged: dict[int, str], formats: FrameFormats = FrameFormats(),
                 ahead: MotionAhead | None = None) -> None:
        self.rendered = rendered
        self.formats = formats
        self.raster_headers: dict[int, dict[str, Any]] = {}  # DPX header of each raster source read
        self.output_pattern = output_pattern
        self.dst = FramePattern.parse(output_pattern)
        self.interpolator = interpolator
        self.options = options
        self.damaged = damaged
        self.ledger = OutputLedger(output_pattern)
        # Motions made ahead (batches, several devices): a round's sources and proxies stay decoded.
        self.ahead = ahead
        kept = 2 + options.cached_frames + (ahead.round_size + 1 if ahead is not None else 0)
        self.cache = _SourceCache(kept)
        self._frame_of: dict[int, int] = {}  # id() of a decoded rendered frame in the cache -> its frame
        self.proxies = _SourceCache(kept)  # colour proxies of rendered frames
        self._batch_of: dict[int, int] = {}  # a planned direct fill's batch (see plan_batches)
        self._batches: dict[int, list[FrameTask]] = {}
        self._made: dict[int, Motion] = {}  # motions made ahead, until their frame is made
        self._made_round: int | None = None  # the round of batches they belong to
        self._levels: dict[tuple[int, int], list[list[tuple[int, int, int]]]] = {}  # a recursive gap's steps
        self._gap_batch_of: dict[tuple[int, int], int] = {}  # a planned recursive gap's batch
        self._gap_batches: dict[int, list[tuple[int, int]]] = {}
        self._midpoints: dict[int, tuple[ExrImage, dict[str, Any]] | ExrError] = {}  # a round's, until made
        self._midpoint_round: int | None = None
        self._reads: list[int] = []  # rendered frames in the order the plan first decodes them (see plan)
        self._read_index: dict[int, int] = {}
        self._reader: ThreadPoolExecutor | None = None
        self._read_ahead: tuple[int, Future[tuple[ExrImage, dict[str, int]]]] | None = None
        self.budget = frame_budget(options.frame_budget_bytes)
        self.nonfinite: dict[int, dict[str, int]] = {}  # NaN/Inf pixels per rendered frame read
        self._told: set[int] = set()  # frames whose NaN/Inf pixels were already warned about

    # -- what a frame is made from ----------------------------------------------------
    def recipe(self, task: FrameTask) -> dict[str, Any]:
        """What a frame is made from; a rerun redoes a frame whose recipe changed."""
        o = self.options
        sources = {str(s): self.ledger.sha256(Path(self.rendered[s])) for s in _sources(task)}
        recipe: dict[str, Any] = {"kind": task.kind, "sources": sources}
        if self.formats.involves_raster:
            recipe["format"] = str(self.formats.target or "EXR")
        if task.kind == "fill":
            recipe.update(t=task.t, model=o.model_id, model_sha256=o.model_sha256, mode=o.mode,
                          color=[o.color.config, o.color.scene_linear, o.color.network], cuts=o.detect_cuts)
            if o.auto_scale is not None:  # chosen by `--model auto`: QC reruns this model at this scale
                recipe.update(model_choice="auto", rife_scale=o.auto_scale)
            if o.mix is not None:
                recipe["mix"] = o.mix
            batched = task.frame in self._batch_of or (task.source0, task.source1) in self._gap_batch_of
            if o.batch > 1 and batched:  # a batched fill's bytes depend on its batch
                recipe["batch"] = o.batch
            if o.extra_job.get("backend", "torch") != "torch":  # only then: torch fills made before still verify
                recipe["backend"] = o.extra_job["backend"]
        return recipe

    def _outcome(self, task: FrameTask, status: FillStatus, needs_render: bool, reason: str) -> FrameOutcome:
        return FrameOutcome(task.frame, status, _sources(task), task.t if task.kind == "fill" else None,
                            needs_render, reason)

    # -- the engine's two questions ---------------------------------------------------------
    def skip(self, task: FrameTask) -> Made[FrameOutcome] | None:
        entry = self.ledger.proven(task.frame, Path(self.dst.path(task.frame)), self.recipe(task))
        if entry is None:
            return None
        outcome = self._outcome(task, "skipped", bool(entry.needs_render), entry.reason or "")
        return Made(task.frame, outcome, event={"status": "skipped"})

    def make(self, task: FrameTask) -> Made[FrameOutcome] | Pending[FrameOutcome]:
        """Copy a rendered frame, or make a filled or held one; the copy, or the encode and write (and the
        hashes), run on the engine's writer thread while the next frame is made."""
        out_path = Path(self.dst.path(task.frame))
        recipe = self.recipe(task)
        previous = self.ledger.manifest.get(task.frame)
        facts: dict[str, Any] = {}
        image: ExrImage | None = None
        copy_from: Path | None = None
        if task.kind == "copy" and self.formats.convert:
            image = self._read(task.frame)
            status: Literal["copied", "filled", "held"] = "copied"
        elif task.kind == "copy":
            if out_path.resolve() != Path(self.rendered[task.frame]).resolve():
                copy_from = Path(self.rendered[task.frame])
            status = "copied"
        else:
            image, facts = self._make_image(task)
            status = "held" if task.kind == "hold" or facts.get("cut") else "filled"
        reason = self._reason(task, facts)
        needs_render = status == "held" or task.frame in self.damaged
        warnings = self._warnings(task, reason if needs_render else "")
        nonfinite = {str(s): self.nonfinite[s] for s in _sources(task) if s in self.nonfinite} or None

        def finish() -> Made[FrameOutcome]:
            pixels = qc_record = None
            if copy_from is not None:  # byte for byte; mostly disk time, beside the next frame's network
                with atomic_output(out_path) as tmp:
                    shutil.copyfile(copy_from, tmp)
            if image is not None:
                pixels = self._write(out_path, image, task, facts)
            if facts.get("qc_features") is not None and status == "filled":
                from framefill.pipeline.qc_features import write_feature_sidecar

                qc_record = write_feature_sidecar(self.output_pattern, task.frame, facts["qc_features"], t=task.t,
                                                  canvas=facts["canvas"])
            self.ledger.forget(out_path)
            said = list(warnings)
            if previous is not None and previous.pixel_sha256 and pixels and previous.pixel_sha256 != pixels \
                    and previous.recipe == recipe:
                said.insert(0, f"frame {task.frame} regenerated with different pixels than recorded "
                               "(another device or framefill version?)")
            entry = ManifestEntry(status=status, recipe=recipe, file_sha256=self.ledger.sha256(out_path),
                                  pixel_sha256=pixels, needs_render=needs_render, reason=reason or None,
                                  cut_score=facts.get("cut_score"), cut=facts.get("cut"), qc_features=qc_record,
                                  nonfinite=nonfinite)
            return Made(task.frame, self._outcome(task, status, needs_render, reason), entry,
                        event={"status": status, "needs_render": needs_render}, warnings=tuple(said))

        if image is None and copy_from is None:
            return finish()
        return Pending(task.frame, finish, holds_pixels=image is not None)

    def _reason(self, task: FrameTask, facts: dict[str, Any]) -> str:
        if task.frame in self.damaged:
            return f"its render is damaged ({self.damaged[task.frame]}); it was filled instead: re-render it"
        return task.reason or ("scene cut between its rendered neighbours" if facts.get("cut") else "")

    def _warnings(self, task: FrameTask, needs_render_reason: str) -> list[str]:
        """Held or damaged, and the NaN/Inf pixels of sources read for the first time."""
        warnings = []
        for source in sorted(set(self.nonfinite) - self._told):
            self._told.add(source)
            counts = self.nonfinite[source]
            where = ", ".join(f"{n} in {ch}" for ch, n in list(counts.items())[:4])
            warnings.append(f"rendered frame {source} has NaN/Inf pixels ({where}); fills read them as 0 "
                            "(NaN) or +/-65504 (Inf), so they do not spread: fix the render if it matters")
        if needs_render_reason and task.frame in self.damaged:
            warnings.append(f"frame {task.frame}: {needs_render_reason}")
        elif needs_render_reason:
            warnings.append(f"frame {task.frame}: {needs_render_reason}; it is held from the nearest rendered frame "
                            "and needs a real render")
        return warnings

    # -- images -------------------------------------------------------------------------------
    def _write(self, out_path: Path, image: ExrImage, task: FrameTask, facts: dict[str, Any]) -> str:
        """Write one output frame in the output's format; the sha256 of its pixels.

        EXR: a made frame gets framefill's attributes, a converted render none.
        Raster: encoded and quantised (no attributes; a DPX keeps its source's header).
        """
        target = self.formats.target
        if target is None:
            if task.kind != "copy":
                image = with_attributes(image, _framefill_attrs(task, self.options, facts, image.parts[0].header),
                                        drop=RENDER_STATS_ATTRS)
            write_exr(out_path, image)
            return pixel_sha256(image)
        from framefill.frames.raster import image_to_linear, write_raster

        header = dict(self.raster_headers.get(task.nearest_source, {}))
        for name in DPX_FRAME_STAMPS:
            header.pop(name, None)
        if "dpx:FramePosition" in header:
            kind, _ = header["dpx:FramePosition"]
            header["dpx:FramePosition"] = (kind, task.frame)
        if target.kind == "dpx" and (self.formats.source is None or self.formats.source.kind != "dpx"):
            header["dpx:Transfer"] = ("string", "Printing density")
        return write_raster(out_path, image_to_linear(image, target.channels), target, attributes=header)

    def _decode(self, frame: int) -> tuple[ExrImage, dict[str, int]]:
        """A rendered frame decoded, and its NaN/Inf counts per channel (on the reader thread too)."""
        if self.formats.source is not None:
            from framefill.frames.raster import raster_to_image, read_raster

            raster = read_raster(self.rendered[frame])
            self.raster_headers[frame] = raster.attributes
            return raster_to_image(raster), {}
        image = read_exr(self.rendered[frame], memory_budget_bytes=self.budget)
        return image, count_nonfinite(image)

    def _read(self, frame: int) -> ExrImage:
        def load() -> ExrImage:
            if self._read_ahead is not None and self._read_ahead[0] == frame:
                image, counts = self._read_ahead[1].result()  # a decode error is raised here, at its frame
                self._read_ahead = None
            else:
                image, counts = self._decode(frame)
            if counts:
                self.nonfinite[frame] = counts
            return image

        image: ExrImage = self.cache.get(("src", frame), load)
        self._frame_of[id(image)] = frame
        return image

    def _decodes(self, task: FrameTask) -> bool:
        """Whether making ``task`` decodes its sources (a plain copy copies bytes)."""
        return task.kind != "copy" or self.formats.convert

    def _start_read_ahead(self, task: FrameTask) -> None:
        """Decode, on the reader thread, the first rendered frame the plan needs after ``task``'s own
        (decoded already) that is not decoded yet: one at a time, one decoded frame more in memory."""
        if not self.options.read_ahead:
            return
        places = [self._read_index[s] for s in _sources(task) if s in self._read_index]
        if not places:
            return
        if self._read_ahead is not None:
            if self._read_index.get(self._read_ahead[0], -1) >= min(places):
                return  # one of this frame's sources, or still ahead of them
            self._read_ahead = None  # passed by (the frames that needed it were skipped): dropped
        for frame in self._reads[max(places) + 1 : max(places) + 3]:
            if self.cache.peek(("src", frame)) is None:
                if self._reader is None:
                    self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framefill-reader")
                self._read_ahead = (frame, self._reader.submit(self._decode, frame))
                return

    def close(self) -> None:
        """Stop the reader thread (a decode in flight finishes on its own)."""
        if self._reader is not None:
            self._reader.shutdown(wait=False, cancel_futures=True)
            self._reader = None
        self._read_ahead = None

    def _proxy_of(self, image: ExrImage, canvas: Box) -> np.ndarray:
        """A rendered frame's colour proxy, made once while the frame stays decoded (it borders two
        gaps, and recursive midpoints reuse their pair's sources); a made midpoint's is made here."""
        frame = self._frame_of.get(id(image))
        if frame is None or self.cache.peek(("src", frame)) is not image:
            return make_proxy(image, canvas, self.options.color)
        proxy: np.ndarray = self.proxies.get((frame, canvas), lambda: make_proxy(image, canvas, self.options.color))
        return proxy

    # -- motions made ahead: batches, several devices ----------------------------------
    def _direct(self, task: FrameTask) -> bool:
        """A fill made straight from its two sources (not bisected)."""
        return task.kind == "fill" and task.source0 is not None and task.source1 is not None and (
            self.options.mode == "direct" or task.source1 - task.source0 <= 2)

    def plan(self, tasks: Sequence[FrameTask]) -> None:
        """Learn the whole plan: the order rendered frames are first decoded in (for reading ahead), and
        each direct fill's and recursive gap's batch (see :mod:`framefill.pipeline.fill_ahead`)."""
        decoded = (s for t in tasks if self._decodes(t) for s in _sources(t))
        self._reads = list(dict.fromkeys(decoded))
        self._read_index = {frame: i for i, frame in enumerate(self._reads)}
        if self.ahead is None:
            return
        self._batch_of = self.ahead.batch_of([t.frame for t in tasks if self._direct(t)])
        by_frame = {t.frame: t for t in tasks}
        for frame, batch in sorted(self._batch_of.items()):
            self._batches.setdefault(batch, []).append(by_frame[frame])
        gaps: dict[tuple[int, int], list[int]] = {}
        for t in tasks:
            if t.kind == "fill" and t.source0 is not None and t.source1 is not None and not self._direct(t):
                gaps.setdefault((t.source0, t.source1), []).append(t.frame)
        self._levels = {gap: bisection_levels(*gap, frames) for gap, frames in gaps.items()}
        self._gap_batch_of = self.ahead.gap_batch_of(self._levels)
        for gap, batch in sorted(self._gap_batch_of.items()):
            self._gap_batches.setdefault(batch, []).append(gap)

    def _ahead_pair(self, frame: int, sources: tuple[int, ...], t: float, *,
                    read: Callable[[int], ExrImage] | None = None, proxy_of: ProxyOf | None = None) -> AheadPair | None:
        """A fill's network input from its two sources (``read``: rendered frames by default), or None where
        its own make says why (a cut, frames that cannot be read or blended)."""
        o, read = self.options, read or self._read
        try:
            pair, cut = pair_inputs(read(sources[0]), read(sources[1]), color=o.color, detect_cuts=o.detect_cuts,
                                    cut_threshold=o.cut_threshold, proxy_of=proxy_of or self._proxy_of)
        except ExrError:  # its own frame reads it again and stops there
            return None
        return None if cut else AheadPair(frame, pair.proxy0, pair.proxy1, t)

    def _made_ahead(self, task: FrameTask) -> Motion | None:
        """The fill's motion from its batch, making the motions of its whole round first when needed."""
        if self.ahead is None or task.frame not in self._batch_of:
            return None
        devices = len(self.ahead.devices)
        round_ = self._batch_of[task.frame] // devices
        if round_ != self._made_round:  # (a fill across a cut has no motion: its round is not made again)
            batches: dict[int, list[AheadPair]] = {}
            for batch in range(round_ * devices, (round_ + 1) * devices):
                pairs = [self._ahead_pair(t.frame, _sources(t), t.t) for t in self._batches.get(batch, [])]
                batches[batch] = [p for p in pairs if p is not None]
            self._made = self.ahead.run(batches)  # every frame of earlier rounds is made or skipped by now
            self._made_round = round_
        return self._made.pop(task.frame, None)

    def _midpoint_made_ahead(self, task: FrameTask) -> tuple[ExrImage, dict[str, Any]]:
        """A recursive fill from its round, whose gaps are made whole when the round's first fill is."""
        assert self.ahead is not None
        round_ = self._gap_batch_of[(task.source0, task.source1)] // len(self.ahead.devices)  # type: ignore[index]
        if round_ != self._midpoint_round:
            self._midpoints = {}  # every frame of earlier rounds is made or skipped by now
            self._midpoints = self._make_midpoint_round(round_)
            self._midpoint_round = round_
        made = self._midpoints.pop(task.frame)
        if isinstance(made, ExrError):  # raised at its own frame
            raise made
        return made

    def _make_midpoint_round(self, round_: int) -> dict[int, tuple[ExrImage, dict[str, Any]] | ExrError]:
        """Every midpoint of a round's recursive gaps, level by level: each level's pairs of a batch go
        through the network ``batch`` at a time, on the batch's device, then each midpoint is warped as
        its own fill would be. Each, with its QC features, or the error that stopped it or a source."""
        assert self.ahead is not None
        devices, size = len(self.ahead.devices), self.ahead.batch
        gaps = {k: self._gap_batches[k] for k in range(round_ * devices, (round_ + 1) * devices)
                if k in self._gap_batches}
        made: dict[int, tuple[ExrImage, dict[str, Any]] | ExrError] = {}
        made_ids: set[int] = set()  # id() of each made midpoint (all alive in ``made``)
        made_proxies: dict[tuple[int, Box], np.ndarray] = {}

        def source(frame: int) -> ExrImage:
            if frame not in made:
                return self._read(frame)
            image = made[frame]
            if isinstance(image, ExrError):
                raise image
            return image[0]

        def proxy_of(image: ExrImage, canvas: Box) -> np.ndarray:
            """A made midpoint's proxy, made once for the two pairs it is in."""
            if id(image) not in made_ids:
                return self._proxy_of(image, canvas)
            if (id(image), canvas) not in made_proxies:
                made_proxies[(id(image), canvas)] = make_proxy(image, canvas, self.options.color)
            return made_proxies[(id(image), canvas)]

        for level in range(max(len(self._levels[gap]) for batch in gaps.values() for gap in batch)):
            steps = {k: [step for gap in batch if level < len(self._levels[gap]) for step in self._levels[gap][level]]
                     for k, batch in gaps.items()}
            pairs = {k: [p for a, b, m in batch
                         if (p := self._ahead_pair(m, (a, b), (m - a) / (b - a), read=source, proxy_of=proxy_of))]
                     for k, batch in steps.items()}
            motions: dict[int, Motion] = {}
            for start in range(0, max(len(p) for p in pairs.values()), size):
                motions.update(self.ahead.run({k: p[start : start + size] for k, p in pairs.items()}))
            for a, b, m in (step for batch in steps.values() for step in batch):
                try:
                    midpoint = self._midpoint(source(a), source(b), (a, b, m), proxy_of, motions.get(m))
                except ExrError as err:
                    made[m] = err
                    continue
                made[m] = midpoint
                made_ids.add(id(midpoint[0]))
        return made

    def _midpoint(self, img_a: ExrImage, img_b: ExrImage, step: tuple[int, int, int], proxy_of: ProxyOf,
                  made: Motion | None = None) -> tuple[ExrImage, dict[str, Any]]:
        """One recursive step's midpoint, and the facts a fill it makes keeps (its QC features)."""
        a, b, m = step
        image, facts = interpolate_exr(img_a, img_b, (m - a) / (b - a), self.interpolator, options=self.options,
                                       proxy_of=proxy_of, made=made)
        return image, {k: v for k, v in facts.items() if k in ("qc_features", "canvas")}

    def _make_image(self, task: FrameTask) -> tuple[ExrImage, dict[str, Any]]:
        if task.kind == "hold":
            assert task.source0 is not None
            return self._read(task.source0), {}
        assert task.source0 is not None and task.source1 is not None
        for source in (task.source0, task.source1):
            self._read(source)
        self._start_read_ahead(task)  # the next frame's render decodes while this one is made
        if self._direct(task):
            return interpolate_exr(self._read(task.source0), self._read(task.source1), task.t, self.interpolator,
                                   options=self.options, proxy_of=self._proxy_of, made=self._made_ahead(task))
        if self.ahead is not None and (task.source0, task.source1) in self._gap_batch_of:
            return self._midpoint_made_ahead(task)
        # Recursive: bisect the gap, each midpoint made from the previous pair.
        made: dict[int, ExrImage] = {}
        facts: dict[str, Any] = {}
        for a, b, m in recursive_sources(task.source0, task.source1, task.frame):
            ia, ib = made.get(a) or self._read(a), made.get(b) or self._read(b)

            def step(ia: ExrImage = ia, ib: ExrImage = ib, a: int = a, b: int = b,
                     m: int = m) -> tuple[ExrImage, dict[str, Any]]:
                return self._midpoint(ia, ib, (a, b, m), self._proxy_of)

            # Cached with its QC features: a midpoint made for an earlier frame keeps its sidecar.
            made[m], step_facts = self.cache.get(("mid", a, b, m, self.options.model_id), step)
            if m == task.frame:  # QC features of the last step: the motion that made this frame
                facts.update(step_facts)
        return made[task.frame], facts


# ---------------------------------------------------------------------------------------
# Before anything is written: the output rule, the range, the renders
# ---------------------------------------------------------------------------------------


def check_output(input_pattern: str, output_pattern: str, *, in_place: bool) -> None:
    """framefill never writes into the sequence it reads unless asked: ``in_place`` fills the render folder's gaps.

    The patterns are compared as files, whatever the spelling (``####``,
    ``%04d``, ``$F4``, a symlinked folder, ``x/../``).

    Raises:
        SequenceError: the output is the input and ``in_place`` is not set.
    """
    src, dst = FramePattern.parse(input_pattern), FramePattern.parse(output_pattern)
    if Path(src.path(1)).resolve() == Path(dst.path(1)).resolve() and not in_place:
        raise SequenceError(f"--out {output_pattern} is the rendered sequence {input_pattern} itself; write the "
                            "filled shot to another folder, or add --in-place to write only the missing frames "
                            "beside the renders (rendered frames are never overwritten)")


def _check_range(wanted: Sequence[int], rendered: dict[int, Path], input_pattern: str) -> None:
    """Refuse a range that is mostly held copies beyond the rendered frames (``--frames 1-9000000``)."""
    from framefill.frames import format_frame_range

    first, last = min(rendered), max(rendered)
    outside = sum(1 for f in wanted if f < first or f > last)
    if outside > MAX_HELD_OUTSIDE:
        raise SequenceError(
            f"--frames asks for {outside} frames outside the rendered {format_frame_range(sorted(rendered))} of "
            f"{input_pattern}; they could only be held copies of the first or last render (at most "
            f"{MAX_HELD_OUTSIDE} are made): ask for the shot's range, e.g. --frames {first}-{last}")


def _check_rasters(rendered: dict[int, Path], frames: Sequence[int],
                   formats: dict[int, RasterFormat]) -> dict[int, str]:
    """Which of the rendered PNG/TIFF/JPEG/DPX ``frames`` are damaged (frame -> why); decodes each once.

    ``formats`` collects each readable frame's format across calls.

    Raises:
        InputError: a frame of another format than its name or than the other frames (bit depth, channels).
    """
    from framefill.frames.raster import check_raster_kind, read_raster

    damaged = {}
    for frame in frames:
        path = rendered[frame]
        check_raster_kind(path)
        try:
            fmt = read_raster(path).format
        except InputError as err:
            damaged[frame] = err.msg.removeprefix(f"cannot read {path}: ")
            continue
        other = next(iter(formats.items()), None)
        if other is not None and other[1] != fmt:
            raise InputError(f"frame {frame} ({path}) is a {fmt} but frame {other[0]} is a {other[1]}; every frame "
                             "of a sequence must have one format, bit depth and channel count: re-export the odd one")
        formats[frame] = fmt
    return damaged


def _check_renders(rendered: dict[int, Path], frames: Sequence[int], budget: int,
                   raster_formats: dict[int, RasterFormat] | None = None) -> dict[int, str]:
    """Which of the rendered ``frames`` are damaged (frame -> why), without decoding pixels (EXR).

    ``raster_formats``: given for a PNG/TIFF/JPEG/DPX sequence (see :func:`_check_rasters`).

    Raises:
        ExrError: a render decodes to more than the memory budget (the job cannot read it).
    """
    from framefill.frames import check_exr, decoded_bytes, probe_exr
    from framefill.runtime.memory import format_bytes

    if raster_formats is not None:
        return _check_rasters(rendered, frames, raster_formats)
    damaged = {}
    for frame in frames:
        path = rendered[frame]
        try:
            check_exr(path)
        except ExrError as err:
            damaged[frame] = err.msg.removeprefix(f"cannot read {path}: ")
            continue
        need = decoded_bytes(probe_exr(path))
        if need > budget:
            raise ExrError(f"cannot read {path}: it decodes to {format_bytes(need)}, over the memory budget of "
                           f"{format_bytes(budget)}; raise --memory-budget or FRAMEFILL_MEMORY_BUDGET")
    return damaged


def _plan(wanted: Sequence[int], rendered: dict[int, Path], budget: int,
          raster_formats: dict[int, RasterFormat] | None = None,
          ) -> tuple[list[FrameTask], dict[int, Path], dict[int, str]]:
    """The tasks, the usable renders, and the damaged ones (planned as missing, so filled from their neighbours)."""
    usable = dict(rendered)
    damaged: dict[int, str] = {}
    checked: set[int] = set()
    while True:
        tasks = plan_frames(wanted, usable)
        used = sorted({s for t in tasks for s in _sources(t)} - checked)
        bad = _check_renders(usable, used, budget, raster_formats)
        checked.update(used)
        if not bad:
            return tasks, usable, damaged
        damaged.update(bad)
        usable = {f: p for f, p in usable.items() if f not in damaged}
        if not usable:
            raise SequenceError(f"every rendered frame is damaged, e.g. frame {min(damaged)}: "
                                f"{damaged[min(damaged)]}; re-render them")


def fill_sequence(
    input_pattern: str,
    output_pattern: str,
    *,
    frames: Sequence[int] | None,
    interpolator: Interpolator,
    options: FillOptions,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
    ahead: MotionAhead | None = None,
) -> FillResult:
    """Write the complete range to ``output_pattern``.

    Args:
        input_pattern: the sparsely rendered sequence (never modified).
        output_pattern: where every frame of the range goes; the input pattern
            itself only with ``options.in_place`` (then only gaps are written).
        frames: the output frames to produce (a farm chunk, or the whole range);
            None means first to last rendered frame.
        ahead: make direct fills' motions and recursive gaps in batches and/or over several devices
            (``options.batch`` must be its batch size); None: one at a time with ``interpolator``.
    Raises:
        SequenceError: no rendered frames, an output that is the input, or a
            range of mostly held frames.
        ExrError: a render over the memory budget, or frames that cannot be blended.
        CancelledError: ``cancelled()`` became true; finished frames are kept.
    """
    src = FramePattern.parse(input_pattern)
    rendered = src.scan()
    for stray in src.strays():
        report(Event("warning", stage="fill", message=src.stray_warning(stray)))
    if not rendered and src.still:
        raise SequenceError(f"cannot read {input_pattern}: it is not a file; check the path")
    if not rendered:
        raise SequenceError(f"no rendered frames match {input_pattern}; check the path and the padding (#)")
    check_output(input_pattern, output_pattern, in_place=options.in_place)
    wanted = tuple(sorted(set(frames))) if frames is not None else tuple(range(min(rendered), max(rendered) + 1))
    _check_range(wanted, rendered, input_pattern)
    for frame in wanted:  # an output without a frame token holds one frame: say so before writing
        FramePattern.parse(output_pattern).path(frame)
    raster_formats: dict[int, RasterFormat] | None = {} if _frame_kind(input_pattern) != "exr" else None
    tasks, usable, damaged = _plan(wanted, rendered, frame_budget(options.frame_budget_bytes), raster_formats)
    formats = _formats(input_pattern, output_pattern, usable, raster_formats, report)
    if (ahead.batch if ahead is not None else 1) != options.batch:
        raise ValueError("fill_sequence: options.batch must be the batch size the motions are made in (ahead)")
    job = _FillJob(usable, output_pattern, interpolator, options, damaged, formats, ahead)
    job.plan(tasks)
    manifest = job.ledger.manifest
    fields = dict(model=options.model_id, model_sha256=options.model_sha256, mode=options.mode,
                  device=options.device, input=str(input_pattern), **options.extra_job)
    try:
        run = run_frames(tasks, job, manifest=manifest, report=report, cancelled=cancelled,
                         start_message=f"filling {len(tasks)} frame(s) of {output_pattern}", device=options.device,
                         checkpoint=lambda: manifest.publish(**fields))
    finally:
        job.close()
    manifest.publish(frames=wanted, **fields)  # also entries a killed run wrote but never published
    return FillResult(run.outcomes, output_pattern, str(manifest.path), run.peak_rss_mb, run.peak_device_mb,
                      run.seconds)


def _frame_kind(pattern: str) -> str:
    """"exr", or "png", "tiff", "jpeg", "dpx" by a pattern's extension.

    Raises:
        InputError: any other extension.
    """
    from framefill.errors import InputError
    from framefill.frames.raster import RASTER_EXTENSIONS, raster_kind

    if pattern.lower().endswith(".exr"):
        return "exr"
    kind = raster_kind(pattern)
    if kind is None:
        raise InputError(f"cannot fill {pattern}: framefill fills EXR, PNG, TIFF, JPEG and DPX sequences "
                         f"(.exr, {', '.join(RASTER_EXTENSIONS)})")
    return kind


def _formats(input_pattern: str, output_pattern: str, usable: dict[int, Path],
             raster_formats: dict[int, RasterFormat] | None, report: Reporter) -> FrameFormats:
    """The formats frames are read from and written as; warns once when rendered frames must be converted.

    Raises:
        InputError: an output format that cannot hold the frames (see :func:`framefill.frames.raster.output_format`).
    """
    from framefill.frames.raster import output_format

    source = next(iter(raster_formats.values()), None) if raster_formats else None
    out_exr = _frame_kind(output_pattern) == "exr"
    if source is None and out_exr:
        return FrameFormats()
    warning = ""
    if source is None:  # EXR frames into a raster format
        first = _first_readable(usable)
        if first is None:
            return FrameFormats()  # every render damaged: _plan has said so already
        target, warning = output_format(first, output_pattern)
    elif out_exr:
        target = None
        warning = f"the {source} frames are written as float EXR: rendered frames are converted (losslessly)"
    else:
        target, warning = output_format(source, output_pattern)
    if warning:
        report(Event("warning", stage="fill", message=warning))
    return FrameFormats(source, target)


def _first_readable(rendered: dict[int, Path]) -> ExrImage | None:
    """The headers of the first rendered frame that has readable ones (a damaged one is dealt with later).

    A PNG/TIFF/JPEG/DPX frame is decoded (its linear pixels as a one-part image).
    """
    from framefill.errors import InputError
    from framefill.frames import probe_exr
    from framefill.frames.raster import raster_kind, raster_to_image, read_raster

    for frame in sorted(rendered):
        try:
            if raster_kind(rendered[frame]) is not None:
                return raster_to_image(read_raster(rendered[frame]))
            return probe_exr(rendered[frame])
        except InputError:  # ExrError is one
            continue
    return None


def _choose_model(r: FillRequest, width: int, width_scale: float, color: ColorSetup, device: str, precision: str,
                  raster: bool) -> ModelChoice:
    """``--model auto``: the model the shot's keyframe checks favour (see :mod:`framefill.pipeline.model_choice`)."""
    from framefill.models.loading import load_interpolator
    from framefill.pipeline.model_choice import choose_model

    rendered = FramePattern.parse(r.input_pattern).scan()
    budget = frame_budget(r.memory_budget_bytes)

    def read(frame: int) -> ExrImage:
        if raster:
            from framefill.frames.raster import raster_to_image, read_raster

            return raster_to_image(read_raster(rendered[frame]))
        return read_exr(rendered[frame], memory_budget_bytes=budget)

    def load(model: str, scale: float) -> Interpolator:
        return load_interpolator(model, device=device, precision=precision, scale=scale).model

    return choose_model(sorted(rendered), read, width=width, width_scale=width_scale, load=load, color=color,
                        device=device)


def interp_runtime(backend: str, model: str, device: str, *, is_cuda: bool) -> dict[str, Any]:
    """The job fields on what runs the interpolation network, known (and checked) before anything loads.

    torch: ``bit_identical`` (CPU only); no ``backend`` field, so jobs read the same as before backends
    existed. onnxruntime: ``backend``, the provider(s), onnxruntime's version, threads and opset
    (:mod:`framefill.models.ort_interp`).

    Raises:
        UnsupportedModelError: a model onnxruntime cannot run. InputError: onnxruntime missing.
    """
    if backend == "torch":
        return {"bit_identical": not is_cuda}
    from framefill.models.ort_interp import check_ort_interp_model, ort_interp_fields
    from framefill.models.registry import MODELS

    check_ort_interp_model(model, MODELS.get(model).arch)
    return ort_interp_fields(device)


def run_fill(request: FillRequest, *, report: Reporter = null_reporter,
             cancelled: Callable[[], bool] = never_cancelled) -> FillResult:
    """Fill every missing frame the request asks for (default: first to last rendered frame).

    Resolves the devices (``all``: every GPU, the batches of fills spread over
    them), plans memory (RIFE's scale by frame width unless given; a memory
    budget lowers it, warps fewer channels at once and keeps fewer frames
    decoded, see :mod:`framefill.runtime.memory`; the plan is in
    ``result.memory_plan``) and loads the network only when a frame needs it.
    """
    from dataclasses import asdict, replace

    from framefill.frames import decoded_bytes
    from framefill.models.interp import LazyInterpolator
    from framefill.models.loading import (
        auto_rife_scale,
        fused_mix,
        load_interpolator,
        model_identity,
    )
    from framefill.pipeline.job_color import job_color
    from framefill.runtime.device import configure_determinism, device_note, resolve_devices
    from framefill.runtime.memory import plan_fill_memory

    r = request
    specs = resolve_devices(r.device, spread=True)
    spec = specs[0]
    if (note := device_note(r.device, spec)) is not None:
        report(Event("warning", stage="fill", message=note))
    determinism = configure_determinism()
    first = _first_readable(FramePattern.parse(r.input_pattern).scan())
    # Raster frames are decoded to linear Rec.709 by their file's encoding (frames/encodings.py).
    raster = _frame_kind(r.input_pattern) != "exr"
    if raster and (r.colorspace or r.color_config):
        raise InputError(f"{r.input_pattern}: --colorspace and --config apply to EXR shots; PNG/TIFF/JPEG/DPX "
                         "frames are decoded by their own encoding (sRGB, Cineon log for DPX) to linear Rec.709: "
                         "leave them out")
    x0, y0, x1, y1 = first.parts[0].display_window if first else (0, 0, -1, -1)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    color = ColorSetup() if raster else job_color(r, first.path if first else None, stage="fill", report=report,
                                                  header=first)
    model, scale, mix = r.model, auto_rife_scale(width) if r.scale is None else r.scale, r.mix
    extra_job: dict[str, Any] = {}
    if r.model == AUTO_MODEL:
        choice = _choose_model(r, width, scale, color, spec.device, spec.precision, raster)
        model, scale, mix = choice.model, choice.scale, choice.mix
        extra_job["model_choice"] = choice.to_json()
        report(Event("progress", stage="fill", message=f"--model auto: {choice.described}: {choice.reason}"))
    mix = fused_mix(model, mix)
    if mix is not None:
        extra_job["mix"] = mix
    plan = plan_fill_memory(width, height, decoded_bytes(first) if first else 0, scale=scale,
                            budget_bytes=r.memory_budget_bytes, scale_given=r.scale is not None, batch=r.batch,
                            devices=len(specs), network_on_host=not spec.is_cuda)
    name, sha = model_identity(model, r.weights)
    runtime = interp_runtime(r.backend, name, spec.device, is_cuda=spec.is_cuda)
    # The network loads on the first frame that needs it: a rerun that only copies
    # or skips frames never pays for torch and the weights. One copy per device.
    def loader(device: str) -> LazyInterpolator:
        return LazyInterpolator(name, lambda: load_interpolator(
            model, weights=r.weights, device=device, precision=spec.precision, scale=plan.scale,
            backend=r.backend, mix=mix).model)

    interpolator = loader(spec.device)
    ahead = None
    if r.batch > 1 or len(specs) > 1:
        devices = [s.device for s in specs]
        ahead = MotionAhead([interpolator, *(loader(d) for d in devices[1:])], devices, r.batch)
        extra_job.update(batch=r.batch, devices=devices)
    options = FillOptions(
        model_id=name, model_sha256=sha, mode=r.mode, device=spec.device, detect_cuts=r.detect_cuts,
        color=color, channels_per_batch=plan.channels_per_batch, cached_frames=plan.cached_frames,
        frame_budget_bytes=r.memory_budget_bytes, in_place=r.in_place,
        auto_scale=plan.scale if r.model == AUTO_MODEL else None, mix=mix, batch=r.batch,
        read_ahead=r.memory_budget_bytes is None,
        extra_job={"precision": spec.precision, "rife_scale": plan.scale, "determinism": determinism,
                   "bit_identical": not spec.is_cuda, **runtime, **extra_job},
    )
    result = fill_sequence(r.input_pattern, r.output_pattern, frames=r.frames, interpolator=interpolator,
                           options=options, report=report, cancelled=cancelled, ahead=ahead)
    return replace(result, memory_plan=asdict(plan))
