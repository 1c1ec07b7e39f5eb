"""``framefill interpolate``: fill the unrendered frames of an EXR shot."""

from __future__ import annotations

from pathlib import Path

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command
from framefill.errors import JobFailedError

# The flag that sets each FillRequest field, so an error names what was typed.
FLAGS = {"input_pattern": "PATTERN", "output_pattern": "--out", "memory_budget_bytes": "--memory-budget"}


@cli.command("interpolate")
@click.argument("pattern")
@click.option("--out", "out_pattern", required=True, help="Output pattern, e.g. out/shot.####.exr.")
@click.option("--frames", "frames_text", help="Output frames to write (default: first to last rendered frame).")
@click.option("--model", default="rife-4", show_default=True, help="rife-4, rife-hdv3, flow or blend.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Use this weights file (offline).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--mode", type=click.Choice(["direct", "recursive"]), default=None,
              help="Gaps longer than one frame: each frame straight from the two rendered frames (direct), "
                   "or by repeated halving (recursive, the default: measured better, see README).")
@click.option("--scale", type=float, default=None,
              help="RIFE resolution scale (default: 1.0 up to 2K, 0.5 up to 4K, 0.25 above).")
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
@output_options
def interpolate_command(
    pattern: str, out_pattern: str, frames_text: str | None, model: str, weights: str | None, device: str,
    mode: str | None, scale: float | None, memory_budget_text: str | None, no_cut_detection: bool, in_place: bool,
    allow_held: bool,
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Write the complete frame range of PATTERN to --out: rendered frames are copied
    bit-exact, missing ones are filled by ML frame interpolation.

    A rerun skips frames that are already done and verify against the manifest,
    so an interrupted run resumes. --out is never PATTERN itself unless
    --in-place. A damaged render is filled from its neighbours instead of
    copied; NaN/Inf pixels of a render are read as 0 / 65504 so they do not
    spread. Exit code 1 if any frame still needs a real render (a hold at the
    range's edge or across a scene cut, a damaged render), unless --allow-held.
    """
    from framefill import api
    from framefill.requests import (
        DEFAULT_FILL_MODE,
        FillRequest,
        parse_frames,
        parse_memory_size,
    )

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out), named_flags(FLAGS):
        request = FillRequest(
            pattern, out_pattern, frames=parse_frames(frames_text), model=model,
            weights=Path(weights) if weights else None, device=device,
            mode=mode or DEFAULT_FILL_MODE, scale=scale,  # type: ignore[arg-type]
            memory_budget_bytes=parse_memory_size(memory_budget_text) if memory_budget_text else None,
            detect_cuts=not no_cut_detection, in_place=in_place,
        )
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
