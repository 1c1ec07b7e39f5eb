"""Whether QC ships no bad frame and re-renders only the bad ones, on shots its calibration never saw.

    PYTHONPATH=core .venv/bin/python bench/qc.py [--split loso|fixed] [--scenes a,b,..]
                                                 [--train a,b,..] [--test x,y,..] [--every 2,3,4]
                                                 [--model rife-4] [--threshold 30] [--work DIR]
                                                 [--write-default FILE] [--json] [--cuts]

1. Shots: the QC scene family rendered once through bench/scenes/ensure.py (cached under
   ~/.cache/framefill/scenes), `sample` (the bundled sample shot), and real footage (`real_*`:
   clips of CC BY 4.0 videos turned into linear EXR sequences by bench/real_footage.py; put the
   videos in ~/.cache/framefill/real-footage/videos).
2. For each shot and each --every, every Nth frame is kept, the rest filled with --model
   (resumable fills under --work, default ~/.cache/framefill/qc-bench), each filled frame is
   measured against its real render (PSNR of the sRGB proxy), and every keyframe check of the
   kept frames is measured (each kept frame filled from its kept neighbours).
3. Held-out judging. --split loso (default, over the training shots and the sample): each shot
   is judged by a calibration fitted, exactly as `framefill qc calibrate` fits, on the OTHER
   shots only. --split fixed: one calibration fitted on --train (default: every training shot),
   judging --test (default: the shots the shipped calibration never saw: the sample and three
   real clips).
4. Per shot, per --every and pooled, for "true PSNR < threshold":
     with keyframe checks   what `framefill qc` decides: recall of the bad fills, the share of
                            good fills accepted, ROC AUC of its risk, share judged on checks
     features only          the same, for `framefill qc --no-keyframe-check` (fitted on the same
                            frames without their checks)
     angle-std AUC          the published baseline: the ridge frame model on statistics of the
                            local flow-angle deviation (fitted), and its frame mean (raw)

--write-default FILE also fits on the training shots only (never the sample or the held-out
real clips) and writes that calibration: what ships as core/framefill/data/qc_calibration.json.
--cuts only measures ops.cuts.cut_score on frame pairs 1-4 apart (how CUT_THRESHOLD was set).
Exits 1 if QC's risk does not beat the raw angle-std baseline on pooled AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))
sys.path.insert(0, str(REPO / "bench" / "scenes"))
sys.path.insert(0, str(REPO / "bench"))

from framefill.events import Event  # noqa: E402
from framefill.ops.errormaps import roc_auc, spearman  # noqa: E402
from framefill.pipeline.calibration import BASELINE_AGGREGATES, FillEvidence  # noqa: E402
from framefill.pipeline.qc_calibrate import (  # noqa: E402
    TrainingFrame,
    collect_training_frames,
    fill_evidence_table,
    fit_calibration,
    fit_frame_model,
    frame_table,
)

# `framefill qc --confidence` values the benchmark also judges at (pooled recall and good fills accepted).
CONFIDENCES = (0.8, 0.9, 0.95, 0.99)
TRAINING_SHOTS = ("fast_spin", "trip_fall", "whip_pan", "thin_structures", "motion_blur", "particles", "cut",
                  "easy_drift", "easy_pan", "real_walk", "real_again")
# Never in the shipped calibration: the sample shot (the end-to-end test's shot) and three real
# clips kept for judging it on real footage it never saw.
HELD_OUT = ("sample", "real_sister", "real_night", "real_book")
ALL_SCENES = ("sample", *TRAINING_SHOTS)
DEFAULT_TRAIN = TRAINING_SHOTS
DEFAULT_TEST = HELD_OUT


# Real footage (bench/real_footage.py): name -> (video file, first frame, last frame), 0-based.
# The videos are intel-iot-devkit/sample-videos clips (CC BY 4.0), looked up in --videos.
REAL_CLIPS = {
    "real_walk": ("walk.mkv", 0, 31),
    "real_again": ("again.mkv", 0, 31),
    "real_sister": ("sister.mkv", 12, 43),
    "real_night": ("night.mkv", 10, 41),
    "real_book": ("book.mkv", 0, 31),
}
VIDEOS = Path.home() / ".cache" / "framefill" / "real-footage" / "videos"


def scene_pattern(name: str) -> str:
    """The full-render pattern of a scene: the bundled sample, a cached render of the QC family, or a real clip."""
    if name == "sample":
        return str(REPO / "core" / "framefill" / "data" / "sample_shot" / "shot.####.exr")
    if name in REAL_CLIPS:
        from real_footage import extract

        video, first, last = REAL_CLIPS[name]
        if not (VIDEOS / video).is_file():
            raise SystemExit(f"{name}: put {video} (intel-iot-devkit/sample-videos) in {VIDEOS} or pass --videos")
        return extract(VIDEOS / video, first, last, VIDEOS.parent)
    from ensure import ensure_scene

    return str(ensure_scene(name) / f"{name}.####.exr")


def collect(names: list[str], every: list[int], model: str, work: Path, verbose: bool) -> list[TrainingFrame]:
    frames: list[TrainingFrame] = []

    def report(event: Event) -> None:
        if verbose and event.kind in ("start", "warning"):
            print(f"  {event.message}", file=sys.stderr, flush=True)

    for name in names:
        pattern = scene_pattern(name)
        for n in every:
            got = collect_training_frames(pattern, scene=name, every=n, work_dir=work, model=model, report=report)
            frames += got
            if verbose:
                bad = sum(1 for f in got if f.psnr_db < 30)
                print(f"{name} every {n}: {len(got)} filled frames, {bad} below 30 dB, PSNR "
                      f"{min(f.psnr_db for f in got):.1f}..{max(f.psnr_db for f in got):.1f}", file=sys.stderr,
                      flush=True)
    return frames


def predict_fold(train: list[TrainingFrame], test: list[TrainingFrame], threshold: float) -> dict:
    """Fit on `train` exactly as `framefill qc calibrate` does, then judge `test` with and without keyframe checks."""
    cal = fit_calibration(train, threshold_db=threshold)
    features = cal.frame_model.decision(frame_table(test, cal, cal.frame_model.inputs))
    evidence = fill_evidence_table(test, cal, features)
    verdicts = [cal.judge(e, threshold) for e in evidence]
    # Without keyframe checks (`framefill qc --no-keyframe-check`): fitted on the same frames without their checks.
    plain = fit_calibration([replace(f, checks=()) for f in train], threshold_db=threshold)
    plain_pred = plain.frame_model.decision(frame_table(test, plain, plain.frame_model.inputs))
    plain_verdicts = [plain.judge(FillEvidence(float(p)), threshold) for p in plain_pred]
    # Angle std, fitted: the same ridge frame model on the baseline's statistics, same training frames.
    base_fit = fit_frame_model(frame_table(train, None, BASELINE_AGGREGATES), np.array([f.psnr_db for f in train]),
                               [f.scene for f in train], BASELINE_AGGREGATES)
    return {
        "listed": np.array([v.listed for v in verdicts]),
        **{f"listed@{c}": np.array([cal.judge(e, threshold, c).listed for e in evidence]) for c in CONFIDENCES},
        "risk": np.array([v.risk for v in verdicts]),
        "pred": np.array([v.predicted_psnr_db for v in verdicts]),
        "keyframe_basis": np.array([v.basis == "keyframe-check" for v in verdicts]),
        "plain_listed": np.array([v.listed for v in plain_verdicts]),
        "plain_risk": np.array([v.risk for v in plain_verdicts]),
        "base_pred": base_fit.model.decision(frame_table(test, None, BASELINE_AGGREGATES)),
        # Angle std, raw: the frame's mean local flow-angle deviation, no fitting (the published baseline).
        "raw": frame_table(test, None, ("angle_std_mean",))[:, 0],
    }


def _rates(listed: np.ndarray, bad: np.ndarray) -> dict:
    return {"recall": _r(float(listed[bad].mean()) if bad.any() else float("nan")),
            "good_accepted": _r(float((~listed[~bad]).mean()) if (~bad).any() else float("nan"))}


def evaluate(test: list[TrainingFrame], out: dict, threshold: float) -> dict:
    """Recall, good fills accepted and ROC AUC of held-out judgements, per shot, per --every and pooled."""
    psnr = np.array([f.psnr_db for f in test])
    bad = psnr < threshold

    def block(sel: np.ndarray) -> dict:
        b = bad[sel]
        return {
            "fills": int(sel.sum()), "below_threshold": int(b.sum()),
            "keyframe_check": {**_rates(out["listed"][sel], b), "auc": _r(roc_auc(out["risk"][sel], b)),
                               "basis_keyframe_share": _r(float(out["keyframe_basis"][sel].mean()))},
            "features_only": {**_rates(out["plain_listed"][sel], b), "auc": _r(roc_auc(out["plain_risk"][sel], b))},
            "angle_std_fitted_auc": _r(roc_auc(-out["base_pred"][sel], b)),
            "angle_std_mean_auc": _r(roc_auc(out["raw"][sel], b)),
        }

    scenes = np.array([f.scene for f in test])
    every = np.array([f.every for f in test])

    def worst_shot_recall(listed: np.ndarray) -> float | None:
        values = [float(listed[(scenes == s) & bad].mean()) for s in set(scenes) if ((scenes == s) & bad).any()]
        return _r(min(values)) if values else None

    return {
        "confidence_sweep": {str(c): {**_rates(out[f"listed@{c}"], bad),
                                      "worst_shot_recall": worst_shot_recall(out[f"listed@{c}"])}
                             for c in CONFIDENCES},
        "pooled": block(np.ones(len(test), bool)),
        "per_shot": {name: block(scenes == name) for name in sorted(set(scenes))},
        "per_every": {str(n): block(every == n) for n in sorted(set(every))},
        "missed": [f"{f.scene}:{f.frame}(every {f.every}, {f.psnr_db:.1f} dB, predicted {p:.1f})"
                   for f, p, b, fl in zip(test, out["pred"], bad, out["listed"]) if b and not fl],
        "spearman_vs_mse": _r(spearman(out["risk"], 10.0 ** (-psnr / 10.0))),
    }


def leave_one_scene_out(frames: list[TrainingFrame], threshold: float, verbose: bool) -> tuple[list, dict]:
    """Every shot judged by calibrations fitted on all the other shots."""
    order: list[TrainingFrame] = []
    parts: list[dict] = []
    for name in sorted({f.scene for f in frames}):
        train = [f for f in frames if f.scene != name]
        test = [f for f in frames if f.scene == name]
        out = predict_fold(train, test, threshold)
        order += test
        parts.append(out)
        if verbose:
            print(f"fold {name}: {int(out['listed'].sum())} of {len(test)} listed", file=sys.stderr, flush=True)
    return order, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def cut_scores(names: list[str], gaps: list[int]) -> dict:
    """cut_score of every pair of frames `gap` apart (the keyframe pairs of --every gap), per scene.

    For the `cut` scene, pairs that straddle the cut are reported apart from the rest.
    """
    from catalog import SCENE_DEFAULTS, cut_frame
    from framefill.color import to_network
    from framefill.frames import FramePattern, read_exr
    from framefill.ops.cuts import cut_score
    from framefill.pipeline.qc import beauty_rgb

    out: dict = {}
    for name in names:
        pattern = FramePattern.parse(scene_pattern(name))
        frames = pattern.scan()
        proxies = {}
        for f, path in frames.items():
            proxies[f] = to_network(beauty_rgb(read_exr(path))[0])  # what the fill scores: the network proxy
        spans_cut = None
        if name == "cut":
            spec = SCENE_DEFAULTS["cut"]
            first_after = cut_frame(*spec.frames)
            spans_cut = lambda a, b: a < first_after <= b  # noqa: E731
        inside, across = [], []
        per_gap = {}
        for gap in gaps:
            here = []
            for a in frames:
                b = a + gap
                if b in frames:
                    score = cut_score(proxies[a], proxies[b])
                    (across if spans_cut and spans_cut(a, b) else here).append(score)
            inside += here
            per_gap[str(gap)] = round(max(here), 4)
        out[name] = {"max_inside": round(max(inside), 4), "max_inside_by_gap": per_gap,
                     "mean_inside": round(float(np.mean(inside)), 4)}
        if across:
            out[name]["min_across_cut"] = round(min(across), 4)
    return out


def _r(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("loso", "fixed"), default="loso",
                    help="loso: every scene scored by a calibration fitted on the others; fixed: --train / --test.")
    ap.add_argument("--scenes", default=",".join(ALL_SCENES), help="Scenes for --split loso.")
    ap.add_argument("--train", default=",".join(DEFAULT_TRAIN), help="Training scenes for --split fixed.")
    ap.add_argument("--test", default=",".join(DEFAULT_TEST), help="Held-out scenes for --split fixed.")
    ap.add_argument("--every", default="2,3,4")
    ap.add_argument("--model", default="rife-4")
    ap.add_argument("--threshold", type=float, default=30.0)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "framefill" / "qc-bench")
    ap.add_argument("--write-default", type=Path,
                    help="Also fit on every scene but the sample shot (the end-to-end test's shot) and write it here.")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--cuts", action="store_true",
                    help="Only measure ops.cuts.cut_score on every scene's frame pairs 1-4 frames apart and exit.")
    args = ap.parse_args(argv)
    every = [int(v) for v in args.every.split(",")]
    verbose = not args.quiet
    if args.split == "fixed":
        train_names = [s for s in args.train.split(",") if s]
        test_names = [s for s in args.test.split(",") if s]
        if set(train_names) & set(test_names):
            print(f"error: scenes {sorted(set(train_names) & set(test_names))} are in both --train and --test",
                  file=sys.stderr)
            return 2
        names = train_names + test_names
    else:
        names = [s for s in args.scenes.split(",") if s]
    if args.cuts:
        from framefill.ops.cuts import CUT_THRESHOLD

        table = cut_scores(names, [1, 2, 3, 4])
        print(json.dumps({"threshold": CUT_THRESHOLD, "scenes": table}, indent=1))
        inside = max(v["max_inside"] for v in table.values())
        across = min((v["min_across_cut"] for v in table.values() if "min_across_cut" in v), default=None)
        return 0 if across is not None and inside < CUT_THRESHOLD < across else 1
    frames = collect(names, every, args.model, args.work / args.model, verbose)
    if args.split == "fixed":
        test = [f for f in frames if f.scene in test_names]
        out = predict_fold([f for f in frames if f.scene in train_names], test, args.threshold)
        split = {"train_shots": train_names, "test_shots": test_names}
    else:
        test, out = leave_one_scene_out(frames, args.threshold, verbose)
        split = {"shots": names, "protocol": "each shot judged by calibrations fitted on the other shots only "
                                             "(ridge weights and spreads chosen leave-one-shot-out inside them)"}
    result = evaluate(test, out, args.threshold)
    if args.write_default:
        shipped = [f for f in frames if f.scene not in HELD_OUT]
        cal = fit_calibration(shipped, threshold_db=args.threshold, trained_on={
            "scenes": sorted({f.scene for f in shipped}), "every": every, "model": args.model,
            "frames": len(shipped), "held_out": list(HELD_OUT),
            "renders": "bench/scenes (Blender 5.0.1 Cycles, 320x180, 32 frames, 16 spp); real clips: "
                       "bench/real_footage.py on intel-iot-devkit/sample-videos (CC BY 4.0)"})
        cal.save(args.write_default)
        split["written"] = {"path": str(args.write_default), "id": cal.id, "metrics": cal.metrics}
    doc = {"threshold_db": args.threshold, "model": args.model, "every": every, "split": args.split, **split,
           **result}
    if args.json:
        print(json.dumps(doc, indent=1, sort_keys=True))
    else:
        _print_table(doc, args.threshold)
    pooled = result["pooled"]
    return 0 if (pooled["keyframe_check"]["auc"] or 0) > (pooled["angle_std_mean_auc"] or 0) else 1


def _print_table(doc: dict, threshold: float) -> None:
    where = (f"trained on {', '.join(doc['train_shots'])}; judged: {', '.join(doc['test_shots'])}"
             if doc["split"] == "fixed" else f"leave-one-shot-out over {len(doc['shots'])} shots")
    print(f"{where}; every {','.join(map(str, doc['every']))}; model {doc['model']}; "
          f"bad = true PSNR below {threshold:g} dB")
    print(f"{'':<18}{'fills':>6}{'bad':>5} | {'with keyframe checks':^30} | {'features only':^24} | "
          f"{'angle-std AUC':^14}")
    print(f"{'':<18}{'':>6}{'':>5} | {'recall':>8}{'good acc':>9}{'AUC':>7}{'kf%':>6} | {'recall':>8}{'good acc':>9}"
          f"{'AUC':>7} | {'fitted':>7}{'raw':>7}")

    def cell(v: object, fmt: str = ".2f") -> str:
        return "-" if v is None else format(v, fmt)

    def row(label: str, b: dict) -> None:
        k, f = b["keyframe_check"], b["features_only"]
        print(f"{label:<18}{b['fills']:>6}{b['below_threshold']:>5} | {cell(k['recall']):>8}"
              f"{cell(k['good_accepted']):>9}{cell(k['auc']):>7}{cell(k['basis_keyframe_share'], '.0%'):>6} | "
              f"{cell(f['recall']):>8}{cell(f['good_accepted']):>9}{cell(f['auc']):>7} | "
              f"{cell(b['angle_std_fitted_auc']):>7}{cell(b['angle_std_mean_auc']):>7}")

    for name, b in doc["per_shot"].items():
        row(name, b)
    for n, b in doc["per_every"].items():
        row(f"every {n}", b)
    row("pooled", doc["pooled"])
    print("--confidence  " + "  ".join(
        f"{c}: recall {v['recall']} (worst shot {v['worst_shot_recall']}), good accepted {v['good_accepted']}"
        for c, v in doc["confidence_sweep"].items()))
    if doc["missed"]:
        print("shipped below the threshold:", ", ".join(doc["missed"]))
    if "written" in doc:
        w = doc["written"]
        print(f"wrote {w['path']} (id {w['id']}): {w['metrics']}")


if __name__ == "__main__":
    sys.exit(main())
