"""A synthetic multi-layer EXR shot whose every frame is known exactly.

A textured background slides right by ``bg_speed`` px per frame and a square
foreground card slides left by ``fg_speed`` px per frame, passing in front of the
background (occlusion). Every frame has: R,G,B,A half (with HDR highlights up to
``HIGHLIGHT``), depth.Z float, N.X/N.Y/N.Z half, IndexOB.X float (object ids), and
a second part "aux" whose data window has a negative origin and differs from the
display window. Integer speeds make any frame exact, so filled frames have truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from framefill.frames import ExrImage, part_from_arrays, write_exr

HIGHLIGHT = 50.0
WIDTH, HEIGHT = 160, 96


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.5)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    checker = ((np.arange(w)[None, :] // 12 + np.arange(h)[:, None] // 12) % 2).astype(np.float32)
    return 0.15 + 0.6 * noise * (0.6 + 0.4 * checker)


def frame_layers(frame: int, *, bg_speed: int = 3, fg_speed: int = 4) -> dict[str, np.ndarray]:
    """Float32 layers of one frame (beauty, alpha, depth, normals, ids)."""
    h, w = HEIGHT, WIDTH
    bg = _texture(h, w * 4, seed=1)
    offset = (frame * bg_speed) % (w * 3)
    base = bg[:, offset : offset + w]
    rgb = np.stack([base, base * 0.85, base * 0.6], axis=-1)
    depth = np.full((h, w), 20.0, np.float32)
    ids = np.ones((h, w), np.float32)
    normals = np.zeros((h, w, 3), np.float32)
    normals[..., 2] = 1.0
    # A bright lamp on the background (moves with it): scene-linear highlights.
    lamp_x = (40 - offset) % (w * 3)
    if lamp_x < w - 6:
        rgb[20:26, lamp_x : lamp_x + 6] = HIGHLIGHT
    # The foreground card with its own texture, moving the other way.
    card = _texture(32, 32, seed=2)
    x0 = w - 40 - frame * fg_speed
    xs = slice(max(0, x0), max(0, min(w, x0 + 32)))
    if xs.stop > xs.start:
        cs = slice(xs.start - x0, xs.stop - x0)
        rgb[40:72, xs] = np.stack([card[:, cs] * 0.3, card[:, cs] * 0.9, card[:, cs]], axis=-1)
        depth[40:72, xs] = 5.0
        ids[40:72, xs] = 7.0
        normals[40:72, xs] = (0.0, 0.6, 0.8)
    alpha = np.ones((h, w), np.float32)
    alpha[:, :4] = 0.0  # a transparent strip at the left edge
    return {
        "R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2], "A": alpha, "depth.Z": depth,
        "N.X": normals[..., 0], "N.Y": normals[..., 1], "N.Z": normals[..., 2], "IndexOB.X": ids,
    }


def frame_image(frame: int, **speeds: int) -> ExrImage:
    layers = frame_layers(frame, **speeds)
    half = {n: a.astype(np.float16) for n, a in layers.items() if n in ("R", "G", "B", "A", "N.X", "N.Y", "N.Z")}
    full = {n: a.astype(np.float32) for n, a in layers.items() if n in ("depth.Z", "IndexOB.X")}
    beauty = part_from_arrays({**half, **full}, name="beauty", compression="zip",
                              attributes={"framefill_test/frame": str(frame),
                                          # Blender's per-frame stamps
                                          "Frame": f"{frame:04d}", "RenderTime": "00:01.23"})
    # An auxiliary part over a smaller, negatively offset data window.
    aux = layers["G"][10:60, 20:120] * 2.0
    aux_part = part_from_arrays({"aux.Y": aux.astype(np.float32)}, name="aux", origin=(-8, -4),
                                display_window=(0, 0, WIDTH - 1, HEIGHT - 1), compression="piz")
    return ExrImage(parts=[beauty, aux_part])


def write_shot(folder: Path, frames, **speeds: int) -> str:
    """Write the given frames as ``folder/shot.####.exr``; returns the pattern."""
    for f in frames:
        write_exr(folder / f"shot.{f:04d}.exr", frame_image(f, **speeds))
    return str(folder / "shot.####.exr")
