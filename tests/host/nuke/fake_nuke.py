"""A small hand-written stand-in for the parts of Nuke's Python API that the framefill plugin calls.

Strict on purpose: a node class it does not know, a knob a node does not have,
or a menu other than "Nodes"/"Nuke" raises, as real Nuke would fail, so a
typo in the plugin fails a test. Installed per test with
``monkeypatch.setitem(sys.modules, "nuke", make_fake_nuke())``.
"""

from __future__ import annotations

import types
from typing import Any, Callable

# Knob flags (values as in Nuke's Python module; only their identity matters here).
STARTLINE = 0x00001000
INVISIBLE = 0x00000400
DO_NOT_WRITE = 0x00000200
READ_ONLY = 0x10000000


class Knob:
    def __init__(self, name: str, label: str = "", value: Any = None) -> None:
        self._name = name
        self.label = label
        self._value = value
        self.flags: set[int] = set()
        self.cleared: set[int] = set()
        self.executed = 0

    def name(self) -> str:
        return self._name

    def value(self) -> Any:
        return self._value

    def setValue(self, value: Any) -> bool:  # noqa: N802 - Nuke's spelling
        self._value = value
        return True

    def setFlag(self, flag: int) -> None:  # noqa: N802
        self.flags.add(flag)

    def clearFlag(self, flag: int) -> None:  # noqa: N802
        self.flags.discard(flag)
        self.cleared.add(flag)

    def execute(self) -> None:
        self.executed += 1


class Tab_Knob(Knob):  # noqa: N801 - Nuke's class names
    pass


class Text_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str = "", text: str = "") -> None:
        super().__init__(name, label, text)


class String_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str = "", text: str = "") -> None:
        super().__init__(name, label, text)


class File_Knob(String_Knob):  # noqa: N801
    pass


class Enumeration_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str, items: list[str]) -> None:
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise TypeError("Enumeration_Knob items must be a list of str")
        super().__init__(name, label, 0)
        self.items = list(items)

    def value(self) -> str:
        return self.items[self._value]

    def values(self) -> list[str]:
        return list(self.items)

    def setValue(self, value: Any) -> bool:  # noqa: N802
        self._value = self.items.index(value) if isinstance(value, str) else int(value)
        return True


class Boolean_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str = "", value: bool = False) -> None:
        super().__init__(name, label, bool(value))

    def setValue(self, value: Any) -> bool:  # noqa: N802
        self._value = bool(value)
        return True


class Int_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str = "", value: int = 0) -> None:
        super().__init__(name, label, int(value))

    def setValue(self, value: Any) -> bool:  # noqa: N802
        self._value = int(value)
        return True


class Double_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str = "", value: float = 0.0) -> None:
        super().__init__(name, label, float(value))

    def setValue(self, value: Any) -> bool:  # noqa: N802
        self._value = float(value)
        return True


class PyScript_Knob(Knob):  # noqa: N801
    def __init__(self, name: str, label: str = "", command: str = "") -> None:
        super().__init__(name, label, command)


# The built-in knobs of the node classes the plugin creates (names as in Nuke).
_BUILTIN_KNOBS: dict[str, Callable[[], list[Knob]]] = {
    "Group": lambda: [String_Knob("knobChanged"), String_Knob("label")],
    "Input": lambda: [Int_Knob("number")],
    "Output": lambda: [],
    "Read": lambda: [File_Knob("file"), Int_Knob("first", value=1), Int_Knob("last", value=1),
                     Int_Knob("origfirst", value=1), Int_Knob("origlast", value=1),
                     Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"]),
                     PyScript_Knob("reload", "Reload")],
    "Switch": lambda: [Double_Knob("which")],
    "Expression": lambda: [String_Knob(f"expr{i}") for i in range(4)] + [String_Knob(f"channel{i}") for i in range(4)],
}


