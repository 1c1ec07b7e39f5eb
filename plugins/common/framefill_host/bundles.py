"""Job bundles written by the framefill CLI for a host's submit menu (Blender, Houdini).

A host describes the job as a plain request mapping (``kind``, ``out_dir``, patterns,
frames, ``params``, and optionally its own OpenJD ``render_step`` with the
``render_parameters`` it needs, and the ``conda_packages`` that step needs on the
worker, e.g. ``["blender=4.2"]``, passed as ``--conda-package``); :func:`write_bundle` hands the step to
``framefill farm bundle --render-step FILE`` as a temporary JSON file and returns
the bundle folder the CLI wrote.
"""

import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence

from framefill_host import HostError
from framefill_host.commands import bundle_argv
from framefill_host.runner import run_cli

__all__ = ["RENDER_STEP_FILE", "render_step_document", "write_bundle_argv", "write_bundle"]

RENDER_STEP_FILE = "render_step.json"


def render_step_document(request: Mapping[str, Any]) -> Dict[str, Any]:
    """What the ``--render-step`` file holds: the request's ``step`` and its ``parameterDefinitions``."""
    return {"step": request["render_step"], "parameterDefinitions": list(request.get("render_parameters") or [])}


def write_bundle_argv(request: Mapping[str, Any], *, cli: Sequence[str], render_step_file: str) -> List[str]:
    """The ``framefill farm bundle`` command line of a request, its step in ``render_step_file``.

    Raises:
        HostError: a request without a kind or folder.
    """
    if not request.get("kind") or not request.get("out_dir"):
        raise HostError("the job bundle request needs a kind and a folder")
    argv = bundle_argv(
        cli, kind=request["kind"], out_dir=str(request["out_dir"]), input_pattern=request.get("input_pattern"),
        output_pattern=request.get("output_pattern"), frames=request.get("frames"), filled=request.get("filled"),
        keyframes=request.get("keyframes"), model=request.get("model"), report_dir=request.get("report_dir"),
        chunk_size=request.get("chunk_size"), name=request.get("name"), params=request.get("params"),
        render_step=render_step_file if request.get("render_step") is not None else None,
    )
    packages = request.get("conda_packages") or []
    if isinstance(packages, str):
        raise HostError("conda_packages must be a list of conda package specs, e.g. [\"blender=4.2\"]")
    extra = [arg for spec in packages for arg in ("--conda-package", str(spec))]
    return argv[:-1] + extra + argv[-1:] if extra else argv  # before the final --events


def write_bundle(request: Mapping[str, Any], *, cli: Sequence[str], env: Optional[Mapping[str, str]] = None) -> str:
    """Write the request's bundle with the framefill CLI; returns its folder.

    The render step goes to the CLI as a temporary JSON file (``--render-step``),
    removed again when the CLI is done.

    Raises:
        HostError: the CLI refused the request (its one-line error), or could not be started.
    """
    folder = tempfile.mkdtemp(prefix="framefill-render-step-")
    try:
        step_file = os.path.join(folder, RENDER_STEP_FILE)
        if request.get("render_step") is not None:
            with open(step_file, "w", encoding="utf-8") as handle:
                json.dump(render_step_document(request), handle, indent=1)
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
