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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill._version import __version__
from framefill.atomic import atomic_output
from framefill.color import ColorSetup, to_network
from framefill.errors import ExrError, SequenceError
from framefill.events import Reporter, never_cancelled, null_reporter
from framefill.frames import ExrImage, ExrPart, FramePattern, read_exr, write_exr
from framefill.frames.channels import channel_kind, find_beauty
from framefill.frames.exr import pixel_sha256, with_attributes
from framefill.models.interp import Interpolator, Motion
from framefill.ops.cuts import CUT_THRESHOLD, cut_score
from framefill.ops.pixels import Box, cast_like, on_canvas, union_box
from framefill.pipeline.engine import Made, OutputLedger, run_frames
from framefill.pipeline.manifest import ManifestEntry
from framefill.pipeline.plan import FrameTask, plan_frames, recursive_sources
from framefill.requests import FillMode, FillRequest
from framefill.runtime.memory import (
    DEFAULT_CHANNELS_PER_BATCH,
    SOURCE_CACHE_FRAMES,
    frame_budget,
)

__all__ = ["FillOptions", "FillResult", "FrameOutcome", "PairMotion", "run_fill", "fill_sequence", "pair_motion",
           "apply_motion", "interpolate_exr"]

FillStatus = Literal["copied", "filled", "held", "skipped"]
# Per-frame stamps renderers write (Blender's metadata): a filled frame takes its
# source's header, so the frame number is rewritten and the render's own
# statistics, which describe another frame's render, are dropped.
FRAME_NUMBER_ATTRS = ("Frame",)
RENDER_STATS_ATTRS = ("RenderTime", "Memory", "Date", "Time")


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
    extra_job: dict[str, Any] = field(default_factory=dict)


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
# One filled image from two decoded EXRs
# ---------------------------------------------------------------------------------------


def _beauty(image: ExrImage) -> tuple[int, tuple[str, str, str]]:
    for index, part in enumerate(image.parts):
        rgb = find_beauty(part.channels.keys())
        if rgb is not None:
            return index, rgb
    where = image.path or "the source frame"
    raise ExrError(f"{where} has no R,G,B channels to estimate motion from; framefill needs a beauty/rgba layer")


def _proxy(image: ExrImage, canvas: Box, color: ColorSetup) -> np.ndarray:
    index, rgb = _beauty(image)
    part = image.parts[index]
    linear = np.stack([on_canvas(part.channels[ch], part.data_window, canvas) for ch in rgb], axis=-1)
    return to_network(linear, color)


def _to_tensor(array: np.ndarray, device: str) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None].to(device)


def _check_same_layout(img0: ExrImage, img1: ExrImage) -> None:
    layout0 = [(p.name, sorted(p.channels)) for p in img0.parts]
    layout1 = [(p.name, sorted(p.channels)) for p in img1.parts]
    if layout0 != layout1:
        raise ExrError(
            f"{img0.path} and {img1.path} have different parts or channels; "
            "every frame of a shot must have the same layers to be filled"
        )


def _stack(part: ExrPart, names: Sequence[str], canvas: Box, device: Any) -> Any:
    import torch

    return torch.from_numpy(np.stack([on_canvas(part.channels[n], part.data_window, canvas) for n in names]))[None] \
        .to(device)


