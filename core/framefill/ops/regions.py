"""Re-render regions: boxes from a risk map, and the feathered merge of a region render into a filled frame.

Boxes are inclusive ``(x0, y0, x1, y1)`` in display-window pixel coordinates, the
convention of EXR windows. Pure array maths on numpy arrays.

The box rule (:func:`propose_regions`), on one frame's risk map (P(pixel squared
error > tau) from QC's calibration, over the frame's data window):

1. **Energy.** Each pixel's excess risk ``max(risk - RISK_FLOOR, 0)`` is its share
   of the predicted error; the floor is the level the pixel model gives still,
   textured pixels that interpolate well. The boxes must hold the smallest set of
   pixels carrying ``ENERGY_SHARE`` (95%) of the frame's excess, plus every pixel
   more likely wrong than right (risk >= 0.5).
2. **Margin.** Grown by ``max(MARGIN_MIN_PX, MARGIN_DIAGONAL x diagonal)`` on each
   side (16 px, or 2% of the diagonal: 44 px at 1920x1080): the risk map is
   coarser than the pixels and an error's halo (ghost edges, the band a moving
   object uncovers) reaches past its core.
3. **Grid.** Snapped outward to a ``GRID_PX`` (16 px) grid from the display
   window's corner (render borders and crop windows land on whole buckets/tiles),
   clipped to the display window.
4. **Merge.** Boxes that overlap or lie within one grid cell of each other become
   their bounding box, until none do; more than ``MAX_BOXES`` become one.
5. **Whole frame** when the boxes cover more than ``WHOLE_FRAME_SHARE`` (50%) of the
   display window (a region render then saves less than half the pixels, and the
   seams cost more than they save), or when the map has no excess to localise
   (a frame listed on keyframe evidence alone gives no place to look: render it all).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Box",
    "Regions",
    "RISK_FLOOR",
    "ENERGY_SHARE",
    "MARGIN_MIN_PX",
    "MARGIN_DIAGONAL",
    "GRID_PX",
    "WHOLE_FRAME_SHARE",
    "MAX_BOXES",
    "FEATHER_PX",
    "propose_regions",
    "margin_px",
    "snap_box",
    "merge_boxes",
    "box_area",
    "intersect",
    "feather_weights",
]

Box = tuple[int, int, int, int]

# Risk the pixel model gives still, textured pixels that interpolate well (the
# calibrated logistic's floor on the shipped calibration sits near 0.01-0.03).
RISK_FLOOR = 0.05
# Share of the frame's excess risk the boxes must hold.
ENERGY_SHARE = 0.95
# A pixel this likely wrong is always boxed.
CERTAIN_RISK = 0.5
MARGIN_MIN_PX = 16
MARGIN_DIAGONAL = 0.02
GRID_PX = 16
WHOLE_FRAME_SHARE = 0.5
MAX_BOXES = 8
# Width of the seam band inside a box where render and fill are blended.
FEATHER_PX = 8


@dataclass(frozen=True)
class Regions:
    """Where a listed frame needs a real render: boxes, or the whole frame (``reason`` says why)."""

    display_window: Box
    boxes: tuple[Box, ...] = ()
    whole_frame: bool = False
    reason: str = ""

    @property
    def frame_px(self) -> int:
        return box_area(self.display_window)

    @property
    def area_px(self) -> int:
        """Pixels a re-render of these regions renders (the whole frame's when whole_frame)."""
        return self.frame_px if self.whole_frame else sum(box_area(b) for b in self.boxes)

    @property
    def share(self) -> float:
        return self.area_px / self.frame_px if self.frame_px else 1.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"whole_frame": self.whole_frame, "boxes": [list(b) for b in self.boxes],
                               "display_window": list(self.display_window), "share": round(self.share, 4)}
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, doc: Any) -> Regions | None:
        """Regions from their JSON form, or None when ``doc`` is not one."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("whole_frame"), bool):
            return None
        window, boxes = doc.get("display_window"), doc.get("boxes", [])
        if not isinstance(window, list) or not _is_box(window) or not isinstance(boxes, list) \
                or not all(_is_box(b) for b in boxes):
            return None
        return cls(tuple(window), tuple(tuple(b) for b in boxes), doc["whole_frame"],
                   str(doc.get("reason", "")))

    @classmethod
    def whole(cls, display_window: Box, reason: str) -> Regions:
        return cls(display_window, (), True, reason)


def _is_box(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 4 \
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value) \
        and value[2] >= value[0] and value[3] >= value[1]


def box_area(box: Box) -> int:
    return max(0, box[2] - box[0] + 1) * max(0, box[3] - box[1] + 1)


def intersect(a: Box, b: Box) -> Box | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[2] >= box[0] and box[3] >= box[1] else None


def margin_px(display_window: Box) -> int:
    """The safety margin for a frame: ``max(MARGIN_MIN_PX, MARGIN_DIAGONAL x diagonal)``."""
    w, h = display_window[2] - display_window[0] + 1, display_window[3] - display_window[1] + 1
    return max(MARGIN_MIN_PX, round(MARGIN_DIAGONAL * math.hypot(w, h)))


def snap_box(box: Box, display_window: Box, grid_px: int = GRID_PX) -> Box:
    """``box`` grown outward to the grid from the display window's corner, clipped to the display window."""
    ox, oy = display_window[0], display_window[1]
    x0 = ox + (box[0] - ox) // grid_px * grid_px
    y0 = oy + (box[1] - oy) // grid_px * grid_px
    x1 = ox + -(-(box[2] + 1 - ox) // grid_px) * grid_px - 1
    y1 = oy + -(-(box[3] + 1 - oy) // grid_px) * grid_px - 1
    clipped = intersect((x0, y0, x1, y1), display_window)
    assert clipped is not None, f"box {box} lies outside the display window {display_window}"
    return clipped


def _near(a: Box, b: Box, gap_px: int) -> bool:
    return a[0] <= b[2] + gap_px + 1 and b[0] <= a[2] + gap_px + 1 and \
        a[1] <= b[3] + gap_px + 1 and b[1] <= a[3] + gap_px + 1


def merge_boxes(boxes: Iterable[Box], gap_px: int = GRID_PX) -> tuple[Box, ...]:
    """Boxes that overlap or lie within ``gap_px`` of each other merged into their bounding box, until none do.

    The result is sorted (top to bottom, left to right).
    """
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                if _near(out[i], out[j], gap_px):
                    a, b = out[i], out.pop(j)
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    merged = True
                    break
            if merged:
                break
    return tuple(sorted(out, key=lambda b: (b[1], b[0])))


def _energy_mask(risk: np.ndarray) -> np.ndarray | None:
    """Pixels the boxes must hold (step 1 of the rule), or None when the map has no excess risk."""
    excess = np.maximum(np.nan_to_num(risk.astype(np.float64), nan=1.0, posinf=1.0) - RISK_FLOOR, 0.0)
    total = float(excess.sum())
    if total <= 0.0:
        return None
    flat = excess.ravel()
    order = np.argsort(-flat, kind="stable")
    cumulative = np.cumsum(flat[order])
    count = int(np.searchsorted(cumulative, ENERGY_SHARE * total, side="left")) + 1
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:count]] = True
    mask = mask.reshape(risk.shape)
    mask |= ~(risk < CERTAIN_RISK)  # NaN counts as certain
    return mask


