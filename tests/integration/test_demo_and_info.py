"""The README's main job (`framefill demo`) and `framefill info` on the bundled sample shot."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ffpaths import SAMPLE_PATTERN

SAMPLE_CHANNELS = ["A", "B", "G", "R", "IndexOB.X", "N.X", "N.Y", "N.Z", "depth.Z"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True)


def test_info_lists_frames_passes_and_channels():
    proc = _cli("info", SAMPLE_PATTERN, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["frames"] == "1001-1024" and info["missing"] == "" and info["present_count"] == 24
    assert info["resolution"] == [480, 270]
    (part,) = info["parts"]
    channels = sorted(ch for layer in part["layers"].values() for ch in layer)
    assert channels == sorted(SAMPLE_CHANNELS)
    assert set(part["layers"]) == {"(rgba)", "IndexOB", "N", "depth"}
    assert part["layers"]["(rgba)"]["R"] == "half"


def test_info_reports_missing_frames(tmp_path):
    import shutil

    for f in (1001, 1002, 1005):
        shutil.copyfile(SAMPLE_PATTERN.replace("####", str(f)), tmp_path / f"s.{f}.exr")
    info = json.loads(_cli("info", str(tmp_path / "s.####.exr"), "--json").stdout)
    assert info["missing"] == "1003-1004" and info["missing_count"] == 2


@pytest.mark.weights
def test_demo_scores_rife_above_flow_above_blend(tmp_path, model_files):
    model_files("rife-4")
    proc = _cli("demo", "--out", str(tmp_path), "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    means = doc["mean_psnr_db"]
    assert means["rife-4"] > means["flow"] > means["blend"], means
    assert doc["filled"] == "1002-1022:2" and len(doc["psnr_db"]["rife-4"]) == 11
    assert (tmp_path / "summary.md").read_text().count("| 10") == 11
    assert json.loads((tmp_path / "summary.json").read_text())["mean_psnr_db"] == means
