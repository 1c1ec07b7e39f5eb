"""QC on filled synthetic shots (classical flow model: no weights) under hostile conditions:
NaN/Inf frames, features and real renders; a neighbour's sidecar gone; two sequences whose
names blur together; hand-edited cached scores."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from framefill.frames import FramePattern, read_exr, write_exr
from framefill.frames.exr import ExrImage, ExrPart
from framefill.models.interp import DisFlowInterpolator
from framefill.pipeline.calibration import NOT_FINITE_REASON, default_calibration
from framefill.pipeline.fill import FillOptions, fill_sequence
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc import _Scorer, qc_sequence
from framefill.pipeline.qc_features import (
    feature_sidecar_path,
    read_feature_sidecar,
    write_feature_sidecar,
)
from framefill.requests import QcRequest
from synthetic_shot import write_shot

ALL = tuple(range(1, 10))
KEYS = (1, 3, 5, 7, 9)
FILLED = (2, 4, 6, 8)


def _fill(keys: str, pattern: str) -> str:
    fill_sequence(keys, pattern, frames=ALL, interpolator=DisFlowInterpolator(),
                  options=FillOptions(model_id="flow"))
    return pattern


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    truth = write_shot(root / "truth", ALL, fg_speed=6)
    keys = write_shot(root / "keys", KEYS, fg_speed=6)
    filled = _fill(keys, str(root / "filled" / "shot.####.exr"))
    return root, keys, truth, filled


def _copy(filled: str, dest: Path) -> str:
    """A copy of a filled folder without cached QC scores (the fill's sidecars kept)."""
    shutil.copytree(Path(filled).parent, dest)
    pattern = str(dest / Path(filled).name)
    manifest = Manifest(pattern)
    for f, entry in manifest.entries().items():
        manifest.put(f, replace(entry, qc=None))
    manifest.publish()
    return pattern


def _beauty_to(path: str, value: float) -> None:
    """Set every beauty pixel of an EXR to ``value`` (a NaN fill, a broken real render)."""
    image = read_exr(path)
    parts = []
    for part in image.parts:
        channels = {n: np.full_like(c, value) if n in ("R", "G", "B") else c for n, c in part.channels.items()}
        parts.append(ExrPart(name=part.name, channels=channels, header=dict(part.header), linear=set(part.linear)))
    write_exr(path, ExrImage(parts=parts))


def _strict_json(path: str | Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}, which is not JSON")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


# ---------------------------------------------------------------------------------------
# Fails closed
# ---------------------------------------------------------------------------------------


def test_a_frame_whose_features_are_nan_is_listed(shot, tmp_path):
    _, _, truth, filled = shot
    out = _copy(filled, tmp_path / "f")
    # Frame 4's features are NaN (a fill from a source with NaN, a model that overflowed).
    sidecar = read_feature_sidecar(feature_sidecar_path(out, 4))
    write_feature_sidecar(out, 4, {k: np.full_like(v, np.nan) for k, v in sidecar.maps.items()}, t=0.5,
                          canvas=sidecar.canvas)
    res = qc_sequence(QcRequest(out, truth=truth, report_dir=tmp_path / "rep"))
    by = {f.frame: f for f in res.frames}
    assert math.isnan(by[4].predicted_psnr_db) and math.isnan(by[4].risk)
    assert 4 in res.rerender and by[4].reason.startswith(NOT_FINITE_REASON)
    # Its neighbours read its motion for their context: unknown, it counts as absent (as at a shot's edge).
    for f in (2, 6):
        assert math.isfinite(by[f].predicted_psnr_db) and not by[f].reason.startswith(NOT_FINITE_REASON)
    # The cached score keeps failing closed; the documents are standard JSON and say what is not finite.
    doc = _strict_json(tmp_path / "rep" / "qc.json")
    frame4 = next(f for f in doc["frames"] if f["frame"] == 4)
    assert frame4["not_finite"] == ["predicted_psnr_db", "risk", "interval_db"] and frame4["flagged"]
    assert 4 in doc["rerender_frames"]
    _strict_json(Path(out).parent / "framefill.manifest.json")
    assert "<td>NaN</td>" in (tmp_path / "rep" / "report.html").read_text()
    again = {f.frame: f for f in qc_sequence(QcRequest(out, truth=truth)).frames}
    assert again[4].source == "cached" and again[4].flagged and again[4].reason == by[4].reason


def test_a_nan_filled_frame_is_listed_and_its_true_psnr_is_not_100_db(shot, tmp_path):
    _, _, truth, filled = shot
    out = _copy(filled, tmp_path / "f")
    _beauty_to(FramePattern.parse(out).path(6), math.nan)  # its features (from the fill) are fine
    res = qc_sequence(QcRequest(out, truth=truth, report_dir=tmp_path / "rep"))
    by = {f.frame: f for f in res.frames}
    assert math.isfinite(by[6].predicted_psnr_db)
    assert by[6].flagged and by[6].reason.startswith(NOT_FINITE_REASON)
    assert "pixels of the filled frame" in by[6].reason and "true psnr_db" in by[6].reason
    assert math.isnan(by[6].psnr_db) and math.isnan(by[6].ssim)  # was 100.00 dB
    assert 6 in res.below_threshold()
    frame6 = next(f for f in _strict_json(tmp_path / "rep" / "qc.json")["frames"] if f["frame"] == 6)
    assert frame6["not_finite"] == ["psnr_db", "ssim"] and "psnr_db" not in frame6
    # Without the truth the frame is still listed: its pixels are not finite.
    blind = {f.frame: f for f in qc_sequence(QcRequest(out)).frames}
    assert blind[6].flagged and "pixels of the filled frame" in blind[6].reason


def test_an_inf_pixel_lists_the_frame(shot, tmp_path):
    _, _, _, filled = shot
    out = _copy(filled, tmp_path / "f")
    _beauty_to(FramePattern.parse(out).path(8), math.inf)
    by = {f.frame: f for f in qc_sequence(QcRequest(out)).frames}
    assert by[8].flagged and "pixels of the filled frame" in by[8].reason


def test_a_nan_real_render_lists_the_frame(shot, tmp_path):
    _, _, truth, filled = shot
    out = _copy(filled, tmp_path / "f")
    shutil.copytree(Path(truth).parent, tmp_path / "truth")
    bad_truth = str(tmp_path / "truth" / Path(truth).name)
    _beauty_to(FramePattern.parse(bad_truth).path(2), math.nan)
    by = {f.frame: f for f in qc_sequence(QcRequest(out, truth=bad_truth)).frames}
    assert math.isnan(by[2].psnr_db) and by[2].flagged and "true psnr_db" in by[2].reason


# ---------------------------------------------------------------------------------------
# The prediction does not depend on what is cached
# ---------------------------------------------------------------------------------------


def _exact(pattern: str) -> dict[int, tuple[float, dict[str, float]]]:
    """Each filled frame's unrounded prediction and statistics, as qc computes them."""
    scorer = _Scorer(pattern, default_calibration(), truth=None, device="cpu", report=lambda e: None)
    entries = scorer.manifest.entries()
    out = {}
    for f in FILLED:
        part = read_exr(FramePattern.parse(pattern).path(f)).parts[0]
        maps, _ = scorer.maps(f, entries[f], part.data_window)
        pred = scorer.cal.predict(maps, scorer.context(entries, f))
        out[f] = (pred.predicted_psnr_db, pred.aggregates)
    return out


@pytest.mark.parametrize("damage", ["deleted", "unreadable"])
def test_a_neighbours_missing_sidecar_changes_no_prediction(shot, tmp_path, damage):
    _, _, _, filled = shot
    out = _copy(filled, tmp_path / "f")
    before = {f.frame: f for f in qc_sequence(QcRequest(out)).frames}
    # Frame 4 is the neighbour of frames 2 and 6: in a copy without cached scores, its sidecar goes.
    out2 = _copy(out, tmp_path / "g")
    path = feature_sidecar_path(out2, 4)
    path.unlink() if damage == "deleted" else path.write_bytes(b"not an exr")
    after = {f.frame: f for f in qc_sequence(QcRequest(out2)).frames}
    assert after[4].source == "recomputed" and {after[f].source for f in (2, 6, 8)} == {"sidecar"}
    for f in FILLED:
        assert (after[f].predicted_psnr_db, after[f].flagged, after[f].aggregates) == \
               (before[f].predicted_psnr_db, before[f].flagged, before[f].aggregates), f"frame {f}"
    assert _exact(out2) == _exact(out)  # bit-identical floats, not merely close


# ---------------------------------------------------------------------------------------
# Two sequences in one folder
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [("日本", "中国"), ("a b", "a_b")])
def test_two_sequences_in_one_folder_keep_their_own_entries_and_scores(shot, tmp_path, a, b):
    _, keys, _, _ = shot
    slow_keys = write_shot(tmp_path / "slow", KEYS, fg_speed=1)
    pa, pb = (str(tmp_path / "out" / f"{n}.####.exr") for n in (a, b))
    _fill(keys, pa)
    _fill(slow_keys, pb)
    alone = _fill(keys, str(tmp_path / "alone" / f"{a}.####.exr"))
    ma, mb = Manifest(pa), Manifest(pb)
    assert ma.entries()[2].recipe["sources"] != mb.entries()[2].recipe["sources"]
    assert ma.entries()[2].recipe == Manifest(alone).entries()[2].recipe
    ra = {f.frame: f.predicted_psnr_db for f in qc_sequence(QcRequest(pa)).frames}
    rb = {f.frame: f.predicted_psnr_db for f in qc_sequence(QcRequest(pb)).frames}
    assert ra == {f.frame: f.predicted_psnr_db for f in qc_sequence(QcRequest(alone)).frames}
    assert ra != rb
    assert ma.entries_dir != mb.entries_dir
    # Scoring one never touches the other's cached scores.
    again = qc_sequence(QcRequest(pa)).frames
    assert {f.source for f in again} == {"cached"} and {f.frame: f.predicted_psnr_db for f in again} == ra
    doc = _strict_json(tmp_path / "out" / "framefill.manifest.json")
    assert set(doc["sequences"]) == {f"{a}.####.exr", f"{b}.####.exr"}


