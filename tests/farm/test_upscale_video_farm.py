"""Chunked video upscaling on the farm: the upscale_video template, its segments and its join.

GIVEN a 33-frame H.264 clip with AAC audio whose keyframes (every 7 frames, B-frames
on) do not line up with segments of 10 frames
WHEN `openjd run` runs the bundle `framefill farm bundle upscale_video` wrote
THEN the output decodes to exactly the frames of a single-process `framefill upscale`
(same bytes, even), with the same frame count, rate, duration and audio; a segment
decodes exactly its own frames; a join with a segment missing fails in one line.

The model is `lanczos` (no weights): the farm plumbing, not the network, is under test.
"""

from __future__ import annotations

import json
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from farm_helpers import framefill_argv, openjd_argv
from framefill import api
from framefill.errors import InputError, JobFailedError, RequestError
from framefill.farm.local import write_framefill_launcher
from framefill.frames.video import plan_range_decode, probe_video, read_video
from framefill.requests import BundleRequest, UpscaleRequest

av = pytest.importorskip("av")

FRAMES, WIDTH, HEIGHT, FPS, GOP = 33, 64, 48, 24, 7
SAMPLE_RATE = 44100
SEGMENT = 10
UPSCALE = ("--model", "lanczos", "--scale", "2", "--device", "cpu")
# (first, last) frames of segments: from the top, across keyframes, inside one GOP, single frames, the end.
RANGES = [(0, 9), (10, 19), (20, 32), (3, 5), (7, 7), (8, 14), (13, 20), (32, 32)]


def make_clip(path: Path, *, audio: bool = True) -> Path:
    """A moving pattern in H.264 (keyframe every GOP frames, 3 B-frames) with a 440 Hz AAC track."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": "3"}
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=SAMPLE_RATE)
            sound.layout = "mono"
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        for i in range(FRAMES):
            img = np.stack([(xx * 4 + i * 3) % 256, 60 + (yy * 3 + i) % 128, ((xx + yy) * 2 + i * 5) % 256], -1)
            for packet in video.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            t = np.arange(int(SAMPLE_RATE * FRAMES / FPS)) / SAMPLE_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, samples.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                                   format="fltp", layout="mono")
                frame.sample_rate, frame.pts = SAMPLE_RATE, start
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("video") / "in.mp4")


def _keyframes(path: Path) -> dict[int, int]:
    """The clip's keyframes: frame index (presentation order) -> the smaller of the packet's pts and dts."""
    with av.open(str(path)) as container:
        packets = sorted((p.pts, p.dts, p.is_keyframe) for p in container.demux(container.streams.video[0]) if p.size)
    return {i: min(pts, dts) for i, (pts, dts, key) in enumerate(packets) if key}


def _stream_facts(path: Path) -> tuple[int, Fraction, Fraction, int | None, str | None]:
    """Frame count, rate, time base, video stream duration (in its time base) and audio codec."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for p in container.demux(stream) if p.size)
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return count, Fraction(stream.average_rate), Fraction(stream.time_base), stream.duration, audio


def _decoded(path: Path) -> list[np.ndarray]:
    return [f.rgb for f in read_video(path)]


