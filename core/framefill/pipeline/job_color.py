"""The colour setup of a job: what the request names, else what its first input frame says.

One place for fill, upscale and qc: an explicit ``request.color`` is used as
given; otherwise :func:`framefill.color.resolve_color` takes ``--config`` (or
``$OCIO``), ``--colorspace`` and the first frame's EXR ``chromaticities``, and
a disagreement between the header and the option becomes a warning event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framefill.color import DEFAULT_NETWORK_SPACE, ColorSetup, resolve_color
from framefill.errors import ExrError
from framefill.events import Event, Reporter
from framefill.frames.exr import ExrImage, chromaticities, probe_exr

__all__ = ["job_color", "first_frame_header"]


def first_frame_header(path: Path | None) -> ExrImage | None:
    """The headers of an EXR input frame, or None (not an EXR, or damaged: the job deals with that later)."""
    if path is None or path.suffix.lower() != ".exr":
        return None
    try:
        return probe_exr(path)
    except ExrError:
        return None


def job_color(request: Any, first: Path | None, *, stage: str, report: Reporter,
              header: ExrImage | None = None) -> ColorSetup:
    """The job's :class:`ColorSetup` from ``request`` (``color``, ``color_config``, ``colorspace``) and its first frame.

    ``first``: the first input frame (its EXR header, or ``header`` when already
    read); a non-EXR frame's encoding defaults to sRGB (the network's space).

    Raises:
        ColorError: an unknown config or colour space.
    """
    if request.color is not None:
        return request.color
    is_exr = first is None or first.suffix.lower() == ".exr"
    header = header if header is not None else first_frame_header(first)
    chroma = chromaticities(header.parts[0]) if header is not None and header.parts else None

    def warn(message: str) -> None:
        report(Event("warning", stage=stage, message=message))

    return resolve_color(config=request.color_config, colorspace=request.colorspace, chromaticities=chroma,
                         source=str(first) if first is not None else "", warn=warn,
                         default_space=None if is_exr else DEFAULT_NETWORK_SPACE)
