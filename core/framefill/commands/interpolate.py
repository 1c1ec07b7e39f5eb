"""``framefill interpolate``: fill the unrendered frames of an EXR shot, or retime a video file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command
from framefill.commands.colorspaces import COLOR_FLAGS, color_options
from framefill.errors import JobFailedError

# The flag that sets each VideoInterpRequest field (the other fields are spelt as flags).
VIDEO_FLAGS = {"input_path": "PATTERN", "output_path": "--out"}
# The flag that sets each FillRequest field, so an error names what was typed.
FLAGS = {"input_pattern": "PATTERN", "output_pattern": "--out", "memory_budget_bytes": "--memory-budget", **COLOR_FLAGS,
         **VIDEO_FLAGS}
# Options of sequence fills that a video does not take: (parameter, flag).
SEQUENCE_ONLY = (("frames_text", "--frames"), ("mode", "--mode"), ("memory_budget_text", "--memory-budget"),
                 ("in_place", "--in-place"), ("color_config", "--config"), ("colorspace", "--colorspace"),
                 ("batch", "--batch"))


def _video_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a video input (PATTERN and --out video files)."""
    for option in reversed((
        click.option("--fps", "fps_text", metavar="RATE",
                     help="Video: retime to RATE frames per second, any ratio (48, 60, 59.94 = 60000/1001, "
                          "24000/1001). Where the new timeline meets a source frame it is kept unchanged."),
        click.option("--replace-duplicates", is_flag=True,
                     help="Video: replace repeated frames (mean difference under half a code value) by fills "
                          "from their distinct neighbours; runs of over 4 are holds and kept."),
        click.option("--codec", type=click.Choice(["auto", "h264", "prores", "lossless"]), default="auto",
                     show_default=True, help="Video: auto is ProRes for .mov when available, else H.264; "
                                             "lossless is FFV1 (.mkv) or PNG (.mov)."),
        click.option("--crf", type=int, default=None, help="Video, H.264: constant rate factor (default 18)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Video: frame cache for resuming (default: beside the output in .framefill/)."),
        click.option("--keep-cache", is_flag=True, help="Video: keep the frame cache after a successful run."),
    )):
        command = option(command)
    return command


@cli.command("interpolate")
@click.argument("pattern")
@click.option("--out", "out_pattern", required=True,
              help="Output pattern (out/shot.####.exr), or a video file for a video input.")
@click.option("--frames", "frames_text", help="Output frames to write (default: first to last rendered frame).")
@click.option("--model", default="rife-4", show_default=True,
              help="rife-4, rife-hdv3, rife-4+hdv3 (both, their fills averaged), flow or blend; or auto: each "
                   "candidate fills up to 4 rendered frames "
                   "from their rendered neighbours (a sequence of 3+ rendered frames with gaps; a video: frames "
                   "from the frames either side), the best mean PSNR fills the shot or video (rife-4 when there "
                   "is no such frame); the choice and its evidence go in the manifest (a video: its --json).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Use this weights file (offline).")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu, cuda, cuda:N, or all: a sequence's batches of fills spread over every GPU (the CPU "
                   "where there is none), with the bytes one GPU writes.")
@click.option("--batch", type=int, default=1, show_default=True,
              help="Sequences: fills per network run, for GPUs (direct fills N at a time; recursive gaps level "
                   "by level, up to N pairs a level). A fill's batch is fixed by its place in the range, so "
                   "reruns write the same bytes; it is in each fill's recipe.")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True,
              help="What runs the network: torch, or ONNX Runtime (rife-4 only; TensorRT/CUDA/CPU providers by "
                   "device; the graph per padded frame size is kept in the model cache's onnx/ folder).")
@click.option("--mode", type=click.Choice(["direct", "recursive"]), default=None,
              help="Gaps longer than one frame: each frame straight from the two rendered frames (direct), "
                   "or by repeated halving (recursive, the default: measured better, see README).")
@click.option("--scale", type=float, default=None,
              help="RIFE resolution scale (default: 1.0 up to 2K, 0.5 up to 4K, 0.25 above).")
@click.option("--mix", type=float, default=None,
              help="rife-4+hdv3 only: rife-4's share of each fill, above 0 and below 1, the rest HDv3's "
                   "(default 0.5; --model auto picks its own).")
@click.option("--memory-budget", "memory_budget_text", metavar="SIZE",
              help="Keep the fill under SIZE (e.g. 16G): a smaller RIFE scale unless --scale is given, fewer "
                   "channels warped at once, fewer frames kept decoded. Default: no limit beyond the frame read "
                   "budget ($FRAMEFILL_MEMORY_BUDGET, a quarter of the RAM).")
@click.option("--no-cut-detection", is_flag=True, help="Blend even across a detected scene cut.")
@click.option("--in-place", is_flag=True,
              help="--out may be PATTERN itself: write only the missing frames into the render folder "
                   "(rendered frames are never overwritten). Without it that is refused.")
@click.option("--allow-held", is_flag=True,
              help="Exit 0 even when frames are held; they are still listed as needing a render (farm tasks).")
