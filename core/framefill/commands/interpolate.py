"""``framefill interpolate``: fill the unrendered frames of an EXR shot."""

from __future__ import annotations

from typing import Any

import click

from framefill.cli import cli, make_output, output_options, parse_memory_budget, run_command
from framefill.errors import JobFailedError


def result_payload(result: Any) -> dict[str, Any]:
    """The JSON document of a fill: per-frame outcomes and the totals."""
    from framefill.frames import format_frame_range

    return {
        "output": result.output_pattern,
        "manifest": result.manifest,
        "copied": result.count("copied"),
        "filled": result.count("filled"),
        "held": result.count("held"),
        "skipped": result.count("skipped"),
        "needs_render": format_frame_range(result.needs_render()),
        "seconds": round(result.seconds, 3),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "peak_device_mb": None if result.peak_device_mb is None else round(result.peak_device_mb, 1),
        "memory_plan": result.memory_plan,
        "frames": [
            {"frame": o.frame, "status": o.status, "sources": list(o.sources), "t": o.t,
             "needs_render": o.needs_render, "reason": o.reason, "seconds": round(o.seconds, 3)}
            for o in result.frames
        ],
    }


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
@click.option("--allow-held", is_flag=True,
              help="Exit 0 even when frames are held; they are still listed as needing a render (farm tasks).")
@output_options
def interpolate_command(
    pattern: str, out_pattern: str, frames_text: str | None, model: str, weights: str | None, device: str,
    mode: str | None, scale: float | None, memory_budget_text: str | None, no_cut_detection: bool, allow_held: bool, json_mode: bool, events_mode: bool,
    quiet: bool,
) -> None:
    """Write the complete frame range of PATTERN to --out: rendered frames are copied
    bit-exact, missing ones are filled by ML frame interpolation.

    A rerun skips frames that are already done and verify against the manifest,
    so an interrupted run resumes. Exit code 1 if any frame still needs a real
    render (a hold at the range's edge or across a scene cut), unless --allow-held.
    """
    from framefill import api
    from framefill.frames import parse_frame_range

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        frames = parse_frame_range(frames_text) if frames_text else None
        budget = parse_memory_budget(memory_budget_text)
        result = api.fill_shot(
            pattern, out_pattern, frames=frames, model=model, weights=weights, device=device,
            mode=mode or api.DEFAULT_FILL_MODE, scale=scale, memory_budget_bytes=budget,
            detect_cuts=not no_cut_detection, report=out.report,
        )
        payload = result_payload(result)

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
            raise JobFailedError(f"frames {payload['needs_render']} need a real render (held, not filled)")