def propose_regions(risk: np.ndarray, *, data_window: Box, display_window: Box) -> Regions:
    """The boxes of the module's rule for one frame's risk map.

    Args:
        risk: h,w risk map in [0, 1] over ``data_window`` (any grid: it is scaled to the window).
        data_window, display_window: the beauty part's windows, inclusive.
    """
    if risk.ndim != 2 or risk.size == 0:
        return Regions.whole(display_window, "no risk map to localise the error")
    mask = _energy_mask(risk)
    if mask is None:
        return Regions.whole(display_window, "the risk map has no excess risk to localise (the evidence is "
                                             "frame-level)")
    import cv2

    h, w = risk.shape
    dx0, dy0, dx1, dy1 = data_window
    sx, sy = (dx1 - dx0 + 1) / w, (dy1 - dy0 + 1) / h
    margin = margin_px(display_window)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for left, top, width, height, _area in stats[1:count]:
        # grid cells -> pixels (outward), plus the margin
        box = (dx0 + math.floor(left * sx) - margin, dy0 + math.floor(top * sy) - margin,
               dx0 + math.ceil((left + width) * sx) - 1 + margin, dy0 + math.ceil((top + height) * sy) - 1 + margin)
        inside = intersect(box, display_window)
        if inside is not None:
            boxes.append(snap_box(inside, display_window))
    merged = merge_boxes(boxes)
    if len(merged) > MAX_BOXES:
        merged = merge_boxes(merged, gap_px=1 << 30)
    regions = Regions(display_window, merged)
    if not merged or regions.share > WHOLE_FRAME_SHARE:
        return Regions.whole(display_window, f"the regions would cover {regions.share:.0%} of the frame "
                                             f"(> {WHOLE_FRAME_SHARE:.0%})")
    return regions


def feather_weights(boxes: Sequence[Box], window: Box, *, frame: Box, feather_px: int = FEATHER_PX,
                    ) -> np.ndarray:
    """How much of the render each pixel of ``window`` takes: h,w float32 in [0, 1].

    1 inside the boxes, falling linearly to 0 across the ``feather_px`` band
    along each box side that is inside ``frame`` (a side on the frame's edge has
    nothing to blend with); 0 outside. Overlapping boxes take the larger weight.
    """
    x0, y0, x1, y1 = window
    out = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.float32)
    xs = np.arange(x0, x1 + 1, dtype=np.float32)
    ys = np.arange(y0, y1 + 1, dtype=np.float32)
    band = float(max(feather_px, 1))
    for b in boxes:
        inner = intersect(b, window)
        if inner is None:
            continue
        def ramp(coords: np.ndarray, lo: int, hi: int, lo_edge: bool, hi_edge: bool) -> np.ndarray:
            weight = ((coords >= lo) & (coords <= hi)).astype(np.float32)
            if not lo_edge:
                weight = np.minimum(weight, np.clip((coords - lo + 1) / (band + 1), 0.0, 1.0))
            if not hi_edge:
                weight = np.minimum(weight, np.clip((hi - coords + 1) / (band + 1), 0.0, 1.0))
            return weight
        wx = ramp(xs, b[0], b[2], b[0] <= frame[0], b[2] >= frame[2])
        wy = ramp(ys, b[1], b[3], b[1] <= frame[1], b[3] >= frame[3])
        np.maximum(out, wy[:, None] * wx[None, :], out=out)
    return out
