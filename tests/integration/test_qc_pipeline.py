"""QC on a filled synthetic shot (classical flow model: no weights): features at fill time,
scores, caching, farm chunks, heatmaps, recomputation and the CLI document."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from framefill import api
from framefill.frames import FramePattern, pixel_sha256, read_exr
from framefill.models.interp import DisFlowInterpolator
from framefill.ops.metrics import display_proxy, psnr
from framefill.pipeline.fill import FillOptions, fill_sequence
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc import qc_sequence
from framefill.pipeline.qc_features import FEATURES_VERSION, feature_sidecar_path
from framefill.requests import FillRequest, QcRequest
from synthetic_shot import write_shot

ALL = tuple(range(1, 10))
KEYS = (1, 3, 5, 7, 9)
FILLED = (2, 4, 6, 8)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("qcshot")
    truth = write_shot(root / "truth", ALL, fg_speed=6)
    keys = write_shot(root / "keys", KEYS, fg_speed=6)
    return root, keys, truth


def _fill(keys: str, out: Path, *, qc_features: bool = True) -> str:
    pattern = str(out / "shot.####.exr")
    options = FillOptions(model_id="flow", qc_features=qc_features)
    fill_sequence(keys, pattern, frames=ALL, interpolator=DisFlowInterpolator(), options=options)
    return pattern


@pytest.fixture(scope="module")
def filled(shot):
    root, keys, _ = shot
    return _fill(keys, root / "filled")


def _copy_without_scores(src: Path, dest: Path) -> str:
    """A copy of a filled folder with the cached QC scores removed from its manifest entries."""
    shutil.copytree(src, dest)
    pattern = str(dest / "shot.####.exr")
    manifest = Manifest(pattern)
    for f, entry in manifest.entries().items():
        manifest.put(f, replace(entry, qc=None))
    manifest.publish()
    return pattern


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_features_at_fill_time_do_not_change_the_frames(shot, filled):
    root, keys, _ = shot
    plain = _fill(keys, root / "plain", qc_features=False)
    out, ref = FramePattern.parse(filled), FramePattern.parse(plain)
    for f in ALL:
        assert _sha(out.path(f)) == _sha(ref.path(f)), f"frame {f} differs when QC features are computed"
    entries = Manifest(filled).entries()
    for f in FILLED:
        record = entries[f].qc_features
        assert record["path"] == f".framefill/shot._.exr/features/{f}.exr" and record["version"] == FEATURES_VERSION
        assert (Path(filled).parent / record["path"]).is_file()
    assert all(entries[f].qc_features is None for f in KEYS)
    assert all(e.qc_features is None for e in Manifest(plain).entries().values())


def test_scores_truth_heatmaps_and_report(shot, filled, tmp_path):
    _, _, truth = shot
    result = qc_sequence(QcRequest(filled, truth=truth, report_dir=tmp_path / "qc"))
    assert [f.frame for f in result.frames] == list(FILLED)
    assert {f.source for f in result.frames} == {"sidecar"}
    tp, fp = FramePattern.parse(truth), FramePattern.parse(filled)
    for fq in result.frames:
        made = read_exr(fp.path(fq.frame)).parts[0]
        real = read_exr(tp.path(fq.frame)).parts[0]
        rgb = [np.stack([p.channels[c].astype(np.float32) for c in "RGB"], -1) for p in (made, real)]
        assert fq.psnr_db == pytest.approx(psnr(display_proxy(rgb[0]), display_proxy(rgb[1])), abs=1e-3)
        assert 0.0 <= fq.risk <= 1.0 and fq.predicted_psnr_db is not None
        assert fq.flagged == (fq.interval_db[0] < 30.0 or fq.reason.startswith("beside a failed keyframe check"))
        heat = read_exr(fq.heatmap).parts[0]
        assert sorted(heat.channels) == ["B", "G", "R", "ff_err.Y", "ff_risk.Y"]
        assert heat.data_window == made.data_window and heat.display_window == made.display_window
        assert float(heat.channels["ff_risk.Y"].min()) >= 0.0 and float(heat.channels["ff_risk.Y"].max()) <= 1.0
        png = Path(fq.heatmap).parent / "png"
        assert (png / f"shot.{fq.frame:04d}.risk.png").is_file() and (png / f"shot.{fq.frame:04d}.err.png").is_file()
    doc = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert doc["rerender_frames"] == list(result.rerender)
    assert doc["savings"]["frames_rendered"] == len(KEYS) and doc["savings"]["frames_filled"] == len(FILLED)
    assert (tmp_path / "qc" / "report.html").stat().st_size > 1000
    # Scores were cached in the manifest entries.
    entries = Manifest(filled).entries()
    for fq in result.frames:
        assert entries[fq.frame].qc["verdict"]["predicted_psnr_db"] == pytest.approx(fq.predicted_psnr_db, abs=1e-4)
        assert entries[fq.frame].qc["verdict"]["flagged"] == fq.flagged


def test_rerun_and_other_thresholds_use_the_cache(shot, filled, tmp_path):
    _, _, truth = shot
    first = qc_sequence(QcRequest(filled, truth=truth))
    again = qc_sequence(QcRequest(filled, truth=truth, threshold_db=45.0))
    assert {f.source for f in again.frames} == {"cached"}
    assert [f.predicted_psnr_db for f in again.frames] == [f.predicted_psnr_db for f in first.frames]
    # A stricter threshold flags at least as much.
    assert set(again.rerender) >= set(first.rerender)
    assert [f.flagged for f in again.frames] == [
        f.interval_db[0] < 45.0 or f.reason.startswith("beside a failed keyframe check") for f in again.frames]
    # Without the truth the key differs: rescored, same prediction, no true PSNR.
    blind = qc_sequence(QcRequest(filled))
    assert {f.source for f in blind.frames} == {"sidecar"} and all(f.psnr_db is None for f in blind.frames)
    assert [f.predicted_psnr_db for f in blind.frames] == [f.predicted_psnr_db for f in first.frames]


def test_farm_chunks_then_a_cheap_report_run(filled, tmp_path):
    out = _copy_without_scores(Path(filled).parent, tmp_path / "farm")
    for chunk in ((2, 4), (6, 8)):
        res = qc_sequence(QcRequest(out, filled=FILLED, frames=chunk))
        assert [f.frame for f in res.frames] == list(chunk) and {f.source for f in res.frames} == {"sidecar"}
    report = qc_sequence(QcRequest(out, filled=FILLED, report_dir=tmp_path / "rep"))
    assert {f.source for f in report.frames} == {"cached"}  # scores from the chunks; only heatmaps were made
    assert all(Path(f.heatmap).is_file() for f in report.frames)
    assert json.loads(Path(report.qc_json).read_text())["frames"][0]["frame"] == 2
    manifest = json.loads((tmp_path / "farm" / "framefill.manifest.json").read_text())
    assert all("qc" in manifest["sequences"]["shot.####.exr"]["frames"][str(f)] for f in FILLED)


def test_missing_sidecar_is_recomputed_with_the_manifest_model(filled, tmp_path):
    out = _copy_without_scores(Path(filled).parent, tmp_path / "f")
    with_sidecar = {f.frame: f.predicted_psnr_db for f in qc_sequence(QcRequest(out)).frames}
    feature_sidecar_path(out, 4).unlink()
    _copy_without_scores(tmp_path / "f", tmp_path / "g")
    out = str(tmp_path / "g" / "shot.####.exr")
    res = {f.frame: f for f in qc_sequence(QcRequest(out)).frames}
    assert res[4].source == "recomputed" and res[2].source == "sidecar"
    # Recomputed maps are rounded to half floats as a sidecar stores them: the same prediction, exactly.
    assert res[4].predicted_psnr_db == with_sidecar[4]


def test_held_frames_are_on_the_list_without_a_score(tmp_path):
    from framefill.frames import image_from_arrays, write_exr

    rng = np.random.default_rng(3)
    for f, colour in ((1, (0.8, 0.2, 0.1)), (3, (0.05, 0.3, 0.9))):
        base = rng.random((64, 96)).astype(np.float32) * 0.3
        write_exr(tmp_path / "in" / f"cut.{f:04d}.exr",
                  image_from_arrays({c: (base + v).astype(np.float16) for c, v in zip("RGB", colour)}))
    out = str(tmp_path / "out" / "cut.####.exr")
    api.fill_shot(FillRequest(str(tmp_path / "in" / "cut.####.exr"), out, model="flow", device="cpu"))
    res = qc_sequence(QcRequest(out))
    assert [(f.frame, f.status, f.flagged, f.risk) for f in res.frames] == [(2, "held", True, None)]
    assert res.rerender == (2,)


def test_cli_json_and_events(shot, filled, tmp_path):
    _, _, truth = shot
    argv = [sys.executable, "-m", "framefill", "qc", filled, "--filled", "2-8:2", "--truth", truth, "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    flagged = [f["frame"] for f in doc["frames"] if f["flagged"]]
    assert doc["rerender_frames"] == flagged
    from framefill.frames import format_frame_range

    assert doc["rerender"] == format_frame_range(flagged)
    assert doc["rerender_nuke"] == format_frame_range(flagged, style="nuke")
    assert doc["threshold_db"] == 30.0 and doc["truth"] == truth and "recall" in doc
    events = subprocess.run([*argv[:-1], "--frames", "2,4", "--events"], capture_output=True, text=True)
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert [e["frame"] for e in lines if e["kind"] == "frame"] == [2, 4]
    assert lines[-1]["kind"] == "done" and lines[-1]["data"]["rerender_frames"] == [f for f in flagged if f <= 4]


def test_pixels_of_the_filled_frames_are_untouched_by_qc(shot, filled, tmp_path):
    before = {f: pixel_sha256(read_exr(FramePattern.parse(filled).path(f))) for f in ALL}
    qc_sequence(QcRequest(filled, report_dir=tmp_path / "r"))
    assert {f: pixel_sha256(read_exr(FramePattern.parse(filled).path(f))) for f in ALL} == before
