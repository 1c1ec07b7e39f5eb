"""The layers of core/framefill/, enforced: a lower layer never imports a higher one.

The contract (the README's "Architecture" section says what each layer owns):

    cli, commands            the framefill command
    api, framefill/__init__  the façade: typed requests in, typed results out
    pipeline | farm          shot-level jobs on the frame-job engine | OpenJD and Deadline Cloud (independent)
    requests                 typed, validated requests
    runtime                  devices, precision, memory policy, export
    models                   registry, architectures, weights cache
    ops | frames             pure array maths | frame files (independent)
    atomic, color, errors, events, _version   the base every layer may use

A module may import its own layer and the layers below it; ``pipeline`` and
``farm``, and ``ops`` and ``frames``, never import each other; the command line
reaches the core only through ``api`` and ``requests`` (plus errors and events). Every import
counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import is still a dependency. Host adapters (plugins/) reach the core only
through its public surface.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from ffpaths import REPO

CORE = REPO / "core" / "framefill"
PLUGINS = REPO / "plugins"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "commands", "__main__"}),
    frozenset({"api", "__init__", "review"}),
    frozenset({"pipeline", "farm"}),
    frozenset({"requests"}),
    frozenset({"runtime"}),
    frozenset({"models"}),
    frozenset({"ops", "frames"}),
    frozenset({"atomic", "color", "errors", "events", "_version"}),
)
INDEPENDENT = (frozenset({"pipeline", "farm"}), frozenset({"ops", "frames"}))
# The command line reaches the rest of the core only through the façade.
CLI_UNITS = frozenset({"cli", "commands", "__main__"})
CLI_REACHES = CLI_UNITS | {"api", "__init__", "requests", "errors", "events", "_version"}
# What a host adapter may import from the core.
PUBLIC = frozenset({"framefill", "framefill.api", "framefill.requests", "framefill.errors", "framefill.events"})
# `import framefill` must not pull these in (a host's own Python may lack them, and the CLI starts fast).
HEAVY = ("torch", "OpenEXR", "cv2", "PyOpenColorIO", "av", "bpy", "nuke", "hou", "PySide6", "PySide2", "deadline",
         "openjd", "onnxruntime")


def _unit(module: str) -> str:
    """The layer unit of a dotted module name: ``framefill.pipeline.fill`` -> ``pipeline``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(unit: str) -> int:
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"framefill.{unit} belongs to no layer; add it to LAYERS (and the README)")


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, dotted module) for every framefill import in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            # A bare `import framefill` only loads the package (any submodule import does as much).
            found += [(node.lineno, alias.name) for alias in node.names if alias.name != "framefill"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from framefill import api` imports the submodule framefill.api
            found += [(node.lineno, f"{base}.{a.name}" if base == "framefill" else base) for a in node.names]
    return sorted({(line, name) for line, name in found if name == "framefill" or name.startswith("framefill.")})


def layer_violations(core: Path) -> list[str]:
    """Every import in ``core`` (a framefill package folder) that breaks the contract, one line each."""
    problems = []
    for path in sorted(core.rglob("*.py")):
        rel = path.relative_to(core.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        unit = _unit(module.removesuffix(".__init__")) if path.name != "__init__.py" or len(rel.parts) > 2 \
            else "__init__"
        for line, target in imported_modules(path, package):
            other = _unit(target)
            if other == unit:
                continue
            mine, theirs = _layer(unit), _layer(other)
            where = f"{path.relative_to(core.parent)}:{line}"
            if theirs < mine:
                problems.append(f"{where}: {unit} imports {target}, a higher layer")
            elif unit in CLI_UNITS and other not in CLI_REACHES:
                problems.append(f"{where}: {unit} imports {target}; the command line goes through framefill.api")
            elif theirs == mine and any({unit, other} <= pair for pair in INDEPENDENT):
                problems.append(f"{where}: {unit} imports {target}; {unit} and {other} are independent")
    return problems


def plugin_violations(plugins: Path) -> list[str]:
    """Host adapter imports of core internals (anything but the public surface)."""
    problems = []
    for path in sorted(plugins.rglob("*.py")):
        for line, target in imported_modules(path, ""):
            if target not in PUBLIC:
                problems.append(f"{path.relative_to(plugins.parent)}:{line}: imports {target}, not public API")
    return problems


def test_core_keeps_its_layers():
    assert layer_violations(CORE) == []


def test_host_adapters_use_only_the_public_api():
    assert plugin_violations(PLUGINS) == []


def _fake_core(tmp_path: Path, files: dict[str, str]) -> Path:
    core = tmp_path / "framefill"
    for name, text in {"__init__.py": "", **files}.items():
        path = core / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return core


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"ops/warp.py": "from framefill.pipeline import fill\n"},
                     "framefill/ops/warp.py:1: ops imports framefill.pipeline, a higher layer", id="ops-up"),
        pytest.param({"models/x.py": "def f():\n    import framefill.api\n"},
                     "framefill/models/x.py:2: models imports framefill.api, a higher layer", id="lazy-import"),
        pytest.param({"frames/x.py": "from framefill.ops import warp\n"},
                     "framefill/frames/x.py:1: frames imports framefill.ops; frames and ops are independent",
                     id="siblings"),
        pytest.param({"farm/x.py": "from ..pipeline.manifest import Manifest\n"},
                     "framefill/farm/x.py:1: farm imports framefill.pipeline.manifest; farm and pipeline are "
                     "independent", id="relative"),
        pytest.param({"commands/x.py": "from framefill.pipeline.fill import run_fill\n"},
                     "framefill/commands/x.py:1: commands imports framefill.pipeline.fill; the command line goes "
                     "through framefill.api", id="cli-skips-api"),
        pytest.param({"errors.py": "from framefill import api\n"},
                     "framefill/errors.py:1: errors imports framefill.api, a higher layer", id="base-up"),
    ],
)
def test_a_wrong_import_fails_the_contract(tmp_path, files, expected):
    # GIVEN a tree with one import that breaks the layering, THEN the checker names it
    assert layer_violations(_fake_core(tmp_path, files)) == [expected]


def test_downward_imports_pass(tmp_path):
    core = _fake_core(tmp_path, {"pipeline/x.py": "from framefill.ops import warp\nfrom framefill import errors\n",
                                 "commands/y.py": "from framefill import api\n"})
    assert layer_violations(core) == []


def test_import_framefill_pulls_in_nothing_heavy():
    code = f"import sys, framefill; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""
