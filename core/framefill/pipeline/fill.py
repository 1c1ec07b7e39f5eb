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
Rendered frames are copied byte for byte. A rerun skips frames whose manifest
entry and file still verify, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framefill._version import __version__
from framefill.color import ColorSetup, to_network
from framefill.errors import CancelledError, ExrError, InputError, SequenceError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import FramePattern, atomic_output, read_exr, write_exr
from framefill.frames.channels import channel_kind, find_beauty
from framefill.frames.exr import ExrImage, ExrPart, pixel_sha256, with_attributes
from framefill.models.interp import Interpolator, Motion
from framefill.ops.cuts import CUT_THRESHOLD, cut_score
from framefill.pipeline.fill_memory import DEFAULT_CHANNELS_PER_BATCH, SOURCE_CACHE_FRAMES
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.plan import FillMode, FrameTask, plan_frames, recursive_sources

__all__ = ["FillOptions", "FillResult", "FrameOutcome", "fill_sequence", "interpolate_exr"]


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
    # two sources: both bound memory at 4K-8K (see pipeline/fill_memory.py).
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
    status: str  # copied | filled | held | skipped
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


# ---------------------------------------------------------------------------------------
# One filled image from two decoded EXRs
# ---------------------------------------------------------------------------------------


def _canvas(images: Sequence[ExrImage]) -> tuple[int, int, int, int]:
    """Union of every part's data window over the given images (x0, y0, x1, y1)."""
    boxes = [p.data_window for im in images for p in im.parts]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _on_canvas(part: ExrPart, name: str, canvas: tuple[int, int, int, int]) -> np.ndarray:
    """A channel as float32 over the canvas, zero outside its data window."""
    cx0, cy0, cx1, cy1 = canvas
    x0, y0, x1, y1 = part.data_window
    out = np.zeros((cy1 - cy0 + 1, cx1 - cx0 + 1), dtype=np.float32)
    out[y0 - cy0 : y1 - cy0 + 1, x0 - cx0 : x1 - cx0 + 1] = part.channels[name]
    return out


def _beauty(image: ExrImage) -> tuple[int, tuple[str, str, str]]:
    for index, part in enumerate(image.parts):
        rgb = find_beauty(part.channels.keys())
        if rgb is not None:
            return index, rgb
    where = image.path or "the source frame"
    raise ExrError(f"{where} has no R,G,B channels to estimate motion from; framefill needs a beauty/rgba layer")


def _proxy(image: ExrImage, canvas: tuple[int, int, int, int], color: ColorSetup) -> np.ndarray:
    index, rgb = _beauty(image)
    part = image.parts[index]
    linear = np.stack([_on_canvas(part, ch, canvas) for ch in rgb], axis=-1)
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


def _out_window(p0: ExrPart, p1: ExrPart) -> tuple[int, int, int, int]:
    a, b = p0.data_window, p1.data_window
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint32:
        return np.clip(np.rint(values), 0, np.iinfo(np.uint32).max).astype(np.uint32)
    return values.astype(dtype)


