"""Submit to Deadline Cloud: a job bundle whose first step renders the keyframes with Blender.

The bundle is framefill's ``sparse_pipeline`` (Fill -> QC -> Report) with a
Blender render step put first; Fill then waits for the render. It is written
the way every host writes bundles: by the framefill CLI, ``framefill farm
bundle sparse_pipeline ... --render-step FILE --events`` (the shared client's
``bundle_argv``), with the step and its BlendFile parameter in a temporary
JSON file; the CLI checks every value (``framefill.api.make_bundle``). With
``deadline[gui]`` in framefill's Python the Deadline Cloud submitter dialog
opens on the bundle; otherwise the bundle stays in the chosen folder for
``deadline bundle submit``. No bpy here.

The re-render job (:func:`rerender_bundle_request`) is framefill's ``qc`` job
with a Blender step put first that renders, per frame of QC's re-render list,
only the frame's regions (a render border from the ``regions.json`` that
``framefill qc --report`` wrote; the whole frame where QC says so) and patches
them into the filled frame with ``framefill patch``; QC and Report then score
the shot again.
"""

import inspect
import json
import os
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .framefill_host import HostError
from .framefill_host.bundles import render_step_document, write_bundle, write_bundle_argv
from .framefill_host.patterns import format_range
from .naming import keyframes, rendered_pattern
from .regions import border_of

__all__ = [
    "RENDER_STEP_NAME",
    "BLEND_FILE_PARAMETER",
    "render_step",
    "bundle_request",
    "REGION_RENDER_STEP_NAME",
    "REGIONS_PARAMETER",
    "RERENDER_PARAMETER",
    "region_render_step",
    "region_render_script",
    "rerender_bundle_request",
    "last_qc_listing",
    "render_step_document",
    "write_bundle_argv",
    "write_bundle",
    "python_of",
    "gui_submitter_available",
    "open_gui_submitter",
]

RENDER_STEP_NAME = "BlenderRender"
BLEND_FILE_PARAMETER: Dict[str, Any] = {
    "name": "BlendFile",
    "type": "PATH",
    "objectType": "FILE",
    "dataFlow": "IN",
    "description": "The .blend file whose keyframes the Blender step renders.",
    "userInterface": {
        "control": "CHOOSE_INPUT_FILE",
        "label": "Blender file",
        "groupLabel": "Blender",
        "fileFilters": [{"label": "Blender files", "patterns": ["*.blend"]}],
    },
}
# The file ``--render-step`` reads, in the temporary folder of one write_bundle call.


def render_step(file_name: str) -> Dict[str, Any]:
    """The OpenJD step that renders one keyframe per task into the job's keyframe folder.

    ``file_name`` is the output's file name with Blender's #### (``shot_####.exr``);
    Blender's own ``--render-output`` expands it, so the farm writes the same
    names as Render sparse + fill does on a workstation.
    """
    return {
        "name": RENDER_STEP_NAME,
        "description": "Blender renders the keyframes that framefill fills between.",
        "parameterSpace": {
            "taskParameterDefinitions": [{"name": "Frame", "type": "INT", "range": "{{Param.Keyframes}}"}],
        },
        "script": {
            "actions": {
                "onRun": {
                    "command": "blender",
                    "args": [
                        "--background", "{{Param.BlendFile}}",
                        "--render-output", "{{Param.InputDir}}/" + file_name,
                        "--render-frame", "{{Task.Param.Frame}}",
                    ],
                    "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30},
                },
            },
        },
    }


REGION_RENDER_STEP_NAME = "BlenderRegionRender"
REGIONS_PARAMETER: Dict[str, Any] = {
    "name": "Regions",
    "type": "PATH",
    "objectType": "FILE",
    "dataFlow": "IN",
    "description": "The regions.json `framefill qc --report` wrote: the boxes each listed frame re-renders.",
    "userInterface": {
        "control": "CHOOSE_INPUT_FILE",
        "label": "Regions file",
        "groupLabel": "Blender",
        "fileFilters": [{"label": "framefill regions (regions.json)", "patterns": ["*.json"]}],
    },
}
RERENDER_PARAMETER: Dict[str, Any] = {
    "name": "Rerender",
    "type": "STRING",
    "minLength": 1,
    "description": "The frames the Blender step re-renders (the frames of the regions file), as an OpenJD range.",
    "userInterface": {"label": "Frames to re-render", "groupLabel": "Blender"},
}
# Where the farm's region renders go, inside the output folder (full-size files, black outside the border).
FARM_REGIONS_FOLDER = ".framefill/regions/farm"

