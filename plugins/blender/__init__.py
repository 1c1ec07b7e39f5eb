"""framefill for Blender: render every Nth frame, let ML fill the rest, re-render what QC flags.

A thin adapter over framefill: the work runs in the framefill CLI, started
from the Python set in the preferences (or $FRAMEFILL_PYTHON, or ``framefill``
on PATH), because Blender's own Python has no torch. The shared host client
(``framefill_host``) is copied into this extension when it is built
(``build_extension.py``); see README.md.
"""

import bpy

from . import operators, prefs, props, ui

_CLASSES = (*props.CLASSES, prefs.FramefillPreferences, *operators.CLASSES, *ui.CLASSES)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    props.register()


def unregister() -> None:
    # A job still running in this session stops with the operator; its frames stay.
    props.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
