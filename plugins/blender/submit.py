"""Submit to Deadline Cloud: a job bundle whose first step renders the keyframes with Blender.

The bundle is framefill's ``sparse_pipeline`` (Fill -> QC -> Report) with a
Blender render step prepended by ``framefill.api.make_bundle(render_step=...)``;
Fill then waits for the render. No bpy here.

``make_bundle`` needs the core (openjd, yaml), which Blender's Python usually
lacks: it is called in-process when ``framefill`` imports, otherwise in the
configured framefill Python. With ``deadline[gui]`` in that Python the
Deadline Cloud submitter dialog opens on the bundle; otherwise the bundle stays
in the chosen folder for ``deadline bundle submit``.
"""

import importlib.util
import json
import os
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .framefill_host import HostError
from .framefill_host.patterns import format_range
from .framefill_host.runner import run_cli
from .naming import keyframes, rendered_pattern

__all__ = [
    "RENDER_STEP_NAME",
    "BLEND_FILE_PARAMETER",
    "render_step",
    "bundle_request",
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
# How long a bundle may take to write out of process (imports openjd, validates the template).
BUNDLE_TIMEOUT_S = 120.0

# Run by the framefill Python when Blender's own cannot import framefill. It prints
# the CLI's --events lines so the shared runner reads its result and its error.
_BUNDLE_SCRIPT = """\
import json, sys
from framefill.errors import FramefillError
try:
    from framefill.api import make_bundle
    request = json.loads(sys.argv[1])
    folder = make_bundle(request.pop("kind"), **request)
except FramefillError as err:
    print(json.dumps({"kind": "error", "message": err.msg, "data": {"exit_code": err.exit_code}}))
    sys.exit(err.exit_code)
print(json.dumps({"kind": "done", "data": {"bundle": str(folder)}}))
"""


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
    """The keyword arguments of ``make_bundle("sparse_pipeline", ...)`` (plus ``kind``), JSON-ready.

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


def python_of(cli: Sequence[str]) -> Optional[str]:
    """The interpreter of a ``[python, "-m", "framefill"]`` command, else None."""
    if len(cli) >= 3 and cli[1] == "-m" and cli[2] == "framefill":
        return cli[0]
    return None


def write_bundle(request: Mapping[str, Any], *, cli: Sequence[str], env: Optional[Mapping[str, str]] = None,
                 in_process: Optional[bool] = None) -> str:
    """Write the bundle with ``framefill.api.make_bundle``; returns its folder.

    In-process when this Python can import framefill (``in_process`` None
    decides by looking), else in the configured framefill Python.

    Raises:
        HostError: make_bundle refused the request, or no framefill Python is configured.
    """
    kwargs = dict(request)
    if in_process is None:
        in_process = importlib.util.find_spec("framefill") is not None and \
            importlib.util.find_spec("framefill.api") is not None
    if in_process:
        from framefill.api import make_bundle  # the core, when Blender's Python has it
        from framefill.errors import FramefillError

        try:
            return str(make_bundle(kwargs.pop("kind"), **kwargs))
        except FramefillError as err:
            raise HostError("cannot write the job bundle: {}".format(err.msg)) from None
    python = python_of(cli)
    if python is None:
        raise HostError("writing a job bundle needs framefill's Python: set Preferences > Add-ons > framefill > "
                        "framefill Python to the python of the environment where framefill is installed")
    outcome = run_cli([python, "-c", _BUNDLE_SCRIPT, json.dumps(kwargs)], env=env)
    if not outcome.ok:
        raise HostError("cannot write the job bundle: {}".format(outcome.message))
    folder = (outcome.result or {}).get("bundle")
    if not isinstance(folder, str):
        raise HostError("framefill wrote no job bundle (no folder in its answer)")
    return folder


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
