"""Which interpolation model, per kind of material, and what `--model auto` gains over the best single one.

On fully rendered shots, keep every Nth frame, fill the others from their two nearest kept frames
(direct: each frame straight from the pair at its t) with every candidate, and measure each fill
against its real render (PSNR of the sRGB proxy, as QC scores). `auto` is what `--model auto` picks for
the kept frames (pipeline/model_choice.py: the candidates on up to 4 keyframe checks) and scores what
that candidate scored (a mix of `rife-4+hdv3` other than the even one is measured when picked). Two
ensembles: `rife-4+hdv3` (both networks, each pixel the mean of their two fills; at other mixes an
`auto` candidate, and a model of its own) and, measured only, RIFE 4.25 run forward and on the
time-reversed pair, the two motions averaged (flows and mask), at twice the compute.

Compute: median seconds per fill over RIFE 4.25's (width scale), measured in the same run; for `auto`, the
choice's seconds spread over the set's fills plus the chosen model's fills (a longer shot spreads the
choice, whose cost does not grow with the shot, over more fills: also given for 100 fills), and counted:
model runs per output fill, 1 + checks x candidates / fills (timings on a shared machine are noisy).

Sets: the sample shot every 2nd and 4th; rendered CGI scenes (bench/scenes, cached renders; whip_pan is
the large-motion one); real footage (bench/real_footage.py clips of intel-iot-devkit/sample-videos,
CC BY 4.0: three sign-language clips and three street/store camera clips). Never the evaluation-only sets.
"best single" is the best of the single models (rife-4 at each scale, rife-hdv3, flow) on that set; the
pooled gain is auto's mean over sets minus the best single model's mean over sets.

    FRAMEFILL_THREADS=1 PYTHONPATH=core .venv/bin/python bench/interp_quality.py [--frames N] [--sets a,b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))

from framefill.color import ColorSetup  # noqa: E402
from framefill.frames import ExrImage, FramePattern, read_exr  # noqa: E402
from framefill.models.interp import Interpolator, Motion  # noqa: E402
from framefill.models.loading import auto_rife_scale, load_interpolator  # noqa: E402
from framefill.pipeline.keyframe_check import CheckTriplet, measure_check  # noqa: E402
from framefill.pipeline.model_choice import FUSED_MODEL, choose_model  # noqa: E402
from framefill.pipeline.plan import keyframes  # noqa: E402

SCENES = Path.home() / ".cache" / "framefill" / "scenes"
REAL = Path.home() / ".cache" / "framefill" / "real-footage"
# name -> (pattern, keep every Nth, kind)
SETS: dict[str, tuple[str, int, str]] = {
    "sample/2": (str(REPO / "core/framefill/data/sample_shot/shot.####.exr"), 2, "cgi"),
    "sample/4": (str(REPO / "core/framefill/data/sample_shot/shot.####.exr"), 4, "cgi"),
    "whip_pan/2": (str(next(SCENES.glob("whip_pan-320x180-*"), SCENES) / "whip_pan.####.exr"), 2, "cgi-large"),
    "fast_spin/2": (str(next(SCENES.glob("fast_spin-320x180-*"), SCENES) / "fast_spin.####.exr"), 2, "cgi"),
    "particles/4": (str(next(SCENES.glob("particles-320x180-*"), SCENES) / "particles.####.exr"), 4, "cgi"),
    "real_walk/2": (str(REAL / "walk-0-31-395c10f2ce5c" / "walk.####.exr"), 2, "real"),
    "real_sister/2": (str(REAL / "sister-12-43-2fadd1e2d9f6" / "sister.####.exr"), 2, "real"),
    "real_night/2": (str(REAL / "night-10-41-402fcf62d26c" / "night.####.exr"), 2, "real"),
    "trip_fall/2": (str(next(SCENES.glob("trip_fall-320x180-*"), SCENES) / "trip_fall.####.exr"), 2, "cgi"),
    "thin/2": (str(next(SCENES.glob("thin_structures-320x180-*"), SCENES) / "thin_structures.####.exr"), 2, "cgi"),
    "motion_blur/2": (str(next(SCENES.glob("motion_blur-320x180-*"), SCENES) / "motion_blur.####.exr"), 2, "cgi"),
    "real_car/2": (str(REAL / "car-detection-0-31-d31e0ebf194c" / "car_detection.####.exr"), 2, "real"),
    "real_person/2": (str(REAL / "one-by-one-person-detection-0-31-a5964aa25909"
                          / "one_by_one_person_detection.####.exr"), 2, "real"),
    "real_bottle/2": (str(REAL / "bottle-detection-0-31-d52ba94aedf8" / "bottle_detection.####.exr"), 2, "real"),
}
# Ensembles: not "single" models in the gain.
ENSEMBLES = ("+hdv3", "+rev")


class TimeReversedPair:
    """RIFE on (a, b, t) and on (b, a, 1 - t), the two motions averaged: flows per source, and the mask."""

    def __init__(self, net: Interpolator) -> None:
        self.net = net
        self.name = f"{net.name}+reversed"

    def motion(self, img0: Any, img1: Any, t: float) -> Motion:
        fwd = self.net.motion(img0, img1, t)
        rev = self.net.motion(img1, img0, 1.0 - t)
        return Motion((fwd.flow_t0 + rev.flow_t1) / 2, (fwd.flow_t1 + rev.flow_t0) / 2, (fwd.mask + 1 - rev.mask) / 2)


def _loader() -> Callable[[str, float], Interpolator]:
    cache: dict[tuple[str, float], Interpolator] = {}

    def load(model: str, scale: float) -> Interpolator:
        if (model, scale) not in cache:
            cache[(model, scale)] = load_interpolator(model, device="cpu", scale=scale).model
        return cache[(model, scale)]

    return load


def run_set(name: str, limit: int | None, load: Callable[[str, float], Interpolator]) -> dict[str, Any]:
    pattern, every, kind = SETS[name]
    seq = FramePattern.parse(pattern)
    frames = tuple(sorted(seq.scan()))[:limit or (4 * every + 1)]
    if not frames:
        raise SystemExit(f"{name}: no frames at {pattern} (render bench/scenes or extract the real clips first)")
    images: dict[int, ExrImage] = {}

    def read(f: int) -> ExrImage:
        if f not in images:
            images[f] = read_exr(seq.path(f))
        return images[f]

    keys = keyframes(frames, every)
    x0, _, x1, _ = read(frames[0]).parts[0].display_window
    width = x1 - x0 + 1
    ws = auto_rife_scale(width)
    candidates: dict[str, Interpolator] = {
        f"rife-4@{ws:g}": load("rife-4", ws), f"rife-hdv3@{ws:g}": load("rife-hdv3", ws),
        f"rife-4@{ws / 2:g}": load("rife-4", ws / 2), f"rife-4@{ws / 4:g}": load("rife-4", ws / 4),
        "flow": load("flow", 1.0), f"rife-4+hdv3@{ws:g} mix 0.5": load("rife-4+hdv3", ws),
        f"rife-4@{ws:g}+rev": TimeReversedPair(load("rife-4", ws)),
    }
    fills = [CheckTriplet(a, f, b) for a, b in zip(keys, keys[1:]) for f in range(a + 1, b)]

    def measure(interp: Interpolator) -> tuple[list[float], float]:
        values, times = [], []
        for c in fills:
            start = time.perf_counter()
            m = measure_check(read(c.before), read(c.key), read(c.after), c, interp, color=ColorSetup(), device="cpu")
            times.append(time.perf_counter() - start)
            values.append(m.psnr_db if m.psnr_db is not None else float("nan"))
        return values, statistics.median(times)  # the median leaves out the first call's warm-up

    psnrs: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for label, interp in candidates.items():
        psnrs[label], seconds[label] = measure(interp)
    start = time.perf_counter()
    choice = choose_model(keys, read, width=width, width_scale=ws, load=load, color=ColorSetup(), device="cpu")
    choice_s = time.perf_counter() - start
    chosen = "flow" if choice.model == "flow" else f"{choice.model}@{choice.scale:g}" + (
        "" if choice.mix is None else f" mix {choice.mix:g}")
    if chosen in psnrs:
        auto_psnr, auto_s = psnrs[chosen], seconds[chosen]
    else:  # a mix of the fused model other than the even one
        auto_psnr, auto_s = measure(load_interpolator(choice.model, device="cpu", scale=choice.scale,
                                                      mix=choice.mix).model)
    runs = 2 if choice.model == FUSED_MODEL else 1
    own = len([c for c, _ in choice.evidence if c.model != FUSED_MODEL])
    rife = seconds[f"rife-4@{ws:g}"]
    return {"name": name, "kind": kind, "fills": len(fills), "psnr": psnrs, "seconds": seconds, "rife_s": rife,
            "auto": chosen, "auto_psnr": auto_psnr,
            "auto_x": (choice_s + len(fills) * auto_s) / (len(fills) * rife),
            "auto_x100": (choice_s / 100 + auto_s) / rife, "reason": choice.reason,
            # Counted, not timed (timings on a shared machine are noisy): model runs per output fill (the
            # fused candidate is measured from its two networks' check runs; as the fill it runs both).
            "auto_runs": runs + len(choice.checks) * own / len(fills),
            "auto_runs100": runs + len(choice.checks) * own / 100}


def _ensemble(label: str) -> bool:
    return any(e in label for e in ENSEMBLES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=None,
                        help="first N frames of each set (default: 4 gaps, so 3 keyframe checks)")
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args()
    load = _loader()
    rows = []
    for name in args.sets.split(","):
        row = run_set(name, args.frames, load)
        rows.append(row)
        means = {k: statistics.mean(v) for k, v in row["psnr"].items()}
        print(f"\n{name} ({row['kind']}, {row['fills']} fills; RIFE 4.25 {row['rife_s']:.2f} s/fill)", flush=True)
        for label, mean in means.items():
            print(f"  {label:<18}{mean:7.2f} dB  {row['seconds'][label] / row['rife_s']:5.2f}x", flush=True)
        best = max((k for k in means if not _ensemble(k)), key=lambda k: means[k])
        print(f"  {'auto':<18}{statistics.mean(row['auto_psnr']):7.2f} dB  {row['auto_x']:5.2f}x "
              f"({row['auto_x100']:.2f}x at 100 fills; counted {row['auto_runs']:.2f} / {row['auto_runs100']:.2f} "
              f"runs per fill)  -> {row['auto']}; best single {best}", flush=True)
        print(f"    {row['reason']}", flush=True)
    singles = [k for k in rows[0]["psnr"] if not _ensemble(k)]
    # Pooled over sets (each set's mean weighs once); labels by position (the width scale differs per set).
    print("\nsummary (mean PSNR dB per set; gain = auto - best single model on that set)")
    header = ["set", "rife-4", "hdv3", "rife-4/2", "rife-4/4", "flow", "r4+hdv3", "rife-4+rev", "auto", "gain",
              "auto x"]
    print("".join(f"{h:>12}" for h in header))
    pooled: dict[int, list[float]] = {i: [] for i in range(len(rows[0]["psnr"]) + 1)}
    for row in rows:
        means = [statistics.mean(v) for v in row["psnr"].values()]
        auto = statistics.mean(row["auto_psnr"])
        best = max(m for k, m in zip(row["psnr"], means) if not _ensemble(k))
        for i, m in enumerate([*means, auto]):
            pooled[i].append(m)
        print(f"{row['name']:>12}" + "".join(f"{m:12.2f}" for m in means) + f"{auto:12.2f}{auto - best:+12.2f}"
              f"{row['auto_x']:12.2f}")
    pooled_means = [statistics.mean(v) for v in pooled.values() if v]
    best_single = max(pooled_means[:len(singles)])
    print(f"{'pooled':>12}" + "".join(f"{m:12.2f}" for m in pooled_means) + f"{pooled_means[-1] - best_single:+12.2f}")


if __name__ == "__main__":
    main()