def _run(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(framefill_argv(*args), env=env, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------------------
# Segment decode: frames A..B by index, whatever the GOP
# ---------------------------------------------------------------------------------------


def test_the_clip_has_keyframes_that_segments_do_not_line_up_with(clip):
    assert list(_keyframes(clip)) == list(range(0, FRAMES, GOP))
    assert probe_video(clip).frame_count == FRAMES


@pytest.mark.parametrize(("first", "last"), RANGES)
def test_segment_decode_equals_those_frames_of_a_full_decode(clip, first, last, monkeypatch):
    import framefill.frames.video as video

    full = list(read_video(clip))
    decodes: list[int | None] = []  # each decode pass's seek target (None: from the top)
    inner = video._decode

    def spy(path, info, wanted, plan):
        decodes.append(None if plan is None else plan.seek_to)
        return inner(path, info, wanted, plan)

    monkeypatch.setattr(video, "_decode", spy)
    # WHEN frames first..last are decoded on their own
    part = list(read_video(clip, frames=range(first, last + 1)))
    # THEN they are exactly those frames of a full decode: index, timestamp and pixels
    assert [f.index for f in part] == list(range(first, last + 1))
    for got in part:
        want = full[got.index]
        assert (got.pts, got.time_base) == (want.pts, want.time_base)
        assert np.array_equal(got.rgb, want.rgb), f"frame {got.index} differs from the full decode"
    # and the decode started at the keyframe at or before `first`, not at the top of the file
    plan = plan_range_decode(clip, probe_video(clip), first)
    keys = _keyframes(clip)
    key = max(k for k in keys if k <= first)
    assert plan.seek_to == keys[key]
    assert decodes == [keys[key]], "the segment was not decoded from its keyframe in one pass"
    assert plan.index_of == {f.pts: f.index for f in full}
    # and the demux for a segment stops once frames up to its last are known
    bounded = plan_range_decode(clip, probe_video(clip), first, last)
    assert bounded.seek_to == plan.seek_to
    assert bounded.index_of == {f.pts: f.index for f in full[:last + 1]}


def test_segment_decode_of_a_matroska_copy(clip, tmp_path):
    # Matroska keeps millisecond timestamps: frames are still found by index.
    mkv = tmp_path / "in.mkv"
    with av.open(str(clip)) as src, av.open(str(mkv), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = stream
                dst.mux(packet)
    full = list(read_video(mkv))
    assert len(full) == FRAMES
    for first, last in [(8, 14), (20, 32)]:
        part = list(read_video(mkv, frames=range(first, last + 1)))
        assert [f.index for f in part] == list(range(first, last + 1))
        assert all(np.array_equal(f.rgb, full[f.index].rgb) for f in part)


def test_segment_frames_outside_the_video_are_one_line(clip):
    with pytest.raises(InputError, match=r"^frames 33-40 are not in .*in\.mp4: it has frames 0-32 \(0 is the first\)"):
        list(read_video(clip, frames=range(30, 41)))


# ---------------------------------------------------------------------------------------
# Segments and join through the API: the frame cache is the join point
# ---------------------------------------------------------------------------------------


def _request(clip: Path, out: Path, step: str = "whole", frames: tuple[int, ...] | None = None) -> UpscaleRequest:
    return UpscaleRequest(str(clip), str(out), model="lanczos", scale=2, device="cpu", frames=frames,
                          video_step=step)  # type: ignore[arg-type]


def _cache_pngs(out: Path) -> list[str]:
    return sorted(p.name for p in (out.parent / ".framefill" / "video-cache").glob("*/*.png"))


def test_segments_then_join_write_the_single_process_file(clip, tmp_path):
    ref = tmp_path / "ref" / "up.mp4"
    api.upscale(_request(clip, ref))
    out = tmp_path / "farm" / "up.mp4"
    # WHEN three segments run (the middle one twice, as a retried task would)
    for first, last in [(0, 9), (20, 32), (10, 19), (10, 19)]:
        result = api.upscale(_request(clip, out, "segment", tuple(range(first, last + 1))))
        assert [o.frame for o in result.frames] == list(range(first, last + 1))
    # THEN the retry found its frames cached, no video was written, and the cache holds every frame once
    assert [o.status for o in result.frames] == ["cached"] * 10
    assert not out.exists()
    assert _cache_pngs(out) == [f"{i:06d}.png" for i in range(FRAMES)]
    # WHEN the join runs THEN it upscales nothing and writes the same bytes as one process
    joined = api.upscale(_request(clip, out, "join"))
    assert [o.status for o in joined.frames] == ["cached"] * FRAMES
    assert out.read_bytes() == ref.read_bytes()
    # and the cache is gone with its folders
    assert not (out.parent / ".framefill").exists()


def test_a_clip_without_audio_joins_without_audio(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4", audio=False)
    out = tmp_path / "up.mp4"
    api.upscale(_request(silent, out, "segment", tuple(range(FRAMES))))
    api.upscale(_request(silent, out, "join"))
    count, rate, _tb, _duration, audio = _stream_facts(out)
    assert (count, rate, audio) == (FRAMES, Fraction(FPS), None)


def test_join_with_a_missing_segment_fails_in_one_line_and_writes_nothing(clip, tmp_path, env):
    out = tmp_path / "up.mp4"
    for first, last in [(0, 9), (20, 32)]:
        api.upscale(_request(clip, out, "segment", tuple(range(first, last + 1))))
    proc = _run("upscale", str(clip), "--out", str(out), "--join", *UPSCALE, env=env)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"framefill: error: frames 10-19 of {clip} are not in the frame cache ")
    assert lines[0].endswith("their Segments tasks did not finish; rerun those tasks, then the join "
                             "(or run the upscale without --join to upscale them here)")
    assert not out.exists()
    assert _cache_pngs(out) == [f"{i:06d}.png" for i in [*range(10), *range(20, FRAMES)]]  # nothing upscaled


def test_join_with_a_damaged_cached_frame_fails_naming_it(clip, tmp_path):
    out = tmp_path / "up.mp4"
    api.upscale(_request(clip, out, "segment", tuple(range(FRAMES))))
    damaged = next((tmp_path / ".framefill" / "video-cache").glob("*/000012.png"))
    damaged.write_bytes(b"not a png")
    with pytest.raises(JobFailedError, match=rf"^frame 12 of {clip} in the frame cache .* is damaged or of another "
                                             "size: rerun the Segments task that holds it"):
        api.upscale(_request(clip, out, "join"))
    assert not out.exists()


def test_concurrent_overlapping_segments_share_the_cache(clip, tmp_path):
    out = tmp_path / "up.mp4"
    errors: list[BaseException] = []

    def segment(frames: range) -> None:
        try:
            api.upscale(_request(clip, out, "segment", tuple(frames)))
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    # Two tasks writing the same frames 10-20 at once: each frame file is written atomically.
    workers = [threading.Thread(target=segment, args=(r,)) for r in (range(0, 21), range(10, FRAMES))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    assert not errors
    assert _cache_pngs(out) == [f"{i:06d}.png" for i in range(FRAMES)]
    ref = tmp_path / "ref" / "up.mp4"
    api.upscale(_request(clip, ref))
    api.upscale(_request(clip, out, "join"))
    assert out.read_bytes() == ref.read_bytes()


def test_segment_and_join_need_a_video_and_one_step(clip, tmp_path, env):
    with pytest.raises(RequestError, match="segment is a step of a video job"):
        UpscaleRequest("shot.####.exr", "out.####.exr", video_step="segment")
    with pytest.raises(RequestError, match=r"^frames selects frames of a sequence; a video is upscaled whole, "
                                           r"except by a farm segment \(--segment\)"):
        UpscaleRequest(str(clip), "out.mp4", frames=(1, 2))
    proc = _run("upscale", str(clip), "--out", str(tmp_path / "o.mp4"), "--segment", "--join", *UPSCALE, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "framefill: error: --segment and --join are two steps of a farm job; give one of them"


# ---------------------------------------------------------------------------------------
# The bundle and the template run by openjd
# ---------------------------------------------------------------------------------------


def test_bundle_counts_the_frames_and_fills_every_parameter(clip, tmp_path):
    out = tmp_path / "renders" / "up.mov"
    result = api.make_bundle(BundleRequest(kind="upscale_video", out_dir=tmp_path / "job", input_pattern=str(clip),
                                           output_pattern=str(out), chunk_size=SEGMENT, model="lanczos",
                                           params={"Scale": "2", "Device": "cpu", "Codec": "prores"}))
    rows = yaml.safe_load((tmp_path / "job" / "parameter_values.yaml").read_text())["parameterValues"]
    assert rows == [
        {"name": "InputFile", "value": str(clip)},
        {"name": "OutputFile", "value": str(out)},
        {"name": "Frames", "value": "0-32"},
        {"name": "ChunkSize", "value": SEGMENT},
        {"name": "Model", "value": "lanczos"},
        {"name": "Scale", "value": "2"},
        {"name": "Size", "value": ""},
        {"name": "TilePx", "value": ""},
        {"name": "Device", "value": "cpu"},
        {"name": "Codec", "value": "prores"},
        *[r for r in rows if r["name"].startswith("Conda")],  # the queue environment's packages (another test's)
    ]
    assert result.parameters["Frames"] == "0-32"
    refs = yaml.safe_load((tmp_path / "job" / "asset_references.yaml").read_text())["assetReferences"]
    assert refs["inputs"] == {"directories": [], "filenames": [str(clip)]}
    assert refs["outputs"] == {"directories": [str(out.parent)]}
    template = yaml.safe_load((tmp_path / "job" / "template.yaml").read_text())
    assert [s["name"] for s in template["steps"]] == ["Segments", "Join"]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "Segments"}]
    space = template["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]
    assert space["chunks"]["rangeConstraint"] == "CONTIGUOUS"


def test_bundle_refuses_frames_that_are_not_the_whole_video(clip, tmp_path):
    with pytest.raises(RequestError, match=r"^frames 0-19 is not every frame of .*in\.mp4 \(0-32, 0 is the first\): "
                                           "the join needs them all"):
        api.make_bundle(BundleRequest(kind="upscale_video", out_dir=tmp_path / "job", input_pattern=str(clip),
                                      output_pattern=str(tmp_path / "up.mp4"), frames="0-19", model="lanczos"))
    with pytest.raises(RequestError, match=r"^input_pattern '.*shot\.####\.exr' is not a video file; give one "
                                           r"ending in \.mp4"):
        api.make_bundle(BundleRequest(kind="upscale_video", out_dir=tmp_path / "job",
                                      input_pattern=str(tmp_path / "shot.####.exr"),
                                      output_pattern=str(tmp_path / "up.mp4")))
    with pytest.raises(RequestError, match=r"^input_pattern cannot read video .*absent\.mp4.*; or give Frames"):
        api.make_bundle(BundleRequest(kind="upscale_video", out_dir=tmp_path / "job",
                                      input_pattern=str(tmp_path / "absent.mp4"),
                                      output_pattern=str(tmp_path / "up.mp4")))
    assert not (tmp_path / "job").exists()


@pytest.mark.slow
def test_openjd_run_of_the_template_matches_single_process_upscale(clip, tmp_path, env):
    # The reference: one process, `framefill upscale`.
    ref = tmp_path / "ref" / "up.mp4"
    proc = _run("upscale", str(clip), "--out", str(ref), *UPSCALE, "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    # The farm: the bundle `framefill farm bundle` writes, run by openjd (every step, in order).
    out = tmp_path / "farm" / "up.mp4"
    bundle = tmp_path / "bundle"
    proc = _run("farm", "bundle", "upscale_video", "--out", str(bundle), "--input", str(clip), "--output", str(out),
                "--chunk-size", str(SEGMENT), "--model", "lanczos", "-p", "Scale=2", "-p", "Device=cpu", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]
    (bundle / "params.json").write_text(json.dumps({r["name"]: r["value"] for r in rows}))
    launcher = write_framefill_launcher(tmp_path / "bin")
    run = subprocess.run(
        openjd_argv("run", str(bundle / "template.yaml"), "-p", f"file://{bundle / 'params.json'}"),
        env={**env, "PATH": f"{launcher}:{env['PATH']}"}, capture_output=True, text=True, timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    # openjd split 33 frames into contiguous segments of at most 10, then joined once
    tasks = [ln.split("Frame(CHUNK[INT]) = ")[1].strip() for ln in run.stdout.splitlines() if "Frame(CHUNK" in ln]
    assert tasks == ["0-8", "9-16", "17-24", "25-32"], run.stdout[-4000:]
    assert run.stdout.count("openjd_status: [upscale] joining 33 frame(s) of in.mp4 to 128x96") == 1
    # THEN the output decodes to exactly the single-process frames (and is the same file)
    got, want = _decoded(out), _decoded(ref)
    assert len(got) == len(want) == FRAMES
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs from `framefill upscale`"
    assert out.read_bytes() == ref.read_bytes()
    # with the same frame count, rate, time base, stream duration and audio as the reference and the source
    assert _stream_facts(out) == _stream_facts(ref)
    count, rate, _tb, _duration, audio = _stream_facts(out)
    assert (count, rate, audio) == (FRAMES, Fraction(FPS), "aac")
    assert abs(probe_video(out).duration_s - probe_video(clip).duration_s) < 1e-3
    # and the frame cache is gone: the output folder holds the video alone
    assert sorted(p.name for p in out.parent.iterdir()) == ["up.mp4"]
