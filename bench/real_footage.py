"""Real footage as a "fully rendered shot": a clip of a video file written as a scene-linear EXR sequence.

    PYTHONPATH=core .venv/bin/python bench/real_footage.py VIDEO [--frames 0-31] [--out DIR]

QC's benchmark (bench/qc.py --real) scores the fills of real footage the same way as the rendered
scenes: every Nth frame is kept, the rest filled, and every fill measured against the real frame.
The video's 8-bit frames are decoded as sRGB and converted to linear Rec.709 (the inverse sRGB
curve), so the display proxy QC measures on gives back the video's own code values.

The videos are not part of the repository. The ones the closing notes used come from
https://github.com/intel-iot-devkit/sample-videos (Creative Commons Attribution 4.0):
`bottle-detection.mp4` and the `asl_gestures/*.mkv` clips (a person signing, hand-held
lighting, real sensor noise and compression). None of them is an evaluation-only set.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))


def srgb_to_linear(code: np.ndarray) -> np.ndarray:
    """8-bit sRGB code values -> linear float32 (the inverse of the sRGB encoding curve)."""
    v = code.astype(np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def clip_folder(video: Path, first: int, last: int, root: Path) -> Path:
    """Where a clip's EXRs live: keyed on the video's bytes and the range."""
    digest = hashlib.sha256(video.read_bytes()).hexdigest()[:12]
    return root / f"{video.stem}-{first}-{last}-{digest}"


def extract(video: Path, first: int, last: int, root: Path) -> str:
    """Write frames ``first..last`` (0-based decode order) of ``video`` as ``<stem>.####.exr`` (frame 1001 on).

    Returns the sequence's pattern; a complete earlier extraction is reused.
    """
    import av

    from framefill.frames import image_from_arrays, write_exr

    folder = clip_folder(video, first, last, root)
    stem = "".join(c if c.isalnum() else "_" for c in video.stem)
    pattern = str(folder / f"{stem}.####.exr")
    count = last - first + 1
    if len(list(folder.glob(f"{stem}.*.exr"))) == count:
        return pattern
    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index < first:
                continue
            if index > last:
                break
            rgb = srgb_to_linear(frame.to_ndarray(format="rgb24"))
            channels = {c: rgb[..., i].astype(np.float16) for i, c in enumerate("RGB")}
            path = folder / f"{stem}.{1001 + index - first:04d}.exr"
            write_exr(path, image_from_arrays(channels, compression="zip",
                                              attributes={"framefill/source": f"{video.name} frame {index}"}))
    written = len(list(folder.glob(f"{stem}.*.exr")))
    if written != count:
        raise SystemExit(f"{video} has only {first + written} frames; ask for --frames within them")
    return pattern


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--frames", default="0-31", help="FIRST-LAST, 0-based (default 0-31)")
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "framefill" / "real-footage")
    args = ap.parse_args(argv)
    first, _, last = args.frames.partition("-")
    print(extract(args.video, int(first), int(last), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
