"""Houdini adapter tests without Houdini: the package folders on the path and a fake ``hou`` per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "plugins" / "houdini"
PYTHON_LIBS = PACKAGE / "python3.11libs"
COMMON = REPO / "plugins" / "common"
HERE = Path(__file__).resolve().parent

# Houdini finds these through the package file (HOUDINI_PATH and PYTHONPATH); this puts them
# where the package would, for the tests in this folder.
for _folder in (COMMON, PYTHON_LIBS, HERE):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture
def fake_hou(monkeypatch, tmp_path):
    """A fresh fake ``hou`` in sys.modules, framefill_houdini re-imported against it, preferences in tmp_path."""
    from fake_hou import make_fake_hou

    fake = make_fake_hou(pref_dir=str(tmp_path / "houdini20.5"))
    monkeypatch.setitem(sys.modules, "hou", fake)
    for name in [m for m in sys.modules if m == "framefill_houdini" or m.startswith("framefill_houdini.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("FRAMEFILL_PYTHON", "FRAMEFILL_ONNX_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return fake