# Runs in the worker's Blender (no framefill extension there): argv after "--" is
# REGIONS_FILE FRAME RENDER_PATTERN FILLED_PATTERN; border_of is put in front of it.
_REGION_SCRIPT_BODY = '''

def main(argv):
    regions_file, frame, render_pattern, filled_pattern = argv[0], int(argv[1]), argv[2], argv[3]
    with open(regions_file, encoding="utf-8") as handle:
        record = json.load(handle).get("frames", {}).get(str(frame))
    if not isinstance(record, dict):
        raise SystemExit("framefill: frame %d is not in %s; submit the re-render job again" % (frame, regions_file))
    scene = bpy.context.scene
    scene.frame_set(frame)
    render = scene.render
    boxes = record.get("boxes") or []
    render.use_border = bool(boxes) and not record.get("whole_frame")
    if render.use_border:
        # one render of the boxes' bounding box; patch takes only the boxes from it
        dx0, dy0, dx1, dy1 = record["display_window"]
        union = (min(b[0] for b in boxes) - dx0, min(b[1] for b in boxes) - dy0,
                 max(b[2] for b in boxes) - dx0, max(b[3] for b in boxes) - dy0)
        border = border_of(union, dx1 - dx0 + 1, dy1 - dy0 + 1)
        render.border_min_x, render.border_max_x, render.border_min_y, render.border_max_y = border
        render.use_crop_to_border = False
    render.filepath = render_pattern
    render.filepath = render.frame_path(frame=frame)  # a still's path keeps its #s: name the frame's file
    bpy.ops.render.render(write_still=True)
    done = subprocess.run(["framefill", "patch", filled_pattern, "--renders", render_pattern, "--frames",
                           str(frame), "--regions", regions_file], check=False)
    if done.returncode:
        raise SystemExit(done.returncode)


main(sys.argv[sys.argv.index("--") + 1:])
'''


def region_render_script() -> str:
    """The Python the region render step runs in Blender: border from the regions file, render, patch."""
    return ("import json\nimport subprocess\nimport sys\nfrom typing import Tuple\n\nimport bpy\n\n"
            "Box = Tuple[int, int, int, int]\n\n\n" + inspect.getsource(border_of) + _REGION_SCRIPT_BODY)


def region_render_step(file_name: str) -> Dict[str, Any]:
    """The OpenJD step that re-renders one listed frame per task: its regions with a render border (or the
    whole frame where QC says so), then ``framefill patch`` merges them into the filled frame.

    ``file_name`` is the output's file name with Blender's #### (``shot_####.exr``).
    """
    return {
        "name": REGION_RENDER_STEP_NAME,
        "description": "Blender renders the regions QC lists and framefill patches them into the filled frames.",
        "parameterSpace": {
            "taskParameterDefinitions": [{"name": "Frame", "type": "INT", "range": "{{Param.Rerender}}"}],
        },
        "script": {
            "embeddedFiles": [{"name": "RenderRegions", "type": "TEXT", "filename": "framefill_render_regions.py",
                               "data": region_render_script()}],
            "actions": {
                "onRun": {
                    "command": "blender",
                    "args": [
                        "--background", "{{Param.BlendFile}}", "--python-exit-code", "1",
                        "--python", "{{Task.File.RenderRegions}}", "--",
                        "{{Param.Regions}}", "{{Task.Param.Frame}}",
                        "{{Param.OutputDir}}/" + FARM_REGIONS_FOLDER + "/" + file_name,
                        "{{Param.OutputDir}}/{{Param.OutputPattern}}",
                    ],
                    "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30},
                },
            },
        },
    }


