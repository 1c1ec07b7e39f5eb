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
"""

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .framefill_host import HostError
from .framefill_host.commands import bundle_argv
from .framefill_host.patterns import format_range
from .framefill_host.runner import run_cli
from .naming import keyframes, rendered_pattern

__all__ = [
    "RENDER_STEP_NAME",
    "BLEND_FILE_PARAMETER",
    "render_step",
    "bundle_request",
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
RENDER_STEP_FILE = "render_step.json"


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
            # The queue's conda environment installs both programs for every step.
            "CondaPackages": "blender={} framefill".format(blender_version),
        },
        "render_step": render_step(os.path.basename(staged)),
        "render_parameters": [BLEND_FILE_PARAMETER],
        "name": name or "framefill {}".format(os.path.basename(blend_file)),
    }


def render_step_document(request: Mapping[str, Any]) -> Dict[str, Any]:
    """What the ``--render-step`` file holds: the request's ``step`` and its ``parameterDefinitions``."""
    return {"step": request["render_step"], "parameterDefinitions": list(request.get("render_parameters") or [])}


def write_bundle_argv(request: Mapping[str, Any], *, cli: Sequence[str], render_step_file: str) -> List[str]:
    """The ``framefill farm bundle`` command line of a :func:`bundle_request`, its step in ``render_step_file``.

    Raises:
        HostError: a request without a kind or folder.
    """
    if not request.get("kind") or not request.get("out_dir"):
        raise HostError("the job bundle request needs a kind and a folder")
    return bundle_argv(
        cli, kind=request["kind"], out_dir=str(request["out_dir"]), input_pattern=request.get("input_pattern"),
        output_pattern=request.get("output_pattern"), frames=request.get("frames"),
        keyframes=request.get("keyframes"), model=request.get("model"), chunk_size=request.get("chunk_size"),
        name=request.get("name"), params=request.get("params"),
        render_step=render_step_file if request.get("render_step") is not None else None,
    )


def write_bundle(request: Mapping[str, Any], *, cli: Sequence[str], env: Optional[Mapping[str, str]] = None) -> str:
    """Write the bundle of a :func:`bundle_request` with the framefill CLI; returns its folder.

    The render step goes to the CLI as a temporary JSON file (``--render-step``),
    removed again when the CLI is done.

    Raises:
        HostError: the CLI refused the request (its one-line error), or could not be started.
    """
    folder = tempfile.mkdtemp(prefix="framefill-render-step-")
    try:
        step_file = os.path.join(folder, RENDER_STEP_FILE)
        if request.get("render_step") is not None:
            with open(step_file, "w", encoding="utf-8") as fh:
                json.dump(render_step_document(request), fh, indent=1)
        outcome = run_cli(write_bundle_argv(request, cli=cli, render_step_file=step_file), env=env)
    except OSError as err:
        raise HostError("cannot write the render step for the job bundle: {}".format(err.strerror or err)) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not outcome.ok:
        raise HostError("cannot write the job bundle: {}".format(outcome.message))
    bundle = (outcome.result or {}).get("bundle")
    if not isinstance(bundle, str):
        raise HostError("framefill wrote no job bundle (no folder in its answer)")
    return bundle


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
