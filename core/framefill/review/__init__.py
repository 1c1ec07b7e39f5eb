"""``framefill review``: look at a filled shot, its heatmaps and its re-render list, decide, send the decision on.

The logic has no Qt: :mod:`.shot` (the shot, its statuses and scores, the
decisions and where they are saved), :mod:`.display` (the OCIO display
transform, channel choice, overlays and wipes as numpy), :mod:`.cache` (the
frame cache bounded in bytes) and :mod:`.submit` (the re-render job bundle).
The Qt modules, :mod:`.widgets` (the viewer, a plain ``QWidget`` a host panel
can hold, and the timeline), :mod:`.loader` (decoding on worker threads),
:mod:`.playback` and :mod:`.window` (the standalone window), are the only ones
that import PySide6 (the ``ui`` extra).
"""

from __future__ import annotations

__all__: list[str] = []
