"""Video upscaling through PyAV: frame count, frame rate, duration and audio carry over; an
interrupted run resumes from its frame cache; bad files fail with one line."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
from framefill import api
from framefill.errors import CancelledError, InputError
from framefill.frames.video import probe_video, read_video
from framefill.requests import UpscaleRequest

av = pytest.importorskip("av")

FRAMES, WIDTH, HEIGHT, FPS = 24, 48, 32, 24
SAMPLE_RATE = 44100


def make_video(path, *, frames: int = FRAMES, fps: int = FPS) -> None:
    """A moving test pattern (H.264, yuv420p) with a 440 Hz sine track (AAC), written with PyAV."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        for i in range(frames):
            img = np.stack([(xx * 4 + i * 3) % 256, 60 + (yy * 3) % 128, ((xx + yy) * 2 + i * 5) % 256], -1)
            for packet in video.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        seconds = frames / fps
        t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)


def audio_packets(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.audio[0]) if p.size)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "in.mp4"
    make_video(path)
    return path


@pytest.mark.weights
def test_video_round_trip_keeps_frames_rate_duration_audio_and_colour(clip, tmp_path):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    events = []
    # WHEN the network upscales the clip x2 (the animevideov3 family picks its x2 card)
    result = api.upscale(UpscaleRequest(str(clip), str(tmp_path / "out.mp4"), model="realesr-animevideov3", scale=2,
                         device="cpu"), report=events.append)
    src, out = probe_video(clip), probe_video(tmp_path / "out.mp4")
    # THEN frame count, frame rate and duration are the input's
    assert (src.frame_count, out.frame_count) == (FRAMES, FRAMES)
    assert out.frame_rate == src.frame_rate == Fraction(FPS)
    assert abs(out.duration_s - src.duration_s) < 1e-3
    assert (out.width, out.height, out.codec) == (2 * WIDTH, 2 * HEIGHT, "h264")
    # and the audio is the same packets, not re-encoded
    assert out.audio_codec == "aac" and audio_packets(tmp_path / "out.mp4") == audio_packets(clip)
    # and the colours did not shift (same matrix and range both ways): per-frame mean RGB
    pairs = zip(read_video(clip), read_video(tmp_path / "out.mp4"), strict=True)
    shift = max(float(np.abs(a.rgb.mean(axis=(0, 1)) - b.rgb.mean(axis=(0, 1))).max()) for a, b in pairs)
    assert shift < 0.02, f"mean colour moved by {shift:.4f}"
    # and the result reports it, with a flicker measure against Lanczos
    assert result.video["output"]["frames"] == FRAMES and result.count("upscaled") == FRAMES
    assert result.flicker is not None and result.flicker.pairs == FRAMES - 1
    assert 0.5 < result.flicker.ratio < 2.0
    assert sum(1 for e in events if e.kind == "frame") == FRAMES
    # the frame cache is gone after a successful run
    assert not any((tmp_path / ".framefill" / "video-cache").glob("*/*.png"))


def test_interrupted_run_resumes_from_the_frame_cache(clip, tmp_path):
    out = tmp_path / "out.mp4"
    seen = []

    def stop_after_ten() -> bool:
        return len(seen) >= 10

    # GIVEN a run cancelled after 10 frames
    with pytest.raises(CancelledError, match="rerun to resume"):
        api.upscale(UpscaleRequest(str(clip), str(out), model="lanczos", scale=2, device="cpu"),
                    report=lambda e: seen.append(e) if e.kind == "frame" else None, cancelled=stop_after_ten)
    # THEN no partial output exists and the cache holds the 10 frames
    assert not out.exists()
    assert len(list((tmp_path / ".framefill" / "video-cache").glob("*/*.png"))) == 10
    # WHEN rerun
    result = api.upscale(UpscaleRequest(str(clip), str(out), model="lanczos", scale=2, device="cpu"))
    # THEN the 10 come from the cache and only the rest are computed, into a complete file
    assert [o.status for o in result.frames] == ["cached"] * 10 + ["upscaled"] * (FRAMES - 10)
    assert probe_video(out).frame_count == FRAMES
    # byte-identical to an uninterrupted run (the encoder is deterministic, see frames/video.py)
    fresh = tmp_path / "fresh.mp4"
    api.upscale(UpscaleRequest(str(clip), str(fresh), model="lanczos", scale=2, device="cpu",
                               cache_dir=tmp_path / "c2"))
    assert out.read_bytes() == fresh.read_bytes()


# Encodes the same frames with VideoWriter and prints nothing; run in fresh processes below.
_ENCODE_SCRIPT = """
import sys
from fractions import Fraction
import numpy as np
from framefill.frames.video import VideoInfo, VideoWriter

dest, codec = sys.argv[1], sys.argv[2]
W, H, N = 96, 64, 24
src = VideoInfo(path="none", width=W, height=H, frame_rate=Fraction(24), time_base=Fraction(1, 12288), frame_count=N,
                duration_s=1.0, codec="h264", pix_fmt="yuv420p", bit_depth=8, matrix="itu601", full_range=False,
                audio_codec=None, audio_rate=None)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:H, 0:W]
with VideoWriter(dest, source=src, width=W, height=H, codec=codec, audio=False) as writer:
    for i in range(N):
        img = np.stack([(xx * 4 + i * 3) % 256, 60 + (yy * 3) % 128, ((xx + yy) * 2 + i * 5) % 256], -1) / 255.0
        img = img + rng.normal(0, 0.02, img.shape)  # grain: the encoder has real decisions to make
        writer.write(img.astype(np.float32), pts=i * 512, time_base=Fraction(1, 12288))
"""


