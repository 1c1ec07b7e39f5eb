"""A small hand-written stand-in for the parts of Houdini's ``hou`` module that framefill_houdini calls.

Strict on purpose, as Houdini is: an unknown node type, a parameter a node
type does not have, an input index past a node's inputs, or an ONNX Inference
node wired before "Setup Shapes from Model" raises, so a typo in the adapter
fails a test. Node types and parameter names are the adapter's (see
framefill_houdini.cop_setup.PARMS); the fake holds them against each other.
Installed per test with ``monkeypatch.setitem(sys.modules, "hou", make_fake_hou(...))``.
"""

from __future__ import annotations

import json
import os
import re
import types
from collections import deque
from typing import Any


class OperationInterrupted(Exception):
    """Raised by InterruptableOperation.updateProgress after the user pressed cancel."""


class InvalidInput(Exception):
    pass


class OperationFailed(Exception):
    pass


class Parm:
    def __init__(self, node: "Node", name: str, default: Any = "", menu: tuple = (), button: bool = False) -> None:
        self.node, self._name, self.value, self.menu, self.button = node, name, default, menu, button
        self.expression: str | None = None
        self.presses = 0

    def name(self) -> str:
        return self._name

    def set(self, value: Any) -> None:
        if self.button:
            raise OperationFailed(f"{self._name} is a button")
        if self.menu and value not in [token for token, _ in self.menu]:
            raise OperationFailed(f"{value!r} is not a menu token of {self._name}")
        self.value, self.expression = value, None

    def eval(self) -> Any:
        return self.value

    def evalAsString(self) -> str:  # noqa: N802 - hou's spelling
        return self.node.hou.expandString(str(self.value))

    def unexpandedString(self) -> str:  # noqa: N802
        return str(self.value)

    def setExpression(self, expression: str, language: Any = None) -> None:  # noqa: N802
        self.expression = expression

    def menuItems(self) -> tuple:  # noqa: N802
        return tuple(token for token, _ in self.menu)

    def menuLabels(self) -> tuple:  # noqa: N802
        return tuple(label for _, label in self.menu)

    def pressButton(self) -> None:  # noqa: N802
        if not self.button:
            raise OperationFailed(f"{self._name} is not a button")
        self.presses += 1
        self.node._pressed(self._name)


class ParmTuple:
    def __init__(self, name: str, value: tuple) -> None:
        self._name, self.value = name, tuple(value)

    def set(self, value: tuple) -> None:
        if len(value) != len(self.value):
            raise OperationFailed(f"{self._name} takes {len(self.value)} values, got {len(value)}")
        self.value = tuple(value)

    def eval(self) -> tuple:
        return self.value


_BLEND_MODES = (("blend", "Blend"), ("over", "Over"), ("add", "Add"), ("subtract", "Subtract"),
                ("multiply", "Multiply"))
_SIGNATURES = (("mono", "Mono"), ("uv", "UV"), ("rgb", "RGB"), ("rgba", "RGBA"), ("id", "ID"))
# (category, type) -> (parms: name -> default | ("menu", items) | ("button",) | tuple, inputs, outputs)
NODE_TYPES: dict[tuple[str, str], tuple[dict[str, Any], int, int]] = {
    ("Cop", "file"): ({"filename": "", "type": ("menu", (("auto", "Auto"),) + _SIGNATURES[1:4])}, 0, 8),
    ("Cop", "onnx"): ({"modelfile": "", "setupshapes": ("button",), "input_flip": 0, "output_flip": 0,
                       "resample": 0, "resamplesize": (0, 0)}, 0, 0),
    ("Cop", "uvmap"): ({}, 1, 2),
    ("Cop", "sample"): ({}, 3, 1),
    ("Cop", "blend"): ({"mode": ("menu", _BLEND_MODES)}, 3, 1),
    ("Cop", "layer"): ({"signature": ("menu", _SIGNATURES), "value_uv": (0.0, 0.0), "value_mono": 0.0,
                        "size": (1920, 1080)}, 1, 1),
    ("Driver", "karma"): ({"picture": "$HIP/render/$HIPNAME.$OS.$F4.exr", "f": (1, 240, 1)}, 1, 1),
    ("Driver", "ifd"): ({"vm_picture": "$HIP/render/$HIPNAME.$OS.$F4.exr", "f": (1, 240, 1)}, 1, 1),
    ("Top", "ropfetch"): ({"roppath": "", "framegeneration": ("menu", (("0", "Single Frame"), ("1", "Frame Range"))),
                           "range": (1, 1, 1)}, 1, 1),
    ("Top", "pythonprocessor"): ({"generate": "", "generatewhen": ("menu", (
        ("0", "All Upstream Items are Generated"), ("1", "All Upstream Items are Cooked"),
        ("2", "Each Upstream Item is Cooked"), ("3", "Automatic")))}, 1, 1),
    ("TopNet", "topnet"): ({}, 0, 0),
}
# Which category a network's children have.
CHILD_CATEGORY = {"img": "Cop", "out": "Driver", "tasks": "TopNet", "topnet": "Top", "obj": "Object"}


