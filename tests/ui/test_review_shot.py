"""The review's logic without Qt: statuses from a manifest, decisions saved atomically, ranges, the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from framefill.errors import InputError
from framefill.frames import parse_frame_range
from framefill.pipeline.manifest import Manifest
from framefill.review.shot import load_shot, nuke_range, openjd_range
from framefill.review.submit import rerender_request, submit_rerenders
from review_shots import STATUS


def test_statuses_scores_and_the_list_come_from_the_manifest_and_qc_json(flat_shot):
    shot = load_shot(flat_shot.pattern, truth=flat_shot.truth, report_dir=flat_shot.report)
    assert {f: r.status for f, r in shot.frames.items()} == STATUS
    assert shot.rerender() == (4, 6)
    assert (shot.frames[2].predicted_psnr_db, shot.frames[2].psnr_db) == (36.0, 37.5)
    assert shot.frames[4].qc_flagged is True and shot.frames[4].reason == "predicted below 30 dB"
    assert shot.threshold_db == 30.0 and shot.fps == 24.0
    assert shot.heatmap_path(2) is not None and shot.heatmap_path(1) is None
    assert shot.reference_path(4, "truth") == Path(flat_shot.truth.replace("####", "0004"))
    assert shot.reference_path(4, "before").name == "shot.0003.exr"
    assert shot.reference_path(4, "after").name == "shot.0005.exr"


def test_the_manifest_alone_gives_the_statuses(flat_shot):
    # GIVEN no report folder: the verdicts QC cached in the manifest are enough
    (flat_shot.report / "qc.json").rename(flat_shot.report / "moved.json")
    shot = load_shot(flat_shot.pattern)
    assert {f: r.status for f, r in shot.frames.items()} == STATUS
    assert shot.frames[4].psnr_db == 22.5 and shot.qc_json is None


def test_a_decision_is_saved_in_the_entry_the_merged_manifest_and_qc_json(flat_shot):
    shot = load_shot(flat_shot.pattern, report_dir=flat_shot.report)
    assert shot.decide([2], "rerender", by="ana", at="2025-01-02T03:04:05+00:00") == (2,)
    assert shot.rerender() == (2, 4, 6)
    assert shot.decide([4, 6], "accept", by="ana", at="2025-01-02T03:04:06+00:00") == (4, 6)
    assert shot.rerender() == (2,)
    manifest = Manifest(flat_shot.pattern)
    review = manifest.get(4).review
    assert review is not None and review["decision"] == "accept" and review["by"] == "ana"
    assert review["file_sha256"] == manifest.get(4).file_sha256
    merged = json.loads(manifest.path.read_text())
    frames = merged["sequences"]["shot.####.exr"]["frames"]
    assert frames["2"]["review"]["decision"] == "rerender" and frames["6"]["review"]["decision"] == "accept"
    assert frames["4"]["qc"]["verdict"]["flagged"] is True  # QC's own verdict is kept beside the person's
    doc = json.loads((flat_shot.report / "qc.json").read_text())
    assert doc["rerender"] == "2" and doc["rerender_frames"] == [2]
    by_frame = {r["frame"]: r for r in doc["frames"]}
    assert by_frame[4]["flagged"] is False and by_frame[4]["decision"] == {
        "decision": "accept", "by": "ana", "at": "2025-01-02T03:04:06+00:00"}
    assert doc["savings"]["frames_rerender"] == 1 and doc["savings"]["frames_accepted"] == 1
    # Written atomically: no temporary files are left beside them.
    leftovers = [p.name for p in Path(flat_shot.pattern).parent.rglob("*") if "tmp" in p.name.lower()]
    assert leftovers == []
    # A reload reads the decisions back; clearing one returns the frame to QC's verdict.
    again = load_shot(flat_shot.pattern, report_dir=flat_shot.report)
    assert again.rerender() == (2,) and again.frames[4].decision is not None
    again.decide([4], None)
    assert again.rerender() == (2, 4)
    assert load_shot(flat_shot.pattern).rerender() == (2, 4)


def test_rendered_frames_are_not_decided(flat_shot):
    shot = load_shot(flat_shot.pattern)
    assert shot.decide([1, 3], "rerender") == ()
    assert Manifest(flat_shot.pattern).get(1).review is None


def test_a_decision_lapses_when_the_frame_is_written_again(flat_shot):
    shot = load_shot(flat_shot.pattern)
    shot.decide([4], "accept", by="ana")
    manifest = Manifest(flat_shot.pattern)
    from dataclasses import replace

    manifest.put(4, replace(manifest.get(4), file_sha256="0" * 64))  # refilled: another file
    assert load_shot(flat_shot.pattern).frames[4].status == "rerender"


def test_ranges_for_openjd_and_nuke():
    frames = (1001, 1002, 1003, 1007)
    assert openjd_range(frames) == "1001-1003,1007"
    assert nuke_range(frames) == "1001-1003 1007"
    assert nuke_range((1002, 1004, 1006, 1010)) == "1002-1006x2 1010"


def test_a_folder_without_a_manifest_opens_and_says_decisions_need_one(flat_shot):
    folder = Path(flat_shot.pattern).parent
    (folder / "framefill.manifest.json").unlink()
    import shutil

    shutil.rmtree(folder / ".framefill")
    shot = load_shot(flat_shot.pattern)
    assert set(r.status for r in shot.frames.values()) == {"frame"} and len(shot.frames) == 7
    assert "decisions need a manifest" in (shot.no_manifest_message() or "")
    with pytest.raises(InputError, match="decisions need a manifest"):
        shot.decide([2], "accept")
    assert shot.reference_path(2, "before").name == "shot.0001.exr"


@pytest.mark.parametrize(("pattern", "error"), [
    pytest.param("nowhere/shot.####.exr", "no frames match", id="no-frames"),
    pytest.param("shot.exr", "no frames match", id="missing-single-image"),
])
def test_bad_input_is_one_line(tmp_path, pattern, error):
    from framefill.errors import FramefillError

    with pytest.raises(FramefillError, match=error) as caught:
        load_shot(str(tmp_path / pattern))
    assert "\n" not in caught.value.msg


def test_a_report_folder_without_qc_json_is_refused(flat_shot, tmp_path):
    with pytest.raises(InputError, match="no qc.json in"):
        load_shot(flat_shot.pattern, report_dir=tmp_path / "empty")


def test_the_rerender_bundle_holds_the_list(flat_shot, tmp_path):
    # GIVEN QC's list (4, held 6) and frame 2 accepted
    shot = load_shot(flat_shot.pattern, report_dir=flat_shot.report)
    request = rerender_request(shot, tmp_path / "bundle")
    assert request.kind == "sparse_pipeline" and request.keyframes == "1,3-7"
    # WHEN it is submitted without deadline[gui]: the bundle is saved
    done = submit_rerenders(shot, tmp_path / "bundle", open_gui=False)
    assert not done.opened_submitter and done.frames == (4, 6)
    values = yaml.safe_load((tmp_path / "bundle" / "parameter_values.yaml").read_text())
    params = {p["name"]: p["value"] for p in values["parameterValues"]}
    # THEN the listed frames come in as renders, and the job refills and rescores the rest
    assert set(parse_frame_range(params["Keyframes"])) == {1, 3, 4, 5, 6, 7}
    assert params["Frames"] == "1-7" and params["Filled"] == "2"
    assert params["InputPattern"] == "shot.####.exr" and params["InputDir"].endswith("keys")
    assert params["OutputDir"] == str(Path(flat_shot.pattern).parent) and params["Model"] == "flow"
    template = yaml.safe_load((tmp_path / "bundle" / "template.yaml").read_text())
    assert template["name"] == "framefill re-render 4,6"
    assert "saved" in done.message() and "for 4,6 in" in done.message()


def test_with_every_fill_listed_the_bundle_only_copies_the_renders_in(flat_shot, tmp_path):
    shot = load_shot(flat_shot.pattern)
    shot.decide([2], "rerender", by="ana")
    done = submit_rerenders(shot, tmp_path / "bundle", open_gui=False)
    assert done.bundle.kind == "fill" and done.frames == (2, 4, 6)
    values = yaml.safe_load((tmp_path / "bundle" / "parameter_values.yaml").read_text())
    assert {p["name"]: p["value"] for p in values["parameterValues"]}["Frames"] == "1-7"


def test_the_submitter_opens_when_deadline_gui_imports(flat_shot, tmp_path, monkeypatch):
    from framefill.review import submit

    started = []
    monkeypatch.setattr(submit, "gui_submitter_available", lambda: True)
    monkeypatch.setattr(submit.subprocess, "Popen", lambda argv, **kw: started.append(argv))
    done = submit.submit_rerenders(load_shot(flat_shot.pattern), tmp_path / "bundle")
    assert done.opened_submitter
    assert started and started[0][1:5] == ["-m", "deadline", "bundle", "gui-submit"]
    assert started[0][5] == str(tmp_path / "bundle")


def test_nothing_to_submit_is_one_line(flat_shot, tmp_path):
    shot = load_shot(flat_shot.pattern)
    shot.decide([4, 6], "accept")
    with pytest.raises(InputError, match="re-render list .* is empty"):
        rerender_request(shot, tmp_path / "bundle")
