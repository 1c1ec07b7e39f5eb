"""framefill: render fewer frames and fewer pixels, let ML fill in the rest, and
know exactly which frames still need a real render.

The public entry points are in :mod:`framefill.api` (re-exported here lazily so
that ``import framefill`` stays light: it never imports torch or a host module).
"""

from __future__ import annotations

from typing import Any

from framefill._version import __version__
from framefill.errors import FramefillError

__all__ = ["__version__", "FramefillError", "fill_shot", "upscale", "qc_shot", "plan_shot", "make_bundle"]

_API_NAMES = {"fill_shot", "upscale", "qc_shot", "plan_shot", "make_bundle"}


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from framefill import api

        return getattr(api, name)
    raise AttributeError(f"module 'framefill' has no attribute {name!r}")
