"""`framefill interpolate --batch N` and `--device all`: direct fills' motions made in batches, recursive
gaps level by level in batches, the batches spread over devices (pipeline/fill_ahead.py). A fill's batch is
fixed by the plan, so reruns, resumed runs and runs over more devices write the same bytes; batched motions
equal single ones within float rounding."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from framefill import api
from framefill.cli import _attach_subcommands, cli
from framefill.errors import CancelledError, RequestError
from framefill.frames import read_exr
from framefill.models.ensemble import mix_motions
from framefill.models.interp import batch_motions
from framefill.models.loading import load_interpolator
from framefill.pipeline.fill import FillOptions, fill_sequence
from framefill.pipeline.fill_ahead import MotionAhead
from framefill.pipeline.manifest import Manifest
from framefill.requests import FillRequest
from synthetic_shot import write_shot

pytestmark = pytest.mark.weights

KEYS = (1, 3, 5, 7, 9, 11, 13)
ALL = tuple(range(1, 14))
FILLS = (2, 4, 6, 8, 10, 12)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return write_shot(tmp_path_factory.mktemp("batches") / "keys", KEYS, bg_speed=2, fg_speed=3)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shot.*.exr"))}


def _pair(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    img0 = torch.rand(batch, 3, 96, 160, generator=gen)
    return img0, torch.roll(img0, (2, 5), (2, 3))


@pytest.mark.parametrize("model", ["rife-4", "rife-hdv3"])
def test_a_batched_motion_equals_the_pair_s_own_within_float_rounding(model):
    interpolator = load_interpolator(model, device="cpu", scale=1.0).model
    img0, img1 = _pair(3)
    times = [0.5, 0.25, 0.5] if model == "rife-4" else [0.5, 0.5, 0.5]
    batched = batch_motions(interpolator, img0, img1, times)
    for i, t in enumerate(times):
        alone = interpolator.motion(img0[i : i + 1], img1[i : i + 1], t)
        for name in ("flow_t0", "flow_t1", "mask"):
            diff = (getattr(batched[i], name) - getattr(alone, name)).abs().max().item()
            assert diff <= (0.01 if name != "mask" else 1e-3), (model, i, name, diff)  # px / weight
    fused = load_interpolator("rife-4+hdv3", device="cpu", scale=1.0, mix=0.75).model
    members = [batch_motions(m, img0, img1, [0.5] * 3) for m in (fused.first, fused.second)]
    for got, a, b in zip(batch_motions(fused, img0, img1, [0.5] * 3), *members, strict=True):
        assert torch.equal(got.mask, mix_motions(a, b, 0.75).mask)


def test_batches_record_their_size_and_reruns_and_resumed_runs_write_the_same_bytes(rendered, tmp_path):
    api.fill_shot(FillRequest(rendered, str(tmp_path / "a" / "shot.####.exr"), frames=ALL, device="cpu",
                              model="rife-4", batch=4))
    api.fill_shot(FillRequest(rendered, str(tmp_path / "b" / "shot.####.exr"), frames=ALL, device="cpu",
                              model="rife-4", batch=4))
    single = api.fill_shot(FillRequest(rendered, str(tmp_path / "one" / "shot.####.exr"), frames=ALL,
                                       device="cpu", model="rife-4"))
    assert single.count("filled") == len(FILLS)
    reference = _bytes(tmp_path / "a")
    assert reference == _bytes(tmp_path / "b") and len(reference) == len(ALL)
    # Interrupted inside the first batch (fills 2 and 4 of 2, 4, 6, 8 written, 6 not: cancelled before
    # the fifth frame), then resumed: the remaining fills are made in the same batch as before, so the
    # bytes are the same.
    checks = iter(range(len(ALL)))
    request = FillRequest(rendered, str(tmp_path / "c" / "shot.####.exr"), frames=ALL, device="cpu",
                          model="rife-4", batch=4)
    with pytest.raises(CancelledError):
        api.fill_shot(request, cancelled=lambda: next(checks) >= 4)
    written = sorted(_bytes(tmp_path / "c"))
    assert written == [f"shot.{f:04d}.exr" for f in (1, 2, 3, 4)]
    resumed = api.fill_shot(request)
    assert resumed.count("skipped") == len(written) and _bytes(tmp_path / "c") == reference
    # A batch's fills match the one-at-a-time fills within float rounding, and say their batch.
    one = _bytes(tmp_path / "one")
    assert [n for n in reference if reference[n] == one[n]] == [f"shot.{f:04d}.exr" for f in KEYS]
    for frame in FILLS:
        a, b = (read_exr(tmp_path / d / f"shot.{frame:04d}.exr").parts[0].channels["R"].astype(np.float32)
                for d in ("a", "one"))
        diff = np.abs(a - b) / np.maximum(1.0, np.abs(b))  # relative above 1.0: the shot has a 50.0 highlight
        assert diff.max() < 0.02 and diff.mean() < 1e-4, (frame, diff.max(), diff.mean())
    entries = Manifest(str(tmp_path / "a" / "shot.####.exr")).entries()
    assert [f for f in ALL if entries[f].recipe.get("batch") == 4] == list(FILLS)
    job = next(iter(json.loads((tmp_path / "a" / "framefill.manifest.json").read_text())["sequences"].values()))
    assert (job["job"]["batch"], job["job"]["devices"]) == (4, ["cpu"])
    # A rerun at another batch size remakes the fills (their recipe changed) and keeps the renders.
    again = api.fill_shot(FillRequest(rendered, str(tmp_path / "a" / "shot.####.exr"), frames=ALL, device="cpu",
                                      model="rife-4", batch=2))
    assert again.count("filled") == len(FILLS) and again.count("skipped") == len(KEYS)


class _Counting:
    """An interpolator that records the threads its batches ran on."""

    def __init__(self, inner, seen: list) -> None:
        self.inner, self.seen, self.name = inner, seen, inner.name

    def motion(self, img0, img1, t):
        self.seen.append((threading.current_thread().name, 1))
        return self.inner.motion(img0, img1, t)

    def motions(self, img0, img1, times):
        self.seen.append((threading.current_thread().name, len(times)))
        return self.inner.motions(img0, img1, times)


@pytest.mark.parametrize("batch", [1, 2])
def test_batches_spread_over_two_devices_write_the_bytes_of_one(rendered, tmp_path, batch):
    """Two CPU "devices" (one interpolator each, one thread each) against one: the same files."""
    runs = {}
    for devices in (["cpu"], ["cpu", "cpu"]):
        seen: list[list] = [[] for _ in devices]
        interpolators = [_Counting(load_interpolator("rife-4", device="cpu", scale=1.0).model, mine)
                         for mine in seen]
        out = tmp_path / f"{batch}-{len(devices)}"
        fill_sequence(rendered, str(out / "shot.####.exr"), frames=ALL, interpolator=interpolators[0],
                      options=FillOptions(model_id="rife-4", batch=batch),
                      ahead=MotionAhead(interpolators, devices, batch))
        runs[len(devices)] = _bytes(out)
        sizes = [[n for _, n in mine] for mine in seen]
        # Batch k on device k mod 2: fills 2,4 | 6,8 | 10,12 at batch 2 (the last round has one batch).
        expect = {1: {1: [[1] * 6], 2: [[1] * 3, [1] * 3]}, 2: {1: [[2, 2, 2]], 2: [[2, 2], [2]]}}
        assert sizes == expect[batch][len(devices)]
        on_threads = [name.startswith("framefill-device") for mine in seen for name, _ in mine]
        assert any(on_threads) == (len(devices) == 2)
    assert runs[1] == runs[2] and len(runs[1]) == len(ALL)


RECURSIVE_KEYS = (1, 5, 9, 13, 17)  # gaps of three frames: midpoint 3, then 2 and 4 from it
RECURSIVE_ALL = tuple(range(1, 18))


@pytest.fixture(scope="module")
def rendered_every_4(tmp_path_factory):
    return write_shot(tmp_path_factory.mktemp("recursive") / "keys", RECURSIVE_KEYS, bg_speed=2, fg_speed=3)


def _fill_recursive(rendered: str, out: Path, batch: int, devices=("cpu",), cancelled=None):
    """A recursive fill of every other rendered frame's gaps at ``batch``; the network run sizes per device."""
    seen: list[list] = [[] for _ in devices]
    interpolators = [_Counting(load_interpolator("rife-4", device="cpu", scale=1.0).model, mine) for mine in seen]
    kwargs = {} if cancelled is None else {"cancelled": cancelled}
    fill_sequence(rendered, str(out / "shot.####.exr"), frames=RECURSIVE_ALL, interpolator=interpolators[0],
                  options=FillOptions(model_id="rife-4", mode="recursive", batch=batch),
                  ahead=MotionAhead(interpolators, list(devices), batch) if batch > 1 or len(devices) > 1 else None,
                  **kwargs)
    return [[n for _, n in mine] for mine in seen]


