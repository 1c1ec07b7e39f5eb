"""Filling a sparse EXR shot: copies, layers, HDR, IDs, manifest, resume, determinism."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from framefill import api
from framefill.frames import FramePattern, read_exr
from framefill.pipeline.manifest import Manifest
from framefill.requests import FillRequest
from synthetic_shot import HIGHLIGHT, frame_layers, write_shot

RENDERED = (1, 3, 5, 9)
ALL = tuple(range(1, 10))


def _hash_tree(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rendered")
    return write_shot(folder, RENDERED)


@pytest.fixture(scope="module")
def filled(shot, tmp_path_factory, model_files):
    model_files("rife-4")
    out = tmp_path_factory.mktemp("filled") / "shot.####.exr"
    before = _hash_tree(Path(shot).parent)
    result = api.fill_shot(FillRequest(shot, str(out), frames=ALL, model="rife-4", device="cpu"))
    assert _hash_tree(Path(shot).parent) == before, "inputs must never be modified"
    return result, str(out)


@pytest.mark.weights
def test_every_frame_written_and_rendered_ones_copied_byte_for_byte(shot, filled):
    result, out = filled
    statuses = {o.frame: o.status for o in result.frames}
    assert statuses == {f: ("copied" if f in RENDERED else "filled") for f in ALL}
    for f in RENDERED:
        assert filecmp.cmp(FramePattern.parse(shot).path(f), FramePattern.parse(out).path(f), shallow=False)


@pytest.mark.weights
def test_unequal_gaps_use_the_right_timesteps(filled):
    _, out = filled
    recipes = {f: e.recipe for f, e in Manifest(out).entries().items() if e.status == "filled"}
    assert {f: (sorted(map(int, r["sources"])), r["t"]) for f, r in recipes.items()} == {
        2: ([1, 3], 0.5), 4: ([3, 5], 0.5), 6: ([5, 9], 0.25), 7: ([5, 9], 0.5), 8: ([5, 9], 0.75),
    }


@pytest.mark.weights
def test_filled_frame_keeps_every_part_layer_type_window_and_attribute(shot, filled):
    _, out = filled
    src = read_exr(FramePattern.parse(shot).path(5))
    made = read_exr(FramePattern.parse(out).path(6))
    assert [p.name for p in made.parts] == [p.name for p in src.parts]
    for ps, pm in zip(src.parts, made.parts):
        assert pm.pixel_types() == ps.pixel_types()
        assert pm.data_window == ps.data_window and pm.display_window == ps.display_window
        assert pm.compression == ps.compression
    beauty = made.parts[0]
    assert beauty.header["framefill_test/frame"] == "5"  # carried from the nearest source (t=0.25)
    # Per-frame stamps: the frame number is this frame's, the source's render time is gone.
    assert beauty.header["Frame"] == "0006" and "RenderTime" not in beauty.header
    assert src.parts[0].header["Frame"] == "0005" and "RenderTime" in src.parts[0].header
    source = json.loads(beauty.header["framefill/source"])
    assert source == {"frames": [5, 9], "t": 0.25, "mode": api.DEFAULT_FILL_MODE}
    model = json.loads(beauty.header["framefill/model"])
    assert model["name"] == "rife-4" and len(model["sha256"]) == 64
    assert beauty.header["framefill/version"]


@pytest.mark.weights
def test_hdr_highlights_survive_unclamped(filled):
    _, out = filled
    made = read_exr(FramePattern.parse(out).path(2)).parts[0]
    truth = frame_layers(2)
    assert float(np.max(made.channels["R"])) > 0.8 * HIGHLIGHT
    lamp = truth["R"] >= HIGHLIGHT
    # The lamp sits where the truth has it: most of its pixels keep more than 10x display white.
    assert float(np.mean(made.channels["R"][lamp].astype(np.float32) > 10.0)) > 0.6


@pytest.mark.weights
def test_id_channels_take_one_source_value_never_a_blend(filled, shot):
    _, out = filled
    made = read_exr(FramePattern.parse(out).path(7)).parts[0].channels["IndexOB.X"]
    sources = set()
    for f in (5, 9):
        sources |= set(np.unique(read_exr(FramePattern.parse(shot).path(f)).parts[0].channels["IndexOB.X"]))
    assert set(np.unique(made)) <= sources


@pytest.mark.weights
def test_filled_beauty_is_close_to_the_truth(filled):
    from framefill.ops.metrics import display_proxy, psnr

    _, out = filled
    for frame in (2, 4, 7):
        part = read_exr(FramePattern.parse(out).path(frame)).parts[0]
        made = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)
        t = frame_layers(frame)
        truth = np.stack([t["R"], t["G"], t["B"]], axis=-1).astype(np.float16).astype(np.float32)
        assert psnr(display_proxy(made)[:, 8:-8], display_proxy(truth)[:, 8:-8]) > 30.0, frame


@pytest.mark.weights
def test_rerun_skips_everything_and_changes_nothing(shot, filled):
    _, out = filled
    folder = Path(out).parent
    before = _hash_tree(folder)
    again = api.fill_shot(FillRequest(shot, out, frames=ALL, model="rife-4", device="cpu"))
    assert [o.status for o in again.frames] == ["skipped"] * len(ALL)
    assert _hash_tree(folder) == before


@pytest.mark.weights
def test_deleted_frames_regenerate_bit_identical(shot, filled, tmp_path):
    _, out = filled
    copy = tmp_path / "shot.####.exr"
    api.fill_shot(FillRequest(shot, str(copy), frames=ALL, model="rife-4", device="cpu"))
    for f in ALL:
        assert filecmp.cmp(FramePattern.parse(out).path(f), FramePattern.parse(str(copy)).path(f), shallow=False)
    # "Regenerate instead of store": delete filled frames, rerun, get the same bytes back.
    for f in (6, 7):
        Path(FramePattern.parse(str(copy)).path(f)).unlink()
    again = api.fill_shot(FillRequest(shot, str(copy), frames=ALL, model="rife-4", device="cpu"))
    assert {o.frame for o in again.frames if o.status == "filled"} == {6, 7}
    for f in (6, 7):
        assert filecmp.cmp(FramePattern.parse(out).path(f), FramePattern.parse(str(copy)).path(f), shallow=False)


@pytest.mark.weights
def test_killed_run_resumes_and_matches_a_clean_run(shot, filled, tmp_path):
    _, clean = filled
    out = tmp_path / "shot.####.exr"
    cmd = [sys.executable, "-m", "framefill", "interpolate", shot, "--out", str(out), "--frames", "1-9",
           "--model", "rife-4", "--device", "cpu", "--events"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    filled_seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "frame" and event.get("data", {}).get("status") == "filled":
            filled_seen += 1
            if filled_seen == 2:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = {int(p.name.split(".")[1]) for p in tmp_path.glob("shot.*.exr")}
    assert 0 < len(done_before) < len(ALL)
    # A write cut by the kill leaves at most a hidden temporary, never a partial frame under its
    # final name (the frames done before the kill are compared with the clean run below).
    from framefill.atomic import is_temp_name

    assert all(is_temp_name(p.name) for p in tmp_path.iterdir() if ".ff-tmp-" in p.name)
    # Every recorded frame is on disk; a frame is recorded after its write, and the engine writes
    # one frame while it makes the next, so at most one frame on disk is not recorded yet.
    recorded = set(Manifest(str(out)).entries())
    assert recorded <= done_before and len(done_before - recorded) <= 1 and len(recorded) >= 4
    resumed = api.fill_shot(FillRequest(shot, str(out), frames=ALL, model="rife-4", device="cpu"))
    skipped = {o.frame for o in resumed.frames if o.status == "skipped"}
    assert skipped == recorded
    for f in ALL:
        assert filecmp.cmp(FramePattern.parse(clean).path(f), FramePattern.parse(str(out)).path(f), shallow=False)


@pytest.mark.weights
def test_a_memory_budget_changes_how_not_what(shot, filled, tmp_path):
    """GIVEN a budget that leaves room for one channel at a time and no cached frames WHEN the
    same shot is filled THEN every frame is byte-identical to the unbudgeted fill, and the plan says so."""
    from framefill.frames import decoded_bytes as decoded_frame_bytes
    from framefill.frames import probe_exr
    from framefill.runtime.memory import WARP_BYTES_PER_CHANNEL_PX, network_bytes

    result, clean = filled
    header = probe_exr(FramePattern.parse(shot).path(1))
    x0, y0, x1, y1 = header.parts[0].display_window
    px = (x1 - x0 + 1) * (y1 - y0 + 1)
    tight = 3 * decoded_frame_bytes(header) + network_bytes(px, 1.0) + WARP_BYTES_PER_CHANNEL_PX * px + 1000
    out = tmp_path / "shot.####.exr"
    budgeted = api.fill_shot(FillRequest(shot, str(out), frames=ALL, model="rife-4", device="cpu", scale=1.0,
                             memory_budget_bytes=tight))
    assert (budgeted.memory_plan["channels_per_batch"], budgeted.memory_plan["cached_frames"]) == (1, 0)
    assert result.memory_plan["channels_per_batch"] > 1
    for f in ALL:
        assert filecmp.cmp(FramePattern.parse(clean).path(f), FramePattern.parse(str(out)).path(f), shallow=False)


def test_recursive_mode_bisects_through_midpoints(shot, tmp_path):
    from framefill.frames import pixel_sha256

    rec = tmp_path / "r.####.exr"
    direct = tmp_path / "d.####.exr"
    result = api.fill_shot(FillRequest(shot, str(rec), frames=range(5, 10), model="flow", device="cpu",
                                       mode="recursive"))
    api.fill_shot(FillRequest(shot, str(direct), frames=range(5, 10), model="flow", device="cpu", mode="direct"))
    assert [o.status for o in result.frames] == ["copied", "filled", "filled", "filled", "copied"]

    def pixels(pattern: Path, frame: int) -> str:
        return pixel_sha256(read_exr(FramePattern.parse(str(pattern)).path(frame)))

    # Frame 7 is the first midpoint (t=0.5 from 5 and 9) in both modes; 6 and 8 are
    # made from 7 in recursive mode, straight from 5 and 9 in direct mode.
    assert pixels(rec, 7) == pixels(direct, 7)
    assert pixels(rec, 6) != pixels(direct, 6) and pixels(rec, 8) != pixels(direct, 8)
    assert Manifest(str(rec)).get(6).recipe["mode"] == "recursive"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True)


def test_scene_cut_is_held_and_reported(tmp_path):
    from framefill.frames import image_from_arrays, write_exr

    rng = np.random.default_rng(3)
    for f, colour in ((1, (0.8, 0.2, 0.1)), (3, (0.05, 0.3, 0.9))):
        base = rng.random((64, 96)).astype(np.float32) * 0.3
        chans = {c: (base + v).astype(np.float16) for c, v in zip("RGB", colour)}
        write_exr(tmp_path / "in" / f"cut.{f:04d}.exr", image_from_arrays(chans))
    args = ["interpolate", str(tmp_path / "in" / "cut.####.exr"), "--out", str(tmp_path / "out" / "cut.####.exr"),
            "--model", "flow", "--json"]
    proc = _cli(*args)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["needs_render"] == "2" and doc["held"] == 1
    assert proc.stderr.strip().count("\n") == 0 and "need a real render" in proc.stderr
    held = read_exr(tmp_path / "out" / "cut.0002.exr").parts[0].channels["R"]
    first = read_exr(tmp_path / "in" / "cut.0001.exr").parts[0].channels["R"]
    assert np.array_equal(held, first)  # held from the nearest source, never blended across the cut
    assert _cli(*args[:-1], "--allow-held", "--quiet").returncode == 0


def test_bad_input_gives_one_line_and_exit_2(tmp_path):
    proc = _cli("interpolate", str(tmp_path / "none.####.exr"), "--out", str(tmp_path / "o" / "shot.####.exr"),
                "--model", "flow", "-q")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("framefill: error: no rendered frames match"), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("damage", ["not an exr at all", b"", "truncated"])
def test_a_damaged_render_is_filled_and_listed_never_copied(tmp_path, damage):
    # GIVEN rendered frames 1, 3, 5 where 3 is damaged (garbage, empty, or cut short)
    pattern = write_shot(tmp_path / "in", (1, 3, 5))
    bad = Path(FramePattern.parse(pattern).path(3))
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else
                    damage if isinstance(damage, bytes) else damage.encode())
    before = bad.read_bytes()
    out = tmp_path / "o" / "shot.####.exr"
    proc = _cli("interpolate", pattern, "--out", str(out), "--model", "flow", "--json")
    # THEN frame 3 is filled from 1 and 5, needs a real render, and the run says so (exit 1, one error line)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["needs_render"] == "3"
    frame3 = next(f for f in doc["frames"] if f["frame"] == 3)
    assert frame3["status"] == "filled" and frame3["sources"] == [1, 5] and "damaged" in frame3["reason"]
    assert any("frame 3: its render is damaged" in w for w in doc["warnings"])
    entry = Manifest(str(out)).get(3)
    assert entry is not None and entry.needs_render and entry.status == "filled"
    assert read_exr(Path(FramePattern.parse(str(out)).path(3))).parts  # a readable frame, not the damaged copy
    assert bad.read_bytes() == before  # the input is never modified


@pytest.mark.parametrize("mode", ["direct", "recursive"])
def test_each_rendered_frame_gets_its_colour_proxy_once(shot, tmp_path, monkeypatch, mode):
    """A rendered frame borders two gaps (and serves every recursive midpoint): its proxy is made once,
    and the frames are the bytes made without the reuse."""
    from framefill.pipeline import fill

    fresh = tmp_path / "fresh" / "shot.####.exr"
    monkeypatch.setattr(fill._FillJob, "_proxy_of", lambda self, image, canvas: fill.make_proxy(
        image, canvas, self.options.color))
    api.fill_shot(FillRequest(shot, str(fresh), frames=ALL, model="flow", device="cpu", mode=mode))
    monkeypatch.undo()

    made: list[int] = []
    real = fill.make_proxy

    def counting(image, canvas, color):
        made.append(id(image))
        return real(image, canvas, color)

    monkeypatch.setattr(fill, "make_proxy", counting)
    reused = tmp_path / "reused" / "shot.####.exr"
    api.fill_shot(FillRequest(shot, str(reused), frames=ALL, model="flow", device="cpu", mode=mode))
    # Rendered 1, 3, 5, 9: each proxy once (10 without the reuse: 5 fills x 2). Recursive mode adds
    # midpoint 7, a made frame, whose proxy is made for each pair it is in: (5, 7) for 6 and (7, 9) for 8.
    assert len(made) == (4 if mode == "direct" else 6)
    assert _hash_tree(fresh.parent).keys() == _hash_tree(reused.parent).keys()
    for frame in ALL:
        name = f"shot.{frame:04d}.exr"
        assert (fresh.parent / name).read_bytes() == (reused.parent / name).read_bytes(), name


def test_the_overlapped_writes_give_the_bytes_of_writing_in_sequence(shot, tmp_path, monkeypatch):
    from framefill.pipeline import fill
    from framefill.pipeline.engine import Pending

    overlapped = tmp_path / "overlapped" / "shot.####.exr"
    api.fill_shot(FillRequest(shot, str(overlapped), frames=ALL, model="flow", device="cpu"))
    make = fill._FillJob.make

    def in_sequence(self, task):  # each frame written before the next is made
        made = make(self, task)
        return made.finish() if isinstance(made, Pending) else made

    monkeypatch.setattr(fill._FillJob, "make", in_sequence)
    sequential = tmp_path / "sequential" / "shot.####.exr"
    api.fill_shot(FillRequest(shot, str(sequential), frames=ALL, model="flow", device="cpu"))
    assert _hash_tree(overlapped.parent) == _hash_tree(sequential.parent)
    entries = [Manifest(str(p)).entries() for p in (overlapped, sequential)]
    assert {f: e.to_json() for f, e in entries[0].items()} == {f: e.to_json() for f, e in entries[1].items()}
