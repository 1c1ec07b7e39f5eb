"""Filled shots for the review tests.

``write_flat_shot``: a hand-made filled shot of flat frames whose every pixel
and status is known (manifest entries, qc.json and heatmaps written directly).
``build_sample_review``: a real one, made by framefill's own fill and qc from
the bundled sample shot (the classical flow model: no weights).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from framefill.frames import FramePattern, image_from_arrays, write_exr
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.pipeline.qc import heatmap_pattern

WIDTH, HEIGHT = 64, 32
# Scene-linear grey of each frame of the flat shot, and the real render of the filled ones.
GREY = {1: 0.05, 2: 0.18, 3: 0.3, 4: 0.18, 5: 0.4, 6: 0.18, 7: 0.6}
TRUTH_RGB = (0.0, 0.0, 0.5)
# Risk map of frames 2 and 4: left half, right half.
RISK = (0.25, 0.75)
STATUS = {1: "rendered", 2: "accepted", 3: "rendered", 4: "rerender", 5: "rendered", 6: "held", 7: "rendered"}


@dataclass(frozen=True)
class FlatShot:
    pattern: str
    truth: str
    report: Path

    def path(self, frame: int) -> str:
        return FramePattern.parse(self.pattern).path(frame)


def _frame(rgb: tuple[float, float, float], *, alpha: float = 1.0) -> dict[str, np.ndarray]:
    plane = np.ones((HEIGHT, WIDTH), np.float32)
    depth = np.tile(np.linspace(1.0, 10.0, WIDTH, dtype=np.float32), (HEIGHT, 1))
    return {"R": plane * rgb[0], "G": plane * rgb[1], "B": plane * rgb[2], "A": plane * alpha, "depth.Z": depth}


def write_flat_shot(root: Path) -> FlatShot:
    """Frames 1-7: 1,3,5,7 rendered, 2 filled and accepted by QC, 4 filled and listed, 6 held."""
    out = FramePattern.parse(str(root / "shot" / "shot.####.exr"))
    truth = FramePattern.parse(str(root / "truth" / "shot.####.exr"))
    Path(out.path(0)).parent.mkdir(parents=True)
    Path(truth.path(0)).parent.mkdir(parents=True)
    manifest = Manifest(str(out))
    records = []
    for frame, grey in GREY.items():
        write_exr(out.path(frame), image_from_arrays(_frame((grey, grey, grey))))
        sha = hashlib.sha256(Path(out.path(frame)).read_bytes()).hexdigest()
        status = STATUS[frame]
        if status == "rendered":
            manifest.put(frame, ManifestEntry("copied", {"source": frame}, sha))
            continue
        write_exr(truth.path(frame), image_from_arrays(_frame(TRUTH_RGB)))
        recipe = {"sources": [frame - 1, frame + 1], "t": 0.5, "model": "flow"}
        if status == "held":
            manifest.put(frame, ManifestEntry("held", recipe, sha, needs_render=True, reason="held: a cut"))
            records.append({"frame": frame, "status": "held", "flagged": True, "reason": "held: a cut"})
            continue
        flagged = status == "rerender"
        predicted, true = (24.0, 22.5) if flagged else (36.0, 37.5)
        verdict = {"flagged": flagged, "reason": "predicted below 30 dB" if flagged else "",
                   "basis": "keyframe-check", "predicted_psnr_db": predicted}
        qc = {"predicted_psnr_db": predicted, "psnr_db": true, "aggregates": {"flow_angle_std": 0.1 * frame},
              "verdict": verdict}
        manifest.put(frame, ManifestEntry("filled", recipe, sha, qc=qc))
        records.append({"frame": frame, "status": "filled", "flagged": flagged, "predicted_psnr_db": predicted,
                        "psnr_db": true, "reason": verdict["reason"], "basis": "keyframe-check"})
        heat = heatmap_pattern(str(out), root / "qc")
        risk = np.full((HEIGHT, WIDTH), RISK[0], np.float32)
        risk[:, WIDTH // 2:] = RISK[1]
        channels = {**{c: v.astype(np.float16) for c, v in _frame((grey, grey, grey)).items() if c in "RGB"},
                    "ff_risk.Y": risk, "ff_err.Y": np.full((HEIGHT, WIDTH), 1e-3, np.float32)}
        Path(heat.path(frame)).parent.mkdir(parents=True, exist_ok=True)
        write_exr(heat.path(frame), image_from_arrays(channels))
    manifest.publish(model="flow", input=str(root / "keys" / "shot.####.exr"))
    listed = [r["frame"] for r in records if r["flagged"]]
    doc = {"format": "framefill-qc", "version": 2, "pattern": str(out), "threshold_db": 30.0,
           "rerender": ",".join(map(str, listed)), "rerender_nuke": ",".join(map(str, listed)),
           "rerender_frames": listed, "frames": records,
           "savings": {"frames_rendered": 4, "cost_per_frame_min": 30.0}}
    (root / "qc" / "qc.json").write_text(json.dumps(doc, indent=1))
    return FlatShot(str(out), str(truth), root / "qc")


def build_sample_review(root: Path, frames: range = range(1001, 1014)) -> FlatShot:
    """The sample shot's ``frames``, every 2nd rendered, filled with the flow model and scored by QC against the
    real renders, with its report (heatmaps, qc.json): what `framefill review` opens."""
    from framefill.models.interp import DisFlowInterpolator
    from framefill.pipeline.fill import FillOptions, fill_sequence
    from framefill.pipeline.qc import qc_sequence
    from framefill.requests import QcRequest
    from ffpaths import SAMPLE_PATTERN

    sample = FramePattern.parse(SAMPLE_PATTERN)
    keys = FramePattern.parse(str(root / "keys" / "shot.####.exr"))
    Path(keys.path(0)).parent.mkdir(parents=True, exist_ok=True)
    for frame in frames[::2]:
        shutil.copyfile(sample.path(frame), keys.path(frame))
    out = str(root / "filled" / "shot.####.exr")
    fill_sequence(str(keys), out, frames=frames, interpolator=DisFlowInterpolator(),
                  options=FillOptions(model_id="flow"))
    qc_sequence(QcRequest(out, truth=SAMPLE_PATTERN, report_dir=root / "qc"))
    return FlatShot(out, SAMPLE_PATTERN, root / "qc")
