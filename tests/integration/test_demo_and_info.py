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


# ---------------------------------------------------------------------------
# info on stills, damaged files and unreadable sequences
# ---------------------------------------------------------------------------


def _info(*args: str):  # type: ignore[no-untyped-def]
    """Run ``framefill info`` in this process (the CLI is the same code; a subprocess costs seconds)."""
    from click.testing import CliRunner
    from framefill.cli import _attach_subcommands, cli

    _attach_subcommands()
    return CliRunner().invoke(cli, ["info", *args], catch_exceptions=False)


@pytest.fixture
def sample_frame() -> str:
    return SAMPLE_PATTERN.replace("####", "1001")


@pytest.mark.parametrize("name", ["beauty.exr", "Rec709.exr", "GoldenGate.exr", "shot_v002.exr", "plate_2k.exr"])
def test_info_on_a_still_describes_that_file(tmp_path, sample_frame, name):
    import shutil

    # GIVEN an EXR named without a frame number (and, for Rec709, digits glued to letters)
    path = tmp_path / name
    shutil.copyfile(sample_frame, path)
    shutil.copyfile(sample_frame, tmp_path / "Rec2020.exr")  # a neighbour must not make it a sequence
    proc = _info(str(path), "--json")
    assert proc.exit_code == 0, proc.stderr
    info = json.loads(proc.stdout)
    # THEN it is described as one still, with the usual fields, never as frame 709
    assert info["still"] is True and info["pattern"] == str(path)
    assert info["present_count"] == 1 and info["missing_count"] == 0 and info["frames"] == ""
    assert info["first"] is None and info["last"] is None
    assert info["resolution"] == [480, 270] and info["parts"][0]["layers"]["(rgba)"]["R"] == "half"
    human = _info(str(path))
    assert human.exit_code == 0 and "one image, no frame number" in human.stdout


def test_info_on_one_frame_still_describes_its_sequence(sample_frame):
    info = json.loads(_info(sample_frame, "--json").stdout)
    assert info["still"] is False and info["frames"] == "1001-1024"


def test_info_on_a_png_still(tmp_path):
    import numpy as np
    from framefill.frames import write_image

    path = tmp_path / "logo.png"
    write_image(path, np.zeros((6, 10, 4), np.float32), bit_depth=16)
    info = json.loads(_info(str(path), "--json").stdout)
    assert info["still"] is True and info["resolution"] == [10, 6]
    assert (info["format"], info["bit_depth"], info["channels"]) == ("png", 16, 4)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        pytest.param("damaged", b"\x00garbage" * 20, "a file of unknown format", id="no-extension"),
        pytest.param("render.dpx", b"SDPX" + bytes(60), "a DPX file, which framefill does not read", id="dpx"),
        pytest.param("beauty.exr", b"", "the file is empty (0 bytes)", id="empty-exr"),
        pytest.param("beauty.exr", b"\x76\x2f\x31\x01\x02\x00\x00\x00chan", "truncated", id="truncated-exr"),
        pytest.param("beauty.png", b"\x89PNG\r\n\x1a\nbroken", "cannot read image", id="broken-png"),
    ],
)
def test_info_on_an_unreadable_still_is_one_line_exit_2(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    proc = _info(str(path))
    assert proc.exit_code == 2
    line = proc.stderr.strip()
    assert line.startswith("framefill: error: ") and str(path) in line and match in line and "\n" not in line


def test_info_on_missing_paths_and_folders(tmp_path):
    proc = _info(str(tmp_path / "nope.exr"))
    assert proc.exit_code == 2 and "file not found" in proc.stderr
    (tmp_path / "s.1001.exr").write_bytes(b"x")
    (tmp_path / "s.1002.exr").write_bytes(b"x")
    proc = _info(str(tmp_path))
    assert proc.exit_code == 2 and "is a folder; give one of its sequences" in proc.stderr
    assert str(tmp_path / "s.####.exr") in proc.stderr


def test_info_exit_status_follows_unreadable_frames(tmp_path, sample_frame):
    import shutil

    for f in (1001, 1002, 1003):
        shutil.copyfile(sample_frame, tmp_path / f"s.{f}.exr")
    shutil.copyfile(sample_frame, tmp_path / "s.01004.exr")  # another padding: skipped, but said
    pattern = str(tmp_path / "s.####.exr")
    # all readable: 0
    proc = _info(pattern, "--json")
    info = json.loads(proc.stdout)
    assert proc.exit_code == 0 and info["unreadable_count"] == 0 and info["checked_count"] == 3
    assert info["strays"] == ["s.01004.exr has 5-digit padding; the pattern s.####.exr uses 4 and skips it: "
                              "rename it to s.1004.exr or use s.#####.exr"]
    # some unreadable: the result still comes out, exit 1
    data = (tmp_path / "s.1002.exr").read_bytes()
    (tmp_path / "s.1002.exr").write_bytes(data[: len(data) // 2])
    proc = _info(pattern, "--json")
    info = json.loads(proc.stdout)
    assert proc.exit_code == 1
    assert list(info["unreadable"]) == ["1002"] and "truncated" in info["unreadable"]["1002"]
    assert info["resolution"] == [480, 270]
    assert "1 of 3 frames checked" in proc.stderr and "\n" not in proc.stderr.strip()
    # none readable: exit 2
    for f in (1001, 1003):
        (tmp_path / f"s.{f}.exr").write_bytes(b"")
    proc = _info(pattern, "--json")
    assert proc.exit_code == 2 and json.loads(proc.stdout)["unreadable_count"] == 3
    assert "none of the 3 frames checked" in proc.stderr


def test_info_help_documents_the_exit_status():
    proc = _info("--help")
    assert "Exit status: 0 every frame checked is readable" in proc.stdout
    assert "1 some frames are unreadable" in proc.stdout and "2 no frame is readable" in proc.stdout


@pytest.mark.weights
def test_demo_scores_rife_above_flow_above_blend(tmp_path, model_files):
    model_files("rife-4")
    proc = _cli("demo", "--out", str(tmp_path), "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    means = doc["mean_psnr_db"]
    assert means["rife-4"] > means["flow"] > means["blend"], means
    assert doc["filled"] == "1002-1022:2" and len(doc["psnr_db"]["rife-4"]) == 11
    assert json.loads((tmp_path / "summary.json").read_text())["mean_psnr_db"] == means
    # QC judged the rife-4 fill without the real renders: what it shipped, scored against them.
    qc = doc["qc"]
    assert qc["frames_rendered"] == 13 and qc["frames_filled"] == 11 and qc["keyframe_checks"] == 11
    assert qc["true_below_threshold"] == "1006-1014:2,1018"
    assert qc["shipped_below_threshold"] == ""  # no bad frame shipped
    assert qc["accepted"] == "1022" and qc["rerender"] == "1002-1020:2" and qc["renders_saved"] == 1
    assert all(v >= 30.0 for v in qc["shipped_fill_psnr_db"].values())
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("| 10") == 12  # the 11 filled frames, and the one shipped fill
    assert "**1 of 24 renders saved**" in summary and "shipped below it: **none**" in summary
