"""Small test videos written with PyAV: a soft disc moving 2 px a frame over a gradient, 96x64 RGB in
PNG-in-QuickTime (lossless, exact timestamps: the track's time scale is the frame rate's), with or without
a PCM audio track. Pixels and timing can then be checked exactly on the decoded output."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

WIDTH, HEIGHT = 96, 64
SAMPLE_RATE = 48000


def render(position: float, shot: int = 0) -> np.ndarray:
    """The test scene at a (fractional) frame position: a disc moving 2 px a frame over a soft
    gradient; shot 1 is another picture (other background and disc)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    img = np.empty((HEIGHT, WIDTH, 3))
    img[..., 0] = 0.2 + 0.3 * xx / WIDTH
    img[..., 1] = 0.3 + 0.2 * yy / HEIGHT
    img[..., 2] = 0.55 if shot == 0 else 0.05
    cx, cy, colour = (18 + 2.0 * position, 30.0, (0.9, 0.8, 0.1)) if shot == 0 else \
        (70 - 1.5 * position, 36.0, (0.1, 0.9, 0.9))
    # An anti-aliased edge: the picture moves by fractions of a pixel, as a real one does.
    inside = np.clip(9.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)[..., None]
    img = img * (1 - inside) + np.array(colour) * inside
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_clip(path, frames: list[np.ndarray], rate: Fraction = Fraction(24), *, audio: bool = False) -> None:
    """PNG video (rgb24) at ``rate``; ``audio``: with a mono 16-bit PCM track exactly as long as the video."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("png", rate=rate)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "rgb24"
        sound = container.add_stream("pcm_s16le", rate=SAMPLE_RATE) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is None:
            return
        total = round(SAMPLE_RATE * len(frames) / rate)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total) / SAMPLE_RATE) * 32767).astype(np.int16)[None]
        for start in range(0, total, 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start : start + 1024]), format="s16",
                                               layout="mono")
            chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
            for packet in sound.encode(chunk):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
