"""Region re-renders without bpy: which boxes to render for a frame, and Blender's render border for a box.

Boxes are inclusive ``(x0, y0, x1, y1)`` display-window pixels, y down (EXR
windows, what ``framefill qc`` proposes). Blender's border is fractions of the
resolution, y up.
"""

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["Box", "CostModel", "render_boxes", "border_of", "regions_of", "box_area"]

Box = Tuple[int, int, int, int]

# Before any render of this run is measured: share of a full frame's render time that does not
# scale with pixels (scene sync, BVH build, compositing, writing the file) on Cycles.
PRIOR_OVERHEAD_SHARE = 0.3


def box_area(box: Box) -> int:
    return max(0, box[2] - box[0] + 1) * max(0, box[3] - box[1] + 1)


class CostModel:
    """Seconds of one Blender render = overhead + pixels x seconds-per-pixel, fitted on this run's renders.

    Every render (full keyframes and regions) adds a (pixels, seconds) point; with two distinct
    pixel counts the two numbers are a least-squares line (clamped at zero), before that a full
    frame's time is split with ``PRIOR_OVERHEAD_SHARE``.
    """

    def __init__(self) -> None:
        self.points: List[Tuple[int, float]] = []

    def add(self, pixels: int, seconds: float) -> None:
        self.points.append((int(pixels), float(seconds)))

    def fit(self, frame_px: int) -> Tuple[float, float]:
        """(overhead seconds, seconds per pixel)."""
        if not self.points:
            return 1.0, 0.0
        xs = [p for p, _ in self.points]
        ys = [s for _, s in self.points]
        if len(set(xs)) < 2:
            full = sum(ys) / len(ys) * frame_px / max(xs[0], 1)
            return PRIOR_OVERHEAD_SHARE * full, (1 - PRIOR_OVERHEAD_SHARE) * full / max(frame_px, 1)
        n = len(xs)
        mx, my = sum(xs) / n, sum(ys) / n
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        slope = max(slope, 0.0)
        return max(my - slope * mx, 0.0), slope

    def seconds(self, boxes: Sequence[Box], frame_px: int) -> float:
        overhead, per_px = self.fit(frame_px)
        return sum(overhead + box_area(b) * per_px for b in boxes)


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def render_boxes(boxes: Sequence[Box], model: CostModel, frame_px: int) -> List[Box]:
    """One render per box, or one of their union: whichever the cost model says is cheaper."""
    boxes = list(boxes)
    if len(boxes) <= 1:
        return boxes
    union = [_union(boxes)]
    return union if model.seconds(union, frame_px) <= model.seconds(boxes, frame_px) else boxes


def border_of(box: Box, width: int, height: int, pad_px: int = 1) -> Tuple[float, float, float, float]:
    """Blender's (min_x, max_x, min_y, max_y) render border covering ``box`` plus ``pad_px`` (Blender rounds
    borders to pixels; the pad keeps the box's edge pixels rendered)."""
    x0, y0 = max(box[0] - pad_px, 0), max(box[1] - pad_px, 0)
    x1, y1 = min(box[2] + pad_px, width - 1), min(box[3] + pad_px, height - 1)
    return x0 / width, (x1 + 1) / width, (height - 1 - y1) / height, (height - y0) / height


def regions_of(result: Mapping[str, object]) -> Dict[int, Optional[List[Box]]]:
    """Frame -> boxes (None: the whole frame) of the listed frames in ``framefill qc``'s result."""
    out: Dict[int, Optional[List[Box]]] = {}
    for row in result.get("frames") or []:  # type: ignore[union-attr]
        if not isinstance(row, dict) or not row.get("flagged") or not isinstance(row.get("frame"), int):
            continue
        regions = row.get("regions")
        if not isinstance(regions, dict) or regions.get("whole_frame") or not regions.get("boxes"):
            out[row["frame"]] = None
        else:
            out[row["frame"]] = [tuple(int(v) for v in b) for b in regions["boxes"]]  # type: ignore[misc]
    return out