class Node:
    def __init__(self, fake: FakeNuke, node_class: str, parent: Node | None) -> None:
        if node_class not in _BUILTIN_KNOBS:
            raise RuntimeError(f"fake nuke: unknown node class {node_class!r}")
        self._fake = fake
        self._class = node_class
        self._parent = parent
        self._name = ""
        self._inputs: dict[int, Node | None] = {}
        self.children: list[Node] = []
        self._knobs: dict[str, Knob] = {}
        for knob in [String_Knob("name"), Boolean_Knob("disable"), *_BUILTIN_KNOBS[node_class]()]:
            self._knobs[knob.name()] = knob
        self.deleted = False

    # -- identity -----------------------------------------------------------
    def Class(self) -> str:  # noqa: N802
        return self._class

    def name(self) -> str:
        if self.deleted:
            raise ValueError("A PythonObject is not attached to a node")
        return self._name

    def fullName(self) -> str:  # noqa: N802
        if self._parent is None or self._parent is self._fake.root:
            return self._name
        return f"{self._parent.fullName()}.{self._name}"

    def setName(self, name: str) -> None:  # noqa: N802
        # Nuke makes a taken name unique by appending (or bumping) a number.
        siblings = {n._name for n in (self._parent.children if self._parent else []) if n is not self}
        base = name.rstrip("0123456789") or name
        candidate, index = name, 1
        while candidate in siblings:
            candidate = f"{base}{index}"
            index += 1
        self._name = candidate
        self._knobs["name"].setValue(candidate)

    # -- knobs --------------------------------------------------------------
    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def addKnob(self, knob: Knob) -> None:  # noqa: N802
        if not isinstance(knob, Knob):
            raise TypeError("addKnob takes a knob")
        if knob.name() in self._knobs:
            raise RuntimeError(f"fake nuke: knob {knob.name()!r} already on {self._name}")
        self._knobs[knob.name()] = knob
        self._fake.knob_order.setdefault(id(self), []).append(knob.name())

    # -- graph --------------------------------------------------------------
    def input(self, index: int) -> Node | None:
        return self._inputs.get(index)

    def setInput(self, index: int, node: Node | None) -> bool:  # noqa: N802
        self._inputs[index] = node
        return True

    def begin(self) -> Node:
        if self._class != "Group":
            raise RuntimeError("fake nuke: begin() on a node that is not a Group")
        self._fake.context.append(self)
        return self

    def end(self) -> None:
        if not self._fake.context or self._fake.context[-1] is not self:
            raise RuntimeError("fake nuke: end() without a matching begin()")
        self._fake.context.pop()

    def node(self, name: str) -> Node | None:
        return next((n for n in self.children if n._name == name), None)


class Menu:
    def __init__(self, name: str) -> None:
        self._name = name
        self.items: list[tuple[str, Any]] = []
        self.submenus: dict[str, Menu] = {}

    def name(self) -> str:
        return self._name

    def addMenu(self, name: str, icon: str | None = None, **_kw: Any) -> Menu:  # noqa: N802
        if name not in self.submenus:
            self.submenus[name] = Menu(name)
            self.items.append((name, self.submenus[name]))
        return self.submenus[name]

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "", **_kw: Any) -> None:  # noqa: N802
        if not (callable(command) or isinstance(command, str)):
            raise TypeError(f"fake nuke: addCommand({name!r}) needs a callable or a script string")
        self.items.append((name, command))

    def addSeparator(self, **_kw: Any) -> None:  # noqa: N802
        self.items.append(("-", None))

    def command(self, name: str) -> Any:
        return next(c for n, c in self.items if n == name)


class ProgressTask:
    def __init__(self, fake: FakeNuke, title: str) -> None:
        self.title = title
        self.messages: list[str] = []
        self.progress: list[int] = []
        self._fake = fake
        fake.progress_tasks.append(self)

    def setMessage(self, text: str) -> None:  # noqa: N802
        self.messages.append(text)

    def setProgress(self, value: int) -> None:  # noqa: N802
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"fake nuke: setProgress takes an int 0-100, got {value!r}")
        self.progress.append(value)

    def isCancelled(self) -> bool:  # noqa: N802
        return self._fake.cancel_progress


