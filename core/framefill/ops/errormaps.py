"""Error-prediction maps for filled frames, false colour, and the two rank statistics QC reports.

Everything here is pure array math on H,W(,C) float32 numpy arrays:

- :func:`prediction_features`: per-pixel maps that predict where an interpolated
  frame is wrong, computed from the two rendered neighbours and the model's own
  motion (no render of the filled frame needed). Every map lives on the
  output frame's pixel grid (time t).
- :func:`false_colour` / :func:`overlay`: heatmaps for people.
- :func:`roc_auc` / :func:`spearman`: how well a score ranks frames.

Conventions: images are display-encoded (the sRGB proxy clipped to [0, 1]);
flows are H,W,2 float32 in pixels of the grid they live on (x then y), with the
backward convention of :mod:`framefill.ops.flow` (``out(p) = src(p + flow(p))``).
"""

from __future__ import annotations

import numpy as np

from framefill.errors import InputError
from framefill.ops.flow import (
    FB_ALPHA,
    FB_BETA,
    dis_flow,
    flow_angle_std,
    remap_bilinear,
    to_gray_u8,
    warp_flow,
)

__all__ = [
    "FEATURE_NAMES",
    "prediction_features",
    "false_colour",
    "overlay",
    "error_to_unit",
    "rankdata",
    "roc_auc",
    "spearman",
]

# The per-pixel feature maps, in the order calibration files list them.
#   residual           mean |warp(I0) - warp(I1)| over RGB: the two warped neighbours disagree
#   texture            gradient magnitude of the filled proxy: how much a misplacement costs
#   angle_std          local circular std of classical (DIS) flow direction, radians (the published baseline)
#   flow_mag           length of the model's frame-0-to-frame-1 motion, px
#   fb_error           forward-backward inconsistency of the DIS flow, px (worse side)
#   occlusion          DIS forward-backward occlusion test (0/1, either side; bilinear-carried to t)
#   flow_disagreement  |model motion - DIS motion|, px: two motion estimators disagree
#   mask_occlusion     |2 m - 1| of the model's blend mask: the model trusts only one neighbour
FEATURE_NAMES: tuple[str, ...] = (
    "residual",
    "texture",
    "angle_std",
    "flow_mag",
    "fb_error",
    "occlusion",
    "flow_disagreement",
    "mask_occlusion",
)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722).astype(np.float32)


def _gradient_magnitude(gray: np.ndarray) -> np.ndarray:
    import cv2

    # Sobel's 3x3 kernel sums to 4x the central difference on each axis; /8
    # gives the per-pixel step of a unit-contrast edge ~0.5.
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 8.0
    return np.sqrt(gx * gx + gy * gy).astype(np.float32)


