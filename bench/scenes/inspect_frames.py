"""Check a rendered scene folder: channels, dtypes, per-channel min/max, and motion per frame.

    python bench/scenes/inspect_frames.py DIR [--prefix NAME] [--png OUT_DIR]

Prints the channel list and dtypes of the first frame, per-channel min/max over the sequence,
the count of beauty pixels above 1.0, and the frame-to-frame mean absolute difference of the
beauty (RGB), which shows where the motion is slow and where it is fast. --png writes a
tone-mapped preview of every frame (beauty, depth, normals, index) for a quick look.
Needs only numpy + OpenEXR (no bpy).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exr_io import read_frame  # noqa: E402


def frames_in(folder: Path, prefix: str | None) -> list[tuple[int, Path]]:
    pat = re.compile(rf"^{re.escape(prefix) if prefix else '.+?'}\.(\d+)\.exr$")
    out = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := pat.match(p.name)))
    if not out:
        raise SystemExit(f"no PREFIX.####.exr frames in {folder}")
    return out


def _png(path: Path, chans: dict[str, np.ndarray]) -> None:
    import cv2  # only for --png

    rgb = np.stack([chans[c].astype(np.float32) for c in "RGB"], -1)
    tone = np.clip(rgb / (1.0 + rgb), 0, 1) ** (1 / 2.2) * 1.35  # Reinhard so > 1 stays visible
    depth = chans["depth.Z"].astype(np.float32)
    finite = depth < 6e4
    d = np.zeros_like(depth)
    if finite.any():
        d[finite] = 1.0 - (depth[finite] - depth[finite].min()) / max(np.ptp(depth[finite]), 1e-6)
    n = np.stack([chans[f"N.{c}"].astype(np.float32) for c in "XYZ"], -1) * 0.5 + 0.5
    idx = chans["IndexOB.X"].astype(np.int64)
    rng = np.random.default_rng(0)
    lut = rng.random((int(idx.max()) + 1, 3))
    lut[0] = 0
    top = np.concatenate([tone, np.repeat(d[..., None], 3, -1)], 1)
    bot = np.concatenate([n, lut[idx]], 1)
    img = (np.clip(np.concatenate([top, bot], 0), 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(path), img[..., ::-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--prefix")
    ap.add_argument("--png", type=Path)
    args = ap.parse_args(argv)
    seq = frames_in(args.folder, args.prefix)
    first, hdr = read_frame(seq[0][1])
    print(f"{len(seq)} frames {seq[0][0]}-{seq[-1][0]}, {sum(p.stat().st_size for _, p in seq) / 1e6:.3f} MB,"
          f" compression {hdr['compression'].name}, dataWindow {[list(v) for v in hdr['dataWindow']]}")
    print("channels:", ", ".join(f"{k}:{v.dtype}" for k, v in sorted(first.items())))
    print("attributes:", {k: v for k, v in hdr.items() if k.startswith("framefill/")})
    lo = {k: np.inf for k in first}
    hi = {k: -np.inf for k in first}
    prev = None
    diffs = []
    over = []
    for frame, path in seq:
        chans, _ = read_frame(path)
        for k, v in chans.items():
            v = v.astype(np.float32)
            lo[k] = min(lo[k], float(v.min()))
            hi[k] = max(hi[k], float(v.max()))
        rgb = np.stack([chans[c].astype(np.float32) for c in "RGB"], -1)
        over.append(int((rgb.max(-1) > 1.0).sum()))
        if prev is not None:
            diffs.append((frame, float(np.abs(rgb - prev).mean())))
        prev = rgb
        if args.png:
            args.png.mkdir(parents=True, exist_ok=True)
            _png(args.png / f"{path.stem}.png", chans)
    for k in sorted(first):
        print(f"  {k:10s} min {lo[k]:10.4f}  max {hi[k]:10.4f}")
    print(f"beauty pixels > 1.0 per frame: min {min(over)}, max {max(over)}")
    print("beauty mean |frame - previous| (RGB):")
    print("  " + "  ".join(f"{f}:{d:.4f}" for f, d in diffs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