# ---------------------------------------------------------------------------------------
# Hand-edited caches
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda qc: qc.update(predicted_psnr_db="high"), id="predicted-string"),
        pytest.param(lambda qc: qc.pop("predicted_psnr_db"), id="predicted-missing"),
        pytest.param(lambda qc: qc.update(aggregates=[1, 2]), id="aggregates-array"),
        pytest.param(lambda qc: qc["aggregates"].update(log_mean_residual_sq="x"), id="aggregate-string"),
        pytest.param(lambda qc: qc.update(psnr_db=True), id="psnr-bool"),
        pytest.param(lambda qc: qc.update(nonfinite_pixels="many"), id="pixels-string"),
    ],
)
def test_a_hand_edited_cached_score_is_rescored(shot, tmp_path, edit):
    _, _, _, filled = shot
    out = _copy(filled, tmp_path / "f")
    first = {f.frame: f.predicted_psnr_db for f in qc_sequence(QcRequest(out)).frames}
    manifest = Manifest(out)
    entry = manifest.get(4)
    qc = json.loads(json.dumps(entry.qc))
    edit(qc)
    manifest.put(4, replace(entry, qc=qc))
    res = {f.frame: f for f in qc_sequence(QcRequest(out)).frames}
    assert res[4].source == "sidecar" and res[4].predicted_psnr_db == first[4]
    assert {res[f].source for f in (2, 6, 8)} == {"cached"}


# ---------------------------------------------------------------------------------------
# Calibration data
# ---------------------------------------------------------------------------------------


def test_calibration_leaves_out_a_frame_whose_real_render_has_nan(tmp_path):
    from framefill.pipeline.qc_calibrate import collect_training_frames

    truth = write_shot(tmp_path / "truth", ALL, fg_speed=6)
    _beauty_to(FramePattern.parse(truth).path(4), math.nan)  # frame 4 is filled and measured against this
    events = []
    frames = collect_training_frames(truth, scene="s", every=2, work_dir=tmp_path / "work", model="flow",
                                     report=events.append)
    assert [f.frame for f in frames] == [2, 6, 8]
    assert all(math.isfinite(f.psnr_db) and math.isfinite(f.ssim) for f in frames)
    warnings = [e.message for e in events if e.kind == "warning"]
    assert len(warnings) == 1 and "frame 4 left out of the fit" in warnings[0]
