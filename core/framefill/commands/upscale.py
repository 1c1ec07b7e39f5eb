"""``framefill upscale``: ML upscaling of EXR/image sequences and video files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command
from framefill.commands.colorspaces import COLOR_FLAGS, color_options

# The flag that sets each UpscaleRequest field, so an error names what was typed.
FLAGS = {"input_path": "INPUT", "output_path": "--out", "memory_budget_bytes": "--memory-budget", "tile_px": "--tile",
         "precision": "--precision",
         "video_step": "--segment/--join", **COLOR_FLAGS}


def _human(payload: dict[str, Any]) -> None:
    segment = (payload.get("video") or {}).get("segment")
    if segment:
        click.echo(f"frames {segment['frames']}: {payload['upscaled']} upscaled, {payload['cached']} already in the "
                   f"frame cache {segment['cache']} in {payload['seconds']:.1f} s")
        return
    done = f"{payload['upscaled']} upscaled"
    if payload["skipped"]:
        done += f", {payload['skipped']} already done"
    if payload["cached"]:
        done += f", {payload['cached']} from the frame cache"
    iw, ih = payload["input_size"]
    ow, oh = payload["output_size"]
    click.echo(
        f"{payload['output']}: {done}; {iw}x{ih} -> {ow}x{oh} with {payload['model']} "
        f"in {payload['seconds']:.1f} s (tile {payload['tile_px'] or 'none'}, "
        f"peak memory {payload['peak_rss_mb']:.0f} MB)"
    )
    flicker = payload.get("flicker")
    if flicker and flicker["pairs"]:
        click.echo(
            f"flicker: mean |frame difference| {flicker['output_mafd']:.4f} vs {flicker['lanczos_mafd']:.4f} "
            f"for Lanczos (ratio {flicker['ratio']:.3f} over {flicker['pairs']} pairs)"
        )
    video = payload.get("video")
    if video:
        i, o = video["input"], video["output"]
        click.echo(
            f"video: {o['frames']} frames at {o['fps']:g} fps, {o['duration_s']:.3f} s, {o['codec']}"
            f"{', audio ' + o['audio'] if o['audio'] else ''} (input: {i['frames']} frames, {i['fps']:g} fps, "
            f"{i['duration_s']:.3f} s)"
        )


@cli.command("upscale")
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "output_path", required=True,
              help="Output pattern (out/shot.####.exr) or video file (out.mp4, out.mov).")
@click.option("--frames", "frames_text",
              help="Frames of a sequence to upscale (default: all on disk); with --segment, of a video (0: the first).")
@click.option("--model", default=None,
              help="realesrgan-x4plus (default), realesrgan-x4plus-anime, realesr-animevideov3[-x2|-x3|-x4], "
                   "fidelity (dat-light-x4; live action), lanczos. A family name with --scale N picks its xN model.")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Use this .pth (RRDBNet, SRVGGNetCompact, DAT-light) or ncnn .param instead (offline).")
@click.option("--scale", type=float, default=None,
              help="Output scale, any factor (e.g. 2 or 1.5). Default: the model's own (lanczos: 4).")
@click.option("--size", "size_text", default=None, help="Output size WxH, e.g. 3840x2160 (instead of --scale).")
@click.option("--aspect", type=click.Choice(["error", "stretch", "fit", "fill"]), default="error",
              show_default=True, help="When --size changes the aspect ratio: refuse, stretch, fit (bars) or "
                                      "fill (crop; EXR keeps the overhang as overscan).")
@click.option("--tile", "tile_px", type=int, default=None,
              help="Tile size in input pixels (0: untiled). Default: from the memory budget.")
@click.option("--memory-budget", "memory_budget", default=None,
              help="Memory for one tile's activations plus, for fidelity (DAT), its whole-frame token maps "
                   "(480 B per input pixel), e.g. 4G (default: $FRAMEFILL_MEMORY_BUDGET, half the free GPU memory, "
                   "or a quarter of the RAM).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True,
              help="What runs the network: torch, or ONNX Runtime (CPU, CUDA or TensorRT provider; the ONNX file is "
                   "exported once into the model cache). Not for the DAT (fidelity) models.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="The network's arithmetic: auto (fp16 on CUDA where the model allows, else fp32), fp32, or bf16 "
                   "(CPUs with bf16 instructions: about 1.9x faster, ~50 dB from fp32; not for DAT).")
@click.option("--alpha", type=click.Choice(["network", "lanczos"]), default=None,
              help="How alpha is upscaled (default: network, measured sharper and closer on mattes).")
@click.option("--layers", type=click.Choice(["all", "beauty"]), default="all", show_default=True,
              help="RGB layers through the network: all, or the beauty only (others by Lanczos).")
@click.option("--codec", type=click.Choice(["auto", "h264", "prores"]), default="auto", show_default=True,
              help="Video: auto is ProRes for .mov when available, else H.264.")
@click.option("--crf", type=int, default=None, help="Video, H.264: constant rate factor (default 18).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Video: frame cache for resuming (default: beside the output in .framefill/).")
@click.option("--keep-cache", is_flag=True, help="Video: keep the frame cache after a successful run.")
@click.option("--segment", "segment", is_flag=True,
              help="Video, farm: upscale only --frames (decoded by index) into the frame cache and write no video; "
                   "a --join run then writes it.")
@click.option("--join", "join", is_flag=True,
              help="Video, farm: write the video from the frame cache the --segment runs filled, upscaling nothing; "
                   "fails naming any frame missing from it.")
@color_options
@click.option("--color-fix/--no-color-fix", "color_fix", default=None,
              help="Give the network's output the input's low frequencies (colour and tone), keeping its detail. "
                   "Default: on for the Real-ESRGAN networks (measured: colour error down, sharpness kept).")
@output_options
def upscale_command(
    input_path: str, output_path: str, frames_text: str | None, model: str | None, weights: str | None,
    scale: float | None, size_text: str | None, aspect: str, tile_px: int | None, memory_budget: str | None,
    device: str, backend: str, precision: str, alpha: str | None, layers: str, codec: str, crf: int | None,
    cache_dir: str | None, keep_cache: bool, segment: bool, join: bool, color_config: str | None,
    colorspace: str | None, color_fix: bool | None, json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Upscale INPUT (an EXR/PNG/TIFF/JPEG sequence pattern or a video file) into --out.

    EXR: every part, layer, pixel type, attribute and compression is kept; colour
    goes through the network on an unclamped proxy (HDR highlights survive),
    alpha separately, depth/normals by a smooth filter, IDs by nearest. Frames
    are written atomically and recorded in framefill.manifest.json; a rerun
    skips finished frames. Video: frame count, frame rate, duration and audio
    are kept; an interrupted run resumes from its frame cache. Sequences and
    videos report flicker: the mean |frame-to-frame difference| of the output
    against the same for a Lanczos upscale of the input.
    """
    from framefill import api
    from framefill.requests import (
        UpscaleRequest,
        parse_frames,
        parse_memory_size,
        parse_size,
    )

    from framefill.errors import InputError

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out), named_flags(FLAGS):
        if segment and join:
            raise InputError("--segment and --join are two steps of a farm job; give one of them")
        request = UpscaleRequest(
            input_path, output_path, frames=parse_frames(frames_text), model=model,
            weights=Path(weights) if weights else None, scale=scale,
            size=parse_size(size_text) if size_text else None, aspect=aspect,  # type: ignore[arg-type]
            tile_px=tile_px, memory_budget_bytes=parse_memory_size(memory_budget) if memory_budget else None,
            device=device, alpha=alpha or "network", layers=layers, codec=codec, crf=crf,  # type: ignore[arg-type]
            cache_dir=Path(cache_dir) if cache_dir else None, keep_cache=keep_cache,
            color_config=color_config, colorspace=colorspace, color_fix=color_fix,
            video_step="segment" if segment else "join" if join else "whole",
            backend=backend,  # type: ignore[arg-type]  # click.Choice: one of UpscaleBackend
            precision=precision,  # type: ignore[arg-type]  # click.Choice: one of UpscalePrecision
        )
        api.keep_freed_memory(request.memory_budget_bytes is None)
        payload = api.upscale(request, report=out.report).to_json()
        out.result(payload, lambda: _human(payload))
