"""A person's decision in `framefill review` holds in later qc runs, and qc says it is a person's (who, when).

The shot: a small synthetic one filled by the classical flow model (no weights).
"""

from __future__ import annotations

import json

import pytest
from framefill.pipeline.fill import FillOptions, fill_sequence
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc import qc_sequence
from framefill.requests import QcRequest
from synthetic_shot import write_shot

AT = "2025-06-02T10:00:00+00:00"


@pytest.fixture
def filled(tmp_path) -> str:
    from framefill.models.interp import DisFlowInterpolator

    keys = write_shot(tmp_path / "keys", (1, 3, 5, 7, 9), fg_speed=6)
    out = str(tmp_path / "out" / "shot.####.exr")
    fill_sequence(keys, out, frames=range(1, 10), interpolator=DisFlowInterpolator(),
                  options=FillOptions(model_id="flow"))
    return out


def _decide(pattern: str, frame: int, decision: str) -> None:
    """What review's A / R key does to the manifest."""
    Manifest(pattern).update([frame], lambda e: e.with_review(decision, by="ana", at=AT))  # type: ignore[arg-type]


def test_a_later_qc_run_keeps_the_persons_decisions(filled, tmp_path):
    # GIVEN qc lists every fill (a threshold no fill reaches)
    first = qc_sequence(QcRequest(filled, threshold_db=60.0))
    assert first.rerender == (2, 4, 6, 8)
    assert all("decision" not in f.to_json() for f in first.frames)
    # WHEN a person accepts frame 4 in review
    _decide(filled, 4, "accept")
    # THEN a later qc run keeps 4 off the list and says who decided, and when
    second = qc_sequence(QcRequest(filled, threshold_db=60.0, report_dir=tmp_path / "qc"))
    assert second.rerender == (2, 6, 8)
    record = {f.frame: f.to_json() for f in second.frames}[4]
    assert record["flagged"] is False and record["decision"] == {"decision": "accept", "by": "ana", "at": AT}
    doc = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert doc["rerender_frames"] == [2, 6, 8] and doc["savings"]["frames_accepted"] == 1
    # QC's own verdict stays in the manifest beside the decision.
    entry = Manifest(filled).get(4)
    assert entry.qc["verdict"]["flagged"] is True and entry.decision()["decision"] == "accept"
    # WHEN a person sends back a frame qc accepts (a threshold every fill reaches)
    _decide(filled, 2, "rerender")
    third = qc_sequence(QcRequest(filled, threshold_db=1.0))
    assert third.rerender == (2,)
    assert {f.frame: f.to_json() for f in third.frames}[2]["decision"]["decision"] == "rerender"


def test_the_human_qc_output_names_the_decision(filled):
    import subprocess
    import sys

    _decide(filled, 6, "accept")
    proc = subprocess.run([sys.executable, "-m", "framefill", "qc", filled, "--threshold", "60"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.strip().startswith("6 "))
    assert f"no: accept by ana at {AT} (review)" in row
    assert "re-render: 2,4,8" in proc.stdout or "re-render: 2-4:2,8" in proc.stdout


def test_a_decision_on_an_older_version_of_the_frame_lapses(filled):
    from dataclasses import replace

    _decide(filled, 4, "accept")
    manifest = Manifest(filled)
    entry = manifest.get(4)
    manifest.put(4, replace(entry, review={**entry.review, "file_sha256": "0" * 64}))
    assert qc_sequence(QcRequest(filled, threshold_db=60.0)).rerender == (2, 4, 6, 8)
