"""Video interpolation (``framefill interpolate in.mov --out out.mov``): retiming to any rate, repeated
frames replaced, audio and timing kept, no fill across a cut, bad input in one line, reruns and resumes
identical.

The clips are written here with PyAV: 96x64 RGB in PNG-in-QuickTime (lossless, exact timestamps: the
track's time scale is the frame rate's) with a PCM audio track, so "unchanged" is checked on decoded
pixels and timing to the tick. The output is ``--codec lossless`` (PNG in .mov) for the same reason.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from framefill import api
from framefill.errors import CancelledError
from framefill.frames.video import probe_video, read_video
from framefill.pipeline.video_interp import DUPLICATE_MAD, output_frame_count
from framefill.requests import VideoInterpRequest
from video_clips import render
from video_clips import make_clip as write_clip

av = pytest.importorskip("av")

# A fill of the test scene against its true render (rife-4, CPU): measured 40.5 to 52.5 dB for
# the retimed in-betweens of 24 -> 60 and 53.5 to 56.4 dB for the replaced repeats, which
# themselves score 23.3 to 26.9 dB against the true frame.
MIN_FILL_PSNR_DB = 38.0


def make_clip(path, frames: list[np.ndarray], rate: Fraction) -> None:
    """PNG video (rgb24) at ``rate`` with a mono 16-bit PCM track exactly as long as the video."""
    write_clip(path, frames, rate, audio=True)


def decoded(path) -> list:
    return list(read_video(path))


def audio_samples(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray().ravel() for f in container.decode(container.streams.audio[0])])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")


def interpolate(src, dst, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("codec", "lossless")
    return api.interpolate_video(VideoInterpRequest(str(src), str(dst), device="cpu", **fields))


@pytest.fixture(scope="module")
def clip24(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "moving24.mov"
    make_clip(path, [render(i) for i in range(24)], Fraction(24))
    return path


# ---------------------------------------------------------------------------------------
# Retiming
# ---------------------------------------------------------------------------------------


def test_output_frame_count_follows_ffmpegs_fps_filter():
    # round(duration * fps_out), halves up (FFmpeg's fps filter: round=near, eof_action=round)
    assert output_frame_count(24, Fraction(24), Fraction(48)) == 48
    assert output_frame_count(24, Fraction(24), Fraction(60)) == 60
    assert output_frame_count(25, Fraction(24), Fraction(60)) == 63  # 62.5 -> 63
    assert output_frame_count(24, Fraction(24000, 1001), Fraction(60000, 1001)) == 60
    assert output_frame_count(24, Fraction(24), Fraction(60000, 1001)) == 60  # 59.94... -> 60
    assert output_frame_count(10, Fraction(25), Fraction(24)) == 10  # 9.6 -> 10
    assert output_frame_count(48, Fraction(48), Fraction(24)) == 24


@pytest.mark.weights
@pytest.mark.parametrize("fps", [48, 60])
def test_24_fps_to_48_and_60_keeps_every_source_frame_timing_and_audio(clip24, tmp_path, fps):
    out = tmp_path / f"out{fps}.mov"
    # WHEN a 1 s clip at 24 fps is retimed
    result = interpolate(clip24, out, fps=fps)
    info, frames, sources = probe_video(out), decoded(out), decoded(clip24)
    # THEN it has fps frames a second for the same second, each at k / fps exactly
    assert info.frame_rate == Fraction(fps) and info.frame_count == len(frames) == fps
    assert info.duration_s == pytest.approx(1.0, abs=1e-9)
    assert [Fraction(f.pts) * f.time_base for f in frames] == [Fraction(k, fps) for k in range(fps)]
    # and where the new timeline meets a source frame, that frame is there unchanged (decoded pixels)
    ratio = Fraction(24, fps)
    hits = [k for k in range(fps) if (k * ratio).denominator == 1]
    assert len(hits) == (24 if fps == 48 else 12)
    for k in hits:
        assert np.array_equal(frames[k].rgb, sources[int(k * ratio)].rgb), f"output frame {k}"
    # and every other frame is a fill at its exact timestep, close to the true in-between
    statuses = [o.status for o in result.frames]
    expected = ["source" if k in hits else "filled" for k in range(fps)]
    last_source_time = 23 / ratio  # output times after source frame 23 repeat it (nothing to move towards)
    expected = [s if k <= last_source_time else "held" for k, s in enumerate(expected)]
    assert statuses == expected
    for o in result.frames:
        if o.status == "filled":
            position = o.frame * ratio
            assert o.sources == (int(position), int(position) + 1) and o.t == float(position % 1)
            truth = render(float(position)).astype(np.float32) / 255
            assert psnr(frames[o.frame].rgb, truth) > MIN_FILL_PSNR_DB, f"output frame {o.frame}"
        if o.status == "held":
            assert np.array_equal(frames[o.frame].rgb, sources[23].rgb) and "after the last" in o.reason
    # and the audio is the input's, sample for sample
    assert np.array_equal(audio_samples(out), audio_samples(clip24))
    assert info.audio_codec == "pcm_s16le"


@pytest.mark.weights
def test_23976_to_5994_is_exact_on_the_ntsc_timeline(tmp_path):
    src = tmp_path / "ntsc.mov"
    make_clip(src, [render(i) for i in range(24)], Fraction(24000, 1001))
    # WHEN retimed with the decimal spelling of 60000/1001
    result = interpolate(src, tmp_path / "out.mov", fps="59.94")
    info, frames = probe_video(tmp_path / "out.mov"), decoded(tmp_path / "out.mov")
    # THEN the rate is exactly 60000/1001 and the 60 frames sit at k * 1001/60000 s
    assert result.fps_in == Fraction(24000, 1001) and result.fps_out == Fraction(60000, 1001)
    assert info.frame_rate == Fraction(60000, 1001) and info.frame_count == len(frames) == 60
    assert [Fraction(f.pts) * f.time_base for f in frames] == [Fraction(1001 * k, 60000) for k in range(60)]
    assert info.duration_s == pytest.approx(probe_video(src).duration_s, abs=1e-9)  # 1.001 s
    # and source positions are 2k/5 (the same pattern as 24 -> 60): sources on every 5th frame
    assert [o.status for o in result.frames][:6] == ["source", "filled", "filled", "filled", "filled", "source"]
    assert [o.t for o in result.frames][1:5] == [0.4, 0.8, 0.2, 0.6]
    assert len(audio_samples(tmp_path / "out.mov")) == len(audio_samples(src))


# ---------------------------------------------------------------------------------------
# Repeated frames
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repeats_clip(tmp_path_factory):
    """24 frames: frame 5 repeats 4 (with a one-code speck: an encoder's noise), 12-13 repeat 11,
    16-21 repeat 15 (a hold longer than the 4 framefill replaces); the rest move."""
    frames = [render(i) for i in range(24)]
    frames[5] = frames[4].copy()
    frames[5][3, 3, 0] += 1
    frames[12] = frames[13] = frames[11]
    for i in range(16, 22):
        frames[i] = frames[15]
    path = tmp_path_factory.mktemp("clips") / "repeats.mov"
    make_clip(path, frames, Fraction(24))
    return path


@pytest.mark.weights
def test_repeated_frames_are_filled_from_their_distinct_neighbours(repeats_clip, tmp_path):
    out = tmp_path / "out.mov"
    result = interpolate(repeats_clip, out, replace_duplicates=True)
    frames, sources = decoded(out), decoded(repeats_clip)
    # THEN the runs of one and two repeats are replaced; the long hold is kept as it is
    assert result.duplicates == (5, 12, 13)
    statuses = [o.status for o in result.frames]
    assert [k for k, s in enumerate(statuses) if s == "deduplicated"] == [5, 12, 13]
    assert [k for k, s in enumerate(statuses) if s == "held"] == list(range(16, 22))
    assert "hold of over 4" in result.frames[16].reason
    assert [(o.sources, o.t) for o in result.frames if o.status == "deduplicated"] == [
        ((4, 6), 0.5), ((11, 14), round(1 / 3, 6)), ((11, 14), round(2 / 3, 6))]
    # and each replaced frame differs from the one before it and is close to the true in-between
    for k in (5, 12, 13):
        assert float(np.abs(frames[k].rgb - frames[k - 1].rgb).mean()) > DUPLICATE_MAD
        truth = render(k).astype(np.float32) / 255
        assert psnr(frames[k].rgb, truth) > MIN_FILL_PSNR_DB > psnr(sources[k].rgb, truth) + 10, f"frame {k}"
    # and every other frame is the decoded input, with the input's timing, frame rate and audio
    for k in set(range(24)) - {5, 12, 13}:
        assert np.array_equal(frames[k].rgb, sources[k].rgb), f"frame {k}"
    assert [f.pts for f in frames] == [f.pts for f in sources]
    assert probe_video(out).frame_rate == Fraction(24)
    assert np.array_equal(audio_samples(out), audio_samples(repeats_clip))


@pytest.mark.weights
def test_repeats_are_replaced_before_a_retime(repeats_clip, tmp_path):
    result = interpolate(repeats_clip, tmp_path / "out.mov", fps=48, replace_duplicates=True)
    frames = decoded(tmp_path / "out.mov")
    # output frame 10 sits on source frame 5, the repeat: it is the fill that replaced it
    assert result.frames[10].status == "deduplicated" and len(frames) == 48
    assert psnr(frames[10].rgb, render(5).astype(np.float32) / 255) > MIN_FILL_PSNR_DB
    # and output frame 9 (position 4.5) is filled between source 4 and the replaced 5, at 0.5
    assert (result.frames[9].sources, result.frames[9].t) == ((4, 5), 0.5)
    assert psnr(frames[9].rgb, render(4.5).astype(np.float32) / 255) > MIN_FILL_PSNR_DB


# ---------------------------------------------------------------------------------------
# Cuts
# ---------------------------------------------------------------------------------------


@pytest.mark.weights
def test_nothing_is_filled_across_a_cut(tmp_path):
    src = tmp_path / "cut.mov"
    shots = [render(i) for i in range(12)] + [render(i, shot=1) for i in range(12)]
    make_clip(src, shots, Fraction(24))
    result = interpolate(src, tmp_path / "out.mov", fps=60)
    frames, sources = decoded(tmp_path / "out.mov"), decoded(src)
    # THEN the cut is found before source frame 12, and the two output times between 11 and 12
    # hold the nearer source frame, unchanged
    assert result.cuts == (12,)
    around = {o.frame: o for o in result.frames if 11 < o.frame * Fraction(2, 5) < 12}
    assert sorted(around) == [28, 29] and all(o.status == "held" for o in around.values())
    assert around[28].sources == (11,) and np.array_equal(frames[28].rgb, sources[11].rgb)  # 11.2 -> 11
    assert around[29].sources == (12,) and np.array_equal(frames[29].rgb, sources[12].rgb)  # 11.6 -> 12
    assert "scene cut between source frames 11 and 12" in around[28].reason
    # and no output frame mixes the shots: the blue of a background corner is one shot's or the other's
    for o, frame in zip(result.frames, frames, strict=True):
        blue = float(frame.rgb[:6, :6, 2].mean())
        expected = 0.55 if o.frame * Fraction(2, 5) <= Fraction(23, 2) else 0.05
        assert abs(blue - expected) < 2 / 255, f"output frame {o.frame} ({blue:.3f})"


# ---------------------------------------------------------------------------------------
# Bad input, determinism, resume
# ---------------------------------------------------------------------------------------


def _cli(*args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from framefill.cli import _attach_subcommands, cli

    _attach_subcommands()
    return CliRunner().invoke(cli, ["interpolate", *args], catch_exceptions=False)


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["shot/beauty.####.exr", "--out", "out/beauty.####.exr", "--fps", "48"],
                 "PATTERN shot/beauty.####.exr is not a video file", id="fps-on-a-sequence"),
    pytest.param(["shot/beauty.####.exr", "--out", "out/beauty.####.exr", "--replace-duplicates"],
                 "PATTERN shot/beauty.####.exr is not a video file", id="duplicates-on-a-sequence"),
    pytest.param(["{clip}", "--out", "out.mov", "--fps", "0"], "--fps must be a frame rate above 0", id="fps-zero"),
    pytest.param(["{clip}", "--out", "out.mov", "--fps", "-24"], "--fps must be a frame rate above 0",
                 id="fps-negative"),
    pytest.param(["{clip}", "--out", "out.mov", "--fps", "fast"], "--fps must be a frame rate", id="fps-text"),
    pytest.param(["{clip}", "--out", "out.####.png", "--fps", "48"], "--out out.####.png is not a video file",
                 id="output-not-a-video"),
    pytest.param(["{clip}", "--out", "out.mov"], "--fps is required", id="nothing-asked"),
    pytest.param(["{clip}", "--out", "out.mov", "--fps", "48", "--frames", "1-4"],
                 "--frames applies to frame sequences", id="sequence-option"),
    pytest.param(["{clip}", "--out", "out.mp4", "--fps", "48", "--codec", "lossless"],
                 "lossless video goes in .mkv (FFV1) or .mov (PNG), not .mp4", id="lossless-in-mp4"),
    pytest.param(["{clip}", "--out", "{clip}", "--fps", "48"], "is the input", id="output-is-input"),
])
def test_bad_input_is_one_line_and_exit_2(clip24, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    proc = _cli(*[a.replace("{clip}", str(clip24)) for a in args])
    assert proc.exit_code == 2, proc.output
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.output and not list(tmp_path.glob("out*"))


@pytest.mark.weights
def test_reruns_are_identical_and_an_interrupted_run_resumes_to_the_same_file(clip24, tmp_path):
    # GIVEN a clean run, through the CLI (its --json document says what it did)
    clean = tmp_path / "clean.mov"
    proc = _cli(str(clip24), "--out", str(clean), "--fps", "60", "--codec", "lossless", "--device", "cpu", "--json")
    assert proc.exit_code == 0, proc.output
    payload = json.loads(proc.stdout)
    assert (payload["source"], payload["filled"], payload["held"], payload["fps_out"]) == (12, 46, 2, "60")
    # WHEN the same job is cancelled after 20 output frames
    resumed = tmp_path / "resumed.mov"
    seen: list[int] = []

    def note(event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "frame":
            seen.append(event.frame)

    with pytest.raises(CancelledError, match="rerun to resume"):
        api.interpolate_video(VideoInterpRequest(str(clip24), str(resumed), fps=60, codec="lossless", device="cpu"),
                              report=note, cancelled=lambda: len(seen) >= 20)
    # THEN nothing is written but the fills made so far are cached
    assert not resumed.exists()
    cached = sorted(p.name for p in (tmp_path / ".framefill" / "video-cache").glob("*/out-*.png"))
    assert len(cached) == sum(1 for k in range(20) if (k * 2) % 5)  # the 16 fills among the first 20 frames
    # and the rerun takes them from the cache, makes the rest, and writes the clean run's file
    result = interpolate(clip24, resumed, fps=60)
    assert [o.frame for o in result.frames if o.cached] == [k for k in range(20) if (k * 2) % 5]
    assert resumed.read_bytes() == clean.read_bytes()
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(decoded(resumed), decoded(clean), strict=True))
    assert not list((tmp_path / ".framefill" / "video-cache").glob("*/*.png"))  # dropped after success