def test_recursive_gaps_run_level_by_level_in_batches_and_resume_to_the_same_bytes(rendered_every_4, tmp_path):
    """Batch 4: gaps 1-5 and 5-9 share a batch (level one: 3 and 7; level two: 2, 4, 6, 8), then 9-13
    and 13-17; each level one network run. Reruns and a run interrupted inside the first round write the
    same bytes; the fills match the one-at-a-time recursive fills within float rounding."""
    assert _fill_recursive(rendered_every_4, tmp_path / "a", 4) == [[2, 4, 2, 4]]
    _fill_recursive(rendered_every_4, tmp_path / "b", 4)
    assert _fill_recursive(rendered_every_4, tmp_path / "one", 1) == [[1] * 12]
    reference = _bytes(tmp_path / "a")
    assert reference == _bytes(tmp_path / "b") and len(reference) == len(RECURSIVE_ALL)
    checks = iter(range(len(RECURSIVE_ALL)))
    with pytest.raises(CancelledError):  # frames 1, 2 and 3 written: 4 is its round's second fill
        _fill_recursive(rendered_every_4, tmp_path / "c", 4, cancelled=lambda: next(checks) >= 3)
    assert sorted(_bytes(tmp_path / "c")) == [f"shot.{f:04d}.exr" for f in (1, 2, 3)]
    assert _fill_recursive(rendered_every_4, tmp_path / "c", 4) == [[2, 4, 2, 4]]  # round 1 made whole again
    assert _bytes(tmp_path / "c") == reference
    one = _bytes(tmp_path / "one")
    fills = [f for f in RECURSIVE_ALL if f not in RECURSIVE_KEYS]
    assert [n for n in reference if reference[n] == one[n]] == [f"shot.{f:04d}.exr" for f in RECURSIVE_KEYS]
    for frame in fills:
        a, b = (read_exr(tmp_path / d / f"shot.{frame:04d}.exr").parts[0].channels["R"].astype(np.float32)
                for d in ("a", "one"))
        diff = np.abs(a - b) / np.maximum(1.0, np.abs(b))
        assert diff.max() < 0.02 and diff.mean() < 1e-4, (frame, diff.max(), diff.mean())
    entries = Manifest(str(tmp_path / "a" / "shot.####.exr")).entries()
    assert [f for f in RECURSIVE_ALL if entries[f].recipe.get("batch") == 4] == fills
    assert all(entries[f].qc_features is not None for f in fills)


