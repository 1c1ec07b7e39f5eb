"""Colour transforms between a shot's scene-linear space and a network's space.

Networks such as RIFE and Real-ESRGAN were trained on sRGB-encoded images. EXR
frames are scene-linear HDR. framefill shows a network an *invertible, unclamped*
proxy of the linear pixels (the sRGB encoding curve, extended linearly below 0 and
as a power curve above 1) and maps the network's answer back. Nothing is clamped:
values above 1.0 and below 0 survive a round trip within 1e-5 relative.

The transforms come from OpenColorIO with its built-in ``ocio://`` configs, so a
studio can name any colour space of its own config instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from framefill.errors import ColorError

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_SCENE_LINEAR",
    "DEFAULT_NETWORK_SPACE",
    "ColorSetup",
    "to_network",
    "from_network",
    "color_spaces",
    "to_display",
    "display_views",
]

# Built into OpenColorIO 2.2+, so no file or download is needed.
DEFAULT_CONFIG = "ocio://studio-config-latest"
# Linear Rec.709 / sRGB primaries: what Blender, and most shots without an explicit
# working space, write to EXR.
DEFAULT_SCENE_LINEAR = "Linear Rec.709 (sRGB)"
# The encoding the published RIFE and Real-ESRGAN weights were trained on.
DEFAULT_NETWORK_SPACE = "sRGB Encoded Rec.709 (sRGB)"


@dataclass(frozen=True)
class ColorSetup:
    """Which OCIO config and colour spaces a job uses."""

    config: str = DEFAULT_CONFIG
    scene_linear: str = DEFAULT_SCENE_LINEAR
    network: str = DEFAULT_NETWORK_SPACE


@lru_cache(maxsize=4)
def _config(config: str) -> Any:
    import PyOpenColorIO as ocio

    try:
        return ocio.Config.CreateFromFile(config)
    except ocio.Exception as err:
        raise ColorError(
            f"cannot load OCIO config {config!r}: {err}; use a file path or a built-in such as {DEFAULT_CONFIG}"
        ) from None


@lru_cache(maxsize=16)
def _processor(config: str, src: str, dst: str) -> Any:
    import PyOpenColorIO as ocio

    cfg = _config(config)
    for name in (src, dst):
        if cfg.getColorSpace(name) is None:
            raise ColorError(
                f"colour space {name!r} is not in OCIO config {config!r}; list them with framefill.color.color_spaces()"
            )
    # LOSSLESS keeps exact maths: the default optimisation uses fast power
    # approximations that break the 1e-5 round-trip promise.
    return cfg.getProcessor(src, dst).getOptimizedCPUProcessor(
        ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OptimizationFlags.OPTIMIZATION_LOSSLESS
    )


def _apply(rgb: np.ndarray, config: str, src: str, dst: str) -> np.ndarray:
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ColorError(f"expected an array of RGB triplets (..., 3), got shape {rgb.shape}")
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    if src == dst:
        return out
    _processor(config, src, dst).applyRGB(out.reshape(-1, 3))
    return out


def to_network(rgb: np.ndarray, setup: ColorSetup = ColorSetup()) -> np.ndarray:
    """Scene-linear RGB -> the network's space.

    Args:
        rgb: array (..., 3), any float dtype, scene-linear in ``setup.scene_linear``.
    Returns:
        float32 array of the same shape in ``setup.network``, unclamped.
    Raises:
        ColorError: unknown config or colour space, or a shape without 3 channels last.
    """
    return _apply(rgb, setup.config, setup.scene_linear, setup.network)


def from_network(rgb: np.ndarray, setup: ColorSetup = ColorSetup()) -> np.ndarray:
    """The network's space -> scene-linear RGB; the exact inverse of :func:`to_network`."""
    return _apply(rgb, setup.config, setup.network, setup.scene_linear)


def color_spaces(config: str = DEFAULT_CONFIG) -> list[str]:
    """Names of the colour spaces in an OCIO config."""
    return [cs.getName() for cs in _config(config).getColorSpaces()]


@lru_cache(maxsize=16)
def _display_processor(config: str, src: str, display: str, view: str) -> Any:
    import PyOpenColorIO as ocio

    cfg = _config(config)
    if cfg.getColorSpace(src) is None:
        raise ColorError(f"colour space {src!r} is not in OCIO config {config!r}; list them with "
                         "framefill.color.color_spaces()")
    if display not in cfg.getDisplays() or view not in cfg.getViews(display):
        views = ", ".join(cfg.getViews(display)) if display in cfg.getDisplays() else "-"
        raise ColorError(f"OCIO config {config!r} has no view {view!r} on display {display!r}; "
                         f"its views there: {views}")
    transform = ocio.DisplayViewTransform(src=src, display=display, view=view)
    return cfg.getProcessor(transform).getOptimizedCPUProcessor(
        ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OptimizationFlags.OPTIMIZATION_LOSSLESS
    )


def to_display(rgb: np.ndarray, *, display: str, view: str, config: str = DEFAULT_CONFIG,
               scene_linear: str = DEFAULT_SCENE_LINEAR) -> np.ndarray:
    """Scene-linear RGB -> a display's encoding through one of its views (unclamped float32, same shape).

    Raises:
        ColorError: unknown config, colour space, display or view, or a shape without 3 channels last.
    """
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ColorError(f"expected an array of RGB triplets (..., 3), got shape {rgb.shape}")
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    _display_processor(config, scene_linear, display, view).applyRGB(out.reshape(-1, 3))
    return out


def display_views(config: str = DEFAULT_CONFIG) -> dict[str, list[str]]:
    """The displays of an OCIO config (its default first) and each one's views (its default first)."""
    cfg = _config(config)
    displays = list(cfg.getDisplays())
    first = cfg.getDefaultDisplay()
    ordered = [first] + [d for d in displays if d != first] if first in displays else displays
    out = {}
    for display in ordered:
        views = list(cfg.getViews(display))
        default = cfg.getDefaultView(display)
        out[display] = [default] + [v for v in views if v != default] if default in views else views
    return out
