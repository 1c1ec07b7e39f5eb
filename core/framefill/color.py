"""Colour transforms between a shot's scene-linear space and a network's space.

Networks such as RIFE and Real-ESRGAN were trained on sRGB-encoded images. EXR
frames are scene-linear HDR. framefill shows a network an *invertible, unclamped*
proxy of the linear pixels (the sRGB encoding curve, extended linearly below 0 and
as a power curve above 1) and maps the network's answer back. Nothing is clamped:
values above 1.0 and below 0 survive a round trip within 1e-5 relative.

The transforms come from OpenColorIO. The config is the one a job names
(``--config``), else the studio's ``$OCIO``, else the built-in
``ocio://studio-config-latest``. The input's space is the one a job names
(``--colorspace``), else what an EXR's ``chromaticities`` attribute says (known
primaries mapped to the config's spaces), else the config's ``scene_linear``
role (the built-in config: Linear Rec.709). A config without the network's
sRGB space reaches it through its interchange roles (OCIO's processor between
two configs), so the network always sees the same sRGB encoding of Rec.709.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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
    "PRIMARIES",
    "config_from_env",
    "check_color",
    "input_space_default",
    "primaries_name",
    "space_for_primaries",
    "resolve_color",
    "describe_config",
    "set_color_threads",
]

# Pixels below which a transform runs on the calling thread alone.
_PARALLEL_PIXELS = 1 << 18
_threads = 1


def set_color_threads(threads: int) -> None:
    """Threads a large transform is split over (rows; the job's thread count, set with torch's and OpenEXR's).

    OCIO transforms each pixel alone, so the values are the same at any count."""
    global _threads
    _threads = max(1, int(threads))


def _apply_rows(processor: Any, flat: np.ndarray) -> None:
    """``processor.applyRGB`` on an N,3 float32 array in place, in row blocks on ``_threads`` threads
    (OCIO lets go of the GIL while it works)."""
    if _threads == 1 or len(flat) < _PARALLEL_PIXELS:
        processor.applyRGB(flat)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="framefill-ocio") as pool:
        list(pool.map(processor.applyRGB, np.array_split(flat, _threads)))


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
    except (ocio.Exception, ocio.ExceptionMissingFile) as err:
        raise ColorError(
            f"{config!r} is not an OCIO config OCIO can load ({err}); give a .ocio file or a built-in such as "
            f"{DEFAULT_CONFIG}"
        ) from None


def _unknown_space(name: str, config: str, what: str = "colour space") -> ColorError:
    return ColorError(f"{what} {name!r} is not in OCIO config {config!r}; list its spaces with "
                      f"`framefill colorspaces --config {config}`".lstrip())


def _cross_config_processor(config: str, src: str, dst: str) -> Any:
    """A processor whose src or dst exists only in the built-in config (the network's sRGB space).

    OCIO joins the two configs through their interchange roles (aces_interchange or
    cie_xyz_d65_interchange), so the network sees the same encoding whatever the studio's config.
    """
    import PyOpenColorIO as ocio

    cfg, builtin = _config(config), _config(DEFAULT_CONFIG)
    # Only the network's own space may come from the built-in config; a studio's
    # input space must be in its own config.
    src_cfg = builtin if cfg.getColorSpace(src) is None and src == DEFAULT_NETWORK_SPACE else cfg
    dst_cfg = builtin if cfg.getColorSpace(dst) is None and dst == DEFAULT_NETWORK_SPACE else cfg
    for name, where in ((src, src_cfg), (dst, dst_cfg)):
        if where.getColorSpace(name) is None:
            raise _unknown_space(name, config)
    try:
        return ocio.Config.GetProcessorFromConfigs(src_cfg, src, dst_cfg, dst)
    except ocio.Exception:
        missing = dst if dst_cfg is builtin else src
        raise ColorError(f"OCIO config {config!r} has no {missing!r} and no aces_interchange or "
                         "cie_xyz_d65_interchange role to reach it; add one of them to the config") from None


@lru_cache(maxsize=16)
def _processor(config: str, src: str, dst: str) -> Any:
    import PyOpenColorIO as ocio

    cfg = _config(config)
    if cfg.getColorSpace(src) is not None and cfg.getColorSpace(dst) is not None:
        proc = cfg.getProcessor(src, dst)
    else:
        proc = _cross_config_processor(config, src, dst)
    # LOSSLESS keeps exact maths: the default optimisation uses fast power
    # approximations that break the 1e-5 round-trip promise.
    return proc.getOptimizedCPUProcessor(
        ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OptimizationFlags.OPTIMIZATION_LOSSLESS
    )


def _apply(rgb: np.ndarray, config: str, src: str, dst: str) -> np.ndarray:
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ColorError(f"expected an array of RGB triplets (..., 3), got shape {rgb.shape}")
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    if src == dst:
        return out
    _apply_rows(_processor(config, src, dst), out.reshape(-1, 3))
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
    _apply_rows(_display_processor(config, scene_linear, display, view), out.reshape(-1, 3))
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


# ---------------------------------------------------------------------------------------
# Which config and input space a job uses
# ---------------------------------------------------------------------------------------

# CIE xy of red, green, blue and white (the EXR ``chromaticities`` attribute's order).
PRIMARIES: dict[str, tuple[float, ...]] = {
    "Rec.709": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "ACES AP0": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770, 0.32168, 0.33767),
    "ACES AP1": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "P3-D65": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "Rec.2020": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
}
# Known primaries match within this much in x and y: the closest two sets above
# (AP1 and Rec.2020) are 0.005 apart, and writers round to 4 decimals at worst.
PRIMARIES_TOLERANCE = 1e-3
# The scene-linear space of each set of primaries, by its name (or alias, or role) in
# the built-in config; ACES and Academy configs share these aliases.
_LINEAR_SPACES: dict[str, tuple[str, ...]] = {
    "Rec.709": (DEFAULT_SCENE_LINEAR, "lin_rec709_srgb", "lin_rec709", "lin_srgb", "Utility - Linear - sRGB"),
    "ACES AP0": ("ACES2065-1", "lin_ap0", "aces_interchange"),
    "ACES AP1": ("ACEScg", "lin_ap1"),
    "P3-D65": ("Linear P3-D65", "lin_p3d65"),
    "Rec.2020": ("Linear Rec.2020", "lin_rec2020"),
}


def config_from_env(config: str | None = None) -> str:
    """The config a job uses: ``config`` if given, else ``$OCIO``, else :data:`DEFAULT_CONFIG`."""
    if config:
        return config
    return os.environ.get("OCIO", "").strip() or DEFAULT_CONFIG


def check_color(config: str, space: str | None = None, *, what: str = "--colorspace") -> None:
    """Load ``config`` and check that it holds ``space`` (by name, alias or role).

    Raises:
        ColorError: one line naming the config or the space and how to list the spaces.
    """
    cfg = _config(config)
    if space is not None and cfg.getColorSpace(space) is None:
        raise _unknown_space(space, config, what)


def input_space_default(config: str) -> str:
    """The input space when neither the job nor the file names one.

    The built-in config: Linear Rec.709 (what Blender and most renderers write
    without saying so). A studio's config: its ``scene_linear`` role.
    """
    cfg = _config(config)
    if config != DEFAULT_CONFIG and cfg.getColorSpace("scene_linear") is not None:
        return str(cfg.getColorSpace("scene_linear").getName())
    return DEFAULT_SCENE_LINEAR


def primaries_name(chromaticities: Sequence[float] | None) -> str | None:
    """The name of the known primaries (:data:`PRIMARIES`) an EXR ``chromaticities`` attribute holds, or None."""
    if chromaticities is None or len(chromaticities) != 8:
        return None
    values = np.asarray(chromaticities, dtype=np.float64)
    for name, known in PRIMARIES.items():
        if np.all(np.abs(values - np.asarray(known)) <= PRIMARIES_TOLERANCE):
            return name
    return None


def space_for_primaries(config: str, primaries: str) -> str | None:
    """The config's scene-linear space with these known primaries (by name, alias or role), or None."""
    cfg = _config(config)
    for candidate in _LINEAR_SPACES.get(primaries, ()):
        cs = cfg.getColorSpace(candidate)
        if cs is not None:
            return str(cs.getName())
    return None


def _same_primaries(config: str, a: str, b: str) -> bool:
    """Whether two spaces differ by per-channel curves only (an encoding), not by a mix of channels (a gamut)."""
    if _config(config).getColorSpace(a).getName() == _config(config).getColorSpace(b).getName():
        return True
    base = np.array([0.2, 0.3, 0.4], dtype=np.float32)
    probes = np.stack([base] + [base + np.eye(3, dtype=np.float32)[i] * 0.25 for i in range(3)])
    out = _apply(probes, config, a, b)
    for i in range(3):
        others = [j for j in range(3) if j != i]
        if not np.allclose(out[1 + i, others], out[0, others], rtol=1e-5, atol=1e-6):
            return False
    return True


def resolve_color(
    *,
    config: str | None,
    colorspace: str | None,
    chromaticities: Sequence[float] | None = None,
    source: str = "",
    default_space: str | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> ColorSetup:
    """The colour setup of a job from what it names and what its first input frame says.

    Config: ``config``, else ``$OCIO``, else the built-in. Input space:
    ``colorspace``, else the space of the EXR's ``chromaticities`` (known
    primaries only), else ``default_space`` (an image file's encoding), else
    :func:`input_space_default`. When the header and ``colorspace`` disagree,
    ``warn`` gets one line and the option wins.

    Raises:
        ColorError: an unknown config or colour space (one line, how to list them).
    """
    cfg_name = config_from_env(config)
    check_color(cfg_name, colorspace)
    primaries = primaries_name(chromaticities)
    from_header = space_for_primaries(cfg_name, primaries) if primaries else None
    if chromaticities is not None and primaries is None:
        warn(f"{source}: its chromaticities {tuple(round(float(v), 4) for v in chromaticities)} are not primaries "
             f"framefill knows ({', '.join(PRIMARIES)}); the input is taken as "
             f"{colorspace or default_space or input_space_default(cfg_name)!r} (set --colorspace)")
    elif primaries is not None and from_header is None and colorspace is None:
        warn(f"{source}: its chromaticities are {primaries} but OCIO config {cfg_name!r} has no linear space with "
             f"them; the input is taken as {default_space or input_space_default(cfg_name)!r} (set --colorspace)")
    if colorspace is not None:
        space = str(_config(cfg_name).getColorSpace(colorspace).getName())
        if from_header is not None and not _same_primaries(cfg_name, space, from_header):
            warn(f"{source}: its chromaticities say {primaries} ({from_header}) but --colorspace is {space!r}; "
                 f"using --colorspace")
        return ColorSetup(cfg_name, space, DEFAULT_NETWORK_SPACE)
    space = from_header or default_space or input_space_default(cfg_name)
    if space != DEFAULT_NETWORK_SPACE:  # an image's sRGB encoding may come from the built-in config
        check_color(cfg_name, space, what="input colour space")
    return ColorSetup(cfg_name, space, DEFAULT_NETWORK_SPACE)


def describe_config(config: str) -> dict[str, Any]:
    """The spaces (name, aliases, family) and roles of an OCIO config, for listing.

    Raises:
        ColorError: the config cannot be loaded.
    """
    cfg = _config(config)
    spaces = [{"name": cs.getName(), "aliases": list(cs.getAliases()), "family": cs.getFamily()}
              for cs in cfg.getColorSpaces()]
    roles = {str(role): str(space) for role, space in cfg.getRoles()}
    return {"config": config, "spaces": spaces, "roles": roles}
