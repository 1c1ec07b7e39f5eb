"""The few ``hou`` calls the adapter makes, in one thin module (a hand-written fake stands in for tests).

Every function is a direct use of Houdini's documented Python API (hou
module); nothing here decides anything. ``pdg`` work items are passed in by
PDG itself and used in :mod:`framefill_houdini.pdg_fill`.
"""

from typing import Any, List, Optional, Sequence, Tuple

import hou

__all__ = [
    "node",
    "selected_nodes",
    "category",
    "type_name",
    "create_node",
    "set_input",
    "has_parm",
    "set_parm",
    "set_menu",
    "set_expression",
    "press_button",
    "parm_raw",
    "parm_value",
    "frame_range",
    "layout",
    "set_display",
    "expand",
    "message",
    "ask_text",
    "ask_choice",
    "ask_file",
    "interruptable",
    "interrupted_error",
    "pref_dir",
    "image_resolution",
    "hip_file",
    "hip_dirty",
    "version",
]


def node(path: str) -> Any:
    return hou.node(path)


def selected_nodes() -> List[Any]:
    return list(hou.selectedNodes())


def category(item: Any) -> str:
    """The node's network kind: "Cop" (Copernicus), "Driver" (ROPs), "Top", ..."""
    return item.type().category().name()


def type_name(item: Any) -> str:
    return item.type().name()


def create_node(parent: Any, node_type: str, name: str) -> Any:
    return parent.createNode(node_type, name)


def set_input(item: Any, index: int, source: Any, output: int = 0) -> None:
    item.setInput(index, source, output)


def has_parm(item: Any, name: str) -> bool:
    return item.parm(name) is not None


def set_parm(item: Any, name: str, value: Any) -> bool:
    """Set a parameter (a tuple sets a parameter tuple); False when the node has none of that name."""
    if isinstance(value, tuple):
        parms = item.parmTuple(name)
        if parms is None:
            return False
        parms.set(value)
        return True
    parm = item.parm(name)
    if parm is None:
        return False
    parm.set(value)
    return True


def set_menu(item: Any, name: str, label: str) -> bool:
    """Set a menu parameter by its label (tokens differ between versions; labels are what the docs show)."""
    parm = item.parm(name)
    if parm is None or label not in parm.menuLabels():
        return False
    parm.set(parm.menuItems()[list(parm.menuLabels()).index(label)])
    return True


def set_expression(item: Any, name: str, expression: str) -> bool:
    parm = item.parm(name)
    if parm is None:
        return False
    parm.setExpression(expression, hou.exprLanguage.Hscript)
    return True


def press_button(item: Any, name: str) -> bool:
    parm = item.parm(name)
    if parm is None:
        return False
    parm.pressButton()
    return True


def parm_raw(item: Any, name: str) -> Optional[str]:
    """A string parameter as typed (``$HIP/render/shot.$F4.exr``), or None without that parameter."""
    parm = item.parm(name)
    return None if parm is None else parm.unexpandedString()


def parm_value(item: Any, name: str, default: Any = None) -> Any:
    parm = item.parm(name)
    return default if parm is None else parm.eval()


def frame_range(rop: Any) -> Tuple[int, int, int]:
    """A ROP's start, end and step (its ``f`` parameter tuple: f1, f2, f3)."""
    start, end, step = rop.parmTuple("f").eval()
    return int(start), int(end), int(step)


def layout(parent: Any) -> None:
    parent.layoutChildren()


def set_display(item: Any) -> None:
    item.setDisplayFlag(True)


def expand(text: str) -> str:
    """``$HIP``, ``$JOB``, ``$HIPNAME`` and environment variables expanded (``hou.expandString``)."""
    return hou.expandString(text)


def message(text: str, *, error: bool = False) -> None:
    severity = hou.severityType.Error if error else hou.severityType.Message
    hou.ui.displayMessage(text, severity=severity, title="framefill")


def ask_text(prompt: str, initial: str = "") -> Optional[str]:
    """One line of text, or None when cancelled."""
    button, text = hou.ui.readInput(prompt, buttons=("OK", "Cancel"), default_choice=0, close_choice=1,
                                    title="framefill", initial_contents=initial)
    return text if button == 0 else None


def ask_choice(prompt: str, choices: Sequence[str], default: int = 0) -> Optional[str]:
    picked = hou.ui.selectFromList(list(choices), default_choices=(default,), exclusive=True, message=prompt,
                                   title="framefill")
    return choices[picked[0]] if picked else None


def ask_file(title: str, *, kind: str = "Image") -> Optional[str]:
    """A path from Houdini's file chooser (``kind``: a ``hou.fileType`` name: Image, Directory, Any)."""
    chosen = hou.ui.selectFile(title=title, file_type=getattr(hou.fileType, kind))
    return chosen or None


def interruptable(title: str) -> Any:
    """``hou.InterruptableOperation``: a context manager whose updateProgress raises when the user cancels."""
    return hou.InterruptableOperation(title, long_operation_name=title, open_interrupt_dialog=True)


def interrupted_error() -> Any:
    return hou.OperationInterrupted


def pref_dir() -> str:
    """``$HOUDINI_USER_PREF_DIR`` (where the framefill preferences file lives)."""
    return hou.homeHoudiniDirectory()


def image_resolution(path: str) -> Tuple[int, int]:
    width, height = hou.imageResolution(path)
    return int(width), int(height)


def hip_file() -> str:
    return hou.hipFile.path()


def hip_dirty() -> bool:
    return bool(hou.hipFile.hasUnsavedChanges())


def version() -> Tuple[int, ...]:
    return tuple(hou.applicationVersion())
