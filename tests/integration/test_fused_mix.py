"""`rife-4+hdv3 --mix W`: rife-4's share of each fused fill. The mix is recorded in the job and every fill's
recipe, QC reruns the fill at its mix, `--model auto` fills at the mix it picked exactly as `--mix` does,
and a mix given where it means nothing is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from framefill import api
from framefill.color import ColorSetup
from framefill.errors import RequestError
from framefill.frames import FramePattern, read_exr
from framefill.models.loading import load_interpolator
from framefill.pipeline import model_choice
from framefill.pipeline.keyframe_check import check_schedule, measure_check
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc import qc_sequence
from framefill.requests import FillRequest, QcRequest
from synthetic_shot import write_shot

pytestmark = pytest.mark.weights

KEYS = (1, 3, 5, 7, 9)
ALL = tuple(range(1, 10))
SMOOTH = {"bg_speed": 2, "fg_speed": 3}
FUSED = model_choice.FUSED_MODEL


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return write_shot(tmp_path_factory.mktemp("mix") / "keys", KEYS, **SMOOTH)


def _fill(rendered: str, out: Path, **kwargs) -> tuple[dict, dict]:
    result = api.fill_shot(FillRequest(rendered, str(out / "shot.####.exr"), frames=ALL, device="cpu", **kwargs))
    job = json.loads(Path(result.manifest).read_text())
    sequence = next(iter(job["sequences"].values()))
    return (sequence.get("job") or sequence), Manifest(str(out / "shot.####.exr")).entries()


def test_a_fill_at_a_mix_records_it_and_qc_reruns_that_mix(rendered, tmp_path):
    job, entries = _fill(rendered, tmp_path / "m75", model=FUSED, mix=0.75)
    even_job, even = _fill(rendered, tmp_path / "m50", model=FUSED)
    assert (job["mix"], even_job["mix"]) == (0.75, 0.5)
    assert (entries[2].recipe["mix"], even[2].recipe["mix"]) == (0.75, 0.5)
    assert entries[2].pixel_sha256 != even[2].pixel_sha256
    # QC's keyframe checks rerun the fill's own model at its mix.
    seq = FramePattern.parse(rendered)
    fused = load_interpolator(FUSED, scale=1.0, mix=0.75).model
    direct = {c.key: round(measure_check(*(read_exr(seq.path(f)) for f in (c.before, c.key, c.after)), c, fused,
                                         color=ColorSetup(), device="cpu").psnr_db, 3) for c in check_schedule(KEYS)}
    result = qc_sequence(QcRequest(str(tmp_path / "m75" / "shot.####.exr")))
    assert {c.frame: round(c.psnr_db, 3) for c in result.keyframe_checks} == direct


def test_auto_fills_at_the_mix_it_picked_as_mix_does(rendered, tmp_path, monkeypatch):
    def lean_to_rife_4(evidence):
        chosen = next((c, p) for c, p in evidence if c.mix == 0.875)
        return (*chosen, "a test's pick")

    monkeypatch.setattr(model_choice, "pick", lean_to_rife_4)
    auto_job, auto = _fill(rendered, tmp_path / "auto", model="auto")
    assert (auto_job["model_choice"]["model"], auto_job["model_choice"]["mix"], auto_job["mix"]) == (FUSED, 0.875,
                                                                                                      0.875)
    assert auto[2].recipe["mix"] == 0.875 and auto[2].recipe["model_choice"] == "auto"
    _, named = _fill(rendered, tmp_path / "named", model=FUSED, mix=0.875)
    assert {f: e.pixel_sha256 for f, e in auto.items()} == {f: e.pixel_sha256 for f, e in named.items()}


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"model": "rife-4", "mix": 0.5}, "--model rife-4 does not mix two networks"),
    ({"model": "auto", "mix": 0.5}, "--model auto picks its own mix"),
    ({"model": FUSED, "mix": 1.0}, "above 0 and below 1"),
    ({"model": FUSED, "mix": 0}, "above 0 and below 1"),
])
def test_a_mix_where_it_means_nothing_is_refused(kwargs, words):
    with pytest.raises(RequestError, match=words):
        FillRequest("r/shot.####.exr", "o/shot.####.exr", **kwargs)


def test_the_cli_refuses_a_mix_for_one_network_in_one_line(rendered, tmp_path):
    from framefill.cli import _attach_subcommands, cli

    _attach_subcommands()
    refused = CliRunner().invoke(cli, ["interpolate", rendered, "--out", str(tmp_path / "o" / "shot.####.exr"),
                                       "--model", "rife-hdv3", "--mix", "0.3"])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "framefill: error: --mix is the share of each network in rife-4+hdv3's fill; --model rife-hdv3 does not "
        "mix two networks (--model auto picks its own mix): leave --mix out"]


def test_a_video_retime_at_a_mix_records_it_and_keys_its_frame_cache_by_it(tmp_path):
    pytest.importorskip("av")
    from framefill.frames.video import read_video
    from framefill.requests import VideoInterpRequest
    from video_clips import make_clip, render

    src = tmp_path / "in.mov"
    make_clip(src, [render(i) for i in range(4)])
    decoded = {}
    for mix in (0.25, 0.5):
        out = tmp_path / f"out{mix}.mov"
        result = api.interpolate_video(VideoInterpRequest(str(src), str(out), fps=48, model=FUSED, mix=mix,
                                                          codec="lossless", device="cpu", cache_dir=tmp_path / "c",
                                                          keep_cache=True))
        assert result.to_json()["job"]["mix"] == mix
        decoded[mix] = [f.rgb for f in read_video(out)]
    # Same cache folder, other mix: its fills were made again, not reused.
    assert any((a != b).any() for a, b in zip(decoded[0.25], decoded[0.5], strict=True))


def test_a_video_retime_by_auto_at_a_mix_is_the_named_mix(tmp_path, monkeypatch):
    pytest.importorskip("av")
    from framefill.frames.video import read_video
    from framefill.requests import VideoInterpRequest
    from video_clips import make_clip, render

    def lean_to_hdv3(evidence):
        return (*next((c, p) for c, p in evidence if c.mix == 0.25), "a test's pick")

    monkeypatch.setattr(model_choice, "pick", lean_to_hdv3)
    src = tmp_path / "in.mov"
    make_clip(src, [render(i) for i in range(6)])
    frames = {}
    for name, fields in (("auto", {"model": "auto"}), ("named", {"model": FUSED, "mix": 0.25})):
        result = api.interpolate_video(VideoInterpRequest(str(src), str(tmp_path / f"{name}.mov"), fps=48,
                                                          codec="lossless", device="cpu", **fields))
        assert result.to_json()["job"]["mix"] == 0.25
        frames[name] = [f.rgb for f in read_video(tmp_path / f"{name}.mov")]
    assert all((a == b).all() for a, b in zip(frames["auto"], frames["named"], strict=True))
