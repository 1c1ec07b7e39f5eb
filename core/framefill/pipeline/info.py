"""What a sequence (or a single still) holds and what it lacks: ``framefill info``.

Headers only: every frame checked is checked for damage without decoding its
pixels (:func:`framefill.frames.check_exr`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from framefill.errors import (
    ExrError,
    FramefillError,
    InputError,
    JobFailedError,
    SequenceError,
)

__all__ = ["describe_sequence", "describe_still", "exit_status", "MAX_HEADERS_CHECKED"]

# Reading every header of a feature-length sequence is slow; past this, only the
# first and last frames are opened.
MAX_HEADERS_CHECKED = 2000
# Unreadable frames named in the one-line error (the JSON lists them all).
_NAMED_IN_ERROR = 3


def describe_sequence(pattern_text: str, frames_text: str | None = None) -> dict[str, Any]:
    """Frames present and missing, plus the layout of the first readable frame (headers only).

    ``pattern_text`` is a pattern (``shot/beauty.####.exr``), one frame of a
    sequence (``shot/beauty.1001.exr``: a frame number needs a separator such
    as ``.`` or ``_`` before it), or a single image without a frame number
    (``beauty.exr``, ``Rec709.exr``), which is described as a still. Every
    frame checked is checked for damage without decoding pixels
    (:func:`framefill.frames.check_exr`); damaged ones are listed under
    ``unreadable`` (frame -> message) and counted in ``unreadable_count``
    out of ``checked_count``.

    Raises:
        InputError: a path that is missing, a folder, or an unreadable single image.
        SequenceError: a bad pattern or range, or no frames of the pattern on disk.
    """
    from framefill.frames import FramePattern, format_frame_range, parse_frame_range
    from framefill.frames._files import file_problem
    from framefill.frames.sequence import sequence_pattern_of

    path = Path(pattern_text)
    if os.path.lexists(path) and not path.is_dir():
        problem = file_problem(path)
        if problem is not None:
            raise InputError(f"cannot read {path}: {problem}")
        pattern = sequence_pattern_of(path)
        if pattern is None:
            return describe_still(path)
    elif path.is_dir():
        raise InputError(f"{path} is a folder; {_folder_hint(path)}")
    else:
        try:
            pattern = FramePattern.parse(pattern_text)
        except SequenceError:
            problem = file_problem(path)
            if problem is not None and "#" not in pattern_text:
                raise InputError(f"cannot read {path}: {problem}") from None
            raise
        if pattern.still:  # one image that is not there
            raise InputError(f"cannot read {path}: {file_problem(path) or 'file not found'}")
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
        "still": False,
        "frames": format_frame_range(present),
        "missing": format_frame_range(missing),
        "present_count": len(present),
        "missing_count": len(missing),
        "first": expected[0] if expected else None,
        "last": expected[-1] if expected else None,
    }
    strays = pattern.strays()
    if strays:
        info["strays"] = [pattern.stray_warning(s) for s in strays]
    if not present:
        return info
    checked = list(present) if len(present) <= MAX_HEADERS_CHECKED else [present[0], present[-1]]
    unreadable: dict[int, str] = {}
    first_layout: dict[str, Any] | None = None
    for frame in checked:
        try:
            layout = _describe_file(on_disk[frame], full=first_layout is None)
        except InputError as err:
            unreadable[frame] = err.msg
            continue
        if first_layout is None:
            first_layout = layout
    if first_layout is not None:
        info.update(first_layout)
    info["checked_count"] = len(checked)
    info["unreadable_count"] = len(unreadable)
    if unreadable:
        info["unreadable"] = {str(k): v for k, v in unreadable.items()}
    return info


def describe_still(path: Path) -> dict[str, Any]:
    """One image without a frame number, described like a one-frame sequence with ``still: true``.

    Raises:
        InputError: the file cannot be read (ExrError for EXR files).
    """
    info: dict[str, Any] = {
        "pattern": str(path),
        "still": True,
        "frames": "",
        "missing": "",
        "present_count": 1,
        "missing_count": 0,
        "first": None,
        "last": None,
        "checked_count": 1,
        "unreadable_count": 0,
    }
    info.update(_describe_file(path, full=True))
    return info


def _describe_file(path: Path, *, full: bool) -> dict[str, Any]:
    """The layout of one frame file (``full``) or just a damage check (empty dict); EXR by headers only.

    Raises:
        InputError: missing, damaged, or not a format framefill reads.
    """
    from framefill.frames import check_exr, probe_exr, read_image
    from framefill.frames._files import sniff_format
    from framefill.frames.images import IMAGE_EXTENSIONS

    kind = sniff_format(path)
    suffix = path.suffix.lower()
    if suffix == ".exr" or kind == "exr":
        check_exr(path)  # every kind of damage, and another format under the .exr name
        return _layout(probe_exr(path)) if full else {}
    if kind in ("png", "jpeg", "tiff") or suffix in IMAGE_EXTENSIONS:
        if not full and kind is not None:
            return {}  # later frames: the magic number is checked, pixels are not decoded
        pixels, depth = read_image(path)
        h, w, c = pixels.shape
        return {"resolution": [w, h], "format": kind or suffix.lstrip("."), "bit_depth": depth, "channels": c,
                "parts": []}
    what = f"a {kind.upper()} file" if kind else "a file of unknown format"
    raise InputError(f"cannot read {path}: it is {what}, which framefill does not read; give an EXR, PNG, TIFF or JPEG file")


def _folder_hint(folder: Path) -> str:
    from framefill.frames import find_sequences, sequence_pattern_of

    try:
        found = find_sequences(folder)
    except SequenceError:
        found = []
    # Only names with a real frame number (not Rec709.exr read as frame 709).
    sequences = [s for s in found if s.first is not None and sequence_pattern_of(s.pattern.path(s.first))]
    if not sequences:
        return "give a pattern such as shot/beauty.####.exr or one image file"
    shown = ", ".join(str(s) for s in sequences[:3])
    more = f" and {len(sequences) - 3} more" if len(sequences) > 3 else ""
    return f"give one of its sequences: {shown}{more}"


def exit_status(info: dict[str, Any]) -> FramefillError | None:
    """The error that sets info's exit status, or None for 0.

    1 (JobFailedError): some frames checked are unreadable, some readable;
    2 (InputError): every frame checked is unreadable.
    """
    bad = int(info.get("unreadable_count", 0))
    if not bad:
        return None
    frames = list(info.get("unreadable", {}))
    named = ", ".join(frames[:_NAMED_IN_ERROR]) + (f" and {bad - _NAMED_IN_ERROR} more" if bad > _NAMED_IN_ERROR else "")
    first = next(iter(info.get("unreadable", {}).values()), "")
    if bad >= int(info.get("checked_count", bad)):
        return ExrError(f"none of the {bad} frames checked of {info['pattern']} can be read (frames {named}); first: {first}")
    return JobFailedError(
        f"{bad} of {info['checked_count']} frames checked of {info['pattern']} cannot be read (frames {named}); "
        f"re-render or re-copy them; first: {first}"
    )


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
