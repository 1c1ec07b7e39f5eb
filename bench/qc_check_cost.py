"""What the keyframe checks cost: seconds per check beside seconds per filled frame, in one run.

    PYTHONPATH=core .venv/bin/python bench/qc_check_cost.py [--every 2] [--model rife-4] [--device cpu]
                                                          [--repeats 3] [--json]

On the bundled sample shot (480x270, nine layers) with every Nth frame kept:
  fill      `framefill interpolate` of the shot (all layers warped, EXRs and QC features written),
            seconds per filled frame;
  qc        `framefill qc --no-keyframe-check` (features only) and `framefill qc` (with the checks),
            each on a copy of the filled folder without cached scores; the difference over the
            number of checks is the seconds per check.
Each figure is the median of --repeats runs; a check is one network run on the beauty, so it
should cost less than a filled frame. The ratio check / fill is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))


def _fresh_copy(src: Path, dest: Path) -> str:
    """A copy of a filled folder with no cached QC score or check."""
    from framefill.pipeline.manifest import Manifest

    shutil.copytree(src, dest)
    pattern = str(dest / "shot.####.exr")
    manifest = Manifest(pattern)
    for frame, entry in manifest.entries().items():
        manifest.put(frame, replace(entry, qc=None))
    manifest.publish()
    return pattern


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--model", default="rife-4")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from framefill.frames import FramePattern
    from framefill.pipeline.demo import sample_shot_pattern, sparse_copy
    from framefill.pipeline.fill import run_fill
    from framefill.pipeline.plan import keyframes
    from framefill.pipeline.qc import qc_sequence
    from framefill.requests import FillRequest, QcRequest

    fill_s, plain_s, checked_s = [], [], []
    checks = filled = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = sample_shot_pattern()
        frames = tuple(sorted(FramePattern.parse(truth).scan()))
        keys = str(root / "keys" / "shot.####.exr")
        sparse_copy(truth, keys, keyframes(frames, args.every))
        for i in range(args.repeats):
            out = root / f"fill{i}"
            t0 = time.perf_counter()
            result = run_fill(FillRequest(keys, str(out / "shot.####.exr"), frames=frames, model=args.model,
                                          device=args.device))
            fill_s.append(time.perf_counter() - t0)
            filled = result.count("filled")
            for label, keyframe_check, sink in (("plain", False, plain_s), ("checked", True, checked_s)):
                pattern = _fresh_copy(out, root / f"{label}{i}")
                t0 = time.perf_counter()
                qc = qc_sequence(QcRequest(pattern, keyframe_check=keyframe_check, device=args.device))
                sink.append(time.perf_counter() - t0)
                if keyframe_check:
                    checks = len(qc.keyframe_checks)
    per_fill = statistics.median(fill_s) / max(filled, 1)
    per_check = (statistics.median(checked_s) - statistics.median(plain_s)) / max(checks, 1)
    doc = {"every": args.every, "model": args.model, "device": args.device, "repeats": args.repeats,
           "filled_frames": filled, "keyframe_checks": checks,
           "fill_s_per_filled_frame": round(per_fill, 3), "qc_features_only_s": round(statistics.median(plain_s), 3),
           "qc_with_checks_s": round(statistics.median(checked_s), 3), "s_per_check": round(per_check, 3),
           "check_over_fill": round(per_check / per_fill, 3), "network_runs_per_check": 1}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"sample shot, every {args.every}, {args.model} on {args.device}, medians of {args.repeats}: "
              f"{filled} fills, {checks} keyframe checks")
        print(f"  fill: {per_fill:.3f} s per filled frame")
        print(f"  qc without checks {doc['qc_features_only_s']:.2f} s, with checks {doc['qc_with_checks_s']:.2f} s: "
              f"{per_check:.3f} s per check (one network run)")
        print(f"  a check costs {doc['check_over_fill']:.2f}x a filled frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
