"""``framefill qc``: per-frame risk of filled frames, heatmaps and the re-render list;
``framefill qc calibrate``: fit the risk model on fully rendered shots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command
from framefill.commands.colorspaces import COLOR_FLAGS, recorded_color_options

# The flag that sets each QcRequest field, so an error names what was typed.
FLAGS = {"pattern": "PATTERN", "filled": "--filled", "threshold_db": "--threshold", "report_dir": "--report",
         "cost_per_frame_min": "--cost-per-frame", "confidence": "--confidence", "keyframe_check": "--keyframe-check",
         **COLOR_FLAGS}


class _QcGroup(click.Group):
    """``qc PATTERN ...`` runs the hidden ``score`` command; ``qc calibrate ...`` the named one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["score", *args]
        return super().parse_args(ctx, args)


@cli.group("qc", cls=_QcGroup)
def qc_group() -> None:
    """Which filled frames are bad, without the real render.

    \b
    framefill qc PATTERN [--filled RANGE] [--frames CHUNK] [--truth PATTERN] [--report DIR]
                 [--threshold DB] [--confidence P] [--no-keyframe-check]
                 [--calibration FILE] [--cost-per-frame MIN]
    framefill qc calibrate PATTERN... --out FILE [--every 2,3] [--model rife-4]

    `framefill qc PATTERN --help` lists the scoring options.
    """


def _human(payload: dict[str, Any]) -> None:
    checks = payload.get("keyframe_checks", [])
    if checks:
        click.echo("keyframe checks (rendered frame filled from its rendered neighbours, true PSNR): " + ", ".join(
            f"{c['frame']} (cut)" if c.get("cut") else f"{c['frame']} {c['psnr_db']:.1f} dB"
            if c.get("psnr_db") is not None else f"{c['frame']} (not finite)"
            for c in checks))
    click.echo(f"{'frame':>7}  {'status':<7} {'pred dB':>8} {'interval':>11} {'true dB':>8}  {'basis':<14} re-render")
    for f in payload["frames"]:
        pred = f"{f['predicted_psnr_db']:.2f}" if "predicted_psnr_db" in f else ""
        lo_hi = f.get("interval_db")
        interval = f"{lo_hi[0]:.1f}-{lo_hi[1]:.1f}" if lo_hi else ""
        true = f"{f['psnr_db']:.2f}" if "psnr_db" in f else ""
        why = f"yes: {f['reason']}" if f["flagged"] else ""
        if "decision" in f:  # a person's decision in `framefill review`
            d = f["decision"]
            why = f"{'yes' if f['flagged'] else 'no'}: {d['decision']} by {d['by']} at {d['at']} (review)"
        basis = f.get("basis", "")
        click.echo(f"{f['frame']:>7}  {f['status']:<7} {pred:>8} {interval:>11} {true:>8}  {basis:<14} {why}")
    s = payload["savings"]
    click.echo(f"re-render: {payload['rerender'] or '(none)'}   (Nuke: {payload['rerender_nuke'] or '-'})")
    click.echo(f"{s['frames_rendered']} rendered, {s['frames_filled']} filled, {s['frames_held']} held, "
               f"{s['frames_rerender']} to re-render: {s['render_minutes_saved'] / 60:.1f} h of rendering saved "
               f"at {s['cost_per_frame_min']:g} min/frame")
    if "recall" in payload:
        click.echo(f"true PSNR below {payload['threshold_db']:g} dB: {payload['true_below_threshold'] or '(none)'}; "
                   f"recall {payload['recall'] if payload['recall'] is not None else 'n/a'}")
    if payload.get("report"):
        click.echo(f"report: {payload['report']}")


