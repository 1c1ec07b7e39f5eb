"""QC feature maps of a filled frame, made at fill time and kept as a small sidecar EXR.

The fill pipeline has the model's motion at hand; QC later needs it to predict
where the frame is wrong. So, per filled frame, :func:`feature_maps` turns the
two source proxies and the :class:`~framefill.models.interp.Motion` into the
maps of :data:`framefill.ops.errormaps.FEATURE_NAMES` on a reduced grid, and
:func:`write_feature_sidecar` stores them (half float, ZIP) under the output
folder's hidden ``.framefill/<sequence>/features/<frame>.exr``, recorded in
the frame's manifest entry. The filled frame itself is never touched: the maps
are computed from copies of the motion tensors.

Grid: the frame canvas resized so that its longest side is ``FEATURE_PX``
whatever the frame size; flows are expressed in pixels of that grid, i.e. as a
fraction of the frame. A 480x270 shot, a 1080p plate and a 4K plate all reach
the calibration on the same scale as the 320x180 scenes it was fitted on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framefill.errors import ExrError, InputError
from framefill.ops.errormaps import FEATURE_NAMES, prediction_features
from framefill.ops.resample import grid_resize

if TYPE_CHECKING:
    from framefill.models.interp import Motion
    from framefill.pipeline.manifest import ManifestEntry

__all__ = [
    "FEATURES_VERSION",
    "FEATURE_PX",
    "FEATURE_CHANNEL_PREFIX",
    "feature_scale",
    "feature_grid",
    "feature_maps",
    "feature_sidecar_path",
    "FeatureSidecar",
    "crop_to_window",
    "as_stored",
    "write_feature_sidecar",
    "read_feature_sidecar",
    "neighbour_frames",
    "fill_gap",
    "gap_context",
]

# Bump when a feature's definition changes: older sidecars are then recomputed.
# 2: a fixed grid size (1 kept frames up to 512 px at full size, so the 480x270 sample
# showed 1.5x the flow of the 320x180 training scenes for the same motion, and QC
# predicted it 3-6 dB worse than it was).
FEATURES_VERSION = 2
# Longest side of the feature grid: the size of the rendered scenes the shipped
# calibration was fitted on. DIS + maps take ~0.05 s per frame on one CPU core, and the
# error structure QC predicts (objects, occlusion bands) is still several cells wide.
FEATURE_PX = 320
FEATURE_CHANNEL_PREFIX = "ff_feat."
_ATTR = "framefill/qc_features"


def feature_scale(height: int, width: int) -> float:
    """Frame pixels per feature-grid cell: the longest side over ``FEATURE_PX``."""
    return max(int(height), int(width), 1) / FEATURE_PX


def feature_grid(height: int, width: int) -> tuple[int, int]:
    """(rows, columns) of the feature grid of an H x W frame."""
    f = feature_scale(height, width)
    return max(1, round(height / f)), max(1, round(width / f))


def _flow_np(tensor: Any) -> np.ndarray:
    """1,2,H,W tensor -> H,W,2 float32 numpy copy (the tensor is left alone), C-contiguous: what
    ``grid_resize`` reads without another copy."""
    return np.array(tensor.detach()[0].permute(1, 2, 0).float().cpu().numpy(), dtype=np.float32, order="C", copy=True)


def feature_maps(proxy0: np.ndarray, proxy1: np.ndarray, motion: Motion, t: float) -> dict[str, np.ndarray]:
    """The QC feature maps of one filled frame, on its feature grid.

    Args:
        proxy0, proxy1: the two sources' network proxies on the fill canvas,
            H,W,3 float32 (sRGB-encoded, unclamped; clipped to [0, 1] here).
        motion: the model's motion at ``t`` (tensors 1,2,H,W / 1,1,H,W; read, never modified).
        t: the filled frame's time between the sources (recorded by the caller; the
            maps already reflect it through the motion).
    Returns:
        ``{name: h,w float32}`` for :data:`~framefill.ops.errormaps.FEATURE_NAMES`,
        h,w = :func:`feature_grid` (H, W).
    """
    del t  # the motion is already the motion at t
    h, w = proxy0.shape[:2]
    rows, cols = feature_grid(h, w)
    sx, sy = cols / w, rows / h
    img0 = np.clip(grid_resize(proxy0, rows, cols), 0.0, 1.0)
    img1 = np.clip(grid_resize(proxy1, rows, cols), 0.0, 1.0)
    ft0 = grid_resize(_flow_np(motion.flow_t0), rows, cols) * np.array([sx, sy], dtype=np.float32)
    ft1 = grid_resize(_flow_np(motion.flow_t1), rows, cols) * np.array([sx, sy], dtype=np.float32)
    mask = grid_resize(np.array(motion.mask.detach()[0, 0].float().cpu().numpy(), copy=True), rows, cols)
    return prediction_features(img0, img1, ft0, ft1, np.clip(mask, 0.0, 1.0))


# ---------------------------------------------------------------------------------------
# The sidecar
# ---------------------------------------------------------------------------------------


def feature_sidecar_path(output_pattern: str, frame: int) -> Path:
    """Where the feature sidecar of one output frame lives (beside the manifest's entries)."""
    from framefill.pipeline.manifest import Manifest

    # The manifest keeps per-frame files in .framefill/<sequence>/; the features sit below it.
    return Manifest(output_pattern).entries_dir / "features" / f"{int(frame)}.exr"


@dataclass(frozen=True)
class FeatureSidecar:
    """A frame's feature maps and the fill canvas they cover (x0, y0, x1, y1 inclusive, EXR pixels)."""

    maps: dict[str, np.ndarray]
    canvas: tuple[int, int, int, int]

    def crop(self, window: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
        """The maps over ``window`` (a part's data window, inside the canvas), on the same grid scale."""
        return crop_to_window(self.maps, self.canvas, window)


def crop_to_window(maps: dict[str, np.ndarray], canvas: tuple[int, int, int, int],
                   window: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """Cut the grid cells of ``window`` out of maps that cover ``canvas`` (both inclusive EXR boxes).

    Raises:
        InputError: the window is not inside the canvas.
    """
    cx0, cy0, cx1, cy1 = canvas
    x0, y0, x1, y1 = window
    if x0 < cx0 or y0 < cy0 or x1 > cx1 or y1 > cy1:
        raise InputError(f"data window {window} lies outside the fill canvas {canvas}; refill the frame")
    if tuple(window) == tuple(canvas):
        return dict(maps)
    rows, cols = next(iter(maps.values())).shape
    sy, sx = rows / (cy1 - cy0 + 1), cols / (cx1 - cx0 + 1)
    r0, c0 = round((y0 - cy0) * sy), round((x0 - cx0) * sx)
    r1, c1 = max(r0 + 1, round((y1 + 1 - cy0) * sy)), max(c0 + 1, round((x1 + 1 - cx0) * sx))
    return {k: np.ascontiguousarray(v[r0:r1, c0:c1]) for k, v in maps.items()}


def as_stored(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Maps exactly as a sidecar stores and reads them back: rounded to half float, as float32.

    Recomputed maps go through this too, so a frame scores the same whether its
    features (or its neighbours') came from a sidecar or were recomputed.
    """
    return {k: np.asarray(v, dtype=np.float16).astype(np.float32) for k, v in maps.items()}


def write_feature_sidecar(
    output_pattern: str, frame: int, maps: dict[str, np.ndarray], *, t: float, canvas: tuple[int, int, int, int]
) -> dict[str, Any]:
    """Write one frame's maps atomically (half float) and return its manifest record.

    ``canvas`` is the fill canvas the maps cover (x0, y0, x1, y1, inclusive), so
    QC can cut out any part's data window. The record holds the path relative
    to the manifest's folder and the features version.

    Raises:
        ExrError: the write failed.
    """
    from framefill.frames import image_from_arrays, write_exr
    from framefill.pipeline.manifest import Manifest

    path = feature_sidecar_path(output_pattern, frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"version": FEATURES_VERSION, "t": t, "canvas": [int(v) for v in canvas], "features": list(FEATURE_NAMES)}
    channels = {FEATURE_CHANNEL_PREFIX + k: np.asarray(maps[k], dtype=np.float16) for k in FEATURE_NAMES}
    write_exr(path, image_from_arrays(channels, compression="zip", attributes={_ATTR: json.dumps(meta)}))
    folder = Manifest(output_pattern).folder
    return {"path": str(path.relative_to(folder)), "version": FEATURES_VERSION}


def read_feature_sidecar(path: Path) -> FeatureSidecar | None:
    """A sidecar's maps (float32) and canvas, or None if missing, damaged or of another version."""
    from framefill.frames import read_exr

    try:
        image = read_exr(path)
    except (ExrError, OSError):
        return None
    part = image.parts[0]
    try:
        meta = json.loads(str(part.header.get(_ATTR, "{}")))
    except json.JSONDecodeError:
        return None
    canvas = meta.get("canvas") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or meta.get("version") != FEATURES_VERSION or not isinstance(canvas, list) \
            or len(canvas) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in canvas):
        return None
    maps = {}
    for name in FEATURE_NAMES:
        arr = part.channels.get(FEATURE_CHANNEL_PREFIX + name)
        if arr is None:
            return None
        maps[name] = arr.astype(np.float32)
    if len({m.shape for m in maps.values()}) != 1:
        return None
    x0, y0, x1, y1 = canvas
    return FeatureSidecar(maps, (x0, y0, x1, y1))


# ---------------------------------------------------------------------------------------
# The neighbouring gaps
# ---------------------------------------------------------------------------------------


def fill_gap(entry: ManifestEntry | None) -> tuple[int, int] | None:
    """The two rendered frames a fill was made from (its recipe's sources), or None for any other entry."""
    recipe = entry.recipe if entry is not None else {}
    sources = sorted(int(s) for s in (recipe.get("sources") or {}))
    return (sources[0], sources[1]) if recipe.get("kind") == "fill" and len(sources) == 2 else None


def neighbour_frames(entries: dict[int, ManifestEntry], frame: int) -> tuple[int | None, int | None]:
    """A filled frame in the gap before and in the gap after ``frame``'s gap (the one nearest t=0.5), or None.

    Gaps come from the manifest recipes: frame f filled from (a, b) has the gap
    before it end at a and the gap after it start at b.
    """
    gap = fill_gap(entries.get(frame))
    if gap is None:
        return None, None
    best: dict[str, tuple[float, int]] = {}
    for f, entry in entries.items():
        g = fill_gap(entry) if entry.status == "filled" else None
        if g is None:
            continue
        side = "prev" if g[1] == gap[0] else "next" if g[0] == gap[1] else None
        if side is None:
            continue
        key = (round(abs(float(entry.recipe.get("t", 0.5)) - 0.5), 6), f)
        if side not in best or key < best[side]:
            best[side] = key
    return (best["prev"][1] if "prev" in best else None, best["next"][1] if "next" in best else None)


def gap_context(entries: dict[int, ManifestEntry], frame: int, folder: Path,
                flow_p99_of: Callable[[int], float | None] | None = None) -> Any:
    """The :class:`~framefill.pipeline.calibration.GapContext` of a filled frame, from its neighbours' motion.

    ``flow_p99_of(f)`` gives a neighbour's :func:`~framefill.pipeline.calibration.flow_p99`;
    QC passes one that recomputes the features of a neighbour without a readable
    sidecar, so a prediction never depends on what is cached. The default reads the
    sidecars only, and a neighbour without one counts as absent. A neighbour whose
    motion is NaN/Inf (broken features: QC lists that frame itself) counts as absent
    too, as at a shot's edge, rather than make this frame's score NaN.
    """
    from framefill.pipeline.calibration import GapContext, flow_p99

    def from_sidecar(f: int) -> float | None:
        record = entries[f].qc_features
        if not isinstance(record, Mapping) or not record.get("path"):
            return None
        sidecar = read_feature_sidecar(folder / str(record["path"]))
        return None if sidecar is None else flow_p99(sidecar.maps)

    def motion(f: int | None) -> float | None:
        value = None if f is None else (flow_p99_of or from_sidecar)(f)
        return value if value is not None and math.isfinite(value) else None

    prev, nxt = neighbour_frames(entries, frame)
    return GapContext(motion(prev), motion(nxt))