def _forward_backward(flow_ab: np.ndarray, flow_ba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|F_ab + F_ba(p + F_ab)| in px, and the occlusion test of :func:`framefill.ops.flow.fb_occlusion` (0/1)."""
    back = warp_flow(flow_ba, flow_ab)
    diff = np.sum((flow_ab + back) ** 2, axis=-1)
    bound = FB_ALPHA * (np.sum(flow_ab**2, axis=-1) + np.sum(back**2, axis=-1)) + FB_BETA
    return np.sqrt(diff).astype(np.float32), (diff > bound).astype(np.float32)


def prediction_features(
    img0: np.ndarray,
    img1: np.ndarray,
    flow_t0: np.ndarray,
    flow_t1: np.ndarray,
    mask: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-pixel error-prediction maps of one filled frame, on the output grid.

    Args:
        img0, img1: the rendered neighbours, H,W,3 float32, display-encoded in [0, 1].
        flow_t0, flow_t1: the model's backward flows from the filled frame to
            each neighbour, H,W,2 float32, px of this grid.
        mask: the model's blend weight of neighbour 0, H,W float32 in [0, 1].
    Returns:
        ``{name: H,W float32}`` for every name in :data:`FEATURE_NAMES`.

    Deterministic: OpenCV's DIS runs on one thread (see :func:`dis_flow`).
    """
    img0 = np.ascontiguousarray(img0, dtype=np.float32)
    img1 = np.ascontiguousarray(img1, dtype=np.float32)
    ft0 = np.ascontiguousarray(flow_t0, dtype=np.float32)
    ft1 = np.ascontiguousarray(flow_t1, dtype=np.float32)
    m = np.ascontiguousarray(mask, dtype=np.float32)

    w0 = remap_bilinear(img0, ft0)
    w1 = remap_bilinear(img1, ft1)
    residual = np.mean(np.abs(w0 - w1), axis=-1)
    filled = w0 * m[..., None] + w1 * (1.0 - m[..., None])
    texture = _gradient_magnitude(_gray(filled))

    # Classical flow between the neighbours, independent of the model.
    g0, g1 = to_gray_u8(img0), to_gray_u8(img1)
    f01 = dis_flow(g0, g1)
    f10 = dis_flow(g1, g0)
    # Maps that live on a neighbour's grid are carried to time t along the model's flows.
    angle_std = remap_bilinear(flow_angle_std(f01), ft0)
    fb0, occ0 = _forward_backward(f01, f10)
    fb1, occ1 = _forward_backward(f10, f01)
    fb_error = np.maximum(remap_bilinear(fb0, ft0), remap_bilinear(fb1, ft1))
    occlusion = np.maximum(remap_bilinear(occ0, ft0), remap_bilinear(occ1, ft1))
    model_motion = ft1 - ft0  # under locally linear motion, the 0 -> 1 displacement of the point at p
    flow_mag = np.sqrt(np.sum(model_motion**2, axis=-1))
    dis_motion = remap_bilinear(f01, ft0)
    flow_disagreement = np.sqrt(np.sum((model_motion - dis_motion) ** 2, axis=-1))
    mask_occlusion = np.abs(2.0 * m - 1.0)
    maps = {
        "residual": residual,
        "texture": texture,
        "angle_std": angle_std,
        "flow_mag": flow_mag,
        "fb_error": fb_error,
        "occlusion": occlusion,
        "flow_disagreement": flow_disagreement,
        "mask_occlusion": mask_occlusion,
    }
    return {k: np.ascontiguousarray(maps[k], dtype=np.float32) for k in FEATURE_NAMES}


# ---------------------------------------------------------------------------------------
# False colour
# ---------------------------------------------------------------------------------------

# Our own dark-to-bright ramp (black, violet, red, orange, pale yellow): monotone in
# lightness, so it still reads in greyscale, and far from the grey thumbnails under it.
_RAMP = np.array(
    [
        [0.00, 0.00, 0.02],
        [0.25, 0.05, 0.45],
        [0.65, 0.10, 0.35],
        [0.92, 0.35, 0.10],
        [1.00, 0.75, 0.20],
        [1.00, 1.00, 0.80],
    ],
    dtype=np.float32,
)

# Squared errors shown on a log scale: 1e-4 (40 dB, invisible) to 1e-1 (10 dB, a wrong object).
ERROR_DISPLAY_LO = 1e-4
ERROR_DISPLAY_HI = 1e-1


def error_to_unit(sq_err: np.ndarray) -> np.ndarray:
    """Squared error -> [0, 1] on a log scale from ``ERROR_DISPLAY_LO`` to ``ERROR_DISPLAY_HI``."""
    lo, hi = np.log10(ERROR_DISPLAY_LO), np.log10(ERROR_DISPLAY_HI)
    v = np.log10(np.maximum(np.asarray(sq_err, dtype=np.float32), ERROR_DISPLAY_LO))
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def false_colour(unit: np.ndarray) -> np.ndarray:
    """H,W values in [0, 1] (NaN as 0) -> H,W,3 float32 RGB in [0, 1] on framefill's ramp."""
    v = np.clip(np.nan_to_num(np.asarray(unit, dtype=np.float32), nan=0.0), 0.0, 1.0)
    pos = v * (len(_RAMP) - 1)
    i = np.minimum(pos.astype(np.int64), len(_RAMP) - 2)
    frac = (pos - i)[..., None]
    return (_RAMP[i] * (1.0 - frac) + _RAMP[i + 1] * frac).astype(np.float32)


def overlay(rgb: np.ndarray, unit: np.ndarray, *, alpha: float = 0.65) -> np.ndarray:
    """A heatmap over a darkened grey copy of ``rgb`` (display-encoded, [0, 1]); H,W,3 float32.

    Where ``unit`` is 0 the picture shows through; the heat covers it in
    proportion to its value, so only the risky places are coloured.
    """
    grey = _gray(np.clip(rgb, 0.0, 1.0))[..., None] * 0.6
    heat = false_colour(unit)
    a = (alpha * np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0) ** 0.5)[..., None]
    return np.clip(grey * (1.0 - a) + heat * a, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Rank statistics
# ---------------------------------------------------------------------------------------


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties sharing their average rank (float64)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2.

    ``labels`` are truthy for positives. Returns NaN when either class is empty.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    # Mann-Whitney U of the positives, normalised.
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks); NaN if either is constant."""
    ra, rb = rankdata(a), rankdata(b)
    if len(ra) != len(rb):
        raise InputError(f"spearman needs two series of equal length, got {len(ra)} and {len(rb)}")
    ra -= ra.mean()
    rb -= rb.mean()
    den = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    return float(np.sum(ra * rb) / den) if den > 0 else float("nan")