def _number(text: str | None) -> float | str | None:
    """An option's text as a number, or as given when it is not one (the request names the option and what it takes)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


@qc_group.command("score", hidden=True)
@click.argument("pattern")
@click.option("--filled", "filled_text", help="The frames that were filled, e.g. 1002-1100:2 "
                                             "(default: every filled or held frame in the manifest).")
@click.option("--frames", "frames_text", help="Score only these of the filled frames (a farm chunk).")
@click.option("--truth", help="Pattern of real renders of the same frames: adds the true error, PSNR and SSIM.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Write heatmaps (EXR + PNG), report.html and qc.json here.")
@click.option("--threshold", "threshold_text", default=None,
              help="PSNR (dB) below which a filled frame must be re-rendered [default: 30].")
@click.option("--confidence", "confidence_text", default=None,
              help="How sure QC must be that an accepted frame is above the threshold, 0.5 to below 1 "
                   "[default: the calibration's].")
@click.option("--keyframe-check/--no-keyframe-check", default=True, show_default=True,
              help="Fill each rendered frame from its rendered neighbours and use the measured error as evidence.")
@click.option("--calibration", type=click.Path(dir_okay=False, exists=True),
              help="A calibration from `framefill qc calibrate` (default: the shipped one).")
@click.option("--cost-per-frame", type=float, default=None,
              help="Farm minutes per rendered frame, for the savings [default: 30].")
@click.option("--device", default="cpu", show_default=True,
              help="Where the model runs for the keyframe checks and for features of frames filled by an older "
                   "framefill.")
@recorded_color_options
@output_options
def score_command(pattern: str, filled_text: str | None, frames_text: str | None, truth: str | None,
                  report_dir: str | None, threshold_text: str | None, confidence_text: str | None,
                  keyframe_check: bool, calibration: str | None, cost_per_frame: float | None, device: str,
                  color_config: str | None, colorspace: str | None, json_mode: bool, events_mode: bool,
                  quiet: bool) -> None:
    """Score the filled frames of PATTERN and print the frames that still need a real render.

    The shot checks itself: each rendered frame with rendered neighbours is
    filled from them and compared with its real render (a keyframe check).
    A filled frame is accepted only when the evidence says it is above
    --threshold with --confidence: the checks beside its gap where there are
    any (a failed one lists it), else its no-reference features. Prints each
    filled frame's predicted PSNR with its interval, the basis and, for a
    listed frame, the reason; then the re-render list as an OpenJD range and a
    Nuke range. Scores and checks are cached in the manifest, so a rerun or a
    retried farm chunk skips them. Exit code 0 even when frames are listed:
    the list is the result.
    """
    from framefill import api
    from framefill.requests import QcRequest, parse_frames

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out), named_flags(FLAGS):
        threshold, confidence = _number(threshold_text), _number(confidence_text)
        request = QcRequest(pattern, filled=parse_frames(filled_text, field="filled"), frames=parse_frames(frames_text),
                            truth=truth, report_dir=Path(report_dir) if report_dir else None,
                            threshold_db=threshold,  # type: ignore[arg-type]  # the request refuses a non-number
                            calibration=Path(calibration) if calibration else None,
                            cost_per_frame_min=cost_per_frame, device=device, keyframe_check=keyframe_check,
                            confidence=confidence,  # type: ignore[arg-type]  # the request refuses a non-number
                            color_config=color_config, colorspace=colorspace)
        payload = api.qc_shot(request, report=out.report).to_json()
        out.result(payload, lambda: _human(payload))


@qc_group.command("calibrate")
@click.argument("patterns", nargs=-1, required=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True,
              help="Where to write the calibration (JSON).")
@click.option("--every", "every_text", default="2,3", show_default=True,
              help="Keep every Nth frame when simulating sparse renders; a comma list.")
@click.option("--model", default="rife-4", show_default=True, help="The interpolation model to calibrate.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (for the fills).")
@click.option("--work", "work_dir", type=click.Path(file_okay=False),
              help="Folder for the fills (default: beside --out); a rerun resumes them.")
@click.option("--threshold", type=float, default=30.0, show_default=True,
              help="PSNR (dB) that counts as bad when choosing the operating point.")
@output_options
def calibrate_command(patterns: tuple[str, ...], out_path: str, every_text: str, model: str, device: str,
                      work_dir: str | None, threshold: float, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Fit the QC calibration on shots where EVERY frame was rendered (PATTERN...).

    For each shot and each --every: keep every Nth frame, fill the others with
    --model, measure them against the real renders, then fit the pixel model
    (logistic regression), the frame model (ridge regression of PSNR, weight
    chosen leave-one-shot-out) and the operating point (recall first). Use
    several different shots: the fit is only as general as they are.
    """
    from framefill import api
    from framefill.errors import InputError

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        try:
            every = tuple(int(v) for v in every_text.split(",") if v.strip())
        except ValueError:
            raise InputError(f"--every must be a comma list of whole numbers such as 2,3; got {every_text!r}") from None
        if not every or min(every) < 2:
            raise InputError(f"--every needs numbers of 2 or more (frames kept one in N); got {every_text!r}")
        cal = api.calibrate_qc(list(patterns), out=out_path, every=every, model=model, device=device,
                               work_dir=Path(work_dir) if work_dir else None, threshold_db=threshold,
                               report=out.report)
        payload = {"calibration": out_path, "id": cal.id, "confidence": cal.confidence, "sigma_db": cal.sigma_db,
                   "keyframe_sigma_db": cal.keyframe_sigma_db if cal.keyframe_model is not None else None,
                   "trained_on": cal.trained_on, "metrics": cal.metrics}

        def human() -> None:
            m = cal.metrics
            click.echo(f"wrote {out_path} (id {cal.id}): {m.get('frames')} frames, {m.get('frames_below_threshold')} "
                       f"below {threshold:g} dB; leave-one-shot-out AUC {m.get('oof_auc')}, "
                       f"Spearman {m.get('oof_spearman_vs_mse')}, rmse {m.get('oof_rmse_db')} dB "
                       f"(with keyframe checks {m.get('keyframe_oof_rmse_db')} dB); accept a fill at "
                       f"{cal.confidence:.1%} confidence")

        out.result(payload, human)
