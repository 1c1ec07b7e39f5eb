"""`import framefill` and `framefill --help` stay light: no torch, no host, no Qt."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "bpy", "nuke", "hou", "PySide6", "PySide2", "cv2", "av", "deadline")

CHECK = """
import sys
{imports}
heavy = [m for m in {heavy!r} if m in sys.modules]
print(",".join(heavy))
"""


@pytest.mark.parametrize(
    "imports",
    [
        pytest.param("import framefill", id="package"),
        pytest.param("import framefill.api, framefill.errors, framefill.events", id="api"),
        pytest.param("import framefill.cli, framefill.commands", id="cli"),
    ],
)
def test_import_does_not_pull_heavy_modules(imports):
    code = CHECK.format(imports=imports, heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"{imports} imported {proc.stdout.strip()}"


def test_help_and_version_run_without_heavy_imports():
    code = (
        "import sys\nfrom framefill.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage: framefill" in proc.stdout
    assert proc.stdout.strip().endswith("HEAVY=")
    version = subprocess.run([sys.executable, "-m", "framefill", "--version"], capture_output=True, text=True)
    import framefill

    assert version.returncode == 0 and version.stdout.strip() == f"framefill, version {framefill.__version__}"
