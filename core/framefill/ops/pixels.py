"""Pixel arrays on a canvas and in their stored types: pure numpy, no files.

EXR parts keep pixels over a *data window* (an inclusive box x0, y0, x1, y1 in
frame coordinates) that may differ from frame to frame and part to part. Work
that mixes frames (a fill) runs on a *canvas*, the union of the windows
involved; :func:`on_canvas` places a channel there and the caller crops back.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["Box", "HALF_MAX", "union_box", "on_canvas", "cast_like", "is_constant", "finite"]

Box = tuple[int, int, int, int]
# The largest finite half-float value: past it a cast would give inf.
HALF_MAX = 65504.0


def union_box(boxes: Iterable[Box]) -> Box:
    """The smallest box holding every box (inclusive x0, y0, x1, y1)."""
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def on_canvas(channel: np.ndarray, window: Box, canvas: Box) -> np.ndarray:
    """``channel`` (over ``window``) as float32 over ``canvas``, zero outside its window."""
    cx0, cy0, cx1, cy1 = canvas
    x0, y0, x1, y1 = window
    out = np.zeros((cy1 - cy0 + 1, cx1 - cx0 + 1), dtype=np.float32)
    out[y0 - cy0 : y1 - cy0 + 1, x0 - cx0 : x1 - cx0 + 1] = channel
    return out


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float work values back to a stored pixel type.

    uint32 (IDs): rounded and clipped to its range. float16: clipped to half's
    finite range, so a value the input could not hold never becomes inf (NaN
    stays NaN). float32: as is.
    """
    if dtype == np.uint32:
        return np.clip(np.rint(values), 0, np.iinfo(np.uint32).max).astype(np.uint32)
    if dtype == np.float16:
        return np.clip(values, -HALF_MAX, HALF_MAX).astype(np.float16)
    return values.astype(dtype, copy=False)


def is_constant(channel: np.ndarray) -> bool:
    """True when every value is the same (or every value is NaN)."""
    flat = channel.reshape(-1)
    return bool(np.all(flat == flat[0])) or bool(np.all(np.isnan(flat)))


def finite(values: np.ndarray) -> np.ndarray:
    """``values`` with NaN as 0 and +/-Inf as +/-``HALF_MAX``; the same array when all are finite.

    What a fill or an upscale does with a renderer's odd NaN/Inf pixel before
    warping or resampling: one bad sample must not spread into its neighbours
    (or, through a network, into the whole frame).
    """
    if values.dtype.kind != "f" or bool(np.isfinite(values).all()):
        return values
    return np.nan_to_num(values, nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)
