"""Classical optical flow: OpenCV DIS, forward-backward consistency, and the
flows at an intermediate time.

Conventions: images are H,W,3 float32 in a display-like encoding (the network
proxy), flows are H,W,2 float32 in pixels (x then y). A flow ``F_ab`` maps a
pixel of image a to where it lies in image b: ``a(p) ≈ b(p + F_ab(p))``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "to_gray_u8",
    "dis_flow",
    "warp_flow",
    "fb_occlusion",
    "intermediate_flows",
    "flow_angle_std",
    "remap_bilinear",
]

DisPreset = Literal["ultrafast", "fast", "medium"]
_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}

# ARFlow / UnFlow forward-backward test: |F01 + F10(p + F01)|^2 > a (|F01|^2 + |F10(p+F01)|^2) + b.
FB_ALPHA = 0.01
FB_BETA = 0.5


def to_gray_u8(rgb: np.ndarray) -> np.ndarray:
    """H,W,3 float (display encoding, nominal [0,1]) -> H,W uint8 luma for DIS."""
    luma = rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722
    return np.clip(np.rint(luma * 255.0), 0, 255).astype(np.uint8)


def dis_flow(gray0: np.ndarray, gray1: np.ndarray, *, preset: DisPreset = "medium") -> np.ndarray:
    """Dense flow from gray0 to gray1 (H,W,2 float32) with OpenCV's DIS.

    One thread: OpenCV's parallel loops can change the result's last bits with
    the thread count, and framefill promises bit-identical reruns.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        dis = cv2.DISOpticalFlow_create(_PRESETS[preset])  # type: ignore[attr-defined]  # missing from cv2's stub
        flow = dis.calc(gray0, gray1, None)
    finally:
        cv2.setNumThreads(threads)
    return flow.astype(np.float32, copy=False)


def remap_bilinear(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at p + flow(p) (bilinear, border replicate). image H,W or H,W,C."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = gx + flow[..., 0]
    map_y = gy + flow[..., 1]
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_flow(flow_ba: np.ndarray, flow_ab: np.ndarray) -> np.ndarray:
    """``F_ba`` sampled at ``p + F_ab(p)``: the backward flow seen from image a."""
    return remap_bilinear(flow_ba, flow_ab)


def fb_occlusion(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Pixels of image a that are occluded in b (H,W bool), by forward-backward consistency."""
    back = warp_flow(flow_ba, flow_ab)
    diff = np.sum((flow_ab + back) ** 2, axis=-1)
    bound = FB_ALPHA * (np.sum(flow_ab**2, axis=-1) + np.sum(back**2, axis=-1)) + FB_BETA
    return diff > bound


def intermediate_flows(flow01: np.ndarray, flow10: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Backward flows from time t to frames 0 and 1, assuming linear motion.

    The quadratic combination of Jiang et al. (Super SloMo, 2018): it borrows
    F01 and F10 from the same location, which is exact for static regions and
    locally constant motion.
    """
    flow_t0 = -(1.0 - t) * t * flow01 + t * t * flow10
    flow_t1 = (1.0 - t) * (1.0 - t) * flow01 - t * (1.0 - t) * flow10
    return flow_t0.astype(np.float32), flow_t1.astype(np.float32)


def flow_angle_std(flow: np.ndarray, *, window_px: int = 15, min_magnitude: float = 0.25) -> np.ndarray:
    """Local standard deviation of flow direction (radians), H,W float32.

    The published baseline error predictor: where flow direction varies a lot
    locally, interpolation tends to fail. Uses circular statistics (angles wrap),
    ``sqrt(-2 ln R)`` with R the mean resultant length of unit vectors in a box
    window; pixels slower than ``min_magnitude`` px are treated as directionless.
    """
    import cv2

    mag = np.sqrt(np.sum(flow**2, axis=-1))
    moving = mag > min_magnitude
    safe = np.where(moving, mag, 1.0)
    ux = np.where(moving, flow[..., 0] / safe, 0.0).astype(np.float32)
    uy = np.where(moving, flow[..., 1] / safe, 0.0).astype(np.float32)
    k = (window_px, window_px)
    mean_x = cv2.blur(ux, k, borderType=cv2.BORDER_REFLECT)
    mean_y = cv2.blur(uy, k, borderType=cv2.BORDER_REFLECT)
    frac = cv2.blur(moving.astype(np.float32), k, borderType=cv2.BORDER_REFLECT)
    # Mean resultant length over the moving pixels of the window.
    r = np.sqrt(mean_x**2 + mean_y**2) / np.maximum(frac, 1e-6)
    std = np.sqrt(-2.0 * np.log(np.clip(r, 1e-6, 1.0)))
    return np.where(frac > 0, std, 0.0).astype(np.float32)