@_video_options
@color_options
@output_options
def interpolate_command(
    pattern: str, out_pattern: str, frames_text: str | None, model: str, weights: str | None, device: str,
    batch: int, backend: str, mode: str | None, scale: float | None, mix: float | None, memory_budget_text: str | None,
    no_cut_detection: bool,
    in_place: bool, allow_held: bool, color_config: str | None, colorspace: str | None,
    json_mode: bool, events_mode: bool, quiet: bool, **video: Any,
) -> None:
    """Write the complete frame range of PATTERN to --out: rendered frames are copied
    bit-exact, missing ones are filled by ML frame interpolation.

    A rerun skips frames that are already done and verify against the manifest,
    so an interrupted run resumes. --out is never PATTERN itself unless
    --in-place. A damaged render is filled from its neighbours instead of
    copied; NaN/Inf pixels of a render are read as 0 / 65504 so they do not
    spread. Exit code 1 if any frame still needs a real render (a hold at the
    range's edge or across a scene cut, a damaged render), unless --allow-held.

    A video file (in.mov --out out.mov) is retimed with --fps and/or has its
    repeated frames replaced with --replace-duplicates: source frames the new
    timeline meets are kept unchanged, audio and timing are kept, nothing is
    filled across a scene cut, and an interrupted run resumes from its frame cache.
    """
    from framefill import api
    from framefill.requests import (
        DEFAULT_FILL_MODE,
        FillRequest,
        VideoInterpRequest,
        parse_frames,
        parse_memory_size,
    )

    out = make_output(json_mode, events_mode, quiet)
    given = dict(frames_text=frames_text, mode=mode, memory_budget_text=memory_budget_text, in_place=in_place,
                 color_config=color_config, colorspace=colorspace, batch=batch != 1)
    with run_command(out), named_flags(FLAGS):
        if VideoInterpRequest.asked_for(pattern, out_pattern, fps=video["fps_text"],
                                        replace_duplicates=video["replace_duplicates"]):
            _interpolate_video(out, pattern, out_pattern, given, video, model=model, weights=weights, device=device,
                               scale=scale, mix=mix, detect_cuts=not no_cut_detection, backend=backend)
            return
        request = FillRequest(
            pattern, out_pattern, frames=parse_frames(frames_text), model=model,
            weights=Path(weights) if weights else None, device=device, batch=batch,
            mode=mode or DEFAULT_FILL_MODE, scale=scale, mix=mix,  # type: ignore[arg-type]
            memory_budget_bytes=parse_memory_size(memory_budget_text) if memory_budget_text else None,
            detect_cuts=not no_cut_detection, in_place=in_place, color_config=color_config, colorspace=colorspace,
            backend=backend,  # type: ignore[arg-type]  # click.Choice: one of UpscaleBackend
        )
        api.keep_freed_memory(request.memory_budget_bytes is None)
        payload = api.fill_shot(request, report=out.report).to_json()

        def human() -> None:
            click.echo(
                f"{payload['output']}: {payload['copied']} copied, {payload['filled']} filled, "
                f"{payload['held']} held, {payload['skipped']} already done "
                f"in {payload['seconds']:.1f} s (peak memory {payload['peak_rss_mb']:.0f} MB)"
            )
            if payload["needs_render"]:
                click.echo(f"still needs a real render: {payload['needs_render']}")

        out.result(payload, human)
        if payload["needs_render"] and not allow_held:
            raise JobFailedError(f"frames {payload['needs_render']} need a real render (held, or their render is "
                                 "damaged); the warnings above say which and why")


def _interpolate_video(out: Any, pattern: str, out_pattern: str, given: dict[str, Any], video: dict[str, Any],
                       **common: Any) -> None:
    from framefill import api
    from framefill.errors import InputError
    from framefill.requests import VideoInterpRequest, parse_rate

    request = VideoInterpRequest(
        pattern, out_pattern, fps=parse_rate(video["fps_text"]), replace_duplicates=video["replace_duplicates"],
        model=common["model"], weights=Path(common["weights"]) if common["weights"] else None,
        device=common["device"], scale=common["scale"], mix=common["mix"], detect_cuts=common["detect_cuts"],
        codec=video["codec"],
        crf=video["crf"], cache_dir=Path(video["cache_dir"]) if video["cache_dir"] else None,
        keep_cache=video["keep_cache"], backend=common["backend"],
    )
    for name, flag in SEQUENCE_ONLY:
        if given[name]:
            raise InputError(f"{flag} applies to frame sequences; a video is interpolated whole in its own "
                             f"encoding: leave {flag} out")
    payload = api.interpolate_video(request, report=out.report).to_json()

    def human() -> None:
        o = payload["video"]["output"]
        click.echo(
            f"{payload['output']}: {o['frames']} frames at {o['fps']:g} fps, {o['duration_s']:.3f} s "
            f"(input {payload['video']['input']['frames']} at {payload['video']['input']['fps']:g} fps): "
            f"{payload['source']} source, {payload['filled']} filled, {payload['deduplicated']} repeats replaced, "
            f"{payload['held']} held, {payload['cached']} from the frame cache in {payload['seconds']:.1f} s"
        )
        if payload["cuts"]:
            click.echo(f"scene cuts before source frames {payload['cuts']}: nothing was filled across them")

    out.result(payload, human)
