"""Video files through PyAV: probe, decode to RGB, encode RGB, pass the audio through.

The only module that imports ``av`` (lazily, inside functions: PyAV is the
``video`` extra). Frames come out as float32 RGB in [0, 1] in the file's own
encoding (Rec.709/601 gamma, no linearisation): exactly what an sRGB-trained
network expects.

Colour: YUV <-> RGB uses the matrix and range the input declares, and the
output is encoded with the same matrix and range and tagged with them (when
the input says nothing: BT.709 for 720 lines and up, BT.601 below, the rule
players apply). A matrix mismatch between decode and encode is the usual
cause of the colour shift users report after upscaling (an SD file, read as
601, written as untagged HD that players read as 709).

Determinism: the same frames, options and FFmpeg/x264 build give a
byte-identical file, whatever the machine's load, core count or the
process's memory layout, so a resumed run writes exactly what a clean run
writes. libx264 runs a fixed number of frame threads (x264's frame threading
is deterministic for a fixed count; FFmpeg's default, slice threads sized to
the core count, is not) with macroblock-tree rate control off: with it on,
x264 gave different bitstreams for the same frames from one process to the
next (its lookahead's results depended on the process's memory layout, e.g.
the size of the environment). ProRes (``prores_ks``) codes slices
independently, so its bytes do not depend on the thread count; the mpeg4
fallback puts one slice per thread, so it runs one thread. Different FFmpeg or
x264 builds, or CPUs with other SIMD paths, may still give other bytes.

Timing: every output frame carries its input frame's pts in the input
stream's time base, so frame count, frame rate (constant or variable) and
duration carry over; a retime (``VideoWriter(frame_rate=...)``) writes its own
timeline at the new rate instead. Audio packets are copied unchanged (no
re-encode) when the output container can hold their codec; otherwise they are
re-encoded to AAC and a warning says so.

Lossless (``codec="lossless"``): RGB that decodes back to the same codes, FFV1
in .mkv or PNG in .mov, 8 or 16 bits as the source.
"""

from __future__ import annotations

import bisect
import errno
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from framefill.atomic import write_errno, write_error
from framefill.errors import InputError
from framefill.frames._files import file_problem
from framefill.frames.sequence import format_frame_range

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "DecodedFrame",
    "VideoWriter",
    "VideoCodec",
    "is_video_path",
    "probe_video",
    "read_video",
    "plan_range_decode",
    "RangeDecode",
    "pick_codec",
    "nominal_rate",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm", ".mxf")
VideoCodec = Literal["auto", "h264", "prores", "lossless"]
# x264's constant-rate factor: 18 is commonly called visually lossless for
# 8-bit H.264; upscaled masters are usually re-graded, so err on quality.
DEFAULT_CRF = 18
# x264 preset: "medium" is x264's own default speed/size balance.
X264_PRESET = "medium"
# Frame threads for libx264: fixed, so the bitstream is the same on every machine
# (x264's output depends on its thread count); 4 keeps most of x264's speed-up
# (the network, not the encoder, is the bottleneck) on any core count.
X264_THREADS = 4
# mbtree=0: x264's macroblock-tree made the bitstream differ between runs of the
# same frames (see the module docstring); at CRF 18 turning it off costs file size
# (a few percent), not visible quality.
X264_PARAMS = "mbtree=0"
# FFmpeg threads for prores_ks (0: one per core); its bytes do not depend on it.
PRORES_THREADS = 0
# prores_ks profile 3 = ProRes 422 HQ, the usual delivery/intermediate flavour.
PRORES_PROFILE = "3"
# Lossless RGB encoders by container: FFV1 in Matroska, PNG in QuickTime (each container's
# usual lossless codec); 8-bit and 16-bit pixel formats each. Decoded RGB comes back exactly.
_LOSSLESS = {".mkv": ("ffv1", "bgr0", "gbrp16le"), ".mov": ("png", "rgb24", "rgb48be")}
# AVColorSpace 0: the samples are RGB (no YUV matrix applies).
_COLORSPACE_RGB = 0
# Players' rule for untagged video: HD and up is BT.709, SD is BT.601.
HD_MIN_LINES = 720

