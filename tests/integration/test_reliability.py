"""The red-team findings on fill and upscale, one test each, built like the reproducers.

Each used to fail silently, run for days, or print a traceback; each now does
what is documented: finite output with a warning and a manifest record, a
damaged render filled and listed, a one-line error (exit 2) naming what is
wrong and the fix, or an exit 0 where the reader went away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framefill import api
from framefill.errors import ExrError, SequenceError
from framefill.frames import FramePattern, count_nonfinite, read_exr, write_exr
from framefill.pipeline.manifest import Manifest
from framefill.requests import FillRequest, UpscaleRequest
from synthetic_shot import frame_image, write_shot

ENV = {**os.environ, "FRAMEFILL_THREADS": "1"}


def _cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True,
                          env=env or ENV, cwd=cwd, timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("framefill: error:"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _poison(path: Path, value: float) -> None:
    """Put one non-finite value at one pixel of R, G, B and A of a frame (rewritten in place: a test input)."""
    image = read_exr(path)
    part = image.parts[0]
    for name in ("R", "G", "B", "A"):
        channel = part.channels[name].copy()
        channel[40, 70] = value
        part.channels[name] = channel
    write_exr(path, image)


# 1 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_one_nan_or_inf_does_not_poison_a_filled_frame(tmp_path, value):
    # GIVEN two rendered frames, one with a single NaN (or +Inf) at one pixel of RGBA
    pattern = write_shot(tmp_path / "in", (1, 3))
    _poison(Path(FramePattern.parse(pattern).path(3)), value)
    out = str(tmp_path / "out" / "shot.####.exr")
    events = []
    result = api.fill_shot(FillRequest(pattern, out, model="flow", device="cpu"), report=events.append)
    # THEN the filled frame is finite in every layer, the counts are recorded and a warning says so
    filled = read_exr(FramePattern.parse(out).path(2))
    assert count_nonfinite(filled) == {}
    assert result.count("filled") == 1
    entry = Manifest(out).get(2)
    assert entry is not None and entry.nonfinite == {"3": {f"beauty/{c}": 1 for c in "RGBA"}}
    assert any(e.kind == "warning" and "rendered frame 3 has NaN/Inf pixels" in e.message for e in events)
    # the render itself is copied as it is (nothing changes a rendered frame)
    copied = read_exr(FramePattern.parse(out).path(3)).parts[0].channels["R"]
    assert not np.isfinite(copied[40, 70])


# 3 ------------------------------------------------------------------------------------
def test_non_finite_input_pixels_do_not_spread_through_an_upscale(tmp_path):
    # GIVEN a frame with 2% non-finite pixels in RGBA
    src = tmp_path / "in" / "f.0001.exr"
    src.parent.mkdir()
    image = frame_image(1)
    rng = np.random.default_rng(0)
    part = image.parts[0]
    bad = rng.random(part.channels["R"].shape) < 0.02
    for name in ("R", "G", "B", "A"):
        channel = part.channels[name].copy()
        channel[bad] = np.nan
        part.channels[name] = channel
    write_exr(src, image)
    out = str(tmp_path / "out" / "f.####.exr")
    events = []
    api.upscale(UpscaleRequest(str(tmp_path / "in" / "f.####.exr"), out, model="realesr-animevideov3-x2",
                               device="cpu"), report=events.append)
    # THEN every output pixel is finite and the input's NaNs are counted in the manifest
    assert count_nonfinite(read_exr(FramePattern.parse(out).path(1))) == {}
    entry = Manifest(out).get(1)
    assert entry is not None and entry.nonfinite["1"]["beauty/R"] == int(bad.sum())
    assert any(e.kind == "warning" and "NaN/Inf pixels" in e.message for e in events)


# 4 ------------------------------------------------------------------------------------
def test_a_damaged_input_frame_is_refused_by_upscale_before_anything_is_written(tmp_path):
    pattern = write_shot(tmp_path / "in", (1, 2, 3))
    Path(FramePattern.parse(pattern).path(2)).write_bytes(b"")
    out = tmp_path / "out"
    proc = _cli("upscale", pattern, "--out", str(out / "shot.####.exr"), "--model", "lanczos", "--scale", "2")
    _one_line_error(proc, "shot.0002.exr")
    assert not out.exists() or not list(out.glob("*.exr"))


def test_an_over_budget_render_is_refused_before_anything_is_copied(tmp_path):
    pattern = write_shot(tmp_path / "in", (1, 3))
    out = tmp_path / "out"
    proc = _cli("interpolate", pattern, "--out", str(out / "shot.####.exr"), "--model", "flow",
                env={**ENV, "FRAMEFILL_MEMORY_BUDGET": "64K"})
    _one_line_error(proc, "over the memory budget", "FRAMEFILL_MEMORY_BUDGET")
    assert not out.exists() or not list(out.glob("*.exr"))


# 7 ------------------------------------------------------------------------------------
def test_frames_of_another_size_are_refused(tmp_path):
    pattern = write_shot(tmp_path / "in", (1, 5))
    small = frame_image(3)
    for part in small.parts:
        for name, channel in list(part.channels.items()):
            part.channels[name] = np.ascontiguousarray(channel[:48, :64])
        part.header["dataWindow"] = (np.array([0, 0], np.int32), np.array([63, 47], np.int32))
        part.header["displayWindow"] = (np.array([0, 0], np.int32), np.array([63, 47], np.int32))
    write_exr(Path(FramePattern.parse(pattern).path(3)), small)
    with pytest.raises(ExrError, match="must be the same size"):
        api.fill_shot(FillRequest(pattern, str(tmp_path / "out" / "shot.####.exr"), model="flow", device="cpu"))


# 9 ------------------------------------------------------------------------------------
def test_an_absurd_range_is_refused_at_once(tmp_path):
    pattern = write_shot(tmp_path / "in", (1, 3, 5))
    proc = _cli("interpolate", pattern, "--out", str(tmp_path / "o" / "shot.####.exr"), "--frames", "1-9000000",
                "--model", "flow")
    _one_line_error(proc, "outside the rendered 1-5", "--frames 1-5")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.exr"))


def test_a_tiny_tile_is_refused(tmp_path):
    pattern = write_shot(tmp_path / "in", (1,))
    proc = _cli("upscale", pattern, "--out", str(tmp_path / "o" / "shot.####.exr"), "--tile", "1")
    _one_line_error(proc, "--tile 1 is too small")


# 10 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "option", "value", "needle"),
    [
        pytest.param("interpolate", "--scale", "nan", "--scale must be a number above 0", id="interp-scale-nan"),
        pytest.param("interpolate", "--scale", "1e6", "--scale must be at most 4", id="interp-scale-huge"),
        pytest.param("upscale", "--scale", "1e6", "--scale must be at most 16", id="upscale-scale-huge"),
        pytest.param("upscale", "--size", "96000x54000", "--size '96000x54000' is not WIDTHxHEIGHT",
                     id="upscale-size-huge"),
    ],
)
def test_absurd_numbers_are_one_line_errors(tmp_path, command, option, value, needle):
    pattern = write_shot(tmp_path / "in", (1, 3))
    proc = _cli(command, pattern, "--out", str(tmp_path / "o" / "shot.####.exr"), option, value)
    _one_line_error(proc, needle)


# 11 -----------------------------------------------------------------------------------
def test_an_upscale_whose_output_cannot_fit_is_refused_up_front(tmp_path):
    pattern = write_shot(tmp_path / "in", (1,))
    proc = _cli("upscale", pattern, "--out", str(tmp_path / "o" / "shot.####.exr"), "--model", "lanczos",
                "--scale", "16", env={**ENV, "FRAMEFILL_MEMORY_BUDGET": "16M"})
    _one_line_error(proc, "for the output frame, over the memory budget")


# 12 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["same", "printf", "dotdot", "symlink"])
def test_filling_into_the_render_folder_needs_in_place(tmp_path, spelling):
    pattern = write_shot(tmp_path / "in", (1, 3))
    (tmp_path / "link").symlink_to(tmp_path / "in")
    out = {"same": pattern, "printf": str(tmp_path / "in" / "shot.%04d.exr"),
           "dotdot": str(tmp_path / "in" / ".." / "in" / "shot.####.exr"),
           "symlink": str(tmp_path / "link" / "shot.####.exr")}[spelling]
    before = sorted(p.name for p in (tmp_path / "in").iterdir())
    _one_line_error(_cli("interpolate", pattern, "--out", out, "--model", "flow"), "--in-place")
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == before
    # WHEN asked for, only the gap is written beside the renders, which stay as they are
    renders = {p.name: p.read_bytes() for p in (tmp_path / "in").glob("*.exr")}
    assert _cli("interpolate", pattern, "--out", out, "--model", "flow", "--in-place", "-q").returncode == 0
    assert all((tmp_path / "in" / name).read_bytes() == data for name, data in renders.items())
    assert (tmp_path / "in" / "shot.0002.exr").is_file()


# 15 -----------------------------------------------------------------------------------
def test_frames_with_another_padding_are_named_not_skipped_silently(tmp_path):
    pattern = write_shot(tmp_path / "in", (1001, 1003))
    write_exr(tmp_path / "in" / "shot.01005.exr", frame_image(1005))
    proc = _cli("interpolate", pattern, "--out", str(tmp_path / "o" / "shot.####.exr"), "--model", "flow",
                "--json")
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads(proc.stdout)["warnings"]
    assert any("shot.01005.exr has 5-digit padding" in w for w in warnings), warnings


# 16 -----------------------------------------------------------------------------------
def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    pattern = write_shot(tmp_path / "in", (1, 3))
    out = str(tmp_path / "o" / "shot.####.exr")
    assert _cli("interpolate", pattern, "--out", out, "--model", "flow", "-q").returncode == 0
    # `framefill qc ... | head -1`: the pipe closes after one line
    proc = subprocess.Popen([sys.executable, "-m", "framefill", "qc", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(timeout=300) == 0
    assert "BrokenPipeError" not in stderr and "Traceback" not in stderr


def test_no_rendered_frame_left_when_every_render_is_damaged(tmp_path):
    pattern = write_shot(tmp_path / "in", (1, 3))
    for frame in (1, 3):
        Path(FramePattern.parse(pattern).path(frame)).write_bytes(b"junk")
    with pytest.raises(SequenceError, match="every rendered frame is damaged"):
        api.fill_shot(FillRequest(pattern, str(tmp_path / "o" / "shot.####.exr"), model="flow", device="cpu"))
