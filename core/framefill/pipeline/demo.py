"""``framefill demo``: the main job on the bundled sample shot.

Every frame of the sample shot was rendered, so every frame is ground truth.
The demo keeps every other frame as the "sparse render", fills the gaps with
each interpolator, and scores each filled frame against the real render
(PSNR of the sRGB-encoded beauty clipped to [0, 1]).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from framefill.atomic import atomic_output, atomic_write_text
from framefill.events import Event, Reporter, null_reporter
from framefill.frames import FramePattern, format_frame_range, read_exr
from framefill.frames.channels import find_beauty
from framefill.ops.metrics import display_proxy, psnr

__all__ = ["sample_shot_pattern", "DemoResult", "DemoSavings", "run_demo", "beauty_rgb", "score_against_truth",
           "sparse_copy", "DEMO_MODELS"]

DEMO_MODELS = ("rife-4", "flow", "blend")
# The demo's QC step judges this model's fill.
QC_MODEL = "rife-4"
# The demo models that need no weights.
CLASSICAL_DEMO_MODELS = ("flow", "blend")


def sample_shot_pattern() -> str:
    """The bundled sample shot as a pattern (inside the installed package)."""
    folder = resources.files("framefill") / "data" / "sample_shot"
    return str(Path(str(folder)) / "shot.####.exr")


def beauty_rgb(path: Path) -> np.ndarray:
    """The linear beauty of an EXR as H,W,3 float32 (first part with R,G,B)."""
    image = read_exr(path)
    for part in image.parts:
        rgb = find_beauty(part.channels.keys())
        if rgb:
            return np.stack([part.channels[c].astype(np.float32) for c in rgb], axis=-1)
    raise ValueError(f"{path} has no beauty")


def score_against_truth(out_pattern: str, truth_pattern: str, frames: tuple[int, ...]) -> dict[int, float]:
    """PSNR (dB) of each frame of ``out_pattern`` against the same frame of ``truth_pattern``."""
    out, truth = FramePattern.parse(out_pattern), FramePattern.parse(truth_pattern)
    return {
        f: psnr(display_proxy(beauty_rgb(Path(out.path(f)))), display_proxy(beauty_rgb(Path(truth.path(f)))))
        for f in frames
    }


def sparse_copy(truth_pattern: str, dest_pattern: str, frames: tuple[int, ...]) -> None:
    """Copy only ``frames`` of a fully rendered shot: a stand-in for a sparse render."""
    truth, dest = FramePattern.parse(truth_pattern), FramePattern.parse(dest_pattern)
    for frame in frames:
        target = Path(dest.path(frame))
        if not target.is_file():
            with atomic_output(target) as tmp:
                shutil.copyfile(truth.path(frame), tmp)


@dataclass(frozen=True)
class DemoSavings:
    """What QC made of the rife-4 fill, judged without the real renders and scored against them afterwards."""

    model: str
    rendered: tuple[int, ...]
    filled: tuple[int, ...]
    accepted: tuple[int, ...]  # filled frames QC ships
    rerender: tuple[int, ...]  # filled frames QC sends back for a real render
    below_threshold: tuple[int, ...]  # filled frames truly below the threshold
    threshold_db: float
    keyframe_checks: int

    @property
    def shipped_below_threshold(self) -> tuple[int, ...]:
        """Accepted frames whose true PSNR is below the threshold: what QC let through."""
        return tuple(f for f in self.accepted if f in self.below_threshold)

    def to_json(self, psnr_db: dict[int, float]) -> dict[str, Any]:
        return {
            "model": self.model, "threshold_db": self.threshold_db, "keyframe_checks": self.keyframe_checks,
            "frames_rendered": len(self.rendered), "frames_filled": len(self.filled),
            "frames_accepted": len(self.accepted), "frames_rerendered": len(self.rerender),
            "rerender": format_frame_range(self.rerender), "accepted": format_frame_range(self.accepted),
            "true_below_threshold": format_frame_range(self.below_threshold),
            "shipped_below_threshold": format_frame_range(self.shipped_below_threshold),
            "shipped_fill_psnr_db": {str(f): round(psnr_db[f], 3) for f in self.accepted},
            "renders_saved": len(self.accepted),
        }


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    rendered: tuple[int, ...]
    filled: tuple[int, ...]
    psnr_db: dict[str, dict[int, float]]  # model -> frame -> dB
    savings: DemoSavings | None = None

    def mean_psnr(self, model: str) -> float:
        values = list(self.psnr_db[model].values())
        return float(np.mean(values)) if values else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "rendered": format_frame_range(self.rendered),
            "filled": format_frame_range(self.filled),
            "metric": "PSNR dB of the sRGB-encoded beauty clipped to [0,1], filled frame vs the real render",
            "mean_psnr_db": {m: round(self.mean_psnr(m), 3) for m in self.psnr_db},
            "psnr_db": {m: {str(f): round(v, 3) for f, v in per.items()} for m, per in self.psnr_db.items()},
            **({} if self.savings is None else {"qc": self.savings.to_json(self.psnr_db[self.savings.model])}),
        }

    def summary_markdown(self) -> str:
        """The demo's table: each filled frame's PSNR per model, and the means."""
        return summary_markdown(self)


def run_demo(
    out_dir: Path,
    *,
    models: tuple[str, ...] = DEMO_MODELS,
    every: int = 2,
    device: str = "auto",
    report: Reporter = null_reporter,
) -> DemoResult:
    """Drop frames from the sample shot, fill them with each model, score them.

    Weights a model needs and the cache lacks are fetched first (pinned, verified).
    """
    from framefill.models.catalog import ensure_fetched
    from framefill.pipeline.fill import run_fill
    from framefill.pipeline.plan import keyframes
    from framefill.requests import FillRequest

    ensure_fetched([m for m in models if m not in CLASSICAL_DEMO_MODELS], report=report)
    truth_pattern = sample_shot_pattern()
    frames = tuple(sorted(FramePattern.parse(truth_pattern).scan()))
    keys = keyframes(frames, every)
    rendered = str(out_dir / "rendered" / "shot.####.exr")
    sparse_copy(truth_pattern, rendered, keys)
    filled = tuple(f for f in frames if f not in keys)
    report(Event("start", stage="demo", message=(
        f"sample shot {frames[0]}-{frames[-1]}: keeping 1 frame in {every} "
        f"({format_frame_range(keys)}), filling {len(filled)} frames with {', '.join(models)}")))
    scores: dict[str, dict[int, float]] = {}
    for model in models:
        out_pattern = str(out_dir / model / "shot.####.exr")
        run_fill(FillRequest(rendered, out_pattern, frames=frames, model=model, device=device), report=report)
        scores[model] = score_against_truth(out_pattern, truth_pattern, filled)
    savings = None
    if QC_MODEL in models:
        savings = _judge(str(out_dir / QC_MODEL / "shot.####.exr"), keys, filled, scores[QC_MODEL], report)
    result = DemoResult(out_dir, keys, filled, scores, savings)
    atomic_write_text(out_dir / "summary.json", json.dumps(result.to_json(), indent=2, sort_keys=True))
    atomic_write_text(out_dir / "summary.md", summary_markdown(result))
    return result


def _judge(pattern: str, keys: tuple[int, ...], filled: tuple[int, ...], psnr_db: dict[int, float],
           report: Reporter) -> DemoSavings:
    """QC of a filled sample shot as a user runs it (no real renders), then the truth about what it shipped."""
    from framefill.pipeline.qc import qc_sequence
    from framefill.requests import QcRequest

    result = qc_sequence(QcRequest(pattern, filled=filled), report=report)
    listed = set(result.rerender)
    accepted = tuple(f for f in filled if f not in listed)
    bad = tuple(f for f in filled if psnr_db[f] < result.threshold_db)
    return DemoSavings(QC_MODEL, keys, filled, accepted, tuple(sorted(listed & set(filled))), bad,
                       result.threshold_db, len(result.keyframe_checks))


def summary_markdown(result: DemoResult) -> str:
    models = list(result.psnr_db)
    lines = [
        "# framefill demo",
        "",
        f"Rendered (kept): {format_frame_range(result.rendered)}. Filled: {format_frame_range(result.filled)}.",
        "PSNR (dB) of each filled frame against the real render (sRGB-encoded beauty, clipped to [0,1]).",
        "",
        "| frame | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for frame in result.filled:
        lines.append(f"| {frame} | " + " | ".join(f"{result.psnr_db[m][frame]:.2f}" for m in models) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{result.mean_psnr(m):.2f}**" for m in models) + " |")
    lines.append("")
    if result.savings is not None:
        lines += _savings_markdown(result.savings, result.psnr_db[result.savings.model])
    lines.append(f"Outputs: {', '.join(str(result.out_dir / m) for m in models)}")
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _savings_markdown(s: DemoSavings, psnr_db: dict[int, float]) -> list[str]:
    total = len(s.rendered) + len(s.filled)
    lines = [
        f"## What QC saves ({s.model}, `framefill qc` without the real renders, threshold {s.threshold_db:g} dB)",
        "",
        f"{total} frames: {len(s.rendered)} rendered, {len(s.filled)} filled; QC ran {s.keyframe_checks} keyframe "
        f"checks, accepted {_count(len(s.accepted), 'fill')} and sent {len(s.rerender)} back for a real render "
        f"({format_frame_range(s.rerender) or 'none'}): **{len(s.accepted)} of {total} renders saved**.",
        f"Truly below {s.threshold_db:g} dB: {format_frame_range(s.below_threshold) or 'none'}; shipped below it: "
        f"**{format_frame_range(s.shipped_below_threshold) or 'none'}**.",
        "",
    ]
    if s.accepted:
        lines += ["| shipped fill | true PSNR dB |", "|---|---|"]
        lines += [f"| {f} | {psnr_db[f]:.2f} |" for f in s.accepted]
        lines.append("")
    lines.append("Every other shipped frame is a real render (the rendered frames, and the re-rendered ones).")
    lines.append("")
    return lines
