"""How well QC predicts which filled frames are bad, on scenes the calibration never saw.

    PYTHONPATH=core .venv/bin/python bench/qc.py [--split loso|fixed] [--scenes a,b,..]
                                                 [--train a,b,..] [--test x,y,..] [--every 2,3]
                                                 [--model rife-4] [--threshold 30] [--work DIR]
                                                 [--write-default FILE] [--json] [--cuts]

1. Every scene of the QC family is rendered once through bench/scenes/ensure.py (cached under
   ~/.cache/framefill/scenes); `sample` is the bundled sample shot as committed.
2. For each scene and each --every, every Nth frame is kept, the rest filled with --model
   (resumable fills under --work, default ~/.cache/framefill/qc-bench), and each filled frame is
   measured against its real render (PSNR of the sRGB proxy).
3. Held-out scoring. --split loso (default): each scene is scored by a calibration fitted, exactly
   as `framefill qc calibrate` fits, on the OTHER scenes only (its ridge weight and margin are
   chosen by leave-one-scene-out among those); the scores of all scenes are then pooled.
   --split fixed: one calibration fitted on --train, scored on --test.
4. For "true PSNR < threshold" (ROC AUC) and the true error (Spearman with the MSE):
     combined          the calibration's per-frame risk P(PSNR < threshold)
     angle_std fitted  the same ridge frame model, fitted on the same training frames, reading only
                       statistics of the local flow-angle deviation (mean, 90th percentile)
     angle_std mean    the frame's mean local flow-angle deviation, no fitting (the published baseline)
   plus the recall and flag rate of the re-render list at each calibration's operating point.

--write-default FILE also fits on every scene but `sample` (the end-to-end test's shot, so it stays
unseen) and writes that calibration: what ships as core/framefill/data/qc_calibration.json.
--cuts only measures ops.cuts.cut_score on frame pairs 1-4 apart (how CUT_THRESHOLD was set).
Exits 1 if the combined score does not beat angle-std alone on AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))
sys.path.insert(0, str(REPO / "bench" / "scenes"))

from framefill.events import Event  # noqa: E402
from framefill.ops.errormaps import roc_auc, spearman  # noqa: E402
from framefill.pipeline.calibration import BASELINE_AGGREGATES  # noqa: E402
from framefill.pipeline.qc_calibrate import (  # noqa: E402
    PSNR_FIT_RANGE_DB,
    TrainingFrame,
    collect_training_frames,
    fit_calibration,
    fit_frame_model,
    frame_table,
)

ALL_SCENES = ("sample", "fast_spin", "trip_fall", "whip_pan", "thin_structures", "motion_blur", "particles", "cut",
              "easy_drift", "easy_pan")
# For --split fixed: held out are the sample shot (the end-to-end test's shot) and four QC
# scenes that cover a fall, thin structures, particles and an easy pan.
DEFAULT_TRAIN = ("fast_spin", "whip_pan", "motion_blur", "cut", "easy_drift")
DEFAULT_TEST = ("sample", "trip_fall", "thin_structures", "particles", "easy_pan")


def scene_pattern(name: str) -> str:
    """The full-render pattern of a scene: the bundled sample, or a cached render of the QC family."""
    if name == "sample":
        return str(REPO / "core" / "framefill" / "data" / "sample_shot" / "shot.####.exr")
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
    """Fit on `train` exactly as `framefill qc calibrate` does, then score `test` with every method."""
    cal = fit_calibration(train, threshold_db=threshold)
    pred = cal.frame_model.decision(frame_table(test, cal, cal.frame_model.inputs))
    # Angle std, fitted: the same ridge frame model on the baseline's statistics, same training frames.
    base_fit = fit_frame_model(frame_table(train, None, BASELINE_AGGREGATES), np.array([f.psnr_db for f in train]),
                               [f.scene for f in train], BASELINE_AGGREGATES)
    return {
        "calibration": cal,
        "pred": pred,
        "risk": np.array([cal.risk(p, threshold) for p in pred]),
        "flagged": np.array([cal.flagged(p, threshold) for p in pred]),
        "base_pred": base_fit.model.decision(frame_table(test, None, BASELINE_AGGREGATES)),
        # Angle std, raw: the frame's mean local flow-angle deviation, no fitting.
        "raw": frame_table(test, None, ("angle_std_mean",))[:, 0],
        "margin": np.full(len(test), cal.margin_db),
    }


def evaluate(test: list[TrainingFrame], out: dict, threshold: float) -> dict:
    """AUC / Spearman / recall / flag rate of held-out predictions (`out` as predict_fold returns, concatenated)."""
    psnr = np.array([f.psnr_db for f in test])
    mse = 10.0 ** (-psnr / 10.0)
    bad = psnr < threshold
    flagged = out["flagged"]

    def row(score: np.ndarray) -> dict:
        return {"auc": round(roc_auc(score, bad), 4), "spearman_vs_mse": round(spearman(score, mse), 4)}

    per_scene = {}
    for name in sorted({f.scene for f in test}):
        sel = np.array([f.scene == name for f in test])
        per_scene[name] = {
            "frames": int(sel.sum()), "below_threshold": int(bad[sel].sum()),
            "combined_auc": _r(roc_auc(out["risk"][sel], bad[sel])),
            "angle_std_fitted_auc": _r(roc_auc(-out["base_pred"][sel], bad[sel])),
            "recall": _r(float(flagged[sel][bad[sel]].mean()) if bad[sel].any() else float("nan")),
            "flag_rate": round(float(flagged[sel].mean()), 4),
            "margin_db": round(float(out["margin"][sel][0]), 3),
        }
    return {
        "test_frames": len(test),
        "test_below_threshold": int(bad.sum()),
        "combined": {**row(out["risk"]),
                     "recall_at_operating_point": _r(float(flagged[bad].mean()) if bad.any() else float("nan")),
                     "flag_rate": round(float(flagged.mean()), 4),
                     "rmse_db": round(float(np.sqrt(np.mean((np.clip(psnr, *PSNR_FIT_RANGE_DB) - out["pred"]) ** 2))),
                                      3)},
        "angle_std_fitted": row(-out["base_pred"]),
        "angle_std_mean": row(out["raw"]),
        "per_scene": per_scene,
        "missed": [f"{f.scene}:{f.frame}(every {f.every}, {f.psnr_db:.1f} dB, predicted {p:.1f})"
                   for f, p, b, fl in zip(test, out["pred"], bad, flagged) if b and not fl],
    }


def leave_one_scene_out(frames: list[TrainingFrame], threshold: float, verbose: bool) -> tuple[list, dict]:
    """Every scene scored by a calibration fitted on all the other scenes (margin chosen among those too)."""
    order: list[TrainingFrame] = []
    parts: list[dict] = []
    for name in sorted({f.scene for f in frames}):
        train = [f for f in frames if f.scene != name]
        test = [f for f in frames if f.scene == name]
        out = predict_fold(train, test, threshold)
        out.pop("calibration")
        order += test
        parts.append(out)
        if verbose:
            print(f"fold {name}: margin {out['margin'][0]:.2f} dB", file=sys.stderr, flush=True)
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
    ap.add_argument("--every", default="2,3")
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
        cal = out.pop("calibration")
        split = {"train_scenes": train_names, "test_scenes": test_names, "calibration_id": cal.id,
                 "margin_db": cal.margin_db}
    else:
        test, out = leave_one_scene_out(frames, args.threshold, verbose)
        split = {"scenes": names, "protocol": "each scene scored by a calibration fitted on the other scenes "
                                              "(ridge weight and margin chosen by leave-one-scene-out inside them)"}
    result = evaluate(test, out, args.threshold)
    if args.write_default:
        shipped = [f for f in frames if f.scene != "sample"]
        cal = fit_calibration(shipped, threshold_db=args.threshold, trained_on={
            "scenes": sorted({f.scene for f in shipped}), "every": every, "model": args.model,
            "frames": len(shipped), "held_out": ["sample"],
            "renders": "bench/scenes (Blender 5.0.1 Cycles, 320x180, 32 frames, 16 spp)"})
        cal.save(args.write_default)
        split["written"] = {"path": str(args.write_default), "id": cal.id, "margin_db": cal.margin_db,
                            "metrics": cal.metrics}
    doc = {"threshold_db": args.threshold, "model": args.model, "every": every, "split": args.split, **split,
           **result}
    if args.json:
        print(json.dumps(doc, indent=1, sort_keys=True))
    else:
        where = (f"held-out scenes {', '.join(test_names)}, trained on {', '.join(train_names)}"
                 if args.split == "fixed" else f"leave-one-scene-out over {len(names)} scenes")
        print(f"{where}: {result['test_frames']} filled frames, {result['test_below_threshold']} below "
              f"{args.threshold:g} dB; every {','.join(map(str, every))}; model {args.model}")
        print(f"{'score':<20}{'ROC AUC':>10}{'Spearman':>10}   (Spearman: risk vs true MSE)")
        for key in ("combined", "angle_std_fitted", "angle_std_mean"):
            print(f"{key:<20}{result[key]['auc']:>10.3f}{result[key]['spearman_vs_mse']:>10.3f}")
        c = result["combined"]
        print(f"operating point (re-render when predicted PSNR < threshold + margin): recall "
              f"{c['recall_at_operating_point']}, flag rate {c['flag_rate']}; prediction rmse {c['rmse_db']} dB")
        for name, sc in result["per_scene"].items():
            print(f"  {name:<16} {sc}")
        if result["missed"]:
            print("missed:", ", ".join(result["missed"]))
        if "written" in split:
            w = split["written"]
            print(f"wrote {w['path']} (id {w['id']}, margin {w['margin_db']} dB): {w['metrics']}")
    return 0 if result["combined"]["auc"] > result["angle_std_fitted"]["auc"] and \
        result["combined"]["auc"] > result["angle_std_mean"]["auc"] else 1


if __name__ == "__main__":
    sys.exit(main())
