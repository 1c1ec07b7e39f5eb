"""``framefill info``: what a sequence holds and what it lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, output_options, run_command
from framefill.errors import ExrError, SequenceError

# Reading every header of a feature-length sequence is slow; past this, only the
# first and last frames are opened.
MAX_HEADERS_CHECKED = 2000


def describe_sequence(pattern_text: str, frames_text: str | None = None) -> dict[str, Any]:
    """Frames present and missing, plus the layout of the first frame (header only)."""
    from framefill.frames import FramePattern, format_frame_range, parse_frame_range, probe_exr

    path = Path(pattern_text)
    pattern = FramePattern.from_file(path) if path.is_file() else FramePattern.parse(pattern_text)
    on_disk = pattern.scan()
    if frames_text:
        expected = parse_frame_range(frames_text)
    elif on_disk:
        expected = tuple(range(min(on_disk), max(on_disk) + 1))
    else:
        raise SequenceError(f"no frames of {pattern} on disk; check the path and the number of # (padding)")
    present = tuple(f for f in expected if f in on_disk)
    missing = tuple(f for f in expected if f not in on_disk)
    info: dict[str, Any] = {
        "pattern": str(pattern),
        "frames": format_frame_range(present),
        "missing": format_frame_range(missing),
        "present_count": len(present),
        "missing_count": len(missing),
        "first": expected[0] if expected else None,
        "last": expected[-1] if expected else None,
    }
    if not present:
        return info
    exr_frames = [f for f in present if on_disk[f].suffix.lower() == ".exr"]
    if not exr_frames:
        return info
    checked = exr_frames if len(exr_frames) <= MAX_HEADERS_CHECKED else [exr_frames[0], exr_frames[-1]]
    unreadable: dict[int, str] = {}
    first_layout: dict[str, Any] | None = None
    for frame in checked:
        try:
            layout = _layout(probe_exr(on_disk[frame]))
        except ExrError as err:
            unreadable[frame] = err.msg
            continue
        if first_layout is None:
            first_layout = layout
    if first_layout is not None:
        info.update(first_layout)
    if unreadable:
        info["unreadable"] = {str(k): v for k, v in unreadable.items()}
    return info


def _layout(image: Any) -> dict[str, Any]:
    parts = []
    for part in image.parts:
        x0, y0, x1, y1 = part.data_window
        dx0, dy0, dx1, dy1 = part.display_window
        parts.append(
            {
                "name": part.name,
                "storage": "tiled" if part.tiled else "scanline",
                "compression": part.compression,
                "data_window": [x0, y0, x1, y1],
                "display_window": [dx0, dy0, dx1, dy1],
                "layers": {
                    (layer or "(rgba)"): {ch: part.pixel_types()[ch] for ch in chans}
                    for layer, chans in part.layers().items()
                },
            }
        )
    dx0, dy0, dx1, dy1 = image.parts[0].display_window
    return {"resolution": [dx1 - dx0 + 1, dy1 - dy0 + 1], "parts": parts}


def _print_human(info: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"{info['pattern']}")
    echo(f"  frames   {info['frames'] or '-'}  ({info['present_count']} present)")
    echo(f"  missing  {info['missing'] or 'none'}  ({info['missing_count']})")
    if "resolution" in info:
        w, h = info["resolution"]
        echo(f"  size     {w}x{h}")
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


@cli.command("info")
@click.argument("pattern")
@click.option("--frames", "frames_text", help="Expected frame range (default: first to last frame on disk).")
@output_options
def info_command(pattern: str, frames_text: str | None, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Frames present and missing, size, windows, parts, layers/channels and compression of PATTERN.

    PATTERN is a sequence such as shot/beauty.####.exr, or one frame of it.
    """
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        info = describe_sequence(pattern, frames_text)
        out.result(info, lambda: _print_human(info))
