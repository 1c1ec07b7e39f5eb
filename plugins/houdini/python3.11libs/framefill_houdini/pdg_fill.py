"""TOPs: render every Nth frame, fill per batch, qc, and the re-render list as work items.

The "Sparse render + fill (TOPs)" shelf tool builds, in ``/tasks``::

    render_keyframes (ROP Fetch, every Nth frame)
      -> framefill_fill (Python Processor: one work item per batch of frames,
                         ``framefill interpolate IN --out OUT --frames A-B --events``)
      -> framefill_qc (Python Processor: one work item, ``framefill qc ... --events``)
      -> framefill_rerender (Python Processor: one work item per frame to re-render,
                             attribute ``rerender_frame``; wire a ROP Fetch after it)

Each Python Processor's generate callback calls a function here with PDG's
``item_holder`` and ``upstream_items`` and the values the tool wrote into the
callback. Work items run :mod:`framefill_houdini.pdg_task`, which prints
``OUTPUT_FILE:path;tag`` lines for what framefill wrote. No ``hou`` here.
"""

import json
import os
import shlex
import subprocess
from typing import Any, Dict, List, Optional, Sequence, Tuple

from framefill_host import HostError
from framefill_host.commands import interpolate_argv, qc_argv
from framefill_host.patterns import frame_path, parse_range

__all__ = [
    "IMAGE_TAG",
    "QC_TAG",
    "RERENDER_ATTRIB",
    "BBOX_ATTRIBS",
    "CROP_ATTRIBS",
    "crop_of",
    "batches",
    "task_command",
    "generate_fill",
    "generate_qc",
    "generate_rerender",
    "generate_script",
]

IMAGE_TAG = "file/image"
QC_TAG = "file/json"
RERENDER_ATTRIB = "rerender_frame"
# The region of a flagged frame (the bounding box of qc's regions), absent when the whole frame needs a render:
# - int rerender_x0/y0/x1/y1: inclusive display-window pixels, y DOWN, as qc.json and regions.json write them;
# - float rerender_cropl/cropr/cropb/cropt: the same box as fractions of the display window, y UP from its
#   bottom edge (Houdini's convention: a camera's Crop parameters cropl/cropr/cropb/cropt, a COP crop in UV),
#   so a ROP Fetch after the re-render items can set its camera's crop to @rerender_cropl ... @rerender_cropt.
BBOX_ATTRIBS = ("rerender_x0", "rerender_y0", "rerender_x1", "rerender_y1")
CROP_ATTRIBS = ("rerender_cropl", "rerender_cropr", "rerender_cropb", "rerender_cropt")
# PDG puts its own Python in place of this token when it runs a command.
PDG_PYTHON = "__PDG_PYTHON__"


def batches(frames: str, size: int) -> List[Tuple[int, int]]:
    """The frames as (first, last) runs of at most ``size`` consecutive frames.

    Raises:
        HostError: a bad range or a batch size under 1.
    """
    if int(size) < 1:
        raise HostError("a fill batch needs 1 frame or more, got {}".format(size))
    out: List[Tuple[int, int]] = []
    for frame in parse_range(frames):
        if out and frame == out[-1][1] + 1 and frame - out[-1][0] < int(size):
            out[-1] = (out[-1][0], frame)
        else:
            out.append((frame, frame))
    return out


def _join(argv: Sequence[str]) -> str:
    return subprocess.list2cmdline(list(argv)) if os.name == "nt" else shlex.join(argv)


def task_command(argv: Sequence[str], *, python: str = PDG_PYTHON, tag: str = IMAGE_TAG) -> str:
    """The work item's command line: :mod:`framefill_houdini.pdg_task` running ``argv`` (a framefill command)."""
    return _join([python, "-m", "framefill_houdini.pdg_task", "--tag", tag, "--", *argv])


def _cli(cli: Optional[Sequence[str]]) -> List[str]:
    if cli is not None:
        return list(cli)
    from framefill_houdini import prefs  # imports hou: only inside Houdini

    return prefs.cli()