def apply_motion(
    img0: ExrImage,
    img1: ExrImage,
    motion: Motion,
    *,
    canvas: tuple[int, int, int, int],
    channels_per_batch: int = 4,
) -> ExrImage:
    """Warp and blend every channel of every part with one motion; headers from img0.

    Colour, alpha and data channels: ``warp(c0) * mask + warp(c1) * (1 - mask)``
    in float32, then cast back to the channel's type. ID-like channels: the
    nearest sample of source 0 where mask >= 0.5, else of source 1.
    """
    import torch

    from framefill.ops.warp import backward_warp, backward_warp_nearest

    device = motion.mask.device
    mask = motion.mask
    pick0 = mask >= 0.5
    cx0, cy0, _, _ = canvas
    parts = []
    for p0, p1 in zip(img0.parts, img1.parts, strict=True):
        ox0, oy0, ox1, oy1 = _out_window(p0, p1)
        rows = slice(oy0 - cy0, oy1 - cy0 + 1)
        cols = slice(ox0 - cx0, ox1 - cx0 + 1)
        names = list(p0.channels)
        out_channels: dict[str, np.ndarray] = {}
        smooth = [n for n in names if channel_kind(n) != "id"]
        ids = [n for n in names if channel_kind(n) == "id"]
        for start in range(0, len(smooth), channels_per_batch):
            batch = smooth[start : start + channels_per_batch]
            s0 = torch.from_numpy(np.stack([_on_canvas(p0, n, canvas) for n in batch]))[None].to(device)
            s1 = torch.from_numpy(np.stack([_on_canvas(p1, n, canvas) for n in batch]))[None].to(device)
            w0 = backward_warp(s0, motion.flow_t0)
            w1 = backward_warp(s1, motion.flow_t1)
            blended = (w0 * mask + w1 * (1.0 - mask))[0].cpu().numpy()
            for i, name in enumerate(batch):
                out_channels[name] = _cast_like(blended[i, rows, cols], p0.channels[name].dtype)
        for name in ids:
            s0 = torch.from_numpy(_on_canvas(p0, name, canvas))[None, None].to(device)
            s1 = torch.from_numpy(_on_canvas(p1, name, canvas))[None, None].to(device)
            chosen = torch.where(pick0, backward_warp_nearest(s0, motion.flow_t0), backward_warp_nearest(s1, motion.flow_t1))
            out_channels[name] = _cast_like(chosen[0, 0, rows, cols].cpu().numpy(), p0.channels[name].dtype)
        header = dict(p0.header)
        header["dataWindow"] = (np.array([ox0, oy0], dtype=np.int32), np.array([ox1, oy1], dtype=np.int32))
        ordered = {n: out_channels[n] for n in names}
        parts.append(ExrPart(name=p0.name, channels=ordered, header=header, linear=set(p0.linear)))
    return ExrImage(parts=parts, path=None)


def interpolate_exr(
    img0: ExrImage,
    img1: ExrImage,
    t: float,
    interpolator: Interpolator,
    *,
    options: FillOptions,
) -> tuple[ExrImage, dict[str, Any]]:
    """One in-between EXR at time t, plus facts about it (cut score, whether held).

    Raises:
        ExrError: the frames have different layouts or no beauty.
    """
    _check_same_layout(img0, img1)
    canvas = _canvas([img0, img1])
    proxy0 = _proxy(img0, canvas, options.color)
    proxy1 = _proxy(img1, canvas, options.color)
    facts: dict[str, Any] = {}
    if options.detect_cuts:
        score = cut_score(proxy0, proxy1)
        facts["cut_score"] = round(score, 4)
        if score > options.cut_threshold:
            facts["cut"] = True
            return (img0 if t <= 0.5 else img1), facts
    motion = interpolator.motion(_to_tensor(proxy0, options.device), _to_tensor(proxy1, options.device), t)
    if options.qc_features:
        from framefill.pipeline.qc_features import feature_maps

        facts["qc_features"] = feature_maps(proxy0, proxy1, motion, t)
        facts["canvas"] = canvas
    return apply_motion(img0, img1, motion, canvas=canvas, channels_per_batch=options.channels_per_batch), facts


# ---------------------------------------------------------------------------------------
# A whole sequence, with manifest, resume and progress
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


def _file_sha256(path: Path, cache: dict[Path, str]) -> str:
    if path not in cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        cache[path] = digest.hexdigest()
    return cache[path]


def _recipe(task: FrameTask, source_sha: dict[int, str], options: FillOptions) -> dict[str, Any]:
    """What a frame is made from; a rerun redoes a frame whose recipe changed."""
    recipe: dict[str, Any] = {"kind": task.kind, "sources": {str(s): source_sha[s] for s in _sources(task)}}
    if task.kind == "fill":
        recipe.update(
            t=task.t, model=options.model_id, model_sha256=options.model_sha256, mode=options.mode,
            color=[options.color.config, options.color.scene_linear, options.color.network],
            cuts=options.detect_cuts,
        )
    return recipe


