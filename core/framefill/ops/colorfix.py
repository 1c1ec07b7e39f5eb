"""Colour fix for GAN upscales: the network's detail on the input's low frequencies.

GAN upscalers (Real-ESRGAN) shift colour and tone over whole regions while
inventing detail. The fix keeps the network's high frequencies and replaces
its low-pass band with the input's:

    out' = out - G(out) + G(ref)

``ref`` is the input resized smoothly (bilinear, never overshooting) to the
output size and ``G`` a Gaussian blur whose sigma grows with the scale
(:data:`SIGMA_PER_SCALE` output pixels per unit of scale): the band the
input still resolves. It runs on whole frames after the tiles are merged, so
it cannot draw seams; any values in, unclamped out.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIGMA_PER_SCALE", "low_pass", "color_fix", "color_fix_sigma_px"]

# Sigma of the low-pass, in output pixels per unit of scale (x4: 8 px). Measured on the
# sample shot, x4, in the proxy (bench/upscale_quality.py --color-fix --sigmas 1,2,4,
# frames 1001-1004): 1.0 cuts deltaE the most but costs animevideov3 9% of its gradient
# energy; 2.0 keeps sharpness within 1% for both networks and still cuts deltaE by
# 35-41% (all 24 frames); 4.0 cuts less.
SIGMA_PER_SCALE = 2.0


def color_fix_sigma_px(scale: float) -> float:
    """The low-pass sigma (output pixels) for an upscale by ``scale``."""
    return SIGMA_PER_SCALE * max(float(scale), 1.0)


def low_pass(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of an H,W or H,W,C float image (mirrored borders), float32 out."""
    import cv2

    src = np.ascontiguousarray(image, dtype=np.float32)
    if sigma_px <= 0:
        return src.copy()
    if src.ndim == 3 and src.shape[2] > 4:
        return np.stack([low_pass(src[:, :, c], sigma_px) for c in range(src.shape[2])], axis=2)
    out = cv2.GaussianBlur(src, (0, 0), sigmaX=float(sigma_px), sigmaY=float(sigma_px),
                           borderType=cv2.BORDER_REFLECT_101)
    return out.reshape(src.shape).astype(np.float32, copy=False)


def color_fix(output: np.ndarray, reference: np.ndarray, *, sigma_px: float) -> np.ndarray:
    """Replace the low-pass band of ``output`` with that of ``reference``.

    Args:
        output: H,W[,C] float, the network's upscale.
        reference: the same shape, the input resized to the output's size (any smooth filter).
        sigma_px: the low-pass sigma in output pixels (:func:`color_fix_sigma_px`).
    Returns:
        float32 of the same shape, unclamped.
    """
    if output.shape != reference.shape:
        raise ValueError(f"colour fix needs equal shapes, got {output.shape} and {reference.shape}")
    out = np.asarray(output, dtype=np.float32)
    # The blur is linear: out - G(out) + G(ref) = out + G(ref - out), one blur instead of two
    # (and the two low-pass bands cancel before they are blurred, not after).
    return out + low_pass(np.asarray(reference, dtype=np.float32) - out, sigma_px)
