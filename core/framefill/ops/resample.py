"""Classical resampling: Lanczos, bicubic, bilinear, area, nearest and a smooth filter for data.

Every method uses half-pixel centres (output sample ``X`` sits at input
coordinate ``(X + 0.5) * in / out - 0.5``), the convention of OpenCV, torch
(``align_corners=False``) and ncnn, so classical and network outputs line up.

Which filter for what (the upscale pipeline's choices):

* ``lanczos`` - colour, when sharpness matters (the classical fallback model,
  enlarging past a network's own scale). Lanczos-4 rings next to hard edges and
  HDR highlights (a 50.0 glint next to 0.1 would throw negative lobes), so
  ``antiring=True`` clamps each output sample into the range of the 2x2 input
  samples around it: sharp, no halos, no negatives from positive input.
* ``area`` - every shrink (box average over the footprint: no aliasing, no ringing).
* ``smooth`` - data passes (depth, normals, positions, motion): bilinear when
  enlarging, area when shrinking. Never overshoots, so depth stays within the
  depths around it and normals keep their range.
* ``nearest`` - ID passes (object/material IDs, cryptomatte): every output
  sample is one input sample, bit for bit, in any dtype (uint32 included).
* ``bicubic`` / ``bilinear`` - baselines for benchmarks.

Arrays are (H, W) or (H, W, C); float32 out (nearest keeps the input dtype).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from framefill.errors import InputError

__all__ = [
    "Method",
    "METHODS",
    "resize",
    "OutputSize",
    "Aspect",
    "ASPECTS",
    "plan_output_size",
    "place_on_canvas",
    "fit_resize",
    "grid_resize",
    "clip_and_carry",
]

Method = Literal["lanczos", "bicubic", "bilinear", "area", "nearest", "smooth"]
METHODS: tuple[str, ...] = ("lanczos", "bicubic", "bilinear", "area", "nearest", "smooth")
Aspect = Literal["error", "stretch", "fit", "fill"]
ASPECTS: tuple[str, ...] = ("error", "stretch", "fit", "fill")

# OpenCV's resize handles at most 4 channels per call for some methods (INTER_AREA).
_CV_MAX_CHANNELS = 4


def _cv2_flag(method: str) -> int:
    import cv2

    return {
        "lanczos": cv2.INTER_LANCZOS4,
        "bicubic": cv2.INTER_CUBIC,
        "bilinear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
    }[method]


def _centres(out_len: int, in_len: int) -> np.ndarray:
    """Input coordinates of output sample centres (half-pixel convention)."""
    return (np.arange(out_len, dtype=np.float64) + 0.5) * (in_len / out_len) - 0.5


def _nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = np.clip(np.floor(_centres(height, image.shape[0]) + 0.5), 0, image.shape[0] - 1).astype(np.intp)
    cols = np.clip(np.floor(_centres(width, image.shape[1]) + 0.5), 0, image.shape[1] - 1).astype(np.intp)
    return np.ascontiguousarray(image[rows][:, cols])


def _cv_resize(image: np.ndarray, height: int, width: int, flag: int) -> np.ndarray:
    import cv2

    src = image.astype(np.float32, copy=False)
    if src.ndim == 2:
        return cv2.resize(src, (width, height), interpolation=flag)
    chunks = []
    for c in range(0, src.shape[2], _CV_MAX_CHANNELS):
        part = np.ascontiguousarray(src[:, :, c : c + _CV_MAX_CHANNELS])
        out = cv2.resize(part, (width, height), interpolation=flag)
        chunks.append(out[:, :, None] if out.ndim == 2 else out)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=2)


def _with_right_neighbour(rows: np.ndarray, pick: Callable[..., np.ndarray]) -> np.ndarray:
    """``pick`` (np.minimum or np.maximum) of each column and the next one; the last column is its own."""
    out = np.empty_like(rows)
    pick(rows[:, :-1], rows[:, 1:], out=out[:, :-1])
    out[:, -1] = rows[:, -1]
    return out


def _antiring(out: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Clamp ``out`` into the min/max of the 2x2 source samples around each output centre."""
    src = src.astype(np.float32, copy=False)
    ry = _centres(out.shape[0], src.shape[0])
    rx = _centres(out.shape[1], src.shape[1])
    y0 = np.clip(np.floor(ry), 0, src.shape[0] - 1).astype(np.intp)
    y1 = np.clip(y0 + 1, 0, src.shape[0] - 1)
    x0 = np.clip(np.floor(rx), 0, src.shape[1] - 1).astype(np.intp)
    # Separable, and at input width until the last step: each output row's two source rows, then
    # each column with its right-hand neighbour (x0 + 1, clipped: the last column pairs with
    # itself), then one gather at the output size per bound.
    lo = _with_right_neighbour(np.minimum(src[y0], src[y1]), np.minimum)
    hi = _with_right_neighbour(np.maximum(src[y0], src[y1]), np.maximum)
    np.maximum(out, lo[:, x0], out=out)
    np.minimum(out, hi[:, x0], out=out)
    return out