# AVColorSpace ids (libavutil/pixfmt.h) -> swscale matrix names PyAV accepts.
_MATRIX_BY_ID = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
# The AVColorSpace / primaries / transfer ids written as tags for the matrix we encode with.
_TAGS_BY_MATRIX = {
    "itu709": (1, 1, 1),
    "itu601": (5, 5, 6),
    "smpte170m": (6, 6, 6),
    "smpte240m": (7, 7, 7),
    "fcc": (4, 4, 6),
    "bt2020": (9, 9, 14),
}
# AVColorRange: 1 = limited ("MPEG", 16-235), 2 = full ("JPEG").
_RANGE_FULL = 2
_RANGE_LIMITED = 1
# errno values that make an FFmpeg write error a disk problem, reported as such.
_SYSTEM_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise InputError("video needs PyAV: pip install 'framefill[video]' (or pip install av)") from None
    return av


def is_video_path(path: str | Path) -> bool:
    """True for a path whose extension is a video container framefill reads or writes."""
    return Path(str(path)).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds (first video stream, first audio stream)."""

    path: str
    width: int
    height: int
    frame_rate: Fraction
    time_base: Fraction
    frame_count: int
    duration_s: float
    codec: str
    pix_fmt: str
    bit_depth: int
    matrix: str
    full_range: bool
    audio_codec: str | None
    audio_rate: int | None

    @property
    def fps(self) -> float:
        return float(self.frame_rate)


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: its index in decode order, pts in ``time_base``, RGB H,W,3 float32 in [0, 1]."""

    index: int
    pts: int | None
    time_base: Fraction
    rgb: np.ndarray


def _open_input(path: Path) -> Any:
    av = _av()
    problem = file_problem(path)
    if problem is not None:
        raise InputError(f"cannot read video {path}: {problem}")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(f"cannot read video {path}: not a readable video file ({_short(err)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"cannot read video {path}: it has no video stream")
    return container


def _is_system_write_failure(err: BaseException) -> bool:
    """An FFmpeg error that is really the disk (full, read-only, no permission), not the encoder."""
    code = getattr(err, "errno", None)
    if not isinstance(code, int):
        code = write_errno(str(err))
    return code in _SYSTEM_WRITE_ERRNOS


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:160]


def _matrix(colorspace: int, height: int) -> str:
    return _MATRIX_BY_ID.get(int(colorspace or 0), "itu709" if height >= HD_MIN_LINES else "itu601")


def _full_range(color_range: int, pix_fmt: str) -> bool:
    return int(color_range or 0) == _RANGE_FULL or pix_fmt.startswith("yuvj")


