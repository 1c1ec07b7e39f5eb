"""`--model auto`: each candidate fills the shot's keyframe checks, the best mean check PSNR fills the shot,
and the choice, its evidence and the chosen scale are recorded where QC finds them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from framefill import api
from framefill.errors import RequestError
from framefill.frames import read_exr
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.keyframe_check import CheckTriplet
from framefill.pipeline.model_choice import FLOW_MARGIN_DB, MIXES, Candidate, pick, spread_checks
from framefill.pipeline.qc import qc_sequence
from framefill.requests import FillRequest, QcRequest
from synthetic_shot import write_shot

pytestmark = pytest.mark.weights

KEYS = (1, 3, 5, 7, 9)
ALL = tuple(range(1, 10))
# Slow textured slide: DIS flow beats both networks by > 4 dB on the checks.
SLOW = {"bg_speed": 1, "fg_speed": 1}
# Faster, occluding: RIFE 4.25 beats DIS by ~0.9 dB and HDv3 by ~2 dB.
SMOOTH = {"bg_speed": 2, "fg_speed": 3}
# 20 px a frame both ways on a 160 px frame: RIFE at half its width scale wins.
HUGE = {"bg_speed": 20, "fg_speed": -20}
# The fused model at each mix (rife-4's share), in tie order.
FUSED_LABELS = [f"rife-4+hdv3@1 mix {m:g}" for m in MIXES]


def _fill(root: Path, speeds: dict[str, int], keys: tuple[int, ...] = KEYS, name: str = "out") -> tuple[str, dict]:
    rendered = write_shot(root / "keys", keys, **speeds)
    out = str(root / name / "shot.####.exr")
    result = api.fill_shot(FillRequest(rendered, out, frames=ALL, model="auto", device="cpu"))
    job = json.loads(Path(result.manifest).read_text())
    sequence = next(iter(job["sequences"].values()))
    return out, sequence


def _choice(sequence: dict) -> dict:
    return (sequence.get("job") or sequence)["model_choice"]


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    return _fill(tmp_path_factory.mktemp("slow"), SLOW)


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    return _fill(tmp_path_factory.mktemp("huge"), HUGE)


def test_a_shot_where_dis_wins_gets_dis_with_its_evidence(slow):
    out, sequence = slow
    choice = _choice(sequence)
    assert (choice["model"], choice["checks"]) == ("flow", [3, 5, 7])
    means = {c["label"]: c["mean_psnr_db"] for c in choice["candidates"]}
    # Small motion: no lower-scale candidate.
    assert list(means) == ["rife-4@1", "rife-hdv3@1", *FUSED_LABELS, "flow"]
    assert means["flow"] == max(means.values()) and means["flow"] > means["rife-4@1"] + 3.0
    assert all(len(c["psnr_db"]) == 3 for c in choice["candidates"])
    # Every fill says which model made it, at which scale, and that auto chose it.
    entries = Manifest(out).entries()
    fills = [f for f in ALL if f not in KEYS]
    for f in fills:
        assert entries[f].recipe["model"] == "flow" and entries[f].recipe["model_choice"] == "auto"
        header = read_exr(out.replace("####", f"{f:04d}")).parts[0].header
        assert json.loads(header["framefill/model"])["name"] == "flow"


def test_a_shot_where_a_network_wins_gets_it(tmp_path):
    _, sequence = _fill(tmp_path, SMOOTH)
    choice = _choice(sequence)
    means = {c["label"]: c["mean_psnr_db"] for c in choice["candidates"]}
    assert (choice["model"], choice["scale"]) == ("rife-4", 1.0)
    assert means["rife-4@1"] == max(means.values()) and means["rife-4@1"] > means["flow"] + 0.5


def test_huge_motion_adds_a_lower_rife_scale_and_qc_checks_with_it(huge):
    out, sequence = huge
    choice = _choice(sequence)
    assert choice["motion"] >= 0.04
    labels = [c["label"] for c in choice["candidates"]]
    assert labels == ["rife-4@1", "rife-hdv3@1", *FUSED_LABELS, "rife-4@0.5", "flow"]
    assert (choice["model"], choice["scale"]) == ("rife-4", 0.5)
    assert (sequence.get("job") or sequence)["rife_scale"] == 0.5
    assert Manifest(out).entries()[2].recipe["rife_scale"] == 0.5
    # QC reruns the model each fill used, at its scale: its checks are the chosen candidate's evidence.
    result = qc_sequence(QcRequest(out))
    chosen = next(c for c in choice["candidates"] if c["label"] == "rife-4@0.5")
    assert {c.frame: round(c.psnr_db, 3) for c in result.keyframe_checks} == dict(zip([3, 5, 7], chosen["psnr_db"]))


def test_the_choice_is_deterministic(slow, tmp_path):
    out, sequence = slow
    again, sequence2 = _fill(tmp_path, SLOW)
    assert _choice(sequence) == _choice(sequence2)
    first, second = Manifest(out).entries(), Manifest(again).entries()
    assert {f: e.pixel_sha256 for f, e in first.items()} == {f: e.pixel_sha256 for f, e in second.items()}


def test_no_keyframe_evidence_falls_back_to_rife_4_and_says_why(tmp_path):
    _, sequence = _fill(tmp_path, SLOW, keys=(1, 9))
    choice = _choice(sequence)
    assert (choice["model"], choice["scale"], choice["candidates"], choice["checks"]) == ("rife-4", 1.0, [], [])
    assert choice["reason"].startswith("no keyframe check") and "default rife-4" in choice["reason"]


def test_checks_are_capped_and_spread_and_auto_takes_no_weights_file(tmp_path):
    schedule = tuple(CheckTriplet(k - 2, k, k + 2) for k in range(3, 40, 2))
    assert [c.key for c in spread_checks(schedule)] == [3, 15, 27, 39]
    with pytest.raises(RequestError, match="weights"):
        FillRequest("r/shot.####.exr", "o/shot.####.exr", model="auto", weights=tmp_path / "w.pth")


def test_flow_must_lead_the_best_network_by_the_margin_and_networks_tie_to_the_earlier():
    r4, hd, fused, flow = (Candidate("rife-4", 1.0), Candidate("rife-hdv3", 1.0), Candidate("rife-4+hdv3", 1.0),
                           Candidate("flow", 1.0))
    nets = [(r4, (30.0, 31.0)), (hd, (30.5, 30.505)), (fused, (30.6, 31.3))]
    # Networks: the best mean wins; within 0.01 dB the earlier one.
    assert pick(nets)[:2] == (fused, (30.6, 31.3))
    assert pick([(r4, (30.0, 31.0)), (hd, (30.5, 30.51))])[0] == r4
    # Flow leads the best network (30.95) by less than the margin: the network fills the shot.
    just_under = 30.95 + FLOW_MARGIN_DB - 0.01
    assert pick([*nets, (flow, (just_under, just_under))])[0] == fused
    chosen, psnrs, why = pick([*nets, (flow, (32.0, 32.0))])
    assert (chosen, psnrs) == (flow, (32.0, 32.0)) and why == "flow leads the best network by over 1 dB"
