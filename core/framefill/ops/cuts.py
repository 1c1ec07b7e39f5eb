"""Scene-cut detection between two rendered frames.

Blending across a cut makes a double exposure, so the fill pipeline must not do
it. A cut changes what is in the picture, which shows in the colour
distribution; camera and object motion mostly move the same colours around.
The score is the Hellinger distance between coarse joint colour histograms of
small copies of the two frames (0: same distribution, 1: disjoint).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cut_score", "CUT_THRESHOLD"]

# Measured with `bench/qc.py --cuts` on the ten rendered test scenes (sample + the QC
# family, 320x180 and 480x270), over every pair of frames 1-4 apart, i.e. the
# keyframe pairs of --every 2..4 (bpy 5.0.1 renders, 2026-11):
#   inside a shot, highest per scene: whip_pan 0.27 / 0.43 / 0.47 / 0.51 at gaps
#   1 / 2 / 3 / 4 (a ~100 degree whip in a few frames); fast_spin 0.18; sample 0.13;
#   trip_fall 0.12; every other scene below 0.08.
#   across the hard cut of the `cut` scene: 0.96 at the lowest (any gap 1-4).
# 0.7 sits 0.19 above the worst shot-internal pair and 0.26 below the cut. Either
# mistake is caught downstream: a false cut holds a frame for a real render, and a
# missed one blends a double exposure that QC's risk flags.
CUT_THRESHOLD = 0.7
_BINS = 8
_THUMB_PX = 96


# Finite values beyond this are clipped before the thumbnail: area averaging of
# float32 values near its maximum (3.4e38) overflows to inf. Any value past 1 lands
# in the top bin anyway, so the clip changes no score.
_CLIP = 1e6


def _thumb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A small copy clipped to [0, 1], and per-pixel weights (None: every pixel counts fully).

    Non-finite pixels (NaN, +/-Inf in any channel) are left out: they are
    zeroed before the resize and the weight of each thumbnail pixel is the
    fraction of finite source pixels under it, so a few bad pixels neither
    break the histogram nor move the score.
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = _THUMB_PX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    arr = np.ascontiguousarray(rgb, dtype=np.float32)
    # The extremes, without a temporary: NaN when any value is NaN, +/-inf when any is infinite.
    low, high = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if math.isfinite(low) and math.isfinite(high):
        if max(-low, high) > _CLIP:
            arr = np.clip(arr, -_CLIP, _CLIP)
        small = cv2.resize(arr, size, interpolation=cv2.INTER_AREA)
        return np.clip(small, 0.0, 1.0), None
    good = np.isfinite(arr).all(axis=-1)  # a pixel counts only when all its channels are finite
    clean = np.where(good[..., None], np.clip(arr, -_CLIP, _CLIP), np.float32(0.0)).astype(np.float32)
    weight = cv2.resize(good.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    total = cv2.resize(clean, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
    mean = total / np.where(weight > 0, weight, np.float32(1.0))[..., None]
    return np.clip(mean, 0.0, 1.0), weight


def _histogram(rgb: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    q = np.minimum((rgb * _BINS).astype(np.int64), _BINS - 1)
    codes = (q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2]
    if weight is None:
        hist = np.bincount(codes.ravel(), minlength=_BINS**3).astype(np.float64)
        return hist / max(hist.sum(), 1.0)
    weighted = np.bincount(codes.ravel(), weights=weight.ravel().astype(np.float64), minlength=_BINS**3)
    total = float(weighted.sum())
    return weighted / total if total > 0 else weighted  # no finite pixel: an empty histogram


def cut_score(rgb0: np.ndarray, rgb1: np.ndarray) -> float:
    """Hellinger distance of colour histograms, in [0, 1]; always finite.

    NaN/Inf pixels are ignored and huge values count as bright (see
    :func:`_thumb`). A frame with no finite pixel at all has an empty
    histogram and scores 1.0 against anything: treated as a cut, so it is
    never blended.

    Args:
        rgb0, rgb1: H,W,3 float arrays in a display encoding (the network proxy).
    """
    h0, h1 = _histogram(*_thumb(rgb0)), _histogram(*_thumb(rgb1))
    bc = float(np.sum(np.sqrt(h0 * h1)))
    return float(np.sqrt(min(1.0, max(0.0, 1.0 - bc))))