def _bit_depth(fmt: Any) -> int:
    try:
        return max(int(c.bits) for c in fmt.components)
    except (AttributeError, ValueError):
        return 8


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's stream facts; counts frames by demuxing when the header does not say.

    Raises:
        InputError: missing, unreadable or video-less file, or one whose codec
            this FFmpeg build cannot decode.
    """
    av = _av()
    p = Path(path)
    container = _open_input(p)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or ctx.codec is None:
            raise InputError(f"cannot read video {p}: its video codec is not supported by this FFmpeg build")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputError(f"cannot read video {p}: it declares no frame rate")
        count = int(stream.frames or 0)
        if count <= 0:
            count = sum(1 for pkt in container.demux(stream) if pkt.size)
        audio = container.streams.audio[0] if container.streams.audio else None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = count / float(rate)
        pix_fmt = ctx.pix_fmt or ""
        return VideoInfo(
            path=str(p),
            width=int(ctx.width),
            height=int(ctx.height),
            frame_rate=Fraction(rate),
            time_base=Fraction(stream.time_base),
            frame_count=count,
            duration_s=duration,
            codec=ctx.name,
            pix_fmt=pix_fmt,
            bit_depth=_bit_depth(ctx.format) if ctx.format is not None else 8,
            matrix=_matrix(ctx.colorspace, int(ctx.height)),
            full_range=_full_range(ctx.color_range, pix_fmt),
            audio_codec=audio.codec_context.name if audio is not None and audio.codec_context else None,
            audio_rate=int(audio.codec_context.sample_rate) if audio is not None and audio.codec_context else None,
        )
    except av.FFmpegError as err:
        raise InputError(f"cannot read video {p}: {_short(err)}") from None
    finally:
        container.close()


def read_video(path: str | Path, info: VideoInfo | None = None,
               frames: Collection[int] | None = None) -> Iterator[DecodedFrame]:
    """Decode the frames of the first video stream as RGB float32 in [0, 1], in presentation order.

    8-bit sources decode to ``rgb24``, deeper ones to ``rgb48le``; YUV is
    converted with the matrix and range in ``info`` (see the module docstring).
    ``frames`` (indices, 0 = the first frame) limits the frames yielded: the
    decode starts at the keyframe at or before the first of them (see
    :func:`plan_range_decode`), so a farm segment decodes only its own part of
    the file, with the same pixels and indices as a decode of the whole file.

    Raises:
        InputError: unreadable file, a decode error (names the frame), or
            ``frames`` outside the file's frames or missing from it.
    """
    p = Path(path)
    info = info or probe_video(p)
    if frames is None:
        yield from _decode(p, info, None, None)
        return
    wanted = frozenset(int(f) for f in frames)
    outside = sorted(f for f in wanted if not 0 <= f < info.frame_count)
    if outside:
        raise InputError(f"frames {format_frame_range(outside)} are not in {p}: it has frames 0-{info.frame_count - 1} "
                         "(0 is the first); give frames in that range")
    if not wanted:
        return
    got: list[int] = []
    plan = plan_range_decode(p, info, min(wanted), max(wanted))
    try:
        for decoded in _decode(p, info, wanted, plan):
            got.append(decoded.index)
            yield decoded
    except _SeekMissed:  # raised before any frame was yielded
        for decoded in _decode(p, info, wanted, None):
            got.append(decoded.index)
            yield decoded
    missing = sorted(wanted - set(got))
    if missing:
        raise InputError(f"cannot decode frames {format_frame_range(missing)} of {p}: the file ends or is damaged "
                         "there; check it with ffprobe (or re-export it)")


class _SeekMissed(Exception):
    """A seek did not land at or before the first wanted frame: decode from the top instead."""


def _decode(p: Path, info: VideoInfo, wanted: frozenset[int] | None,
            plan: RangeDecode | None) -> Iterator[DecodedFrame]:
    """Decode ``wanted`` frames (None: all), from ``plan``'s seek point when it has one.

    Raises:
        _SeekMissed: before any frame is yielded, when the seek cannot be trusted.
        InputError: an unreadable file or a decode error.
    """
    av = _av()
    seek = plan is not None and plan.seek_to is not None
    first = min(wanted) if wanted else 0
    last = max(wanted) if wanted else info.frame_count - 1
    container = _open_input(p)
    index = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        deep = info.bit_depth > 8
        fmt, top = ("rgb48le", 65535.0) if deep else ("rgb24", 255.0)
        rng = "JPEG" if info.full_range else "MPEG"
        if seek:
            assert plan is not None and plan.seek_to is not None
            container.seek(plan.seek_to, stream=stream, backward=True, any_frame=False)
        started = False
        for frame in container.decode(stream):
            if seek:
                # After a seek a frame's index is its pts's rank among the packets (plan_range_decode).
                assert plan is not None
                found = plan.index_of.get(frame.pts) if frame.pts is not None else None
                if not started and (found is None or found > first):
                    raise _SeekMissed
                if found is None:
                    break  # the plan knows every frame up to the last wanted one: this one is later
                index = found
            started = True
            if index > last:
                break
            if wanted is None or index in wanted:
                arr = frame.to_ndarray(
                    format=fmt, src_colorspace=info.matrix, dst_colorspace=info.matrix, src_color_range=rng,
                    dst_color_range="JPEG",
                )
                rgb = arr.astype(np.float32) / np.float32(top)
                yield DecodedFrame(index, frame.pts, Fraction(frame.time_base or stream.time_base), rgb)
            index += 1
    except av.FFmpegError as err:
        raise InputError(f"cannot decode {p} at frame {index}: {_short(err)}") from None
    finally:
        container.close()


@dataclass(frozen=True)
class RangeDecode:
    """Where a decode of frames from ``first`` on starts: ``seek_to`` (a timestamp in the stream's
    time base, at or before the keyframe to start from; None: decode from the top), and each
    frame's index by its pts."""

    seek_to: int | None
    index_of: dict[int, int]


