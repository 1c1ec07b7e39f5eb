"""What the review viewer draws, as numpy: layer choice, the OCIO display transform, overlays, wipes.

Contracts: a *plane* is H,W,3 float32 over the frame's display window
(scene-linear for colour layers, raw values for data layers such as depth or
normals, grey for one channel); a *display image* is H,W,3 float32 in [0, 1],
display-encoded; :func:`to_rgb8` makes the H,W,3 uint8 the viewer paints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from framefill.color import DEFAULT_CONFIG, DEFAULT_SCENE_LINEAR, ColorSetup, display_views, to_display
from framefill.errors import ExrError
from framefill.frames import ExrImage, ExrPart, read_exr
from framefill.frames.channels import find_beauty, split_channel
from framefill.ops.errormaps import error_to_unit, false_colour
from framefill.ops.pixels import on_canvas
from framefill.ops.resample import resize

__all__ = ["Plane", "Look", "BEAUTY", "ALPHA", "layer_names", "select_layer", "default_look", "display_image",
           "to_rgb8", "proxy", "heat_overlay", "wipe", "side_by_side", "placeholder", "read_heatmaps",
           "truth_error", "Mode"]

BEAUTY = "beauty"
ALPHA = "alpha"
Mode = Literal["single", "wipe", "side"]
# The order of a data layer's channels when it is shown as R,G,B.
_AXES = ("R", "G", "B", "X", "Y", "Z", "U", "V", "W")


@dataclass(frozen=True)
class Plane:
    """One layer of a frame over its display window: ``rgb`` H,W,3 float32; ``colour`` says whether OCIO applies."""

    rgb: np.ndarray
    colour: bool

    @property
    def nbytes(self) -> int:
        return int(self.rgb.nbytes)


@dataclass(frozen=True)
class Look:
    """How scene-linear pixels are shown: the shot's OCIO config, a display and view, an exposure in stops."""

    display: str
    view: str
    exposure_stops: float = 0.0
    config: str = DEFAULT_CONFIG
    scene_linear: str = DEFAULT_SCENE_LINEAR


def default_look(config: str = DEFAULT_CONFIG, scene_linear: str = DEFAULT_SCENE_LINEAR, *,
                 display: str | None = None, view: str | None = None) -> Look:
    """The config's default display and its default view, unless named.

    Raises:
        ColorError: an unknown config, display or view.
    """
    from framefill.errors import ColorError

    views = display_views(config)
    chosen = display or next(iter(views))
    if chosen not in views:
        raise ColorError(f"OCIO config {config!r} has no display {chosen!r}; its displays: {', '.join(views)}")
    picked = view or views[chosen][0]
    if picked not in views[chosen]:
        raise ColorError(f"display {chosen!r} of OCIO config {config!r} has no view {picked!r}; its views: "
                         f"{', '.join(views[chosen])}")
    return Look(chosen, picked, config=config, scene_linear=scene_linear)


def _parts(image: ExrImage) -> list[tuple[str, ExrPart]]:
    """Each part with the prefix its layers get in a multi-part file (``part/``)."""
    if len(image.parts) == 1:
        return [("", image.parts[0])]
    return [(f"{p.name or i}/", p) for i, p in enumerate(image.parts)]


def layer_names(image: ExrImage) -> list[str]:
    """What can be shown: ``beauty``, ``alpha`` (when there is one), then every other layer or bare channel."""
    names = []
    if any(find_beauty(p.channels) for p in image.parts):
        names.append(BEAUTY)
    if any(_alpha_channel(p) for p in image.parts):
        names.append(ALPHA)
    for prefix, part in _parts(image):
        for layer, channels in part.layers().items():
            if layer:
                names.append(prefix + layer)
            else:
                names += [prefix + c for c in channels if c not in ("R", "G", "B", "A")]
    return names


def _alpha_channel(part: ExrPart) -> str | None:
    beauty = find_beauty(part.channels)
    if beauty is None:
        return "A" if "A" in part.channels else None
    layer = split_channel(beauty[0])[0]
    name = f"{layer}.A" if layer else "A"
    return name if name in part.channels else None


def _on_display(part: ExrPart, names: list[str]) -> np.ndarray:
    """Channels of a part stacked H,W,C float32 over its display window (zero outside the data window)."""
    return np.stack([on_canvas(part.channels[n].astype(np.float32), part.data_window, part.display_window)
                     for n in names], axis=-1)


def _as_rgb(stack: np.ndarray) -> np.ndarray:
    if stack.shape[-1] == 1:
        return np.repeat(stack, 3, axis=-1)
    if stack.shape[-1] == 2:
        return np.concatenate([stack, np.zeros_like(stack[..., :1])], axis=-1)
    return np.ascontiguousarray(stack[..., :3])