def apply_motion(img0: ExrImage, img1: ExrImage, motion: Motion, *, canvas: Box,
                 channels_per_batch: int = 4) -> ExrImage:
    """Warp and blend every channel of every part with one motion; headers from img0.

    Colour, alpha and data channels: ``warp(c0) * mask + warp(c1) * (1 - mask)``
    in float32, then cast back to the channel's type. ID-like channels: the
    nearest sample of source 0 where mask >= 0.5, else of source 1.
    """
    from framefill.ops.warp import warp_blend, warp_pick_nearest

    device = motion.mask.device
    pick0 = motion.mask >= 0.5
    cx0, cy0, _, _ = canvas
    parts = []
    for p0, p1 in zip(img0.parts, img1.parts, strict=True):
        ox0, oy0, ox1, oy1 = union_box([p0.data_window, p1.data_window])
        rows, cols = slice(oy0 - cy0, oy1 - cy0 + 1), slice(ox0 - cx0, ox1 - cx0 + 1)
        names = list(p0.channels)
        out: dict[str, np.ndarray] = {}
        smooth = [n for n in names if channel_kind(n) != "id"]
        for start in range(0, len(smooth), channels_per_batch):
            batch = smooth[start : start + channels_per_batch]
            blended = warp_blend(_stack(p0, batch, canvas, device), _stack(p1, batch, canvas, device),
                                 motion.flow_t0, motion.flow_t1, motion.mask)[0].cpu().numpy()
            for i, name in enumerate(batch):
                out[name] = cast_like(blended[i, rows, cols], p0.channels[name].dtype)
        for name in (n for n in names if channel_kind(n) == "id"):
            chosen = warp_pick_nearest(_stack(p0, [name], canvas, device), _stack(p1, [name], canvas, device),
                                       motion.flow_t0, motion.flow_t1, pick0)
            out[name] = cast_like(chosen[0, 0, rows, cols].cpu().numpy(), p0.channels[name].dtype)
        header = dict(p0.header)
        header["dataWindow"] = (np.array([ox0, oy0], dtype=np.int32), np.array([ox1, oy1], dtype=np.int32))
        parts.append(ExrPart(name=p0.name, channels={n: out[n] for n in names}, header=header, linear=set(p0.linear)))
    return ExrImage(parts=parts, path=None)


@dataclass(frozen=True)
class PairMotion:
    """Two source frames on their shared canvas: the proxies the network saw and the motion at t.

    ``motion`` is None when the pair straddles a cut (``cut_score`` over the threshold).
    """

    canvas: Box
    proxy0: np.ndarray
    proxy1: np.ndarray
    motion: Motion | None
    cut_score: float | None = None

    def qc_features(self, t: float) -> dict[str, np.ndarray]:
        """The QC feature maps of the frame this motion makes (see :mod:`framefill.pipeline.qc_features`)."""
        from framefill.pipeline.qc_features import feature_maps

        assert self.motion is not None
        return feature_maps(self.proxy0, self.proxy1, self.motion, t)


def pair_motion(img0: ExrImage, img1: ExrImage, t: float, interpolator: Interpolator, *, color: ColorSetup,
                device: str, detect_cuts: bool = True, cut_threshold: float = CUT_THRESHOLD) -> PairMotion:
    """The motion at ``t`` between two decoded frames (or a detected cut).

    Raises:
        ExrError: the frames have different layouts or no beauty.
    """
    _check_same_layout(img0, img1)
    canvas = union_box(p.data_window for im in (img0, img1) for p in im.parts)
    proxy0, proxy1 = _proxy(img0, canvas, color), _proxy(img1, canvas, color)
    score = None
    if detect_cuts:
        score = cut_score(proxy0, proxy1)
        if score > cut_threshold:
            return PairMotion(canvas, proxy0, proxy1, None, score)
    motion = interpolator.motion(_to_tensor(proxy0, device), _to_tensor(proxy1, device), t)
    return PairMotion(canvas, proxy0, proxy1, motion, score)


