"""``framefill info``: what a sequence holds and what it lacks."""

from __future__ import annotations

from typing import Any

import click

from framefill.cli import cli, make_output, output_options, run_command


def _print_human(info: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"{info['pattern']}")
    if info.get("still"):
        echo("  still    one image, no frame number")
    else:
        echo(f"  frames   {info['frames'] or '-'}  ({info['present_count']} present)")
        echo(f"  missing  {info['missing'] or 'none'}  ({info['missing_count']})")
    if "resolution" in info:
        w, h = info["resolution"]
        echo(f"  size     {w}x{h}")
    if "format" in info:
        echo(f"  format   {info['format']}, {info['bit_depth']}-bit, {info['channels']} channel(s)")
    for part in info.get("parts", []):
        name = part["name"] or "(single part)"
        echo(
            f"  part {name}: {part['storage']}, {part['compression']}, "
            f"data window {tuple(part['data_window'])}, display window {tuple(part['display_window'])}"
        )
        for layer, channels in part["layers"].items():
            chans = ", ".join(f"{c} {t}" for c, t in channels.items())
            echo(f"    {layer:<12} {chans}")
    for frame, msg in info.get("unreadable", {}).items():
        echo(f"  unreadable frame {frame}: {msg}")
    for line in info.get("strays", []):
        echo(f"  skipped  {line}")


@cli.command("info")
@click.argument("pattern")
@click.option("--frames", "frames_text", help="Expected frame range (default: first to last frame on disk).")
@output_options
def info_command(pattern: str, frames_text: str | None, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Frames present and missing, size, windows, parts, layers/channels and compression of PATTERN.

    PATTERN is a sequence such as shot/beauty.####.exr, one frame of it
    (shot/beauty.1001.exr: a frame number needs a . _ - or space before it),
    or a single image without a frame number (beauty.exr), described as a
    still. Every frame is checked for damage (truncated, empty, wrong format,
    broken chunk table) without decoding its pixels.

    \b
    Exit status: 0 every frame checked is readable;
                 1 some frames are unreadable (listed, and under "unreadable" in --json);
                 2 no frame is readable, or bad input (missing path, unreadable single image).
    """
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        info, failure = api.describe_shot(pattern, frames=frames_text)
        out.result(info, lambda: _print_human(info))
        if failure is not None:
            raise failure
