"""The adapter runs in Houdini's Python: 3.11 syntax, no heavy imports, ``hou`` in one module, a shelf that loads.

GIVEN every .py of plugins/houdini and plugins/common (Houdini imports both) WHEN parsed
as Python 3.11 (Houdini 20.5 and 21) THEN they parse; only host_api imports hou; and
importing the shelf module, as the shelf and the Render menu do, imports no torch,
numpy, onnx or framefill core. The shelf and menu files are valid XML whose scripts
call functions that exist.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PACKAGE = REPO / "plugins" / "houdini"
LIBS = PACKAGE / "python3.11libs"
FILES = sorted([*PACKAGE.rglob("*.py"), *(REPO / "plugins" / "common").rglob("*.py")])
# Houdini 20.5 and 21.0 ship Python 3.11.
HOUDINI_PYTHONS = [(3, 11)]
HEAVY = ("torch", "numpy", "onnx", "onnxruntime", "cv2", "OpenEXR", "framefill", "PySide2", "PySide6")


def test_there_are_adapter_files():
    names = {p.relative_to(REPO).as_posix() for p in FILES}
    assert {"plugins/houdini/python3.11libs/framefill_houdini/shelf.py",
            "plugins/houdini/python3.11libs/framefill_houdini/host_api.py",
            "plugins/common/framefill_host/runner.py"} <= names


@pytest.mark.parametrize("version", HOUDINI_PYTHONS, ids=lambda v: "py%d%d" % v)
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parses_as_houdinis_python(path: Path, version):
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=version)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_host_api_imports_hou_and_nothing_imports_heavy_modules():
    adapter = sorted(LIBS.rglob("*.py"))
    assert [p.name for p in adapter if "hou" in _imports(p)] == ["host_api.py"]
    assert {p.name: sorted(_imports(p) & set(HEAVY)) for p in adapter} == {p.name: [] for p in adapter}


_PROBE = """
import sys
sys.path[:0] = {paths!r}
from fake_hou import make_fake_hou
sys.modules["hou"] = make_fake_hou()
import framefill_houdini.shelf, framefill_houdini.pdg_task, framefill_houdini.pdg_fill
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(sys.version_info[:2], heavy)
"""


def test_loading_the_shelf_imports_nothing_heavy():
    paths = [str(REPO / "plugins" / "common"), str(LIBS), str(HERE)]
    done = subprocess.run([sys.executable, "-I", "-c", _PROBE.format(paths=paths, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]")


def test_shelf_and_menu_files_call_existing_functions(fake_hou):
    from framefill_houdini import shelf

    root = ET.parse(PACKAGE / "toolbar" / "framefill.shelf").getroot()
    assert root.tag == "shelfDocument"
    (toolshelf,) = root.findall("toolshelf")
    members = [m.get("name") for m in toolshelf.findall("memberTool")]
    tools = {t.get("name"): t for t in root.findall("tool")}
    assert members == list(tools)
    labels = {t.get("label") for t in tools.values()}
    assert {"Interpolate sequence", "Upscale sequence", "Flow error", "COP Interpolate (ONNX)",
            "COP Upscale (ONNX)", "Sparse render + fill (TOPs)", "Submit to Deadline Cloud"} <= labels
    called = []
    for tool in tools.values():
        script = tool.find("script")
        assert script.get("scriptType") == "python"
        call = ast.parse(script.text).body[-1].value
        called.append(call.func.attr)
        assert callable(getattr(shelf, call.func.attr))
    assert called == ["cop_interpolate", "cop_upscale", "interpolate_sequence", "upscale_sequence", "flow_error",
                      "tops_sparse_fill", "submit_deadline", "choose_python"]
    menu = ET.parse(PACKAGE / "MainMenuCommon.xml").getroot()
    item = menu.find("./menuBar/subMenu[@id='render_menu']/scriptItem")
    assert item.find("label").text == "Submit to Deadline Cloud (framefill)"
    call = ast.parse(item.find("scriptCode").text).body[-1].value
    assert call.func.attr == "submit_deadline" and callable(getattr(shelf, "submit_deadline"))