def plan_range_decode(path: str | Path, info: VideoInfo, first: int, last: int | None = None) -> RangeDecode:
    """Where to start decoding so that frames ``first``..``last`` (0 = the first frame) come out right.

    The packets are demuxed (not decoded): frame ``i`` is the packet with the
    ``i``-th smallest pts, which is how a decode from the top counts frames
    (packets the container marks to discard, e.g. before an edit list's
    start, are not frames). The decode starts at the last keyframe whose pts
    is at or before frame ``first``'s, whatever the GOP, and the seek target is
    that keyframe's smaller timestamp (containers index by dts or pts). The
    demux stops once frames up to ``last`` (None: the end) are all known: a
    later packet's pts is at least its dts, so once a dts passes the pts of
    frame ``last`` no earlier frame can follow. A file whose packets lack a pts,
    repeat one, or (read to the end) do not add up to the frame count is
    decoded from the top instead (``seek_to`` None): slower, still exact.
    """
    av = _av()
    container = _open_input(Path(path))
    stop_after = info.frame_count - 1 if last is None else last
    whole = True
    try:
        stream = container.streams.video[0]
        stamps: list[tuple[int, bool, int]] = []
        sorted_pts: list[int] = []
        for packet in container.demux(stream):
            if not packet.size or packet.is_discard:
                continue
            if packet.pts is None:
                return RangeDecode(None, {})
            dts = packet.dts if packet.dts is not None else packet.pts
            stamps.append((int(packet.pts), bool(packet.is_keyframe), int(dts)))
            bisect.insort(sorted_pts, int(packet.pts))
            if packet.dts is not None and bisect.bisect_left(sorted_pts, int(packet.dts)) > stop_after:
                whole = False  # frames 0..stop_after are all known and in order
                break
    except av.FFmpegError as err:
        raise InputError(f"cannot read video {path}: {_short(err)}") from None
    finally:
        container.close()
    stamps.sort()
    if not whole:
        stamps = stamps[:stop_after + 1]  # the later ones' ranks are not final yet
    index_of = {pts: i for i, (pts, _key, _dts) in enumerate(stamps)}
    if len(index_of) != len(stamps) or (whole and len(stamps) != info.frame_count) or not 0 <= first < len(stamps):
        return RangeDecode(None, {})
    target = stamps[first][0]
    keys = [(pts, dts) for pts, key, dts in stamps if key and pts <= target]
    if not keys:
        return RangeDecode(None, {})
    key_pts, key_dts = keys[-1]
    return RangeDecode(min(key_pts, key_dts), index_of)


def _encoder_available(name: str) -> bool:
    av = _av()
    try:
        av.codec.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return False
    return True


