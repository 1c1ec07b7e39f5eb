"""Image quality metrics: PSNR, SSIM, squared-error maps, gradient energy, flicker.

Scores of HDR frames are taken on a display proxy: the sRGB-encoded beauty
clipped to [0, 1] (see :func:`display_proxy`), so that a dB means what it means
for the published benchmarks and a blown-out highlight cannot dominate.
"""

from __future__ import annotations

import numpy as np

from framefill.color import ColorSetup, to_network

__all__ = ["display_proxy", "psnr", "ssim", "squared_error_map", "gradient_energy", "mean_abs_frame_diff"]

# SSIM constants of Wang et al. (2004) for data in [0, 1].
_SSIM_C1 = (0.01 * 1.0) ** 2
_SSIM_C2 = (0.03 * 1.0) ** 2
_SSIM_SIGMA = 1.5
# PSNR of identical images is infinite; report this instead so JSON stays valid.
PSNR_IDENTICAL_DB = 100.0


def display_proxy(linear_rgb: np.ndarray, color: ColorSetup = ColorSetup()) -> np.ndarray:
    """Scene-linear H,W,3 -> sRGB-encoded, clipped to [0, 1], float32."""
    return np.clip(to_network(linear_rgb, color), 0.0, 1.0)


def squared_error_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel squared error averaged over channels: H,W float32."""
    diff = a.astype(np.float32) - b.astype(np.float32)
    return np.mean(diff * diff, axis=-1) if diff.ndim == 3 else diff * diff


def psnr(a: np.ndarray, b: np.ndarray, *, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shaped arrays.

    NaN when the difference is not finite (a NaN or Inf pixel in either): such
    frames are not "identical", and a caller must see that it cannot score them.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf: answered below
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if not np.isfinite(mse):
        return float("nan")
    if mse <= 0.0:
        return PSNR_IDENTICAL_DB
    return float(min(PSNR_IDENTICAL_DB, 10.0 * np.log10(peak * peak / mse)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Gaussian window, sigma 1.5) over pixels and channels; data in [0, 1].

    NaN when either holds a NaN or Inf pixel.
    """
    import cv2

    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    scores = []
    for c in range(a.shape[-1]):
        x, y = a[..., c], b[..., c]
        mx, my = blur(x), blur(y)
        sxx = blur(x * x) - mx * mx
        syy = blur(y * y) - my * my
        sxy = blur(x * y) - mx * my
        num = (2 * mx * my + _SSIM_C1) * (2 * sxy + _SSIM_C2)
        den = (mx * mx + my * my + _SSIM_C1) * (sxx + syy + _SSIM_C2)
        scores.append(float(np.mean(num / den)))
    return float(np.mean(scores))


def gradient_energy(image: np.ndarray) -> float:
    """Mean squared Sobel gradient magnitude: a sharpness figure (higher is sharper)."""
    import cv2

    img = image.astype(np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(gx * gx + gy * gy))


def mean_abs_frame_diff(frames: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame difference of a sequence (a flicker measure)."""
    if len(frames) < 2:
        return 0.0
    diffs = [float(np.mean(np.abs(b.astype(np.float32) - a.astype(np.float32)))) for a, b in zip(frames, frames[1:])]
    return float(np.mean(diffs))