def resize(image: np.ndarray, *, height: int, width: int, method: Method, antiring: bool = False) -> np.ndarray:
    """Resample ``image`` to ``height`` x ``width``.

    Args:
        image: (H, W) or (H, W, C); any real dtype for ``nearest``, else float
            (float16 is widened). Values are not clamped (HDR passes through).
        method: see the module docstring.
        antiring: for ``lanczos``/``bicubic`` enlargements, clamp each sample into
            the range of its 2x2 input neighbourhood (no halos, no overshoot).
    Returns:
        The resampled array, float32 (``nearest`` keeps the dtype and exact values).
    Raises:
        ValueError: an unknown method, an empty image or a non-positive size.
    """
    if method not in METHODS:
        raise ValueError(f"unknown resampling method {method!r}; use one of {', '.join(METHODS)}")
    if height <= 0 or width <= 0 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"cannot resample {image.shape[:2]} to {height}x{width}")
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image.copy() if method == "nearest" else image.astype(np.float32, copy=True)
    if method == "nearest":
        return _nearest(image, height, width)
    if method == "smooth":
        # Per axis: bilinear where it grows, area where it shrinks (two passes when mixed).
        grow_y, grow_x = height >= h, width >= w
        if grow_y == grow_x:
            return _cv_resize(image, height, width, _cv2_flag("bilinear" if grow_y else "area"))
        tmp = _cv_resize(image, h, width, _cv2_flag("bilinear" if grow_x else "area"))
        return _cv_resize(tmp, height, width, _cv2_flag("bilinear" if grow_y else "area"))
    out = _cv_resize(image, height, width, _cv2_flag(method))
    if antiring and method in ("lanczos", "bicubic"):
        out = _antiring(out, image)
    return out


# ---------------------------------------------------------------------------
# Output size: a scale or a target size, and the aspect ratio said out loud
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputSize:
    """Where an image of ``in_width`` x ``in_height`` goes.

    The content is resampled to ``width`` x ``height`` (scale factors
    ``scale_x``, ``scale_y``) and placed with its top-left corner at
    (``offset_x``, ``offset_y``) on a canvas of ``canvas_width`` x
    ``canvas_height``. ``fit`` leaves bars (positive offsets), ``fill`` overhangs
    (negative offsets); otherwise content and canvas coincide.
    """

    in_width: int
    in_height: int
    width: int
    height: int
    canvas_width: int
    canvas_height: int
    offset_x: int = 0
    offset_y: int = 0

    @property
    def scale_x(self) -> float:
        return self.width / self.in_width

    @property
    def scale_y(self) -> float:
        return self.height / self.in_height

    @property
    def uniform(self) -> bool:
        """True when the content keeps its aspect ratio (up to rounding to whole pixels)."""
        return _same_aspect(self.in_width, self.in_height, self.width, self.height)


def _same_aspect(w: int, h: int, out_w: int, out_h: int) -> bool:
    # Equal if one side, scaled by the other's factor, rounds to what was asked for.
    return round(w * out_h / h) == out_w or round(h * out_w / w) == out_h