class _NodesFactory:
    """``nuke.nodes.Read(name=..., ...)``: a node in the current context, knobs set by keyword."""

    def __init__(self, fake: FakeNuke) -> None:
        self._fake = fake

    def __getattr__(self, node_class: str) -> Callable[..., Node]:
        def make(**knobs: Any) -> Node:
            node = self._fake._add(node_class)
            for key, value in knobs.items():
                if key == "name":
                    node.setName(value)
                else:
                    node[key].setValue(value)  # NameError for a knob the class lacks, as in Nuke
            return node

        return make


class FakeNuke(types.ModuleType):
    """The fake ``nuke`` module, with the state tests look at."""

    STARTLINE = STARTLINE
    INVISIBLE = INVISIBLE
    DO_NOT_WRITE = DO_NOT_WRITE
    READ_ONLY = READ_ONLY
    Tab_Knob = Tab_Knob
    Text_Knob = Text_Knob
    String_Knob = String_Knob
    File_Knob = File_Knob
    Enumeration_Knob = Enumeration_Knob
    Boolean_Knob = Boolean_Knob
    Int_Knob = Int_Knob
    Double_Knob = Double_Knob
    PyScript_Knob = PyScript_Knob

    def __init__(self) -> None:
        super().__init__("nuke")
        self.GUI = True
        self.root = Node(self, "Group", None)
        self.root._name = "root"
        self.context: list[Node] = [self.root]
        self.selected: list[Node] = []
        self.messages: list[str] = []
        self.main_thread_calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.menus = {"Nodes": Menu("Nodes"), "Nuke": Menu("Nuke")}
        self.plugin_paths: list[str] = []
        self.printed: list[str] = []
        self.progress_tasks: list[ProgressTask] = []
        self.cancel_progress = False
        self.next_filename: str | None = None
        self.knob_order: dict[int, list[str]] = {}
        self.nodes = _NodesFactory(self)

    # -- nodes --------------------------------------------------------------
    def _add(self, node_class: str) -> Node:
        parent = self.context[-1]
        node = Node(self, node_class, parent)
        parent.children.append(node)
        node.setName(f"{node_class}1")
        return node

    def createNode(self, node_class: str, args: str = "", inpanel: bool = True) -> Node:  # noqa: N802
        node = self._add(node_class)
        if self.selected:
            node.setInput(0, self.selected[0])
        self.selected = [node]
        return node

    def selectedNodes(self) -> list[Node]:  # noqa: N802
        return list(self.selected)

    def filename(self, node: Node) -> str:
        return node["file"].value()

    # -- UI -----------------------------------------------------------------
    def message(self, text: str) -> None:
        self.messages.append(text)

    def getFilename(self, title: str, pattern: str | None = None) -> str | None:  # noqa: N802
        return self.next_filename

    def executeInMainThread(self, fn: Callable[..., Any], args: tuple[Any, ...] = ()) -> None:  # noqa: N802
        if not isinstance(args, tuple):
            raise TypeError("executeInMainThread args must be a tuple")
        self.main_thread_calls.append((fn, args))

    def run_main_thread(self) -> int:
        """Test helper: run the queued main-thread calls; returns how many ran."""
        calls, self.main_thread_calls = self.main_thread_calls, []
        for fn, args in calls:
            fn(*args)
        return len(calls)

    def ProgressTask(self, title: str) -> ProgressTask:  # noqa: N802
        return ProgressTask(self, title)

    def menu(self, name: str) -> Menu:
        if name not in self.menus:
            raise RuntimeError(f"fake nuke: no menu {name!r}")
        return self.menus[name]

    # -- plugin paths -------------------------------------------------------
    def pluginAddPath(self, path: str) -> None:  # noqa: N802
        self.plugin_paths.append(path)

    def pluginPath(self) -> list[str]:  # noqa: N802
        return list(self.plugin_paths)

    def tprint(self, *parts: Any) -> None:
        self.printed.append(" ".join(str(p) for p in parts))


def make_fake_nuke() -> FakeNuke:
    return FakeNuke()
