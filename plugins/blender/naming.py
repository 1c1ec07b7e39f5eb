"""Blender's output naming as framefill patterns, the sparse plan, and where renders are kept.

No bpy here: the scene is reached through plain values and callables (the
scene's ``render.frame_path``), so this module is the same in every Blender
version and can be read without one.

Layout of a sparse render whose Blender output is ``/shots/a/shot_####.exr``::

    /shots/a/shot_1001.exr ...                 the complete sequence (Blender's naming)
    /shots/a/framefill.manifest.json           what framefill wrote, from what
    /shots/a/.framefill/rendered/shot_1001.exr every frame Blender really rendered
                                               (keyframes and re-renders)
    /shots/a/.framefill/qc/report.html         the QC report

Keeping the real renders apart is what makes a run resumable: framefill's fill
treats every file of its input as rendered, so filled frames must never sit in
the input folder. Rendered frames are copied bit-exact into the sequence.
"""

import os
import re
from typing import Callable, List, Sequence, Tuple

from .framefill_host import HostError
from .framefill_host.patterns import find_token, frame_path, to_framefill

__all__ = [
    "RENDERED_SUBDIR",
    "QC_SUBDIR",
    "UPSCALED_SUBDIR",
    "EXR_FORMATS",
    "pattern_from_frame_path",
    "pattern_from_file",
    "rendered_pattern",
    "report_dir",
    "upscaled_pattern",
    "keyframes",
    "frame_file",
    "temp_render_path",
    "frames_on_disk",
]

# Beside the outputs, inside the folder framefill's manifest already uses.
RENDERED_SUBDIR = os.path.join(".framefill", "rendered")
QC_SUBDIR = os.path.join(".framefill", "qc")
# Visible: the upscaled sequence is a deliverable an artist looks for.
UPSCALED_SUBDIR = "upscaled"
# Blender file formats framefill can fill (it keeps every layer of an EXR).
EXR_FORMATS = ("OPEN_EXR", "OPEN_EXR_MULTILAYER")
# Frame digits Blender can write: frame_path(10**k) grows past the padding within this many steps.
_MAX_PADDING = 10
_DIGITS = re.compile(r"\d+")


def pattern_from_frame_path(frame_path_fn: Callable[[int], str]) -> str:
    """The framefill pattern (``/out/shot_####.exr``) of Blender's output naming.

    ``frame_path_fn(frame)`` is the scene's ``render.frame_path(frame=...)``:
    the file Blender writes for a frame. Its frame token is found by
    comparing frames 0 and 9 (they differ in the last digit only) and its
    padding by the first power of ten that makes the name longer.

    Raises:
        HostError: the output path does not change with the frame number.
    """
    p0, p9 = frame_path_fn(0), frame_path_fn(9)
    diff = [i for i, (a, b) in enumerate(zip(p0, p9)) if a != b]
    if len(p0) != len(p9) or len(diff) != 1 or p0[diff[0]] != "0" or p9[diff[0]] != "9":
        raise HostError("cannot find the frame number in Blender's output path {!r}; set Output Properties > "
                        "Output to a file path such as //render/shot_####".format(p0))
    end = diff[0] + 1
    padding = 1
    while padding < _MAX_PADDING and len(frame_path_fn(10 ** padding)) == len(p0):
        padding += 1
    start = end - padding
    if start < 0 or p0[start:end] != "0" * padding:
        raise HostError("cannot read the frame padding of Blender's output path {!r}".format(p0))
    return os.path.abspath(p0[:start] + "#" * padding + p0[end:])


def pattern_from_file(path: str) -> str:
    """A pattern from what an artist typed or picked: a pattern as is, or one frame's file.

    ``/r/shot_####.exr``, ``/r/shot_%04d.exr`` -> ``/r/shot_####.exr``;
    ``/r/shot_0042.exr`` (a picked frame) -> ``/r/shot_####.exr`` (its last run of digits).

    Raises:
        HostError: empty, or a file name without a frame number.
    """
    text = (path or "").strip()
    if not text:
        raise HostError("no file path given; pick one frame of the sequence or type a pattern such as "
                        "//render/shot_####.exr")
    try:
        find_token(text)
        return os.path.abspath(to_framefill(text))
    except HostError:
        pass
    folder, name = os.path.split(text)
    runs = list(_DIGITS.finditer(name))
    if not runs:
        raise HostError("{} has no frame number; pick one frame of the sequence (shot_0001.exr) or type a pattern "
                        "with #### for the frame number".format(text))
    last = runs[-1]
    name = name[: last.start()] + "#" * len(last.group()) + name[last.end():]
    return os.path.abspath(os.path.join(folder, name))


def rendered_pattern(output_pattern: str) -> str:
    """Where the real renders of ``output_pattern`` are kept (same file names, own folder)."""
    folder, name = os.path.split(output_pattern)
    return os.path.join(folder, RENDERED_SUBDIR, name)


def report_dir(output_pattern: str) -> str:
    """Folder of the QC report (report.html, qc.json, heatmaps) of a sequence."""
    return os.path.join(os.path.dirname(output_pattern), QC_SUBDIR)


def upscaled_pattern(output_pattern: str) -> str:
    """Where the upscaled copy of a sequence goes: ``upscaled/`` beside it, same file names."""
    folder, name = os.path.split(output_pattern)
    return os.path.join(folder, UPSCALED_SUBDIR, name)


def keyframes(frames: Sequence[int], every: int) -> Tuple[int, ...]:
    """Every ``every``-th frame from the first, plus the last (``framefill.api.plan_shot``'s rule).

    Both ends are always rendered so every other frame has a rendered frame on
    each side; a test holds this against the core.

    Raises:
        HostError: ``every`` below 1.
    """
    if int(every) < 1:
        raise HostError("render every Nth frame needs N of 1 or more, got {}".format(every))
    ordered = sorted(set(int(f) for f in frames))
    if not ordered:
        return ()
    picked = set(ordered[:: int(every)])
    picked.add(ordered[-1])
    return tuple(sorted(picked))


def frame_file(pattern: str, frame: int) -> str:
    """The file of one frame of a framefill pattern."""
    return frame_path(pattern, frame)


def temp_render_path(dest: str) -> str:
    """A hidden name in ``dest``'s folder for Blender to write into before the atomic rename.

    It keeps the extension (Blender adds one otherwise) and starts with a dot,
    so no framefill pattern matches it while it is being written.
    """
    folder, name = os.path.split(dest)
    return os.path.join(folder, ".ff-partial-{}-{}".format(os.getpid(), name))


def frames_on_disk(pattern: str, frames: Sequence[int]) -> List[int]:
    """Which of ``frames`` have a file (complete: every writer here renames into place)."""
    return [f for f in frames if os.path.isfile(frame_file(pattern, f))]
