"""``framefill review``: the review window on a filled shot (the ``ui`` extra)."""

from __future__ import annotations

from pathlib import Path

import click

from framefill.cli import cli, make_output, run_command
from framefill.commands.colorspaces import recorded_color_options


@cli.command("review")
@click.argument("pattern")
@click.option("--truth", help="Pattern of real renders of the same frames: the A/B reference and the true error.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="The folder of `framefill qc --report` (heatmaps, qc.json) [default: qc_report/ beside the frames].")
@click.option("--display", default=None, help="OCIO display [default: the shot's config's default display].")
@click.option("--view", default=None, help="OCIO view of the display [default: the display's default view].")
@click.option("--fps", type=float, default=None, help="Playback rate [default: the frames' own, else 24].")
@click.option("--cache-mb", type=click.IntRange(min=64), default=1024, show_default=True,
              help="Memory for decoded frames.")
@click.option("--user", default=None, help="Who decides, as saved with each decision [default: the login name].")
@recorded_color_options
def review_command(pattern: str, truth: str | None, report_dir: str | None, display: str | None, view: str | None,
                   fps: float | None, cache_mb: int, user: str | None, color_config: str | None,
                   colorspace: str | None) -> None:
    """Open the review window on the filled shot of PATTERN (its frames, manifest and QC report).

    \b
    Flipbook at the shot's rate, A/B wipe or side by side against the real
    render (--truth) or the rendered neighbours, risk and true-error overlays,
    OCIO display with exposure and layer choice. Decide with one key: A accept,
    R send back for a re-render, C clear (Shift: the whole loop range); each
    decision is saved in the manifest and qc.json, and later `framefill qc`
    runs keep it. Edit copies the re-render list as an OpenJD or a Nuke range;
    File submits the re-renders to Deadline Cloud. Needs the ui extra:
    pip install 'framefill[ui]'.
    """
    from framefill import api

    out = make_output(False, False, True)
    with run_command(out):
        code = api.review_shot(pattern, truth=truth, report_dir=Path(report_dir) if report_dir else None,
                               display=display, view=view, fps=fps, cache_bytes=cache_mb << 20, user=user,
                               color_config=color_config, colorspace=colorspace)
    raise SystemExit(code)
