"""``framefill plan``: which frames to render first."""

from __future__ import annotations

import click

from framefill.cli import cli, make_output, output_options, run_command


@cli.command("plan")
@click.argument("pattern")
@click.option("--every", type=int, required=True, help="Render every Nth frame (the last frame is always included).")
@click.option("--frames", "frames_text",
              help="The shot's frame range, e.g. 1001-1100 (required when no frame of PATTERN exists yet; "
                   "default: first to last frame on disk).")
@output_options
def plan_command(pattern: str, every: int, frames_text: str | None, json_mode: bool, events_mode: bool,
                 quiet: bool) -> None:
    """Print the frames of PATTERN's shot to render first, as a frame-range string.

    Every --every'th frame from the first, plus the last, so every gap has a
    rendered frame on both sides. Render those, fill the rest with
    `framefill interpolate`, then let `framefill qc` list the frames that still
    need a real render.
    """
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        payload = api.plan_render(pattern, every=every, frames=frames_text).to_json()
        out.result(payload, lambda: click.echo(payload["render"]))