def _sources(task: FrameTask) -> tuple[int, ...]:
    return tuple(s for s in (task.source0, task.source1) if s is not None)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# Per-frame stamps renderers write (Blender's metadata): a filled frame takes its
# source's header, so the frame number is rewritten and the render's own
# statistics, which describe another frame's render, are dropped.
FRAME_NUMBER_ATTRS = ("Frame",)
RENDER_STATS_ATTRS = ("RenderTime", "Memory", "Date", "Time")


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
    started = time.perf_counter()
    src = FramePattern.parse(input_pattern)
    dst = FramePattern.parse(output_pattern)
    rendered = src.scan()
    if not rendered:
        raise SequenceError(f"no rendered frames match {input_pattern}; check the path and the padding (#)")
    wanted = tuple(sorted(set(frames))) if frames is not None else tuple(range(min(rendered), max(rendered) + 1))
    tasks = plan_frames(wanted, rendered)
    in_place = Path(src.path(0)).resolve() == Path(dst.path(0)).resolve()
    manifest = Manifest(output_pattern)
    source_sha: dict[int, str] = {}
    file_sha_cache: dict[Path, str] = {}
    cache = _SourceCache(2 + options.cached_frames)
    outcomes: list[FrameOutcome] = []
    report(Event("start", stage="fill", message=f"filling {len(tasks)} frame(s) of {output_pattern}",
                 total=len(tasks)))

    def read_source(frame: int) -> ExrImage:
        return cache.get(("src", frame), lambda: read_exr(rendered[frame], memory_budget_bytes=options.frame_budget_bytes))

    def make_frame(task: FrameTask) -> tuple[ExrImage, dict[str, Any]]:
        if task.kind == "hold":
            return read_source(task.source0), {}  # type: ignore[arg-type]
        assert task.source0 is not None and task.source1 is not None
        if options.mode == "direct" or task.source1 - task.source0 <= 2:
            return interpolate_exr(read_source(task.source0), read_source(task.source1), task.t, interpolator,
                                   options=options)
        # Recursive: bisect the gap, each midpoint made from the previous pair.
        made: dict[int, ExrImage] = {}
        facts: dict[str, Any] = {}
        for a, b, m in recursive_sources(task.source0, task.source1, task.frame):
            key = ("mid", a, b, m, options.model_id)
            ia = made.get(a) or read_source(a)
            ib = made.get(b) or read_source(b)

            def step(ia: ExrImage = ia, ib: ExrImage = ib, a: int = a,
                     b: int = b, m: int = m) -> tuple[ExrImage, dict[str, Any]]:
                image, step_facts = interpolate_exr(ia, ib, (m - a) / (b - a), interpolator, options=options)
                return image, {k: v for k, v in step_facts.items() if k in ("qc_features", "canvas")}

            # Cached with its QC features: a midpoint made for an earlier frame keeps its sidecar.
            made[m], step_facts = cache.get(key, step)
            if m == task.frame:  # QC features of the last step: the motion that made this frame
                facts.update(step_facts)
        return made[task.frame], facts

    for index, task in enumerate(tasks):
        if cancelled():
            raise CancelledError(f"cancelled after {index} of {len(tasks)} frames; rerun to resume")
        t0 = time.perf_counter()
        out_path = Path(dst.path(task.frame))
        for s in _sources(task):
            source_sha[s] = _file_sha256(Path(rendered[s]), file_sha_cache)
        recipe = _recipe(task, source_sha, options)
        entry = manifest.get(task.frame)
        if entry and entry.get("recipe") == recipe and out_path.is_file() and (
            in_place and task.kind == "copy" or _file_sha256(out_path, file_sha_cache) == entry.get("file_sha256")
        ):
            outcomes.append(FrameOutcome(task.frame, "skipped", _sources(task), task.t if task.kind == "fill" else None,
                                         bool(entry.get("needs_render")), entry.get("reason", "")))
            report(Event("frame", stage="fill", frame=task.frame, done=index + 1, total=len(tasks),
                         data={"status": "skipped"}))
            continue

        facts: dict[str, Any] = {}
        qc_features: dict[str, Any] | None = None
        if task.kind == "copy":
            if not in_place:
                with atomic_output(out_path) as tmp:
                    shutil.copyfile(rendered[task.frame], tmp)
            status, needs_render, reason = "copied", False, ""
            pixels = None
        else:
            image, facts = make_frame(task)
            needs_render = task.kind == "hold" or bool(facts.get("cut"))
            reason = task.reason or ("scene cut between its rendered neighbours" if facts.get("cut") else "")
            status = "held" if needs_render else "filled"
            image = with_attributes(image, _framefill_attrs(task, options, facts, image.parts[0].header),
                                    drop=RENDER_STATS_ATTRS)
            write_exr(out_path, image)
            pixels = pixel_sha256(image)
            if facts.get("qc_features") is not None and status == "filled":
                from framefill.pipeline.qc_features import write_feature_sidecar

                qc_features = write_feature_sidecar(output_pattern, task.frame, facts["qc_features"], t=task.t,
                                                    canvas=facts["canvas"])
        file_sha_cache.pop(out_path, None)
        new_entry = {
            "status": status,
            "recipe": recipe,
            "file_sha256": _file_sha256(out_path, file_sha_cache),
            "needs_render": needs_render,
        }
        if pixels is not None:
            new_entry["pixel_sha256"] = pixels
        if entry and entry.get("pixel_sha256") and pixels and entry["pixel_sha256"] != pixels and \
                entry.get("recipe") == recipe:
            report(Event("warning", stage="fill", frame=task.frame,
                         message=f"frame {task.frame} regenerated with different pixels than recorded "
                                 "(another device or framefill version?)"))
        if reason:
            new_entry["reason"] = reason
        if qc_features is not None:
            new_entry["qc_features"] = qc_features
        new_entry.update({k: v for k, v in facts.items() if k in ("cut_score", "cut")})
        manifest.put(task.frame, new_entry)
        seconds = time.perf_counter() - t0
        outcome = FrameOutcome(task.frame, status, _sources(task), task.t if task.kind == "fill" else None,
                               needs_render, reason, seconds)
        outcomes.append(outcome)
        report(Event("frame", stage="fill", frame=task.frame, done=index + 1, total=len(tasks),
                     data={"status": status, "seconds": round(seconds, 3), "needs_render": needs_render}))
        if needs_render:
            report(Event("warning", stage="fill", frame=task.frame, message=f"frame {task.frame}: {reason}; "
                         "it is held from the nearest rendered frame and needs a real render"))

    peak_dev = None
    if options.device.startswith("cuda"):
        import torch

        peak_dev = torch.cuda.max_memory_allocated(options.device) / 2**20
    manifest.publish(model=options.model_id, model_sha256=options.model_sha256, mode=options.mode,
                     device=options.device, input=str(input_pattern), **options.extra_job)
    return FillResult(tuple(outcomes), output_pattern, str(manifest.path), _peak_rss_mb(), peak_dev,
                      time.perf_counter() - started)


def check_output_pattern(input_pattern: str, output_pattern: str) -> None:
    """Refuse an output that would overwrite inputs with different content."""
    if not output_pattern:
        raise InputError("--out is required: an output pattern such as out/shot.####.exr")
    if not output_pattern.lower().endswith(".exr"):
        raise InputError(f"output {output_pattern} must be an .exr pattern (framefill keeps every layer)")