def test_recursive_gaps_spread_over_two_devices_write_the_bytes_of_one(rendered_every_4, tmp_path):
    """Batch 2 holds one gap (its second level is two pairs); gap k runs on device k mod 2."""
    assert _fill_recursive(rendered_every_4, tmp_path / "one", 2) == [[1, 2] * 4]
    assert _fill_recursive(rendered_every_4, tmp_path / "two", 2, devices=("cpu", "cpu")) == [[1, 2] * 2] * 2
    assert _bytes(tmp_path / "one") == _bytes(tmp_path / "two")
    # One pair per network run on each of two devices: the bytes of the plain one-device recursive fill.
    _fill_recursive(rendered_every_4, tmp_path / "plain", 1)
    assert _fill_recursive(rendered_every_4, tmp_path / "spread", 1, devices=("cpu", "cpu")) == [[1, 1, 1] * 2] * 2
    assert _bytes(tmp_path / "spread") == _bytes(tmp_path / "plain")


def test_a_gap_wider_than_the_batch_runs_its_levels_a_batch_at_a_time(tmp_path):
    """Gaps of seven frames at batch 2: levels of 1, 2 and 4 pairs, the last in two runs."""
    keys = write_shot(tmp_path / "keys", (1, 9, 17), bg_speed=1, fg_speed=2)
    assert _fill_recursive(keys, tmp_path / "one", 2) == [[1, 2, 2, 2] * 2]
    assert _fill_recursive(keys, tmp_path / "two", 2, devices=("cpu", "cpu")) == [[1, 2, 2, 2]] * 2
    assert _bytes(tmp_path / "one") == _bytes(tmp_path / "two") and len(_bytes(tmp_path / "one")) == 17


