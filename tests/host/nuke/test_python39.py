"""The Nuke plugin and the shared client run on Nuke 14's Python (3.9): no newer syntax or APIs.

GIVEN every .py file of plugins/nuke and plugins/common WHEN parsed as Python
3.9 THEN it parses, no annotation uses ``X | Y`` (evaluated at import in 3.9),
and no call uses 3.10+ keywords; and where a python3.9 is installed, the menus
and the three nodes build under it against the fake ``nuke``.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PLUGIN_DIRS = (HERE.parents[2] / "plugins" / "common", HERE.parents[2] / "plugins" / "nuke")

FILES = sorted(p for folder in PLUGIN_DIRS for p in folder.rglob("*.py"))
# Keywords added after 3.9: zip(strict=), dataclass(kw_only=, slots=), ...
NEWER_KEYWORDS = {"strict", "kw_only", "slots"}


def test_there_are_plugin_files():
    names = {p.relative_to(p.parents[1]).as_posix() for p in FILES}
    assert {"nuke/init.py", "nuke/menu.py", "framefill_nuke/nodes.py", "framefill_host/runner.py"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parses_as_python_39_without_newer_constructs(path: Path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
    future_annotations = any(
        isinstance(node, ast.ImportFrom) and node.module == "__future__" and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    problems = []
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations += [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation]
            annotations += [a.annotation for a in (args.vararg, args.kwarg) if a is not None and a.annotation]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None and not future_annotations and any(
                isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr) for sub in ast.walk(annotation)
            ):
                problems.append(f"line {annotation.lineno}: X | Y annotation")
        if isinstance(node, ast.Call):
            problems += [f"line {node.lineno}: {k.arg}=" for k in node.keywords if k.arg in NEWER_KEYWORDS]
    assert problems == []


def test_plugin_code_never_uses_future_annotations_to_hide_newer_types():
    # The plugin must run on 3.9 as written; postponed annotations would hide X | Y from this check.
    hidden = [p for p in FILES if "from __future__ import annotations" in p.read_text(encoding="utf-8")]
    assert hidden == []


_RUN_ON_39 = """
import sys
sys.path[:0] = {paths!r}
from fake_nuke import make_fake_nuke
fake = make_fake_nuke()
sys.modules["nuke"] = fake
from framefill_nuke import menus, nodes
from framefill_host.events import parse_event_line
from framefill_host.patterns import nuke_range_to_framefill
toolbar = menus.install()
made = [nodes.create(c).name() for c in ("FF_Interpolate", "FF_Upscale", "FF_FlowError")]
event = parse_event_line('{{"kind": "frame", "done": 3, "total": 4}}')
print(sys.version_info[:2], [n for n, _ in toolbar.items], made, event.done, nuke_range_to_framefill("1-9x2 20"))
"""


def _python39() -> str | None:
    """A working Python 3.9: $FRAMEFILL_TEST_PYTHON39, python3.9 on PATH, or a pyenv install."""
    candidates = [os.environ.get("FRAMEFILL_TEST_PYTHON39"), shutil.which("python3.9"),
                  *sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.9*/bin/python3.9"))]
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 9)":
            return candidate
    return None


def test_menus_and_nodes_build_under_python_39():
    python39 = _python39()
    if python39 is None:
        pytest.skip("no Python 3.9 found (Nuke 14's Python); set FRAMEFILL_TEST_PYTHON39")
    paths = [str(p) for p in (*PLUGIN_DIRS, HERE)]
    done = subprocess.run([python39, "-I", "-c", _RUN_ON_39.format(paths=paths)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "(3, 9) ['FF_Interpolate', 'FF_Upscale', 'FF_FlowError', '-', 'Set framefill Python...'] "
        "['FF_Interpolate', 'FF_Upscale', 'FF_FlowError'] 3 1-9:2,20"
    )
