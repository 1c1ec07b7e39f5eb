"""Render > "Submit to Deadline Cloud (framefill)": the selected framefill node as a Deadline Cloud job.

The job bundle is written by the CLI (``framefill farm bundle``, i.e.
``framefill.api.make_bundle``) from the same request the node's Process button
uses. Where the Deadline Cloud client with its GUI (``deadline[gui]``) imports
inside Nuke, its submitter dialog opens on the bundle; otherwise the bundle is
saved to a folder the user picks, ready for ``deadline bundle submit``.
"""

import os
import tempfile
from typing import Any, Callable, Optional

from framefill_host import HostError
from framefill_host.runner import RunOutcome, resolve_cli
from framefill_host.settings import get_python

from framefill_nuke import host_api as nk
from framefill_nuke.background import run_in_background
from framefill_nuke.jobs import job_bundle_argv
from framefill_nuke.nodes import is_framefill_node, request_from_node, settings_path
from framefill_nuke.qt import main_window

__all__ = ["MENU_LABEL", "deadline_submitter", "submit_selected", "selected_framefill_node"]

MENU_LABEL = "Submit to Deadline Cloud (framefill)"


def deadline_submitter() -> Optional[Callable[..., Any]]:
    """The Deadline Cloud client's job-bundle submitter dialog, or None where ``deadline[gui]`` does not import."""
    try:
        from deadline.client.ui.job_bundle_submitter import show_job_bundle_submitter  # type: ignore[import-not-found]
    except ImportError:
        return None
    return show_job_bundle_submitter


def selected_framefill_node() -> Any:
    """The one selected framefill node.

    Raises:
        HostError: none or several selected.
    """
    chosen = [n for n in nk.selected_nodes() if is_framefill_node(n)]
    if len(chosen) != 1:
        raise HostError("select one FF_Interpolate, FF_Upscale or FF_FlowError node to submit "
                        "({} selected)".format(len(chosen)))
    return chosen[0]


def submit_selected() -> None:
    """The menu command: build the bundle in the background, then open Deadline's dialog or report the folder."""
    submitter = deadline_submitter()
    try:
        node = selected_framefill_node()
        request = request_from_node(node)
        if submitter is not None:
            folder = tempfile.mkdtemp(prefix="framefill-bundle-")
        else:
            picked = nk.get_filename("Save the framefill job bundle in this folder")
            if not picked:
                return
            folder = picked if os.path.isdir(picked) or picked.endswith(("/", os.sep)) else os.path.dirname(picked)
        argv = job_bundle_argv(request, resolve_cli(get_python(settings_path())), folder)
    except HostError as err:
        nk.message("framefill: {}".format(err.msg))
        return

    def done(outcome: RunOutcome) -> None:
        if not outcome.ok:
            nk.message("framefill: the job bundle was not written: {}".format(outcome.message))
            return
        bundle = str((outcome.result or {}).get("bundle") or folder)
        if submitter is None:
            nk.message("framefill job bundle saved to {}\nSubmit it with: deadline bundle submit {}".format(
                bundle, bundle))
            return
        submitter(input_job_bundle_dir=bundle, parent=main_window())

    run_in_background(argv, title="{}: building the job bundle".format(node.name()), on_done=done)
