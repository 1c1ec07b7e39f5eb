"""Render > "Submit to Deadline Cloud (framefill)": a ROP's shot as a Deadline Cloud job bundle.

The bundle is framefill's ``sparse_pipeline`` (Fill -> QC -> Report) over the
ROP's output; with "render on the farm" a Houdini step comes first: hython
loads the .hip and renders the ROP, one task per keyframe, into the ROP's own
output folder. It is written as every host writes bundles: by the framefill
CLI, ``framefill farm bundle sparse_pipeline ... [--render-step FILE] --events``
(``framefill.api.make_bundle`` checks every value). Where the Deadline Cloud
client with its GUI (``deadline[gui]``) imports in Houdini, its submitter
opens on the bundle; otherwise the bundle is saved for ``deadline bundle submit``.
"""

import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from framefill_host import HostError
from framefill_host.bundles import render_step_document, write_bundle, write_bundle_argv
from framefill_host.patterns import format_range, to_houdini

from framefill_houdini.paths import FILLED_FOLDER, QC_FOLDER, beside

__all__ = [
    "MENU_LABEL",
    "RENDER_STEP_NAME",
    "RENDER_CODE",
    "keyframes",
    "render_step",
    "bundle_request",
    "render_step_document",
    "write_bundle_argv",
    "write_bundle",
    "deadline_submitter",
]

MENU_LABEL = "Submit to Deadline Cloud (framefill)"
RENDER_STEP_NAME = "HoudiniRender"
# hython -c RENDER_CODE HIP ROP FRAME OUTPUT: render one frame of a ROP to OUTPUT ($F4 kept for Houdini).
RENDER_CODE = (
    "import sys, hou; hip, rop, frame, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]; "
    "hou.hipFile.load(hip, suppress_save_prompt=True, ignore_load_warnings=True); node = hou.node(rop); "
    "node is None and sys.exit('framefill: no ROP ' + rop + ' in ' + hip); "
    "node.render(frame_range=(frame, frame), output_file=out, verbose=True)"
)
HIP_PARAMETER: Dict[str, Any] = {
    "name": "HipFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
    "description": "The .hip file whose ROP renders the keyframes.",
    "userInterface": {"control": "CHOOSE_INPUT_FILE", "label": "Houdini file", "groupLabel": "Houdini",
                      "fileFilters": [{"label": "Houdini files", "patterns": ["*.hip", "*.hiplc", "*.hipnc"]}]},
}
ROP_PARAMETER: Dict[str, Any] = {
    "name": "RopPath", "type": "STRING", "description": "The ROP that renders the keyframes, e.g. /out/karma1.",
    "userInterface": {"control": "LINE_EDIT", "label": "ROP", "groupLabel": "Houdini"},
}


def keyframes(frames: Sequence[int], every: int) -> Tuple[int, ...]:
    """Every ``every``-th frame from the first, plus the last (``framefill plan``'s rule).

    Raises:
        HostError: ``every`` below 1.
    """
    if int(every) < 1:
        raise HostError("render every Nth frame needs N of 1 or more, got {}".format(every))
    ordered = sorted(set(int(f) for f in frames))
    picked = set(ordered[:: int(every)])
    if ordered:
        picked.add(ordered[-1])
    return tuple(sorted(picked))


def render_step(file_name: str) -> Dict[str, Any]:
    """The OpenJD step: hython renders one keyframe per task into the job's input folder.

    ``file_name`` is the ROP output's file name in framefill's spelling
    (``shot.####.exr``); Houdini gets it back as ``shot.$F4.exr``.
    """
    return {
        "name": RENDER_STEP_NAME,
        "description": "Houdini renders the keyframes that framefill fills between.",
        "parameterSpace": {"taskParameterDefinitions": [{"name": "Frame", "type": "INT",
                                                         "range": "{{Param.Keyframes}}"}]},
        "script": {"actions": {"onRun": {
            "command": "hython",
            "args": ["-c", RENDER_CODE, "{{Param.HipFile}}", "{{Param.RopPath}}", "{{Task.Param.Frame}}",
                     "{{Param.InputDir}}/" + to_houdini(file_name)],
            "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30},
        }}},
    }


def bundle_request(*, hip_file: str, rop_path: str, input_pattern: str, frames: Sequence[int], every: int,
                   out_dir: str, model: str, device: str, threshold_db: float, chunk_size: int,
                   houdini_version: str, render_on_farm: bool, name: Optional[str] = None) -> Dict[str, Any]:
    """The job as ``framefill.requests.BundleRequest`` fields, JSON-ready.

    ``input_pattern`` is the ROP's output (framefill spelling), where the
    keyframes are (or will be) rendered; filled frames go beside it, in
    ``framefill_filled/``.

    Raises:
        HostError: no frames, or nothing left to fill.
    """
    if not frames:
        raise HostError("the ROP's frame range is empty")
    keys = keyframes(frames, every)
    if len(keys) == len(set(frames)):
        raise HostError("with every {} each frame is a keyframe: nothing to fill; render every 2nd frame or more"
                        .format(every))
    params: Dict[str, Any] = {"Device": device, "Threshold": repr(float(threshold_db))}
    output = beside(input_pattern, FILLED_FOLDER)
    request: Dict[str, Any] = {
        "kind": "sparse_pipeline",
        "out_dir": out_dir,
        "input_pattern": input_pattern,
        "output_pattern": output,
        "frames": format_range(frames),
        "keyframes": format_range(keys),
        "chunk_size": int(chunk_size),
        "model": model,
        "report_dir": os.path.join(os.path.dirname(output), QC_FOLDER),
        "params": params,
        "name": name or "framefill {}".format(os.path.basename(hip_file)),
    }
    if render_on_farm:
        # Only the render step runs Houdini (hython): the queue's conda environment installs
        # it; framefill itself comes from the framefill queue environment.
        params.update({"HipFile": hip_file, "RopPath": rop_path})
        request["conda_packages"] = ["houdini={}".format(houdini_version)]
        request["render_step"] = render_step(os.path.basename(input_pattern))
        request["render_parameters"] = [HIP_PARAMETER, ROP_PARAMETER]
    return request








def deadline_submitter() -> Optional[Callable[..., Any]]:
    """The Deadline Cloud submitter dialog, or None where ``deadline[gui]`` does not import in Houdini."""
    try:
        from deadline.client.ui.job_bundle_submitter import show_job_bundle_submitter  # type: ignore[import-not-found]
    except ImportError:
        return None
    return show_job_bundle_submitter
