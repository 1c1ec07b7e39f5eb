"""``framefill interpolate in.mov --out out.mov --fps N --model auto``: the model is chosen from checks on
the video's own frames (frame k filled from k - 1 and k + 1), recorded with its evidence in the --json
document and a progress event, and the output is exactly a run with the chosen model; a rerun makes the
same choice and resumes from the frame cache to the same file.

Clips are written here with PyAV (96x64 PNG in QuickTime, lossless, so pixels are compared exactly) and
the output is ``--codec lossless``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from framefill import api
from framefill.errors import CancelledError, RequestError
from framefill.frames.video import read_video
from framefill.requests import VideoInterpRequest
from video_clips import make_clip, render

av = pytest.importorskip("av")



def decoded(path) -> list[np.ndarray]:
    return [f.rgb for f in read_video(path)]


def interpolate(src, dst, report=None, **fields):  # type: ignore[no-untyped-def]
    request = VideoInterpRequest(str(src), str(dst), codec="lossless", device="cpu", **fields)
    return api.interpolate_video(request, report=report) if report else api.interpolate_video(request)


def _cli(*args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from framefill.cli import _attach_subcommands, cli

    _attach_subcommands()
    return CliRunner().invoke(cli, ["interpolate", *args], catch_exceptions=False)


def _mean(candidate: dict) -> float:
    return float(candidate["mean_psnr_db"])


@pytest.fixture(scope="module")
def clip12(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "moving12.mov"
    make_clip(path, [render(i) for i in range(12)])
    return path


@pytest.fixture(scope="module")
def auto_run(clip12, tmp_path_factory):
    """One --model auto retime of the 12-frame clip to 60 fps, with its events."""
    out = tmp_path_factory.mktemp("auto") / "auto.mov"
    events: list = []
    result = interpolate(clip12, out, fps=60, model="auto", report=events.append)
    return out, result, events


@pytest.mark.weights
def test_the_choice_and_its_evidence_are_recorded(auto_run):
    out, result, events = auto_run
    payload = result.to_json()
    choice = payload["job"]["model_choice"]
    # THEN the checks are 4 source frames spread over the 10 that have neighbours on both sides
    assert choice["checks"] == [1, 4, 7, 10]
    # and every candidate was measured on each of them; the best mean fills the video
    assert all(len(c["psnr_db"]) == 4 for c in choice["candidates"])
    assert "rife-4@1" in [c["label"] for c in choice["candidates"]]
    best = max(choice["candidates"], key=_mean)
    assert (choice["model"], choice["scale"]) == (best["model"], best["scale"])
    assert payload["model"] == choice["model"] and payload["job"]["rife_scale"] == choice["scale"]
    # (on this clip flow leads the networks by more than the margin auto asks of it)
    assert best["model"] == "flow"
    assert choice["reason"].startswith(f"flow leads the best network by over 1 dB ({_mean(best):.2f} dB over 4 "
                                       "check(s))")
    # the disc moves 2 px a frame on a 96 px frame: 2 / 96 per fill gap
    assert choice["motion"] == pytest.approx(2 / 96, abs=0.002)
    # and the progress event says it, with the same document
    said = [e for e in events if e.kind == "progress" and "model_choice" in e.data]
    assert len(said) == 1 and said[0].data["model_choice"] == choice
    assert said[0].message.startswith(f"--model auto: {choice['model']} at scale {choice['scale']:g}: ")
    assert (payload["source"], payload["filled"], payload["held"]) == (6, 22, 2)
    assert json.loads(json.dumps(payload)) == payload


@pytest.mark.weights
def test_the_output_is_a_run_with_the_chosen_model(auto_run, clip12, tmp_path):
    out, result, _ = auto_run
    choice = result.job["model_choice"]
    plain = tmp_path / "plain.mov"
    named = interpolate(clip12, plain, fps=60, model=choice["model"], scale=choice["scale"])
    assert (named.model, named.model_sha256) == (result.model, result.model_sha256)
    frames_auto, frames_plain = decoded(out), decoded(plain)
    assert len(frames_auto) == 30
    assert all(np.array_equal(a, b) for a, b in zip(frames_auto, frames_plain, strict=True))
    assert out.read_bytes() == plain.read_bytes()


@pytest.mark.weights
def test_the_cli_makes_the_same_choice_and_the_same_file(auto_run, clip12, tmp_path):
    out, result, _ = auto_run
    again = tmp_path / "again.mov"
    proc = _cli(str(clip12), "--out", str(again), "--fps", "60", "--model", "auto", "--codec", "lossless",
                "--device", "cpu", "--json")
    assert proc.exit_code == 0, proc.output
    payload = json.loads(proc.stdout)
    assert payload["job"]["model_choice"] == result.job["model_choice"]
    assert payload["model"] == result.model
    assert again.read_bytes() == out.read_bytes()
    assert all(np.array_equal(a, b) for a, b in zip(decoded(again), decoded(out), strict=True))


@pytest.mark.weights
def test_an_interrupted_auto_run_resumes_to_the_same_file(auto_run, clip12, tmp_path):
    out, result, _ = auto_run
    resumed = tmp_path / "resumed.mov"
    seen: list[int] = []

    def note(event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "frame":
            seen.append(event.frame)

    with pytest.raises(CancelledError, match="rerun to resume"):
        api.interpolate_video(VideoInterpRequest(str(clip12), str(resumed), fps=60, model="auto", codec="lossless",
                                                 device="cpu"), report=note, cancelled=lambda: len(seen) >= 10)
    assert not resumed.exists()
    # THEN the rerun chooses the same model, finds the fills made so far (keyed by it) and writes the same file
    rerun = interpolate(clip12, resumed, fps=60, model="auto")
    assert rerun.job["model_choice"] == result.job["model_choice"]
    assert [o.frame for o in rerun.frames if o.cached] == [k for k in range(10) if (k * 2) % 5]
    assert resumed.read_bytes() == out.read_bytes()


@pytest.mark.weights
def test_a_two_frame_video_falls_back_to_the_default_with_the_reason(tmp_path):
    src = tmp_path / "two.mov"
    make_clip(src, [render(0), render(1)])
    result = interpolate(src, tmp_path / "out.mov", fps=60, model="auto")
    choice = result.job["model_choice"]
    assert (choice["model"], choice["scale"], choice["checks"], choice["candidates"]) == ("rife-4", 1.0, [], [])
    assert choice["reason"] == ("no keyframe check (fewer than three rendered frames with a gap between them): "
                                "the default rife-4")
    assert result.model == "rife-4"
    assert (result.count("source"), result.count("filled"), result.count("held")) == (1, 2, 2)


@pytest.mark.weights
def test_frames_beside_a_cut_or_a_repeat_are_no_evidence_and_only_check_frames_are_decoded(tmp_path, monkeypatch):
    import framefill.pipeline.video_interp as video_interp

    # GIVEN 12 frames: frame 1 repeats frame 0, and a cut between frames 5 and 6
    frames = [render(0), render(0), *[render(i) for i in range(2, 6)], *[render(i, shot=1) for i in range(6)]]
    src = tmp_path / "cut.mov"
    make_clip(src, frames)
    asked: list[list[int] | None] = []
    real_read_video = video_interp.read_video

    def recording_read_video(path, info=None, frames=None):  # type: ignore[no-untyped-def]
        asked.append(None if frames is None else list(frames))
        return real_read_video(path, info, frames)

    monkeypatch.setattr(video_interp, "read_video", recording_read_video)
    result = interpolate(src, tmp_path / "out.mov", fps=48, model="auto")
    # THEN of the planned checks 1 (a repeat), 4 and 7 (beside the cut) only 10 is evidence
    assert result.job["model_choice"]["checks"] == [10]
    assert all(len(c["psnr_db"]) == 1 for c in result.job["model_choice"]["candidates"])
    # and the choice decoded only each planned check's frames and their neighbours; the job decoded the rest
    assert asked == [[0, 1, 2, 3], [2, 3, 4, 5, 6], [5, 6, 7, 8, 9], [8, 9, 10, 11], None]
    assert result.cuts == (6,)


def test_auto_with_a_weights_file_is_refused(tmp_path):
    with pytest.raises(RequestError, match="--model auto tests the pinned ones"):
        VideoInterpRequest(str(tmp_path / "in.mov"), str(tmp_path / "out.mov"), fps=60, model="auto",
                           weights=tmp_path / "w.pkl")
    assert VideoInterpRequest(str(tmp_path / "in.mov"), str(tmp_path / "out.mov"), fps=60, model="auto").model == \
        "auto"


def test_auto_with_a_weights_file_is_one_line_and_exit_2_on_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proc = _cli("in.mov", "--out", "out.mov", "--fps", "60", "--model", "auto", "--weights", "w.pkl")
    assert proc.exit_code == 2, proc.output
    assert "--weights are one network's; --model auto tests the pinned ones" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.output
    assert not list(tmp_path.iterdir())