class NodeType:
    def __init__(self, category: str, name: str) -> None:
        self._category, self._name = category, name

    def name(self) -> str:
        return self._name

    def category(self) -> Any:
        return types.SimpleNamespace(name=lambda: self._category)


class Node:
    def __init__(self, hou: types.ModuleType, parent: "Node | None", name: str, category: str, type_name: str) -> None:
        self.hou, self._parent, self._name = hou, parent, name
        self._type = NodeType(category, type_name)
        self._children: dict[str, Node] = {}
        self.inputs: dict[int, tuple[Node, int]] = {}
        self.display = False
        self.laid_out = 0
        self._parms: dict[str, Parm] = {}
        self._tuples: dict[str, ParmTuple] = {}
        spec = NODE_TYPES.get((category, type_name), ({}, 0, 0))
        self.max_inputs, self.outputs = spec[1], spec[2]
        for parm, default in spec[0].items():
            if isinstance(default, tuple) and default and default[0] == "menu":
                self._parms[parm] = Parm(self, parm, default[1][0][0], menu=default[1])
            elif default == ("button",):
                self._parms[parm] = Parm(self, parm, button=True)
            elif isinstance(default, tuple):
                self._tuples[parm] = ParmTuple(parm, default)
            else:
                self._parms[parm] = Parm(self, parm, default)

    # -- identity -------------------------------------------------------------
    def name(self) -> str:
        return self._name

    def path(self) -> str:
        if self._parent is None:
            return "/" + self._name if self._name else "/"
        return self._parent.path().rstrip("/") + "/" + self._name

    def type(self) -> NodeType:
        return self._type

    def parent(self) -> "Node | None":
        return self._parent

    def children(self) -> tuple:
        return tuple(self._children.values())

    # -- networks -------------------------------------------------------------
    def createNode(self, node_type: str, node_name: str | None = None) -> "Node":  # noqa: N802
        category = CHILD_CATEGORY.get(self._type.name())
        if category is None or (category, node_type) not in NODE_TYPES:
            raise OperationFailed(f"Invalid node type name {node_type!r} in {self.path()}")
        name = node_name or f"{node_type}1"
        while name in self._children:
            name = re.sub(r"\d*$", lambda m: str(int(m.group() or 0) + 1), name)
        child = Node(self.hou, self, name, category, node_type)
        self._children[name] = child
        return child

    def setInput(self, index: int, node: "Node | None", output_index: int = 0) -> None:  # noqa: N802
        if index >= self.max_inputs:
            raise InvalidInput(f"{self.path()} has {self.max_inputs} inputs; no input {index}")
        if node is not None and output_index >= node.outputs:
            raise InvalidInput(f"{node.path()} has {node.outputs} outputs; no output {output_index}")
        self.inputs[index] = (node, output_index)

    def layoutChildren(self) -> None:  # noqa: N802
        self.laid_out += 1

    def setDisplayFlag(self, on: bool) -> None:  # noqa: N802
        self.display = on

    # -- parameters -----------------------------------------------------------
    def parm(self, name: str) -> Parm | None:
        return self._parms.get(name)

    def parmTuple(self, name: str) -> ParmTuple | None:  # noqa: N802
        return self._tuples.get(name)

    def _pressed(self, button: str) -> None:
        # ONNX Inference's Setup Shapes from Model: inputs and outputs as the model has them.
        if button == "setupshapes":
            model = self._parms["modelfile"].value
            sidecar = os.path.splitext(model)[0] + ".json"
            if not os.path.isfile(model) or not os.path.isfile(sidecar):
                raise OperationFailed(f"cannot load ONNX model {model!r}")
            meta = json.loads(open(sidecar, encoding="utf-8").read())
            self.max_inputs, self.outputs = len(meta["inputs"]), len(meta["outputs"])