def select_layer(image: ExrImage, layer: str) -> Plane:
    """The plane of ``layer`` (a name from :func:`layer_names`).

    Raises:
        ExrError: the frame has no such layer.
    """
    if layer == BEAUTY:
        for part in image.parts:
            rgb = find_beauty(part.channels)
            if rgb is not None:
                return Plane(_on_display(part, list(rgb)), True)
    elif layer == ALPHA:
        for part in image.parts:
            alpha = _alpha_channel(part)
            if alpha is not None:
                return Plane(_as_rgb(_on_display(part, [alpha])), False)
    else:
        for prefix, part in _parts(image):
            if not layer.startswith(prefix):
                continue
            name = layer[len(prefix):]
            if name in part.channels:
                return Plane(_as_rgb(_on_display(part, [name])), False)
            chans = part.layers().get(name)
            if chans:
                order = sorted(chans, key=lambda c: (_AXES.index(split_channel(c)[1])
                                                     if split_channel(c)[1] in _AXES else len(_AXES), c))
                colour = {split_channel(c)[1] for c in chans} >= {"R", "G", "B"}
                return Plane(_as_rgb(_on_display(part, order[:3])), colour)
    raise ExrError(f"{image.path or 'frame'} has no layer {layer!r}; its layers: {', '.join(layer_names(image))}")


def display_image(plane: Plane, look: Look) -> np.ndarray:
    """A plane as the display shows it: exposure, then the OCIO view for colour (data layers raw); [0, 1] float32.

    Raises:
        ColorError: the look names an unknown config, colour space, display or view.
    """
    rgb = plane.rgb * np.float32(2.0 ** look.exposure_stops)
    if plane.colour:
        rgb = to_display(rgb, display=look.display, view=look.view, config=look.config,
                         scene_linear=look.scene_linear)
    return np.clip(np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0).astype(np.float32)


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float -> H,W,3 uint8, rounded to the nearest code value, C-contiguous."""
    return np.ascontiguousarray(np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8))


def proxy(plane: Plane, max_width_px: int) -> Plane:
    """The plane area-averaged down to at most ``max_width_px`` wide (itself when it is narrower)."""
    rows, cols = plane.rgb.shape[:2]
    if cols <= max_width_px:
        return plane
    height = max(1, round(rows * max_width_px / cols))
    return Plane(resize(plane.rgb, height=height, width=max_width_px, method="area").astype(np.float32),
                 plane.colour)


def _fit(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if image.shape[:2] == (rows, cols):
        return image
    return resize(image, height=rows, width=cols, method="bilinear").astype(np.float32)


def heat_overlay(image: np.ndarray, unit: np.ndarray, opacity: float) -> np.ndarray:
    """framefill's false colour of ``unit`` (H,W in [0, 1], resized to the image) over a display image.

    ``out = (1 - opacity) * image + opacity * false_colour(unit)``, float32 in [0, 1].
    """
    o = float(np.clip(opacity, 0.0, 1.0))
    heat = false_colour(_fit(np.asarray(unit, dtype=np.float32), *image.shape[:2]))
    return np.clip(image * (1.0 - o) + heat * o, 0.0, 1.0).astype(np.float32)


def wipe(a: np.ndarray, b: np.ndarray, position: float) -> np.ndarray:
    """``a`` left of the wipe line, ``b`` right of it; ``position`` is the line's place across, 0 to 1."""
    b = _fit(b, *a.shape[:2])
    split = int(round(float(np.clip(position, 0.0, 1.0)) * a.shape[1]))
    out = a.copy()
    out[:, split:] = b[:, split:]
    return out


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` and ``b`` (resized to ``a``) next to each other."""
    return np.concatenate([a, _fit(b, *a.shape[:2])], axis=1)


def placeholder(rows: int, cols: int) -> np.ndarray:
    """A frame that cannot be shown: dark grey with a red cross, H,W,3 float32."""
    out = np.full((rows, cols, 3), 0.18, dtype=np.float32)
    ys = np.arange(rows)[:, None] / max(rows - 1, 1)
    xs = np.arange(cols)[None, :] / max(cols - 1, 1)
    near = (np.abs(ys - xs) < 0.01) | (np.abs(ys - (1.0 - xs)) < 0.01)
    out[near] = (0.8, 0.15, 0.15)
    return out


def read_heatmaps(path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """QC's heatmap EXR of a frame as two [0, 1] maps over its display window: the risk (``ff_risk.Y``) and the
    true error on framefill's log scale (``ff_err.Y``, None without truth).

    Raises:
        ExrError: the file cannot be read.
    """
    part = read_exr(path).parts[0]
    risk = err = None
    if "ff_risk.Y" in part.channels:
        risk = np.clip(on_canvas(part.channels["ff_risk.Y"], part.data_window, part.display_window), 0.0, 1.0)
    if "ff_err.Y" in part.channels:
        err = error_to_unit(on_canvas(part.channels["ff_err.Y"], part.data_window, part.display_window))
    return risk, err


def truth_error(filled: Plane, truth: Plane, color: ColorSetup = ColorSetup()) -> np.ndarray:
    """The true error of a filled beauty against its real render as QC measures it (squared error of the
    display proxies), on framefill's log scale in [0, 1]: H,W float32."""
    from framefill.ops.metrics import display_proxy, squared_error_map

    if truth.rgb.shape != filled.rgb.shape:
        raise ExrError(f"the real render is {truth.rgb.shape[1]}x{truth.rgb.shape[0]} but the filled frame is "
                       f"{filled.rgb.shape[1]}x{filled.rgb.shape[0]}; --truth must be the same shot")
    return error_to_unit(squared_error_map(display_proxy(filled.rgb, color), display_proxy(truth.rgb, color)))