def plan_output_size(
    in_width: int,
    in_height: int,
    *,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    aspect: Aspect = "error",
    default_scale: float = 4.0,
) -> OutputSize:
    """The output geometry for ``--scale`` or ``--size`` with an explicit aspect policy.

    ``scale`` multiplies both sides (rounded to whole pixels); ``size`` asks for
    a width and height. When ``size`` changes the aspect ratio (beyond rounding)
    ``aspect`` decides: ``error`` refuses, ``stretch`` scales the axes
    differently, ``fit`` scales uniformly to fit inside and centres (bars),
    ``fill`` scales uniformly to cover and centres (the overhang is cropped or,
    for EXR, kept as overscan). With neither, ``default_scale`` applies.

    Raises:
        InputError: both or a bad scale/size, an unknown aspect, or an aspect
            change under ``aspect="error"``.
    """
    if aspect not in ASPECTS:
        raise InputError(f"unknown --aspect {aspect!r}; use one of {', '.join(ASPECTS)}")
    if scale is not None and size is not None:
        raise InputError("give --scale or --size, not both")
    if size is None:
        factor = default_scale if scale is None else float(scale)
        if not math.isfinite(factor) or factor <= 0:
            raise InputError(f"bad --scale {scale!r}; use a positive number such as 2 or 4")
        w, h = max(1, round(in_width * factor)), max(1, round(in_height * factor))
        return OutputSize(in_width, in_height, w, h, w, h)
    out_w, out_h = size
    if out_w <= 0 or out_h <= 0:
        raise InputError(f"bad --size {out_w}x{out_h}; both sides must be positive")
    if _same_aspect(in_width, in_height, out_w, out_h) or aspect == "stretch":
        return OutputSize(in_width, in_height, out_w, out_h, out_w, out_h)
    if aspect == "error":
        raise InputError(
            f"--size {out_w}x{out_h} (aspect {out_w / out_h:.4f}) changes the aspect ratio of the "
            f"{in_width}x{in_height} input ({in_width / in_height:.4f}); add --aspect fit (bars), "
            "fill (crop) or stretch"
        )
    sx, sy = out_w / in_width, out_h / in_height
    factor = min(sx, sy) if aspect == "fit" else max(sx, sy)
    w, h = max(1, round(in_width * factor)), max(1, round(in_height * factor))
    return OutputSize(in_width, in_height, w, h, out_w, out_h, (out_w - w) // 2, (out_h - h) // 2)


def place_on_canvas(content: np.ndarray, size: OutputSize) -> np.ndarray:
    """Put resampled content (H,W,C) on its canvas: bars (zeros) for ``fit``, a centred crop for ``fill``."""
    if (size.width, size.height) == (size.canvas_width, size.canvas_height):
        return content
    canvas = np.zeros((size.canvas_height, size.canvas_width, content.shape[2]), dtype=content.dtype)
    sy0, sx0 = max(0, -size.offset_y), max(0, -size.offset_x)
    dy0, dx0 = max(0, size.offset_y), max(0, size.offset_x)
    hh = min(content.shape[0] - sy0, size.canvas_height - dy0)
    ww = min(content.shape[1] - sx0, size.canvas_width - dx0)
    canvas[dy0 : dy0 + hh, dx0 : dx0 + ww] = content[sy0 : sy0 + hh, sx0 : sx0 + ww]
    return canvas


# ---------------------------------------------------------------------------
# Composite resamplers used by the pipelines
# ---------------------------------------------------------------------------


def fit_resize(image: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """From a model's own output size to the asked one: area when shrinking, anti-ringed Lanczos when growing."""
    if image.shape[:2] == (height, width):
        return image
    shrink = height <= image.shape[0] and width <= image.shape[1]
    return resize(image, height=height, width=width, method="area" if shrink else "lanczos", antiring=True)


def grid_resize(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``array`` (H,W or H,W,C) on a rows x cols grid: area average when both sides shrink, else bilinear.

    Always a new float32 array (the QC feature grid and its heatmaps).
    """
    import cv2

    a = np.ascontiguousarray(array, dtype=np.float32)
    if a.shape[:2] == (rows, cols):
        return a.copy()
    shrink = rows <= a.shape[0] and cols <= a.shape[1]
    return cv2.resize(a, (cols, rows), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def clip_and_carry(rgb: np.ndarray, upscale_unit: Callable[[np.ndarray], np.ndarray], *, height: int,
                   width: int) -> np.ndarray:
    """Upscale HDR colour with a network trained on [0, 1]: "clip and carry".

    ``rgb`` H,W,3 float32 in the network's (sRGB-encoded, unclamped) space. The
    network (``upscale_unit``: H,W,3 in [0, 1] -> height,width,3) sees the part
    inside [0, 1]; the part outside (highlights above 1, negatives) is carried
    past it by the ``smooth`` filter and added back, so a 50.0 glint keeps its
    level and never rings. Where nothing leaves [0, 1] this is the plain network.
    """
    base = np.clip(rgb, 0.0, 1.0)
    excess = rgb - base
    out = upscale_unit(base)
    del base
    if np.any(excess):
        out = out + resize(excess, height=height, width=width, method="smooth")
    return out