def generate_fill(item_holder: Any, upstream_items: Sequence[Any], *, input_pattern: str, output_pattern: str,
                  frames: str, batch: int, model: Optional[str] = None, cli: Optional[Sequence[str]] = None,
                  python: str = PDG_PYTHON) -> List[Any]:
    """One work item per batch of frames; each expects its frames as output files."""
    command_cli = _cli(cli)
    items = []
    for index, (first, last) in enumerate(batches(frames, batch)):
        item = item_holder.addWorkItem(index=index)
        argv = interpolate_argv(command_cli, input_pattern=input_pattern, output_pattern=output_pattern,
                                frames="{}-{}".format(first, last) if last > first else str(first), model=model)
        item.setCommand(task_command(argv, python=python))
        for frame in range(first, last + 1):
            item.addExpectedOutputFile(frame_path(output_pattern, frame), IMAGE_TAG, True)
        items.append(item)
    return items


def generate_qc(item_holder: Any, upstream_items: Sequence[Any], *, output_pattern: str, report_dir: str,
                cli: Optional[Sequence[str]] = None, python: str = PDG_PYTHON) -> Any:
    """One work item scoring the filled sequence; it reports ``report_dir/qc.json``."""
    item = item_holder.addWorkItem(index=0)
    item.setCommand(task_command(qc_argv(_cli(cli), pattern=output_pattern, report_dir=report_dir),
                                 python=python, tag=QC_TAG))
    item.addExpectedOutputFile(os.path.join(report_dir, "qc.json"), QC_TAG, True)
    return item


def generate_rerender(item_holder: Any, upstream_items: Sequence[Any]) -> List[Any]:
    """One work item per frame that qc flagged, with the int attribute ``rerender_frame``.

    Raises:
        HostError: an upstream qc.json that cannot be read.
    """
    frames: List[int] = []
    boxes: Dict[int, Tuple[List[int], List[float]]] = {}
    for upstream in upstream_items:
        for output in upstream.outputFiles:
            if output.tag == QC_TAG:
                frames += _rerender_frames(output.path)
                boxes.update(_rerender_bboxes(output.path))
    items = []
    for index, frame in enumerate(sorted(set(frames))):
        item = item_holder.addWorkItem(index=index)
        item.setIntAttrib(RERENDER_ATTRIB, frame)
        if frame in boxes:
            pixels, crop = boxes[frame]
            for name, value in zip(BBOX_ATTRIBS, pixels):
                item.setIntAttrib(name, value)
            for name, fraction in zip(CROP_ATTRIBS, crop):
                item.setFloatAttrib(name, fraction)
        items.append(item)
    return items


def crop_of(box: Sequence[int], display_window: Sequence[int]) -> List[float]:
    """An inclusive y-down pixel box as Houdini's crop: [left, right, bottom, top], fractions of the display
    window, y up (bottom 0 is the window's last row)."""
    x0, y0, x1, y1 = box
    dx0, dy0, dx1, dy1 = display_window
    width, height = dx1 - dx0 + 1, dy1 - dy0 + 1
    return [(x0 - dx0) / width, (x1 - dx0 + 1) / width, (dy1 - y1) / height, (dy1 - y0 + 1) / height]


def _rerender_bboxes(path: str) -> Dict[int, Tuple[List[int], List[float]]]:
    """Frame -> the bounding box of its regions in a qc.json, as pixels (y down) and as a crop (y up);
    frames needing the whole frame are left out."""
    with open(path, "r", encoding="utf-8") as handle:
        report = json.load(handle)
    out: Dict[int, Tuple[List[int], List[float]]] = {}
    for row in report.get("frames") or [] if isinstance(report, dict) else []:
        regions = row.get("regions") if isinstance(row, dict) and row.get("flagged") else None
        if isinstance(regions, dict) and not regions.get("whole_frame") and regions.get("boxes") \
                and regions.get("display_window"):
            b = regions["boxes"]
            box = [min(v[0] for v in b), min(v[1] for v in b), max(v[2] for v in b), max(v[3] for v in b)]
            out[int(row["frame"])] = (box, crop_of(box, regions["display_window"]))
    return out


def _rerender_frames(path: str) -> List[int]:
    try:
        with open(path, "r", encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as err:
        raise HostError("cannot read framefill's qc report {}: {}".format(path, err)) from None
    frames = report.get("rerender_frames") if isinstance(report, dict) else None
    if not isinstance(frames, list):
        raise HostError("{} has no rerender_frames list; rerun the framefill_qc work item".format(path))
    return [int(f) for f in frames]


def generate_script(function: str, **values: Any) -> str:
    """The Python Processor's generate callback that calls ``function`` with ``values`` (literals)."""
    args = "".join(", {}={!r}".format(key, values[key]) for key in sorted(values))
    return "import framefill_houdini.pdg_fill as ff\nff.{}(item_holder, upstream_items{})\n".format(function, args)
