"""Direct or recursive filling for gaps longer than one frame: which is better?

On fully rendered shots (the bundled sample shot by default, or any others given
with --truth, such as the cached QC test scenes), keep 1 frame in N, fill the gaps
both ways with the same model, and print the mean PSNR of the filled frames
against the real renders.

  direct     each missing frame straight from the two rendered frames at its t
  recursive  repeated halving: the middle frame first, then frames from it

    python bench/fill_modes.py [--every 3,4] [--model rife-4] [--truth PATTERN ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from framefill import api
from framefill.frames import FramePattern
from framefill.pipeline.demo import (
    sample_shot_pattern,
    score_against_truth,
    sparse_copy,
)
from framefill.pipeline.plan import keyframes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", default="3,4")
    parser.add_argument("--model", default="rife-4")
    parser.add_argument("--truth", nargs="*", default=[sample_shot_pattern()], help="fully rendered shots")
    args = parser.parse_args()
    print(f"{args.model}: mean PSNR (dB) of filled frames vs real renders")
    print(f"{'shot':<18}{'keep 1 in':<10}{'filled':>7}{'direct':>9}{'recursive':>11}{'recursive - direct':>20}")
    for truth in args.truth:
        _compare(truth, args)


def _compare(truth: str, args: argparse.Namespace) -> None:
    frames = tuple(sorted(FramePattern.parse(truth).scan()))
    label = Path(truth).parent.name[:16]
    with tempfile.TemporaryDirectory() as tmp:
        for every in (int(n) for n in args.every.split(",")):
            keys = keyframes(frames, every)
            rendered = str(Path(tmp) / f"every{every}" / "rendered" / "shot.####.exr")
            sparse_copy(truth, rendered, keys)
            filled = tuple(f for f in frames if f not in keys)
            means = {}
            for mode in ("direct", "recursive"):
                out = str(Path(tmp) / f"every{every}" / mode / "shot.####.exr")
                api.fill_shot(rendered, out, frames=frames, model=args.model, device="cpu", mode=mode)
                means[mode] = statistics.mean(score_against_truth(out, truth, filled).values())
            print(f"{label:<18}{every:<10}{len(filled):>7}{means['direct']:>9.2f}{means['recursive']:>11.2f}"
                  f"{means['recursive'] - means['direct']:>+20.2f}")


if __name__ == "__main__":
    main()