def pick_codec(dest: str | Path, codec: VideoCodec = "auto", *, deep: bool = False) -> tuple[str, str, list[str]]:
    """The encoder, pixel format and any warnings for an output file.

    ``auto``: ProRes 422 HQ (``prores_ks``) for ``.mov`` when the build has it,
    H.264 otherwise. H.264 is ``libx264`` when present, else FFmpeg's
    ``mpeg4`` with a warning (lower quality per bit). ``lossless``: RGB that
    decodes back exactly, FFV1 in ``.mkv`` or PNG in ``.mov``, 16 bits when
    ``deep`` (a source over 8 bits) else 8.

    Raises:
        InputError: an unknown codec, ProRes asked for but missing from the build,
            ProRes in a container other than .mov/.mkv, or lossless in another than .mkv/.mov.
    """
    ext = Path(str(dest)).suffix.lower()
    warnings: list[str] = []
    want = codec
    if want == "lossless":
        if ext not in _LOSSLESS:
            raise InputError(f"lossless video goes in .mkv (FFV1) or .mov (PNG), not {ext}; change --out")
        encoder, pix8, pix16 = _LOSSLESS[ext]
        if not _encoder_available(encoder):
            raise InputError(f"this FFmpeg build has no {encoder} encoder for lossless {ext}; use --codec h264")
        return encoder, pix16 if deep else pix8, warnings
    if want == "auto":
        want = "prores" if ext == ".mov" and _encoder_available("prores_ks") else "h264"
    if want == "prores":
        if not _encoder_available("prores_ks"):
            raise InputError("this FFmpeg build has no ProRes encoder (prores_ks); use --codec h264")
        if ext not in (".mov", ".mkv"):
            raise InputError(f"ProRes goes in .mov (or .mkv), not {ext}; change --out or use --codec h264")
        return "prores_ks", "yuv422p10le", warnings
    if want != "h264":
        raise InputError(f"unknown --codec {codec!r}; use auto, h264, prores or lossless")
    for name in ("libx264", "h264"):
        if _encoder_available(name):
            return name, "yuv420p", warnings
    warnings.append("no H.264 encoder in this FFmpeg build; writing MPEG-4 Part 2 (mpeg4) instead")
    return "mpeg4", "yuv420p", warnings