def interpolate_exr(img0: ExrImage, img1: ExrImage, t: float, interpolator: Interpolator, *,
                    options: FillOptions) -> tuple[ExrImage, dict[str, Any]]:
    """One in-between EXR at time t, plus facts about it (cut score, whether held, QC features).

    Raises:
        ExrError: the frames have different layouts or no beauty.
    """
    pair = pair_motion(img0, img1, t, interpolator, color=options.color, device=options.device,
                       detect_cuts=options.detect_cuts, cut_threshold=options.cut_threshold)
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
    """The fill as a frame job: copy, fill or hold each planned frame."""

    stage = "fill"

    def __init__(self, rendered: dict[int, Path], output_pattern: str, interpolator: Interpolator,
                 options: FillOptions) -> None:
        self.rendered = rendered
        self.output_pattern = output_pattern
        self.dst = FramePattern.parse(output_pattern)
        self.interpolator = interpolator
        self.options = options
        self.ledger = OutputLedger(output_pattern)
        self.cache = _SourceCache(2 + options.cached_frames)
        self.budget = frame_budget(options.frame_budget_bytes)

    # -- what a frame is made from ----------------------------------------------------
    def recipe(self, task: FrameTask) -> dict[str, Any]:
        """What a frame is made from; a rerun redoes a frame whose recipe changed."""
        o = self.options
        sources = {str(s): self.ledger.sha256(Path(self.rendered[s])) for s in _sources(task)}
        recipe: dict[str, Any] = {"kind": task.kind, "sources": sources}
        if task.kind == "fill":
            recipe.update(t=task.t, model=o.model_id, model_sha256=o.model_sha256, mode=o.mode,
                          color=[o.color.config, o.color.scene_linear, o.color.network], cuts=o.detect_cuts)
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

    def make(self, task: FrameTask) -> Made[FrameOutcome]:
        out_path = Path(self.dst.path(task.frame))
        recipe = self.recipe(task)
        previous = self.ledger.manifest.get(task.frame)
        warnings: list[str] = []
        facts: dict[str, Any] = {}
        pixels = qc_record = None
        if task.kind == "copy":
            if out_path.resolve() != Path(self.rendered[task.frame]).resolve():
                with atomic_output(out_path) as tmp:
                    shutil.copyfile(self.rendered[task.frame], tmp)
            status: Literal["copied", "filled", "held"] = "copied"
            needs_render, reason = False, ""
        else:
            image, facts = self._make_image(task)
            needs_render = task.kind == "hold" or bool(facts.get("cut"))
            reason = task.reason or ("scene cut between its rendered neighbours" if facts.get("cut") else "")
            status = "held" if needs_render else "filled"
            image = with_attributes(image, _framefill_attrs(task, self.options, facts, image.parts[0].header),
                                    drop=RENDER_STATS_ATTRS)
            write_exr(out_path, image)
            pixels = pixel_sha256(image)
            if facts.get("qc_features") is not None and status == "filled":
                from framefill.pipeline.qc_features import write_feature_sidecar

                qc_record = write_feature_sidecar(self.output_pattern, task.frame, facts["qc_features"], t=task.t,
                                                  canvas=facts["canvas"])
        self.ledger.forget(out_path)
        if previous is not None and previous.pixel_sha256 and pixels and previous.pixel_sha256 != pixels \
                and previous.recipe == recipe:
            warnings.append(f"frame {task.frame} regenerated with different pixels than recorded "
                            "(another device or framefill version?)")
        if needs_render:
            warnings.append(f"frame {task.frame}: {reason}; it is held from the nearest rendered frame and needs a "
                            "real render")
        entry = ManifestEntry(status=status, recipe=recipe, file_sha256=self.ledger.sha256(out_path),
                              pixel_sha256=pixels, needs_render=needs_render, reason=reason or None,
                              cut_score=facts.get("cut_score"), cut=facts.get("cut"), qc_features=qc_record)
        return Made(task.frame, self._outcome(task, status, needs_render, reason), entry,
                    event={"status": status, "needs_render": needs_render}, warnings=tuple(warnings))

    # -- images -------------------------------------------------------------------------------
    def _read(self, frame: int) -> ExrImage:
        return self.cache.get(("src", frame), lambda: read_exr(self.rendered[frame], memory_budget_bytes=self.budget))

    def _make_image(self, task: FrameTask) -> tuple[ExrImage, dict[str, Any]]:
        if task.kind == "hold":
            assert task.source0 is not None
            return self._read(task.source0), {}
        assert task.source0 is not None and task.source1 is not None
        if self.options.mode == "direct" or task.source1 - task.source0 <= 2:
            return interpolate_exr(self._read(task.source0), self._read(task.source1), task.t, self.interpolator,
                                   options=self.options)
        # Recursive: bisect the gap, each midpoint made from the previous pair.
        made: dict[int, ExrImage] = {}
        facts: dict[str, Any] = {}
        for a, b, m in recursive_sources(task.source0, task.source1, task.frame):
            ia, ib = made.get(a) or self._read(a), made.get(b) or self._read(b)

            def step(ia: ExrImage = ia, ib: ExrImage = ib, a: int = a, b: int = b,
                     m: int = m) -> tuple[ExrImage, dict[str, Any]]:
                image, step_facts = interpolate_exr(ia, ib, (m - a) / (b - a), self.interpolator,
                                                    options=self.options)
                return image, {k: v for k, v in step_facts.items() if k in ("qc_features", "canvas")}

            # Cached with its QC features: a midpoint made for an earlier frame keeps its sidecar.
            made[m], step_facts = self.cache.get(("mid", a, b, m, self.options.model_id), step)
            if m == task.frame:  # QC features of the last step: the motion that made this frame
                facts.update(step_facts)
        return made[task.frame], facts


