"""The menus ``menu.py`` installs: a "framefill" menu on the Nodes toolbar and the Render menu's submit item."""

from typing import Any

from framefill_host import HostError
from framefill_host.settings import get_python, set_python

from framefill_nuke import host_api as nk
from framefill_nuke import nodes, submit

__all__ = ["TOOLBAR_MENU", "install", "choose_python"]

TOOLBAR_MENU = "framefill"


def install() -> Any:
    """Add the menus (GUI sessions only) and return the toolbar's framefill menu (None in terminal mode)."""
    if not nk.is_gui():
        return None
    toolbar = nk.menu("Nodes").addMenu(TOOLBAR_MENU)
    toolbar.addCommand("FF_Interpolate", nodes.create_interpolate)
    toolbar.addCommand("FF_Upscale", nodes.create_upscale)
    toolbar.addCommand("FF_FlowError", nodes.create_flow_error)
    toolbar.addSeparator()
    toolbar.addCommand("Set framefill Python...", choose_python)
    render = nk.menu("Nuke").addMenu("Render")
    render.addCommand(submit.MENU_LABEL, submit.submit_selected)
    return toolbar


def choose_python() -> None:
    """Pick the Python (with framefill installed) or the ``framefill`` executable that the nodes run."""
    path = nodes.settings_path()
    current = get_python(path)
    chosen = nk.get_filename("framefill Python or framefill executable (cancel keeps {})".format(
        current or "$FRAMEFILL_PYTHON, then framefill on PATH"))
    if not chosen:
        return
    try:
        set_python(path, chosen)
    except HostError as err:
        nk.message("framefill: {}".format(err.msg))
        return
    nk.message("framefill nodes will run {}".format(chosen))
