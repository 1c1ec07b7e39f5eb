"""Names and helpers shared by the Blender tests and bench/blender_sparse.py (needs bpy)."""

from __future__ import annotations

import sys

REPO_MODULE = "ff_test"  # the throw-away extensions repository the tests install into
EXTENSION_MODULE = f"bl_ext.{REPO_MODULE}.framefill"


def configure_preferences(python: str | None = None, *, device: str = "cpu") -> None:
    """Point the enabled extension at a framefill Python (default: this one, which has framefill)."""
    import bpy

    prefs = bpy.context.preferences.addons[EXTENSION_MODULE].preferences
    prefs.python = python if python is not None else sys.executable
    prefs.device = device
