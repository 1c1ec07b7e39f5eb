"""The few Nuke calls the plugin makes, in one thin module (so a hand-written fake can stand in).

Every function is a direct use of Nuke's documented Python API; nothing here
decides anything. Tests replace ``nuke`` in ``sys.modules`` with a fake that
implements exactly these calls.
"""

import os
from typing import Any, Callable, List, Optional, Sequence, Tuple

import nuke

__all__ = [
    "is_gui",
    "selected_nodes",
    "create_group",
    "new_node",
    "tab_knob",
    "text_knob",
    "string_knob",
    "file_knob",
    "enum_knob",
    "bool_knob",
    "int_knob",
    "double_knob",
    "script_knob",
    "set_flags",
    "knob_value",
    "set_knob",
    "node_filename",
    "message",
    "get_filename",
    "in_main_thread",
    "progress_task",
    "menu",
    "user_dir",
]


def is_gui() -> bool:
    """False in terminal mode (``nuke -t``), where there are no menus or dialogs."""
    return bool(getattr(nuke, "GUI", False))


def selected_nodes() -> List[Any]:
    return list(nuke.selectedNodes())


def create_group(name: str) -> Any:
    """A new Group, connected to the selected node as Nuke's own node creation does."""
    group = nuke.createNode("Group", inpanel=False)
    group.setName(name)
    return group


def new_node(node_class: str, **knobs: Any) -> Any:
    """A node of ``node_class`` in the current context (inside a group between begin/end)."""
    return getattr(nuke.nodes, node_class)(**knobs)


def tab_knob(name: str, label: str) -> Any:
    return nuke.Tab_Knob(name, label)


def text_knob(name: str, label: str = "", text: str = "") -> Any:
    return nuke.Text_Knob(name, label, text)


def string_knob(name: str, label: str, value: str = "") -> Any:
    knob = nuke.String_Knob(name, label)
    knob.setValue(value)
    return knob


def file_knob(name: str, label: str) -> Any:
    return nuke.File_Knob(name, label)


def enum_knob(name: str, label: str, items: Sequence[str]) -> Any:
    return nuke.Enumeration_Knob(name, label, list(items))


def bool_knob(name: str, label: str, value: bool = False) -> Any:
    knob = nuke.Boolean_Knob(name, label)
    knob.setValue(value)
    return knob


def int_knob(name: str, label: str, value: int = 0) -> Any:
    knob = nuke.Int_Knob(name, label)
    knob.setValue(value)
    return knob


def double_knob(name: str, label: str, value: float = 0.0) -> Any:
    knob = nuke.Double_Knob(name, label)
    knob.setValue(value)
    return knob


def script_knob(name: str, label: str, command: str) -> Any:
    return nuke.PyScript_Knob(name, label, command)


def set_flags(knob: Any, *, read_only: bool = False, hidden: bool = False, not_saved: bool = False,
              new_line: bool = True) -> Any:
    """Apply Nuke knob flags by meaning."""
    if read_only:
        knob.setFlag(nuke.READ_ONLY)
    if hidden:
        knob.setFlag(nuke.INVISIBLE)
    if not_saved:
        knob.setFlag(nuke.DO_NOT_WRITE)
    if not new_line:
        knob.clearFlag(nuke.STARTLINE)
    return knob


def knob_value(node: Any, name: str, default: Any = None) -> Any:
    knob = node.knob(name)
    return default if knob is None else knob.value()


def set_knob(node: Any, name: str, value: Any) -> None:
    knob = node.knob(name)
    if knob is not None:
        knob.setValue(value)


def node_filename(node: Any) -> str:
    """A Read's file with TCL expanded and the frame token kept (``nuke.filename``)."""
    name = nuke.filename(node)
    return name or node["file"].value()


def message(text: str) -> None:
    nuke.message(text)


def get_filename(title: str, pattern: Optional[str] = None) -> Optional[str]:
    return nuke.getFilename(title, pattern) if pattern else nuke.getFilename(title)


def in_main_thread(fn: Callable[..., Any], args: Tuple[Any, ...] = ()) -> None:
    """Run ``fn(*args)`` on Nuke's main thread, the only one that may touch the node graph."""
    nuke.executeInMainThread(fn, args)


def progress_task(title: str) -> Any:
    """A ``nuke.ProgressTask`` (setMessage, setProgress 0-100, isCancelled); usable from a worker thread."""
    return nuke.ProgressTask(title)


def menu(name: str) -> Any:
    return nuke.menu(name)


def user_dir() -> str:
    """Nuke's per-user folder (``~/.nuke``), where the framefill preferences live."""
    return os.path.join(os.path.expanduser("~"), ".nuke")