class VideoWriter:
    """Encode RGB frames into a video file with the source's timing, colour tags and audio.

    Use as a context manager; the file appears at ``dest`` only when the block
    succeeds (written to a temporary beside it, then renamed). ``warn`` receives
    one-line warnings (audio re-encoded, fallback codec). ``frame_rate`` gives
    the output another rate than the source's (a retime): the stream's time
    base is then 1/rate, and each frame's pts is given in it.
    """

    def __init__(
        self,
        dest: str | Path,
        *,
        source: VideoInfo,
        width: int,
        height: int,
        codec: VideoCodec = "auto",
        crf: int | None = None,
        audio: bool = True,
        warn: Callable[[str], None] | None = None,
        frame_rate: Fraction | None = None,
    ) -> None:
        self.dest = Path(dest)
        self.source = source
        self.frame_rate = source.frame_rate if frame_rate is None else Fraction(frame_rate)
        self.time_base = source.time_base if frame_rate is None else 1 / self.frame_rate
        self.width = width
        self.height = height
        self.codec_choice = codec
        self.crf = DEFAULT_CRF if crf is None else int(crf)
        self.copy_audio = audio and source.audio_codec is not None
        self.warn = warn or (lambda message: None)
        self.frames_written = 0
        self._atomic: Any = None
        self._container: Any = None
        self._video: Any = None
        self._audio_out: Any = None
        self._audio_in: Any = None
        self._audio_packets: Iterator[Any] | None = None
        self._audio_pending: Any = None
        self._transcode_audio = False
        self._rgb8 = False  # 8-bit RGB output: quantised here, exactly (swscale dithers 16 -> 8 bits)

    # -- setup -------------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        from framefill.atomic import atomic_output

        av = _av()
        encoder, pix_fmt, warnings = pick_codec(self.dest, self.codec_choice, deep=self.source.bit_depth > 8)
        for message in warnings:
            self.warn(message)
        if pix_fmt.startswith(("yuv420", "yuv422")) and self.width % 2:
            raise InputError(f"cannot write {self.dest}: {encoder} needs an even width, got {self.width}")
        if pix_fmt.startswith("yuv420") and self.height % 2:
            raise InputError(f"cannot write {self.dest}: {encoder} needs an even height, got {self.height}")
        self._atomic = atomic_output(self.dest)
        tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(tmp), "w")
            video = self._container.add_stream(encoder, rate=self.frame_rate)
            video.width, video.height, video.pix_fmt = self.width, self.height, pix_fmt
            video.codec_context.time_base = self.time_base
            space, primaries, trc = _TAGS_BY_MATRIX.get(self.source.matrix, _TAGS_BY_MATRIX["itu709"])
            ctx = video.codec_context
            self._rgb8 = pix_fmt in ("bgr0", "rgb24")
            if encoder in ("ffv1", "png"):
                space = _COLORSPACE_RGB  # RGB samples: no YUV matrix
            ctx.colorspace, ctx.color_primaries, ctx.color_trc = space, primaries, trc
            ctx.color_range = _RANGE_FULL if self.source.full_range else _RANGE_LIMITED
            if encoder == "libx264":
                ctx.thread_type, ctx.thread_count = "FRAME", X264_THREADS
                video.options = {"crf": str(self.crf), "preset": X264_PRESET, "x264-params": X264_PARAMS}
            elif encoder == "prores_ks":
                ctx.thread_count = PRORES_THREADS
                video.options = {"profile": PRORES_PROFILE}
            elif encoder in ("ffv1", "png"):
                ctx.thread_count = 1  # FFV1 slices follow the thread count; one keeps the bytes fixed
            elif encoder == "mpeg4":
                ctx.thread_count = 1  # slices per frame follow the thread count
                video.options = {"qscale": "2"}
            else:  # FFmpeg's own h264 encoders (no libx264): pin what can be pinned
                ctx.thread_count = 1
            self._video = video
            if self.copy_audio:
                self._open_audio()
        except BaseException:
            self._abort()
            raise
        return self

    def _open_audio(self) -> None:
        av = _av()
        self._audio_in = av.open(self.source.path, "r")
        in_stream = self._audio_in.streams.audio[0]
        supported = getattr(self._container, "supported_codecs", None)
        codec = in_stream.codec_context.name
        if supported is None or codec in supported:
            self._audio_out = self._container.add_stream_from_template(in_stream)
        else:
            self._transcode_audio = True
            self.warn(f"the {self.dest.suffix} container cannot hold {codec} audio; re-encoding it to AAC")
            self._audio_out = self._container.add_stream("aac", rate=in_stream.codec_context.sample_rate)
            self._audio_out.layout = in_stream.codec_context.layout
        self._audio_packets = iter(self._audio_in.demux(in_stream))

    # -- writing -----------------------------------------------------------------------
    def write(self, rgb: np.ndarray, *, pts: int | None, time_base: Fraction) -> None:
        """Encode one RGB frame (H,W,3 float in [0, 1]; clipped, rounded to 16 bits, or to 8 for 8-bit RGB
        output, where the codes come back exactly) at ``pts``.

        Raises:
            InputError: wrong size, or an encoder error.
        """
        av = _av()
        if rgb.shape != (self.height, self.width, 3):
            raise InputError(f"frame of shape {rgb.shape} for a {self.width}x{self.height} video {self.dest}")
        clean = np.clip(np.nan_to_num(rgb, nan=0.0), 0.0, 1.0)
        if self._rgb8:
            codes8 = np.rint(clean * np.float32(255.0)).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(codes8), format="rgb24")
            if self._video.pix_fmt != "rgb24":
                frame = frame.reformat(format=self._video.pix_fmt)  # a channel shuffle: exact
        else:
            codes = np.rint(clean * np.float32(65535.0)).astype("<u2")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(codes), format="rgb48le")
            rng = "JPEG" if self.source.full_range else "MPEG"
            frame = frame.reformat(
                format=self._video.pix_fmt, src_colorspace=self.source.matrix, dst_colorspace=self.source.matrix,
                src_color_range="JPEG", dst_color_range=rng,
            )
        frame.pts = pts if pts is not None else self.frames_written
        frame.time_base = time_base
        try:
            for packet in self._video.encode(frame):
                self._container.mux(packet)
            self._mux_audio_until(float(frame.pts * time_base))
        except av.FFmpegError as err:
            if _is_system_write_failure(err):
                raise write_error(self.dest, _short(err)) from None
            raise InputError(f"cannot encode frame {self.frames_written} of {self.dest}: {_short(err)}") from None
        self.frames_written += 1

    def _mux_audio_until(self, seconds: float | None) -> None:
        """Copy (or re-encode) source audio up to ``seconds`` (None: all of it), keeping streams interleaved."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._audio_pending
            if packet is None:
                packet = next(self._audio_packets, None)
                if packet is None:
                    self._audio_packets = None
                    if self._transcode_audio:
                        for out in self._audio_out.encode(None):
                            self._container.mux(out)
                    return
            if packet.dts is None and packet.pts is None:
                self._audio_pending = None
                continue  # a flush marker from the demuxer, not data
            when = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and when is not None and float(when * packet.time_base) > seconds:
                self._audio_pending = packet
                return
            self._audio_pending = None
            if self._transcode_audio:
                for frame in packet.decode():
                    frame.pts = None
                    for out in self._audio_out.encode(frame):
                        self._container.mux(out)
            else:
                packet.stream = self._audio_out
                self._container.mux(packet)

    # -- finishing ---------------------------------------------------------------------
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._abort(exc_type, exc, tb)
            return
        av = _av()
        try:
            for packet in self._video.encode(None):
                self._container.mux(packet)
            self._mux_audio_until(None)
            self._container.close()
            self._container = None
        except av.FFmpegError as err:
            self._abort()
            if _is_system_write_failure(err):
                raise write_error(self.dest, _short(err)) from None
            raise InputError(f"cannot finish {self.dest}: {_short(err)}") from None
        finally:
            if self._audio_in is not None:
                self._audio_in.close()
                self._audio_in = None
        self._atomic.__exit__(None, None, None)

    def _abort(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        av = _av()
        for handle in (self._container, self._audio_in):
            if handle is not None:
                try:
                    handle.close()
                except (av.FFmpegError, OSError):
                    pass  # already failing: closing is best effort, the first error is the one to report
        self._container = self._audio_in = None
        if self._atomic is not None:
            error = exc if exc is not None else InputError(f"writing {self.dest} failed")
            try:
                # atomic_output removes its temporary and re-raises what it is given.
                self._atomic.__exit__(type(error), error, tb)
            except type(error):
                pass
            self._atomic = None


def even(value: int) -> int:
    """The largest even number <= ``value`` (and at least 2): 4:2:0/4:2:2 video needs even sizes."""
    return max(2, value - value % 2)


def nominal_rate(rate: Fraction | float | str) -> Fraction:
    """A frame rate as the exact fraction it stands for: a whole rate, or an NTSC rate N*1000/1001.

    ``59.94``, ``"29.97"``, Matroska's millisecond-rounded ``19001/317`` -> ``60000/1001``;
    ``24.0`` -> ``24``. A rate within 1e-4 (relative) of one of those is snapped to it
    (24 and 24000/1001 are 1e-3 apart); any other rate is kept as given.
    """
    value = Fraction(repr(rate)) if isinstance(rate, float) else Fraction(rate)  # 59.94, not its binary value
    if value <= 0:
        return value
    for exact in (Fraction(round(value)), Fraction(round(value * Fraction(1001, 1000)) * 1000, 1001)):
        if exact > 0 and abs(value - exact) <= value * Fraction(1, 10_000):
            return exact
    return value


def frame_seconds(pts: int | None, time_base: Fraction, index: int, rate: Fraction) -> float:
    """A frame's time in seconds from its pts, or from its index when it has none."""
    if pts is None:
        return index / float(rate)
    return float(pts * time_base)

