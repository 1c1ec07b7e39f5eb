"""``framefill patch``: merge region re-renders into filled frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command

# The flag that sets each PatchRequest field, so an error names what was typed.
FLAGS = {"pattern": "FILLED_PATTERN", "renders": "--renders", "regions": "--regions", "feather_px": "--feather"}


def _human(payload: dict[str, Any]) -> None:
    for f in payload["frames"]:
        where = "whole frame" if f["whole_frame"] else ", ".join(f"{b[0]},{b[1]}-{b[2]},{b[3]}" for b in f["boxes"])
        click.echo(f"{f['frame']:>7}  {f['status']:<8} {where}")
    click.echo(f"patched {payload['patched'] or '(none)'}, already patched {payload['skipped'] or '(none)'}; "
               f"{payload['region_pixels']} of {payload['frame_pixels']} pixels from the renders "
               f"({payload['pixel_share']:.1%})")


@cli.command("patch")
@click.argument("pattern", metavar="FILLED_PATTERN")
@click.option("--renders", required=True,
              help="Pattern of the region renders: EXRs whose data window is the region, or full-size frames "
                   "(then the regions come from --regions or from the manifest's QC).")
@click.option("--frames", "frames_text", help="Patch only these frames (default: every filled frame with a render).")
@click.option("--regions", type=click.Path(dir_okay=False, exists=True),
              help="qc.json or regions.json with the regions of full-size renders [default: the manifest's QC].")
@click.option("--feather", "feather_px", type=int, default=8, show_default=True,
              help="Width in pixels of the seam band inside each region where render and fill blend.")
@output_options
def patch_command(pattern: str, renders: str, frames_text: str | None, regions: str | None, feather_px: int,
                  json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Merge region re-renders into the filled frames of FILLED_PATTERN, in place and atomically.

    For every part, layer and channel the region's pixels come from the render,
    a feathered band blends the seam (linear values; ID channels switch hard),
    and pixels outside keep the fill. The manifest records each patched frame
    (regions, render file, sha256); a rerun with the same renders changes nothing.
    A new render of a region patched before replaces that patch: it is merged
    into the original fill (kept in .framefill/prepatch/), not over the old render.
    """
    from framefill import api
    from framefill.requests import PatchRequest, parse_frames

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out), named_flags(FLAGS):
        request = PatchRequest(pattern, renders=renders, frames=parse_frames(frames_text),
                               regions=Path(regions) if regions else None, feather_px=feather_px)
        payload = api.patch_shot(request, report=out.report).to_json()
        out.result(payload, lambda: _human(payload))