@pytest.mark.parametrize("codec", ["h264", "prores"])
def test_encoding_is_byte_identical_across_processes_environments_and_load(tmp_path, codec):
    import subprocess
    import sys

    from framefill.frames.video import pick_codec

    if codec == "prores" and pick_codec(tmp_path / "x.mov", "prores")[0] != "prores_ks":  # pragma: no cover
        pytest.skip("this FFmpeg build has no ProRes encoder")
    script = tmp_path / "encode.py"
    script.write_text(_ENCODE_SCRIPT)
    ext = ".mp4" if codec == "h264" else ".mov"

    def encode(name: str, env_extra: dict[str, str], pipe: bool) -> bytes:
        dest = tmp_path / f"{name}{ext}"
        env = {**os.environ, **env_extra}
        subprocess.run([sys.executable, str(script), str(dest), codec], env=env, check=True,
                       stdout=subprocess.PIPE if pipe else subprocess.DEVNULL)
        return dest.read_bytes()

    # GIVEN the same frames encoded in fresh processes that differ only in their surroundings:
    # x264's macroblock tree used to give another bitstream when the environment's size or
    # stdout changed (the process's memory layout), and FFmpeg's default slice threads follow the core count
    first = encode("plain", {}, pipe=False)
    others = {
        "bigger-environment": encode("env", {"FRAMEFILL_TEST_PADDING": "x" * 333}, pipe=False),
        "piped-stdout": encode("pipe", {"A": "1"}, pipe=True),
    }
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 60\nwhile time.time() < end: pass"])
    try:
        others["under-load"] = encode("load", {"B": "12"}, pipe=False)
    finally:
        busy.kill()
        busy.wait()
    # THEN every file is byte-identical
    for name, data in others.items():
        assert data == first, f"{codec}: the {name} encode differs from the plain one"


def test_prores_bytes_do_not_depend_on_the_thread_count(tmp_path, monkeypatch):
    import framefill.frames.video as video

    if video.pick_codec(tmp_path / "x.mov", "prores")[0] != "prores_ks":  # pragma: no cover
        pytest.skip("this FFmpeg build has no ProRes encoder")
    info = video.VideoInfo(path="none", width=64, height=48, frame_rate=Fraction(24), time_base=Fraction(1, 24),
                           frame_count=4, duration_s=4 / 24, codec="h264", pix_fmt="yuv420p", bit_depth=8,
                           matrix="itu601", full_range=False, audio_codec=None, audio_rate=None)
    frames = np.random.default_rng(1).random((4, 48, 64, 3)).astype(np.float32)
    outputs = []
    for threads in (1, 3, 0):
        monkeypatch.setattr(video, "PRORES_THREADS", threads)
        dest = tmp_path / f"t{threads}.mov"
        with video.VideoWriter(dest, source=info, width=64, height=48, codec="prores", audio=False) as writer:
            for i, rgb in enumerate(frames):
                writer.write(rgb, pts=i, time_base=Fraction(1, 24))
        outputs.append(dest.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_x264_settings_that_make_it_deterministic(tmp_path):
    import re

    out = tmp_path / "x.mp4"
    import subprocess
    import sys

    script = tmp_path / "encode.py"
    script.write_text(_ENCODE_SCRIPT)
    subprocess.run([sys.executable, str(script), str(out), "h264"], check=True)
    # x264 writes its settings into the stream: frame threads of a fixed count, no macroblock tree
    settings = re.search(rb"options: ([^\0]*)", out.read_bytes())
    assert settings is not None
    text = settings.group(1).decode()
    assert " mbtree=0 " in f" {text} " and " sliced_threads=0 " in f" {text} "


def test_prores_mov_and_sizes(clip, tmp_path):
    from framefill.frames.video import pick_codec

    encoder, pix_fmt, _ = pick_codec(tmp_path / "x.mov")
    if encoder != "prores_ks":
        pytest.skip("this FFmpeg build has no ProRes encoder")
    # --size with bars: the picture keeps its aspect inside the frame
    result = api.upscale(UpscaleRequest(str(clip), str(tmp_path / "out.mov"), model="lanczos", size=(160, 96), aspect="fit",
                         device="cpu"))
    info = probe_video(tmp_path / "out.mov")
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("prores", pix_fmt, 160, 96)
    assert info.frame_count == FRAMES and info.frame_rate == Fraction(FPS) and info.audio_codec == "aac"
    first = next(iter(read_video(tmp_path / "out.mov")))
    assert float(first.rgb[:, :8].max()) < 0.1 and float(first.rgb[:, 20:140].mean()) > 0.2  # pillarbox bars
    assert result.output_size == (160, 96)


def test_unreadable_and_unsupported_files_fail_with_one_line(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n")
    with pytest.raises(InputError, match=r"cannot read video .*notes\.mp4: not a readable video file") as err:
        api.upscale(UpscaleRequest(str(fake), str(tmp_path / "out.mp4"), model="lanczos", device="cpu"))
    assert "\n" not in err.value.msg
    with pytest.raises(InputError, match="file not found"):
        api.upscale(UpscaleRequest(str(tmp_path / "missing.mov"), str(tmp_path / "out.mov"), model="lanczos", device="cpu"))
    with pytest.raises(InputError, match="a video upscales to a video"):
        api.upscale(UpscaleRequest(str(fake), str(tmp_path / "out.####.exr"), model="lanczos", device="cpu"))
    audio_only = tmp_path / "audio.mp4"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        api.upscale(UpscaleRequest(str(audio_only), str(tmp_path / "out.mp4"), model="lanczos", device="cpu"))
