"""Nuke adapter tests without Nuke: the plugin folders on the path and a fake ``nuke`` per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLUGIN_DIRS = (REPO / "plugins" / "common", REPO / "plugins" / "nuke")
HERE = Path(__file__).resolve().parent

# The plugins are not installed packages (Nuke finds them through NUKE_PATH); this puts
# them where Nuke would, until pytest's `pythonpath` setting lists them.
for _folder in (*PLUGIN_DIRS, HERE):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture
def fake_nuke(monkeypatch):
    """A fresh fake ``nuke`` in sys.modules, and framefill_nuke re-imported against it."""
    from fake_nuke import make_fake_nuke

    fake = make_fake_nuke()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    for name in [m for m in sys.modules if m == "framefill_nuke" or m.startswith("framefill_nuke.")]:
        monkeypatch.delitem(sys.modules, name)
    return fake