def fill_sequence(
    input_pattern: str,
    output_pattern: str,
    *,
    frames: Sequence[int] | None,
    interpolator: Interpolator,
    options: FillOptions,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> FillResult:
    """Write the complete range to ``output_pattern``.

    Args:
        input_pattern: the sparsely rendered sequence (never modified).
        output_pattern: where every frame of the range goes (may equal the input:
            then rendered frames stay where they are and only gaps are written).
        frames: the output frames to produce (a farm chunk, or the whole range);
            None means first to last rendered frame.
    Raises:
        SequenceError: no rendered frames, or a bad output pattern.
        CancelledError: ``cancelled()`` became true; finished frames are kept.
    """
    rendered = FramePattern.parse(input_pattern).scan()
    if not rendered:
        raise SequenceError(f"no rendered frames match {input_pattern}; check the path and the padding (#)")
    wanted = tuple(sorted(set(frames))) if frames is not None else tuple(range(min(rendered), max(rendered) + 1))
    tasks = plan_frames(wanted, rendered)
    job = _FillJob(rendered, output_pattern, interpolator, options)
    run = run_frames(tasks, job, manifest=job.ledger.manifest, report=report, cancelled=cancelled,
                     start_message=f"filling {len(tasks)} frame(s) of {output_pattern}", device=options.device)
    manifest = job.ledger.manifest
    manifest.publish(model=options.model_id, model_sha256=options.model_sha256, mode=options.mode,
                     device=options.device, input=str(input_pattern), **options.extra_job)
    return FillResult(run.outcomes, output_pattern, str(manifest.path), run.peak_rss_mb, run.peak_device_mb,
                      run.seconds)


def run_fill(request: FillRequest, *, report: Reporter = null_reporter,
             cancelled: Callable[[], bool] = never_cancelled) -> FillResult:
    """Fill every missing frame the request asks for (default: first to last rendered frame).

    Resolves the device, plans memory (RIFE's scale by frame width unless given;
    a memory budget lowers it, warps fewer channels at once and keeps fewer
    frames decoded, see :mod:`framefill.runtime.memory`; the plan is in
    ``result.memory_plan``) and loads the network only when a frame needs it.
    """
    from dataclasses import asdict, replace

    from framefill.frames import decoded_bytes, probe_exr
    from framefill.models.interp import LazyInterpolator
    from framefill.models.loading import (
        auto_rife_scale,
        load_interpolator,
        model_identity,
    )
    from framefill.runtime.device import configure_determinism, resolve_devices
    from framefill.runtime.memory import plan_fill_memory

    r = request
    spec = resolve_devices(r.device)[0]
    determinism = configure_determinism()
    rendered = FramePattern.parse(r.input_pattern).scan()
    first = probe_exr(rendered[min(rendered)]) if rendered else None
    x0, y0, x1, y1 = first.parts[0].display_window if first else (0, 0, -1, -1)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    plan = plan_fill_memory(width, height, decoded_bytes(first) if first else 0,
                            scale=auto_rife_scale(width) if r.scale is None else r.scale,
                            budget_bytes=r.memory_budget_bytes, scale_given=r.scale is not None)
    name, sha = model_identity(r.model, r.weights)
    # The network loads on the first frame that needs it: a rerun that only copies
    # or skips frames never pays for torch and the weights.
    interpolator = LazyInterpolator(name, lambda: load_interpolator(
        r.model, weights=r.weights, device=spec.device, precision=spec.precision, scale=plan.scale).model)
    options = FillOptions(
        model_id=name, model_sha256=sha, mode=r.mode, color=r.color, device=spec.device, detect_cuts=r.detect_cuts,
        channels_per_batch=plan.channels_per_batch, cached_frames=plan.cached_frames,
        frame_budget_bytes=r.memory_budget_bytes,
        extra_job={"precision": spec.precision, "rife_scale": plan.scale, "determinism": determinism,
                   "bit_identical": not spec.is_cuda},
    )
    result = fill_sequence(r.input_pattern, r.output_pattern, frames=r.frames, interpolator=interpolator,
                           options=options, report=report, cancelled=cancelled)
    return replace(result, memory_plan=asdict(plan))