class InterruptableOperation:
    """Context manager; updateProgress raises OperationInterrupted once the fake user cancelled."""

    def __init__(self, hou: types.ModuleType, name: str, long_operation_name: str | None = None,
                 open_interrupt_dialog: bool = False) -> None:
        self.hou, self.name, self.long_name, self.dialog = hou, name, long_operation_name, open_interrupt_dialog
        self.progress: list[float] = []
        self.status: list[str] = []
        self.entered = self.exited = False

    def __enter__(self) -> "InterruptableOperation":
        self.entered = True
        self.hou.operations.append(self)
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.exited = True
        return False

    def _check(self) -> None:
        cancel_after = self.hou.cancel_after_updates
        if cancel_after is not None and len(self.progress) >= cancel_after:
            raise OperationInterrupted("cancelled")

    def updateProgress(self, percentage: float = -1.0) -> None:  # noqa: N802
        assert -1.0 <= percentage <= 1.0
        self._check()
        self.progress.append(percentage)

    def updateLongProgress(self, percentage: float = -1.0, long_op_status: str | None = None) -> None:  # noqa: N802
        assert self.long_name is not None, "updateLongProgress needs long_operation_name"
        self._check()
        self.status.append(long_op_status or "")


def make_fake_hou(*, hip: str = "/shots/sq010/sh020/sh020_light.hip", job: str = "/shots/sq010",
                  frame: int = 1001, pref_dir: str = "/home/artist/houdini20.5") -> types.ModuleType:
    """A fresh fake ``hou``; ``hou.answers`` queues what the fake artist answers in dialogs."""
    hou = types.ModuleType("hou")
    hou.OperationInterrupted = OperationInterrupted
    hou.InvalidInput = InvalidInput
    hou.OperationFailed = OperationFailed
    hou.severityType = types.SimpleNamespace(Message="Message", Warning="Warning", Error="Error")
    hou.exprLanguage = types.SimpleNamespace(Hscript="Hscript", Python="Python")
    hou.fileType = types.SimpleNamespace(Image="Image", Directory="Directory", Any="Any")
    hou.messages = []          # (text, severity)
    hou.answers = deque()      # what readInput/selectFromList/selectFile return, in order
    hou.prompts = []           # what the dialogs asked
    hou.operations = []
    hou.cancel_after_updates = None
    hou.selection = []
    hou.frame_now = frame
    hou.vars = {"HIP": os.path.dirname(hip), "HIPNAME": os.path.splitext(os.path.basename(hip))[0],
                "HIPFILE": hip, "JOB": job}
    hou.dirty = False

    root = Node(hou, None, "", "Manager", "root")
    for name in ("img", "out", "tasks", "obj"):
        root._children[name] = Node(hou, root, name, "Manager", name)

    def node(path: str) -> Node | None:
        current: Node | None = root
        for part in [p for p in path.split("/") if p]:
            current = current._children.get(part) if current is not None else None
        return current

    def expand(text: str) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            frame_match = re.fullmatch(r"F(\d*)", name)
            if frame_match:  # Houdini expands $F/$F4 to the current frame
                return str(hou.frame_now).zfill(int(frame_match.group(1) or 1))
            if name in hou.vars:
                return hou.vars[name]
            return os.environ.get(name, match.group(0))  # unknown variables stay as typed

        return re.sub(r"\$\{([A-Za-z_][A-Za-z_0-9]*)\}|\$([A-Za-z_][A-Za-z_0-9]*)", one, text)

    def answer(kind: str, prompt: str) -> Any:
        hou.prompts.append((kind, prompt))
        if not hou.answers:
            raise AssertionError(f"the fake artist has no answer for {kind}: {prompt}")
        return hou.answers.popleft()

    def display_message(text: str, buttons: tuple = ("OK",), severity: Any = "Message", **kw: Any) -> int:
        hou.messages.append((text, severity))
        return 0

    def read_input(message: str, buttons: tuple = ("OK",), **kw: Any) -> tuple[int, str]:
        value = answer("readInput", message)
        return (1, "") if value is None else (0, str(value))

    def select_from_list(choices: list, default_choices: tuple = (), exclusive: bool = False, message: str = "",
                         **kw: Any) -> tuple:
        value = answer("selectFromList", message)
        return () if value is None else (list(choices).index(value),)

    def select_file(title: str = "", file_type: Any = None, **kw: Any) -> str:
        value = answer("selectFile", title)
        return value or ""

    hou.node = node
    hou.selectedNodes = lambda: tuple(hou.selection)
    hou.expandString = expand
    hou.frame = lambda: float(hou.frame_now)
    hou.ui = types.SimpleNamespace(displayMessage=display_message, readInput=read_input,
                                   selectFromList=select_from_list, selectFile=select_file)
    hou.InterruptableOperation = lambda *a, **kw: InterruptableOperation(hou, *a, **kw)
    hou.homeHoudiniDirectory = lambda: pref_dir
    hou.imageResolution = lambda path: (1920, 1080)
    hou.applicationVersion = lambda: (20, 5, 410)
    hou.hipFile = types.SimpleNamespace(path=lambda: hip, hasUnsavedChanges=lambda: hou.dirty)
    hou.root = root
    return hou