def rerender_bundle_request(
    *,
    blend_file: str,
    regions_file: str,
    output_pattern: str,
    filled: Sequence[int],
    out_dir: str,
    threshold_db: float,
    blender_version: str,
    name: Optional[str] = None,
) -> Dict[str, Any]:
    """The re-render job as ``BundleRequest`` fields: framefill's qc job, Blender's region render step first.

    The step's frames are those of ``regions_file`` (a ``regions.json``); ``filled``
    the shot's filled frames, which QC scores again after the patches.

    Raises:
        HostError: a regions file that cannot be read or lists no frame.
    """
    try:
        with open(regions_file, encoding="utf-8") as handle:
            listed = sorted(int(f) for f in json.load(handle)["frames"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise HostError("cannot read the regions file {}: {}; pass the regions.json `framefill qc --report` "
                        "wrote".format(regions_file, err)) from None
    if not listed:
        raise HostError("{} lists no frame to re-render: nothing to submit".format(regions_file))
    return {
        "kind": "qc",
        "out_dir": out_dir,
        "output_pattern": output_pattern,
        "filled": format_range(filled),
        "params": {
            "BlendFile": blend_file,
            "Regions": regions_file,
            "Rerender": format_range(listed),
            "Threshold": repr(float(threshold_db)),
        },
        # The region render step runs Blender: the queue's conda environment installs it
        # (framefill itself comes from the framefill queue environment).
        "conda_packages": ["blender={}".format(blender_version)],
        "render_step": region_render_step(os.path.basename(output_pattern)),
        "render_parameters": [BLEND_FILE_PARAMETER, REGIONS_PARAMETER, RERENDER_PARAMETER],
        "name": name or "framefill re-render {}".format(os.path.basename(blend_file)),
    }


def last_qc_listing(qc_dir: str) -> Tuple[str, Tuple[int, ...]]:
    """The ``regions.json`` in ``qc_dir`` (a report folder of ``framefill qc --report``) and the filled
    frames its ``qc.json`` scored: what :func:`rerender_bundle_request` takes.

    Raises:
        HostError: no QC output there, or QC listed no frame for a re-render.
    """
    regions_file, qc_file = os.path.join(qc_dir, "regions.json"), os.path.join(qc_dir, "qc.json")
    try:
        with open(qc_file, encoding="utf-8") as handle:
            doc = json.load(handle)
        filled = tuple(sorted(int(row["frame"]) for row in doc["frames"]))
    except (OSError, ValueError, KeyError, TypeError):
        doc = None
    if doc is None or not os.path.isfile(regions_file):
        raise HostError("no QC output (qc.json, regions.json) in {}: run Render Sparse + Fill first".format(qc_dir))
    if not doc.get("rerender"):
        raise HostError("QC listed no frame in {}: nothing to re-render".format(qc_file))
    return regions_file, filled


def bundle_request(
    *,
    blend_file: str,
    output_pattern: str,
    frames: Sequence[int],
    every: int,
    out_dir: str,
    model: str,
    device: str,
    threshold_db: float,
    chunk_size: int,
    blender_version: str,
    name: Optional[str] = None,
) -> Dict[str, Any]:
    """The job as ``framefill.requests.BundleRequest`` fields, JSON-ready: a sparse_pipeline, Blender's render first.

    Raises:
        HostError: no frames, or nothing left to fill.
    """
    if not frames:
        raise HostError("the scene's frame range is empty")
    keys = keyframes(frames, every)
    if len(keys) == len(set(frames)):
        raise HostError("with Render Every {} every frame is a keyframe: nothing to fill; render every 2nd "
                        "frame or more".format(every))
    staged = rendered_pattern(output_pattern)
    return {
        "kind": "sparse_pipeline",
        "out_dir": out_dir,
        "input_pattern": staged,
        "output_pattern": output_pattern,
        "frames": format_range(frames),
        "keyframes": format_range(keys),
        "chunk_size": int(chunk_size),
        "model": model,
        "params": {
            "BlendFile": blend_file,
            "Device": device,
            "Threshold": repr(float(threshold_db)),
        },
        # The render step runs Blender: the queue's conda environment installs it
        # (framefill itself comes from the framefill queue environment).
        "conda_packages": ["blender={}".format(blender_version)],
        "render_step": render_step(os.path.basename(staged)),
        "render_parameters": [BLEND_FILE_PARAMETER],
        "name": name or "framefill {}".format(os.path.basename(blend_file)),
    }








def python_of(cli: Sequence[str]) -> Optional[str]:
    """The interpreter of a ``[python, "-m", "framefill"]`` command, else None."""
    if len(cli) >= 3 and cli[1] == "-m" and cli[2] == "framefill":
        return cli[0]
    return None


def gui_submitter_available(python: Optional[str], *, env: Optional[Mapping[str, str]] = None) -> bool:
    """True when ``python`` has the Deadline Cloud client with its GUI (``deadline[gui]``)."""
    if not python:
        return False
    try:
        done = subprocess.run([python, "-c", "import deadline.client.ui"], env=None if env is None else dict(env),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def gui_submit_argv(python: str, bundle_dir: str) -> List[str]:
    """The Deadline Cloud submitter dialog on a bundle (``deadline bundle gui-submit``)."""
    return [python, "-m", "deadline", "bundle", "gui-submit", bundle_dir, "--submitter-info",
            "submitter_name=framefill", "--submitter-info", "host_application_name=Blender"]


def open_gui_submitter(python: str, bundle_dir: str, *, env: Optional[Mapping[str, str]] = None) -> None:
    """Open the submitter dialog in its own process (Blender stays usable while it is open).

    Raises:
        HostError: the process cannot be started.
    """
    try:
        subprocess.Popen(gui_submit_argv(python, bundle_dir), env=None if env is None else dict(env),
                         stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as err:
        raise HostError("cannot open the Deadline Cloud submitter: {}".format(err.strerror or err)) from None
