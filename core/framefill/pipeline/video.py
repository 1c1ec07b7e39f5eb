"""Upscale a video file: decode -> upscale every frame -> encode, audio passed through.

Frames are decoded to RGB in the file's own encoding (the space the networks
were trained in, so no colour transform), upscaled by the same code as EXR
frames (``pipeline/upscale.py``: tiles, clip-and-carry, final sizing), and
encoded with the input's timing and colour tags (``frames/video.py``).

Resume: every upscaled frame is kept as a 16-bit PNG in a frame cache keyed by
the sha256 of the input file and the settings (model, sizes, tiling,
precision). An interrupted run leaves the cache; the rerun decodes the input
again, reads the frames it already has and upscales only the rest, then muxes
the whole file. The output appears only when complete (temporary + rename).
The cache is removed after a successful run unless ``keep_cache``.

On a farm the frame cache is where a video is split and joined (the
``upscale_video`` job template): each ``segment`` task decodes its own frames
by index (from the keyframe before them, :func:`framefill.frames.video.read_video`)
and upscales them into the cache, writing nothing else; the ``join`` task is the
ordinary run, which then finds every frame cached and only encodes the file
with the source's timing and audio, so the result is what one process writes.
The cache folder is named by the input's sha256 and the settings, so every
task of a job finds the same folder; each frame is its own file, written
atomically, so concurrent segments never touch each other's frames. A join
refuses to start while a frame is missing (it would otherwise upscale a
failed segment's frames on one machine) and names the frames to rerun.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from framefill._version import __version__
from framefill.atomic import atomic_write_text, file_sha256
from framefill.errors import InputError, JobFailedError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import format_frame_range, read_image, write_image
from framefill.frames.video import (
    DecodedFrame,
    VideoInfo,
    VideoWriter,
    even,
    probe_video,
    read_video,
)
from framefill.ops.resample import OutputSize, place_on_canvas, plan_output_size
from framefill.pipeline.engine import Made, run_frames
from framefill.pipeline.upscale import (
    FlickerMeter,
    FrameOutcome,
    Runner,
    UpscaleOptions,
    UpscaleResult,
    UpscaleStatus,
    lanczos_upscaler,
    make_runner,
    upscale_rgb,
)
from framefill.requests import VideoStep

__all__ = ["upscale_video", "video_output_size", "cache_key", "CACHE_FORMAT", "FrameCache", "check_not_input",
           "check_written", "video_facts", "VideoPart", "VideoStep"]

# Bumped when the cached frames' meaning changes, so old caches are not reused.
CACHE_FORMAT = 1
# Durations may differ by the container's rounding of the last frame's length.
DURATION_SLACK_S = 0.05

@dataclass(frozen=True)
class VideoPart:
    """Which part of a video job to run: ``step`` (whole: upscale what the cache lacks and write
    the file; segment: upscale ``frames`` (None: all) into the cache only, a farm task; join: write
    the file from the cache only, the farm's last step)."""

    step: VideoStep = "whole"
    frames: tuple[int, ...] | None = None




def video_output_size(width: int, height: int, *, options: UpscaleOptions, default_scale: float,
                      warn: Callable[[str], None]) -> OutputSize:
    """The output geometry, with the canvas made even (4:2:0 and 4:2:2 need even sizes)."""
    size = plan_output_size(width, height, scale=options.scale, size=options.size, aspect=options.aspect,
                            default_scale=default_scale)
    cw, ch = even(size.canvas_width), even(size.canvas_height)
    if (cw, ch) == (size.canvas_width, size.canvas_height):
        return size
    warn(f"output {size.canvas_width}x{size.canvas_height} rounded down to {cw}x{ch}: video needs even sizes")
    if (size.width, size.height) == (size.canvas_width, size.canvas_height):
        return OutputSize(width, height, cw, ch, cw, ch)
    return replace(size, canvas_width=cw, canvas_height=ch)


def cache_key(input_sha256: str, options: UpscaleOptions, size: OutputSize) -> str:
    """The frame-cache folder name: what the cached frames are made from."""
    doc = {
        "format": CACHE_FORMAT, "input": input_sha256, "model": options.model_id, "sha": options.model_sha256,
        "size": [size.width, size.height, size.canvas_width, size.canvas_height, size.offset_x, size.offset_y],
        "tile_px": options.tile_px, "feather_px": options.feather_px, "precision": options.precision,
        "color_fix": options.color_fix,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


class FrameCache:
    """Finished frames of one video job as 16-bit PNGs, in a folder named by what they are made of.

    The folder name hashes the input file's sha256 and the job's settings, so
    a rerun with other settings never reuses a frame. What :meth:`put` returns
    is what the file holds (rounded to 16 bits): a job encodes that, so a
    resumed run writes the same pixels as a clean one.
    """

    def __init__(self, folder: Path, root: Path, *, own_root: bool) -> None:
        self.folder = folder
        self.root = root
        self.own_root = own_root

    @classmethod
    def open(cls, src: Path, dst: Path, *, key: Callable[[str], str], settings: dict[str, Any],
             cache_dir: str | Path | None, create: bool = True) -> FrameCache:
        """The cache of this input and these settings: ``key(input_sha256)`` names its folder.

        ``create``: make the folder and (atomically: farm tasks open it at once) its settings.json.
        """
        input_sha = file_sha256(src)
        root = Path(cache_dir) if cache_dir is not None else dst.parent / ".framefill" / "video-cache"
        folder = root / key(input_sha)
        if create:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / "settings.json", json.dumps({
                "input": str(src), "input_sha256": input_sha, "framefill": __version__, **settings,
            }, indent=1, sort_keys=True))
        return cls(folder, root, own_root=cache_dir is None)

    def missing(self, count: int) -> list[int]:
        """The frames of ``0..count-1`` that have no file in the cache."""
        have = {p.stem for p in self.folder.glob("*.png")} if self.folder.is_dir() else set()
        return [i for i in range(count) if f"{i:06d}" not in have]

    def get(self, name: str, height: int, width: int) -> np.ndarray | None:
        """The cached RGB frame ``name`` (H,W,3 float32 in [0, 1]), or None (absent, damaged or another size)."""
        path = self.folder / f"{name}.png"
        if not path.is_file():
            return None
        try:
            pixels, _depth = read_image(path)
        except InputError:
            return None  # a damaged cache file: redo the frame
        return pixels[:, :, :3] if pixels.shape[:2] == (height, width) else None

    def put(self, name: str, rgb: np.ndarray) -> np.ndarray:
        """Keep ``rgb`` as frame ``name`` (written atomically) and return what the file holds."""
        write_image(self.folder / f"{name}.png", rgb, bit_depth=16)
        return (np.rint(np.clip(rgb, 0.0, 1.0) * 65535.0) / np.float32(65535.0)).astype(np.float32)

    def drop(self) -> None:
        """Remove the folder (after a successful run), and the empty cache root this job made."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.own_root:
            # Leave no empty .framefill/video-cache folders beside the output (other runs' caches stay).
            for folder in (self.root, self.root.parent):
                try:
                    folder.rmdir()
                except OSError:
                    break


class _VideoJob:
    """One decoded frame per item: from the frame cache or upscaled, then encoded in order.

    A segment has no ``writer`` (its frames only go to the cache); a join (``join_from``:
    the source, for the message) never upscales: a frame the cache cannot give fails the job.
    """

    stage = "upscale"

    def __init__(self, runner: Runner, size: OutputSize, cache: FrameCache, writer: VideoWriter | None,
                 options: UpscaleOptions, report: Reporter, join_from: Path | None = None) -> None:
        self.runner = runner
        self.classical = replace(runner, model=lanczos_upscaler(), progress=None)
        self.size = size
        self.cache = cache
        self.writer = writer
        self.options = options
        self.report = report
        self.join_from = join_from
        self.meter = FlickerMeter()

    def skip(self, decoded: DecodedFrame) -> None:
        return None  # every frame is encoded, cached or not

    def _upscale(self, decoded: DecodedFrame, name: str) -> np.ndarray:
        def progress(done: int, count: int) -> None:
            self.report(Event("progress", stage="tiles", frame=decoded.index, done=done, total=count))

        up = upscale_rgb(replace(self.runner, progress=progress), decoded.rgb, height=self.size.height,
                         width=self.size.width)
        return self.cache.put(name, place_on_canvas(up, self.size))

    def make(self, decoded: DecodedFrame) -> Made[FrameOutcome]:
        name = f"{decoded.index:06d}"
        frame_out = self.cache.get(name, self.size.canvas_height, self.size.canvas_width)
        status: UpscaleStatus = "cached" if frame_out is not None else "upscaled"
        if frame_out is None and self.join_from is not None:
            raise JobFailedError(f"frame {decoded.index} of {self.join_from} in the frame cache {self.cache.folder} "
                                 "is damaged or of another size: rerun the Segments task that holds it "
                                 "(or run the upscale without --join)")
        if frame_out is None:
            frame_out = self._upscale(decoded, name)
        if self.writer is not None:
            if self.options.flicker:
                ref = place_on_canvas(upscale_rgb(self.classical, decoded.rgb, height=self.size.height,
                                                  width=self.size.width), self.size)
                self.meter.add(np.clip(frame_out, 0.0, 1.0), np.clip(ref, 0.0, 1.0))
            self.writer.write(frame_out.astype(np.float32), pts=decoded.pts, time_base=decoded.time_base)
        tiles = 0
        if status == "upscaled" and not self.runner.classical:
            tiles = len(self.runner.plan(decoded.rgb.shape[0], decoded.rgb.shape[1]).tiles)
        return Made(decoded.index, FrameOutcome(decoded.index, status, tiles=tiles), event={"status": status})


def check_not_input(src: Path, dst: Path, what: str) -> None:
    """Refuse an output that is the input file itself.

    Raises:
        InputError: naming --out and what to write (``what``: "upscaled video").
    """
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise InputError(f"--out {dst} is the input; write the {what} to a new file")


def check_written(dst: Path, frames: int, cache: FrameCache) -> VideoInfo:
    """The written file's facts, after checking it holds ``frames`` frames.

    Raises:
        JobFailedError: another frame count (the frame cache is kept for a rerun).
    """
    out_info = probe_video(dst)
    if out_info.frame_count != frames:
        raise JobFailedError(f"{dst} holds {out_info.frame_count} frames, expected {frames}; "
                             f"the frame cache {cache.folder} is kept, rerun to retry")
    return out_info


def video_facts(info: VideoInfo, out_info: VideoInfo, decoded: int, cache: Path | None) -> dict[str, Any]:
    """The ``video`` block of a video job's result: input and output streams, and the kept cache."""
    return {
        "input": {"frames": info.frame_count, "decoded": decoded, "fps": float(info.frame_rate),
                  "duration_s": round(info.duration_s, 4), "codec": info.codec, "audio": info.audio_codec},
        "output": {"frames": out_info.frame_count, "fps": float(out_info.frame_rate),
                   "duration_s": round(out_info.duration_s, 4), "codec": out_info.codec,
                   "audio": out_info.audio_codec, "pix_fmt": out_info.pix_fmt},
        "cache": None if cache is None else str(cache),
    }


def upscale_video(
    input_path: str | Path,
    output_path: str | Path,
    *,
    model: Any,
    options: UpscaleOptions,
    codec: str = "auto",
    crf: int | None = None,
    cache_dir: str | Path | None = None,
    keep_cache: bool = False,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
    part: VideoPart | None = None,
) -> UpscaleResult:
    """Upscale every frame of a video and write ``output_path`` (H.264, or ProRes for .mov).

    Frame count, frame timestamps (so frame rate and duration) and audio carry
    over; the result checks that the output has as many frames as the input.
    ``part`` (default: the whole job) runs a farm segment or the join instead (see the
    module docstring).

    Raises:
        InputError: unreadable or unsupported input, an output equal to the
            input, an encoder missing from the build, segment frames outside the video.
        CancelledError: ``cancelled()`` became true; the frame cache is kept for the rerun.
        JobFailedError: the written file does not hold the input's frame count; a join
            whose frame cache lacks frames (named) or holds a damaged one.
    """
    part = part if part is not None else VideoPart()
    src, dst = Path(input_path), Path(output_path)
    check_not_input(src, dst, "upscaled video")
    info = probe_video(src)
    outside = sorted(f for f in part.frames or () if not 0 <= f < info.frame_count)
    if part.step == "segment" and outside:
        raise InputError(f"frames {format_frame_range(outside)} are not in {src}: it has frames "
                         f"0-{info.frame_count - 1} (0 is the first); give frames in that range")

    def warn(message: str) -> None:
        report(Event("warning", stage="upscale", message=message))

    size = video_output_size(info.width, info.height, options=options, default_scale=model.default_scale, warn=warn)
    runner = make_runner(model, options=options, height=info.height, width=info.width)
    cache = FrameCache.open(src, dst, key=lambda sha: cache_key(sha, options, size), cache_dir=cache_dir, settings={
        "model": options.model_id, "output_size": [size.canvas_width, size.canvas_height]},
        create=part.step != "join")
    if part.step == "segment":
        return _upscale_segment(src, info, part.frames, runner, size, cache, options, report, cancelled)
    if part.step == "join":
        missing = cache.missing(info.frame_count)
        if missing:
            raise JobFailedError(
                f"frames {format_frame_range(missing)} of {src} are not in the frame cache {cache.folder}: their "
                "Segments tasks did not finish; rerun those tasks, then the join (or run the upscale without --join "
                "to upscale them here)")
    with VideoWriter(dst, source=info, width=size.canvas_width, height=size.canvas_height,
                     codec=codec, crf=crf, warn=warn) as writer:  # type: ignore[arg-type]
        job = _VideoJob(runner, size, cache, writer, options, report, join_from=src if part.step == "join" else None)
        run = run_frames(read_video(src, info), job, total=info.frame_count, manifest=None, report=report,
                         cancelled=cancelled, device=options.device, cancel_hint=f" (frame cache: {cache.folder})",
                         start_message=f"{'joining' if part.step == 'join' else 'upscaling'} {info.frame_count} "
                                       f"frame(s) of {src.name} to {size.canvas_width}x{size.canvas_height}")
    out_info = check_written(dst, len(run.outcomes), cache)
    if not keep_cache:
        cache.drop()
    if abs(out_info.duration_s - info.duration_s) > DURATION_SLACK_S + 1.0 / float(info.frame_rate):
        warn(f"output duration {out_info.duration_s:.3f} s differs from the input's {info.duration_s:.3f} s")
    return UpscaleResult(
        kind="video", output=str(dst), model=options.model_id, model_sha256=options.model_sha256,
        frames=run.outcomes, input_size=(info.width, info.height),
        output_size=(size.canvas_width, size.canvas_height), tile_px=runner.tile_px,
        overlap_px=runner.overlap_px, memory_plan=runner.memory_plan, seconds=run.seconds,
        peak_rss_mb=run.peak_rss_mb, peak_device_mb=run.peak_device_mb,
        flicker=job.meter.result() if options.flicker else None,
        video=video_facts(info, out_info, len(run.outcomes), cache.folder if keep_cache else None),
    )


def _upscale_segment(src: Path, info: VideoInfo, frames: tuple[int, ...] | None, runner: Runner, size: OutputSize,
                     cache: FrameCache, options: UpscaleOptions, report: Reporter,
                     cancelled: Callable[[], bool]) -> UpscaleResult:
    """Upscale ``frames`` (None: all) of ``src`` into ``cache``, skipping those it holds; write no video."""
    wanted = tuple(range(info.frame_count)) if frames is None else tuple(sorted(set(frames)))
    job = _VideoJob(runner, size, cache, None, options, report)
    run = run_frames(read_video(src, info, wanted), job, total=len(wanted), manifest=None, report=report,
                     cancelled=cancelled, device=options.device, cancel_hint=f" (frame cache: {cache.folder})",
                     start_message=f"upscaling frame(s) {format_frame_range(wanted)} of {src.name} to "
                                   f"{size.canvas_width}x{size.canvas_height} into the frame cache")
    return UpscaleResult(
        kind="video", output=str(cache.folder), model=options.model_id, model_sha256=options.model_sha256,
        frames=run.outcomes, input_size=(info.width, info.height),
        output_size=(size.canvas_width, size.canvas_height), tile_px=runner.tile_px,
        overlap_px=runner.overlap_px, memory_plan=runner.memory_plan, seconds=run.seconds,
        peak_rss_mb=run.peak_rss_mb, peak_device_mb=run.peak_device_mb,
        video={"segment": {"frames": format_frame_range(wanted), "cache": str(cache.folder),
                           "input_frames": info.frame_count}},
    )