def test_a_render_that_cannot_be_blended_stops_a_batched_recursive_fill_at_the_same_frame(tmp_path):
    """Render 9 has a layer the others lack: gap 5-9 shares a round with 1-5, whose fills are still written,
    and the error is raised at frame 6, as the one-at-a-time fill raises it."""
    from framefill.errors import ExrError
    from framefill.frames import write_exr
    from synthetic_shot import frame_image

    (tmp_path / "keys").mkdir()
    for frame in RECURSIVE_KEYS:
        image = frame_image(frame, bg_speed=2, fg_speed=3)
        if frame == 9:
            image.parts[0].channels["extra.Y"] = np.zeros_like(image.parts[0].channels["R"])
        write_exr(tmp_path / "keys" / f"shot.{frame:04d}.exr", image)
    for batch in (1, 4):
        with pytest.raises(ExrError, match=r"shot\.0005\.exr and .*shot\.0009\.exr have different parts or channels"):
            _fill_recursive(str(tmp_path / "keys" / "shot.####.exr"), tmp_path / f"b{batch}", batch)
        assert sorted(_bytes(tmp_path / f"b{batch}")) == [f"shot.{f:04d}.exr" for f in range(1, 6)]


def test_a_fill_across_a_cut_leaves_its_batch_and_the_round_runs_once(tmp_path):
    """Key 7 is another shot (flipped and darkened): fills 6 and 8 straddle cuts and are held; the
    batches keep the rest, and each round of batches runs once."""
    from framefill.frames import write_exr
    from synthetic_shot import frame_image

    (tmp_path / "keys").mkdir()
    for frame in KEYS:
        image = frame_image(frame, bg_speed=2, fg_speed=3)
        if frame == 7:
            for name in "RGB":
                c = image.parts[0].channels[name]
                image.parts[0].channels[name] = np.ascontiguousarray(np.flipud(np.fliplr(c)) * 0.3).astype(c.dtype)
        write_exr(tmp_path / "keys" / f"shot.{frame:04d}.exr", image)
    seen: list = []
    interpolator = _Counting(load_interpolator("rife-4", device="cpu", scale=1.0).model, seen)
    result = fill_sequence(str(tmp_path / "keys" / "shot.####.exr"), str(tmp_path / "out" / "shot.####.exr"),
                           frames=ALL, interpolator=interpolator, options=FillOptions(model_id="rife-4", batch=4),
                           ahead=MotionAhead([interpolator], ["cpu"], 4))
    assert {o.frame: o.status for o in result.frames if o.status != "copied"} == {
        2: "filled", 4: "filled", 6: "held", 8: "held", 10: "filled", 12: "filled"}
    assert [n for _, n in seen] == [2, 2]  # batch 2,4,6,8 without 6 and 8; batch 10,12


def test_a_batch_out_of_range_is_refused_in_one_line(rendered, tmp_path):
    for batch in (0, 65):
        with pytest.raises(RequestError, match="^batch must be"):
            FillRequest(rendered, str(tmp_path / "o" / "shot.####.exr"), batch=batch)
    _attach_subcommands()
    result = CliRunner().invoke(cli, ["interpolate", rendered, "--out", str(tmp_path / "o" / "shot.####.exr"),
                                      "--batch", "0"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["framefill: error: --batch must be a whole number >= 1, got 0"]
    video = tmp_path / "in.mp4"
    video.write_bytes(b"")
    result = CliRunner().invoke(cli, ["interpolate", str(video), "--out", str(tmp_path / "out.mp4"), "--fps", "48",
                                      "--batch", "2"])
    assert result.exit_code == 2 and "--batch applies to frame sequences" in result.output
