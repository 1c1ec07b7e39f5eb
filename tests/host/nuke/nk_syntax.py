"""A small reader of Nuke's .nk text, strict enough to catch what a typo would break.

It checks that braces and quotes balance (outside quotes and backslash
escapes), that every node class and knob is one Nuke has (a table taken from
Foundry's reference for the classes framefill writes; user knobs declared with
``addUserKnob`` count), and it replays the node stack (``set``/``push``/
``inputs N``/``end_group``) so tests can assert how nodes are wired: in .nk
text a node takes its inputs from the top of the stack, the last pushed as
input 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Knobs every node has, whatever its class.
COMMON_KNOBS = frozenset({
    "name", "label", "xpos", "ypos", "selected", "tile_color", "note_font", "note_font_size", "disable",
    "inputs", "hide_input", "postage_stamp", "onCreate", "knobChanged", "addUserKnob",
})
NODE_KNOBS: dict[str, frozenset[str]] = {
    "CatFileCreator": frozenset({"torchScriptFile", "catFile", "channelsIn", "channelsOut", "modelId",
                                 "outputScale"}),
    "Inference": frozenset({"modelFile", "serialiseKnob", "useGPUIfAvailable", "halfPrecision", "modelId"}),
    "Group": frozenset(),
    "Input": frozenset({"number"}),
    "Output": frozenset(),
    "FrameHold": frozenset({"firstFrame", "increment"}),
    "Copy": frozenset({f"{k}{i}" for k in ("from", "to") for i in range(4)} | {"channels", "bbox"}),
    "Expression": frozenset({f"{k}{i}" for k in ("expr", "channel", "temp_name", "temp_expr") for i in range(4)}),
    "STMap": frozenset({"channels", "uv", "blur", "blur_scale", "filter", "maskChannelInput"}),
    "Keymix": frozenset({"channels", "maskChannel", "invertMask", "mix", "bbox"}),
    "Switch": frozenset({"which"}),
}
# Inputs a node takes when its block has no "inputs" line.
DEFAULT_INPUTS = {"Input": 0}
_DIRECTIVES = ("set ", "push ", "add_layer ", "version ", "end_group", "Root ")
_USER_KNOB = re.compile(r"^\{\s*(\d+)\s+([A-Za-z_][A-Za-z0-9_]*)")


class NkSyntaxError(AssertionError):
    pass


@dataclass
class NkNode:
    node_class: str
    knobs: dict[str, str] = field(default_factory=dict)
    user_knobs: list[tuple[int, str]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # names of the input nodes, input 0 first
    parent: str | None = None

    @property
    def name(self) -> str:
        return self.knobs.get("name", f"<{self.node_class}>")


def check_balanced(text: str) -> None:
    """Braces balance and quotes close, ignoring characters inside quotes and after a backslash."""
    depth = 0
    in_quote = False
    escaped = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        for char in line:
            if escaped:
                escaped = False
                continue
            if char == "\\":
                escaped = True
                continue
            if char == '"':
                in_quote = not in_quote
            elif not in_quote and char == "{":
                depth += 1
            elif not in_quote and char == "}":
                depth -= 1
                if depth < 0:
                    raise NkSyntaxError(f"line {lineno}: '}}' with no matching '{{'")
        escaped = False
    if in_quote:
        raise NkSyntaxError("a quoted string never closes")
    if depth != 0:
        raise NkSyntaxError(f"{depth} '{{' never closed")


def _split_knob(line: str) -> tuple[str, str]:
    name, _, value = line.strip().partition(" ")
    return name, value.strip()


def _complete(value: str) -> bool:
    try:
        check_balanced(value)
    except NkSyntaxError:
        return False
    return True


def parse_nk(text: str) -> list[NkNode]:
    """Check ``text`` and return its nodes (with their wiring) in file order.

    Raises:
        NkSyntaxError: unbalanced text, an unknown class or knob, a ``push`` of an
            unknown variable, or a node that takes more inputs than the stack holds.
    """
    check_balanced(text)
    nodes: list[NkNode] = []
    stack: list[str] = ["<paste>"]
    variables: dict[str, str] = {}
    groups: list[tuple[str, list[str]]] = []  # (group name, outer stack)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        if line.startswith("set "):
            match = re.fullmatch(r"set (\S+) \[stack 0\]", line)
            if not match:
                raise NkSyntaxError(f"bad set line {line!r}")
            variables[match.group(1)] = stack[-1] if stack else "<empty>"
            continue
        if line.startswith("push "):
            ref = line[5:].strip()
            if ref == "0":
                stack.append("<none>")
            elif ref.startswith("$") and ref[1:] in variables:
                stack.append(variables[ref[1:]])
            else:
                raise NkSyntaxError(f"push of unknown variable {ref!r}")
            continue
        if line.startswith(("add_layer ", "version ")):
            continue
        if line == "end_group":
            if not groups:
                raise NkSyntaxError("end_group outside a group")
            group, outer = groups.pop()
            stack = outer + [group]
            continue
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*) \{", line)
        if not match:
            raise NkSyntaxError(f"expected a node or a directive, got {line!r}")
        node = NkNode(match.group(1), parent=groups[-1][0] if groups else None)
        if node.node_class not in NODE_KNOBS:
            raise NkSyntaxError(f"unknown node class {node.node_class!r}")
        # Knob lines until the block's closing brace; a value may span lines inside braces.
        while True:
            if i >= len(lines):
                raise NkSyntaxError(f"{node.node_class} block never closes")
            raw = lines[i].strip()
            i += 1
            if raw == "}":
                break
            while not _complete(raw):
                if i >= len(lines):
                    raise NkSyntaxError(f"knob value never closes in {node.node_class}")
                raw += "\n" + lines[i]
                i += 1
            knob, value = _split_knob(raw)
            if knob == "addUserKnob":
                user = _USER_KNOB.match(value)
                if not user:
                    raise NkSyntaxError(f"bad addUserKnob {value!r}")
                node.user_knobs.append((int(user.group(1)), user.group(2)))
                continue
            allowed = COMMON_KNOBS | NODE_KNOBS[node.node_class] | {k for _, k in node.user_knobs}
            if knob not in allowed:
                raise NkSyntaxError(f"{node.node_class} has no knob {knob!r}")
            node.knobs[knob] = value
        count = int(node.knobs.get("inputs", DEFAULT_INPUTS.get(node.node_class, 1)))
        if count > len(stack):
            raise NkSyntaxError(f"{node.name} takes {count} inputs but the stack holds {len(stack)}")
        taken = [stack.pop() for _ in range(count)]  # top of the stack is input 0
        node.inputs = taken
        nodes.append(node)
        if node.node_class == "Group":
            groups.append((node.name, stack))
            stack = []
        else:
            stack.append(node.name)
    if groups:
        raise NkSyntaxError(f"group {groups[-1][0]} has no end_group")
    return nodes


def by_name(nodes: list[NkNode]) -> dict[str, NkNode]:
    return {n.name: n for n in nodes}
