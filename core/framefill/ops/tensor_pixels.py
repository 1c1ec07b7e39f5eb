"""The pixel steps of :mod:`.pixels` as torch ops on the job's device.

A fill uploads each decoded channel once, in its stored type (half floats cross to
a GPU at half the bytes), places it on the canvas and makes it finite there, and
brings back each filled channel already cast to its stored type: pixels cross to
the host once each way. The values equal the numpy functions' exactly
(``tests/unit/test_tensor_pixels.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from framefill.ops.pixels import HALF_MAX, Box, cast_like

__all__ = ["stack_on_canvas_tensor", "stored_from_tensor"]


def _place(target: torch.Tensor, channel: np.ndarray) -> None:
    """Write a channel into ``target`` (float32, on the job's device). float16/float32 cross to the
    device as they are stored and are converted as they are placed (one pass on the CPU)."""
    if channel.dtype not in (np.float16, np.float32):
        channel = np.asarray(channel, dtype=np.float32)  # IDs: numpy's conversion
    elif not channel.flags.writeable:  # torch wraps only writable memory (it never writes here)
        channel = channel.copy()
    target.copy_(torch.from_numpy(channel).to(target.device))


def stack_on_canvas_tensor(channels: Sequence[np.ndarray], window: Box, canvas: Box, device: Any, *,
                           out: torch.Tensor | None = None) -> torch.Tensor:
    """``channels`` (over ``window``) stacked on ``device``: C,H,W float32 over ``canvas``, zero outside
    ``window``, NaN as 0 and +/-Inf as +/-``HALF_MAX`` (the values of :func:`~framefill.ops.pixels.on_canvas`
    of :func:`~framefill.ops.pixels.finite` of each channel). ``out``: a C,H,W float32 tensor to fill
    (one frame's place in a stack of several) instead of a new one."""
    cx0, cy0, cx1, cy1 = canvas
    x0, y0, x1, y1 = window
    shape = (len(channels), cy1 - cy0 + 1, cx1 - cx0 + 1)
    if out is None:
        out = torch.empty(shape, dtype=torch.float32, device=device)
    elif tuple(out.shape) != shape or out.dtype != torch.float32:
        raise ValueError(f"stack_on_canvas_tensor: out must be a {shape} float32 tensor")
    if window != canvas:  # every value is written when the window covers the canvas; else the rest is 0
        out.zero_()
    rows, cols = slice(y0 - cy0, y1 - cy0 + 1), slice(x0 - cx0, x1 - cx0 + 1)
    for i, channel in enumerate(channels):
        _place(out[i, rows, cols], channel)
    return out.nan_to_num_(nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)


def stored_from_tensor(values: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """:func:`~framefill.ops.pixels.cast_like` for float32 work values on any device: a host array of
    ``dtype``. float16 is clipped to half's finite range and cast on the device (NaN stays NaN)."""
    if dtype == np.float16:
        return values.clamp(-HALF_MAX, HALF_MAX).to(torch.float16).cpu().numpy()
    if dtype == np.float32:
        return values.to(torch.float32).cpu().numpy()
    return cast_like(values.cpu().numpy(), dtype)
