"""QC feature maps: what each map says on frames with known motion, the grid, and the sidecar."""

from __future__ import annotations

import numpy as np
import pytest
from framefill.errors import InputError
from framefill.ops.errormaps import FEATURE_NAMES, prediction_features
from framefill.pipeline.qc_features import (
    FEATURES_VERSION,
    crop_to_window,
    feature_grid,
    feature_maps,
    feature_scale,
    feature_sidecar_path,
    read_feature_sidecar,
    write_feature_sidecar,
)


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return np.repeat((0.1 + 0.8 * noise)[..., None], 3, axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def pan():
    """Frame 1 is frame 0 moved right by 4 px: at t=0.5 the true flows are -2 and +2 px in x."""
    big = _texture(72, 120)
    img0 = np.ascontiguousarray(big[:, 8:104])
    img1 = np.ascontiguousarray(big[:, 4:100])  # content moves right by 4 px
    return img0, img1


def _flows(h: int, w: int, dx0: float, dx1: float) -> tuple[np.ndarray, np.ndarray]:
    ft0 = np.zeros((h, w, 2), np.float32)
    ft1 = np.zeros((h, w, 2), np.float32)
    ft0[..., 0], ft1[..., 0] = dx0, dx1
    return ft0, ft1


def test_right_motion_gives_small_residual_and_wrong_motion_a_large_one(pan):
    img0, img1 = pan
    h, w = img0.shape[:2]
    mask = np.full((h, w), 0.5, np.float32)
    right = prediction_features(img0, img1, *_flows(h, w, -2.0, 2.0), mask)
    wrong = prediction_features(img0, img1, *_flows(h, w, 0.0, 0.0), mask)
    assert list(right) == list(FEATURE_NAMES)
    assert all(m.shape == (h, w) and m.dtype == np.float32 for m in right.values())
    inner = (slice(4, -4), slice(8, -8))  # away from the replicated borders
    assert float(right["residual"][inner].max()) < 1e-5  # integer shifts warp exactly
    assert float(wrong["residual"][inner].mean()) > 0.02
    np.testing.assert_allclose(right["flow_mag"], 4.0, atol=1e-6)
    np.testing.assert_allclose(right["mask_occlusion"], 0.0, atol=1e-6)
    # DIS sees the same 4 px pan, so it agrees with the right motion and not with the wrong one.
    assert float(np.median(right["flow_disagreement"][inner])) < 0.5
    assert float(np.median(wrong["flow_disagreement"][inner])) > 3.0
    # A rigid pan has one flow direction everywhere: almost no angular spread.
    assert float(np.median(right["angle_std"][inner])) < 0.1


def test_mask_occlusion_follows_the_blend_mask(pan):
    img0, img1 = pan
    h, w = img0.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[:, : w // 2] = 1.0
    maps = prediction_features(img0, img1, *_flows(h, w, -2.0, 2.0), mask)
    np.testing.assert_allclose(maps["mask_occlusion"], 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "scale", "grid"),
    [((180, 320), 1.0, (180, 320)), ((270, 480), 1.5, (180, 320)), ((1080, 1920), 6.0, (180, 320)),
     ((2160, 4096), 12.8, (169, 320)), ((54, 96), 0.3, (180, 320)), ((4320, 8192), 25.6, (169, 320)),
     ((640, 480), 2.0, (320, 240))],
)
def test_every_frame_size_reaches_the_same_grid_scale(shape, scale, grid):
    assert feature_scale(*shape) == pytest.approx(scale)
    assert feature_grid(*shape) == grid


def test_feature_maps_reduce_the_grid_and_leave_the_motion_alone(pan):
    import torch
    from framefill.models.interp import Motion

    img0, img1 = pan
    proxy0 = np.tile(img0, (1, 11, 1))  # 72 x 1056: reduced by 3.3 -> 22 x 320
    proxy1 = np.tile(img1, (1, 11, 1))
    h, w = proxy0.shape[:2]
    flow_t0 = torch.zeros((1, 2, h, w))
    flow_t0[:, 0] = -8.0
    flow_t1 = -flow_t0.clone()
    mask = torch.full((1, 1, h, w), 0.5)
    motion = Motion(flow_t0, flow_t1, mask)
    before = [t.clone() for t in (flow_t0, flow_t1, mask)]
    maps = feature_maps(proxy0, proxy1, motion, 0.5)
    assert feature_grid(h, w) == (22, 320)
    assert maps["residual"].shape == (22, 320)
    np.testing.assert_allclose(maps["flow_mag"], 16.0 * 320 / 1056, atol=1e-4)  # 16 px at full size, in grid px
    for a, b in zip(before, (flow_t0, flow_t1, mask)):
        assert torch.equal(a, b)


def test_sidecar_round_trip(tmp_path):
    pattern = str(tmp_path / "out" / "shot.####.exr")
    rng = np.random.default_rng(5)
    maps = {n: rng.random((9, 16), dtype=np.float32) * 10 for n in FEATURE_NAMES}
    record = write_feature_sidecar(pattern, 1002, maps, t=0.5, canvas=(-2, -1, 29, 16))
    assert record == {"path": ".framefill/shot._.exr/features/1002.exr", "version": FEATURES_VERSION}
    path = feature_sidecar_path(pattern, 1002)
    assert path == tmp_path / "out" / record["path"]
    side = read_feature_sidecar(path)
    assert side is not None and side.canvas == (-2, -1, 29, 16)
    for n in FEATURE_NAMES:
        np.testing.assert_array_equal(side.maps[n], maps[n].astype(np.float16).astype(np.float32))
    assert read_feature_sidecar(tmp_path / "missing.exr") is None
    path.write_bytes(b"not an exr")
    assert read_feature_sidecar(path) is None


def test_sidecar_of_another_version_is_ignored(tmp_path, monkeypatch):
    import framefill.pipeline.qc_features as qf

    pattern = str(tmp_path / "shot.####.exr")
    maps = {n: np.zeros((4, 4), np.float32) for n in FEATURE_NAMES}
    write_feature_sidecar(pattern, 7, maps, t=0.5, canvas=(0, 0, 3, 3))
    monkeypatch.setattr(qf, "FEATURES_VERSION", FEATURES_VERSION + 1)
    assert read_feature_sidecar(feature_sidecar_path(pattern, 7)) is None


def test_crop_to_window():
    grid = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    maps = {"a": grid}
    # Canvas 16 x 12 px on a 8 x 6 grid (scale 2); the window is its right half below row 4.
    out = crop_to_window(maps, (0, 0, 15, 11), (8, 4, 15, 11))
    np.testing.assert_array_equal(out["a"], grid[2:6, 4:8])
    assert crop_to_window(maps, (0, 0, 15, 11), (0, 0, 15, 11))["a"] is grid
    with pytest.raises(InputError, match="outside the fill canvas"):
        crop_to_window(maps, (0, 0, 15, 11), (-1, 0, 15, 11))


def _entry(status: str, sources=(), t: float = 0.5):
    from framefill.pipeline.manifest import ManifestEntry

    recipe = {"kind": "fill" if status == "filled" else "copy", "sources": {str(s): "x" for s in sources}, "t": t}
    return ManifestEntry(status=status, recipe=recipe, file_sha256="x")


def test_neighbour_frames_follow_the_recipes():
    from framefill.pipeline.qc_features import neighbour_frames

    # Keys 1, 4, 7, 8, 11; gaps (1,4) (4,7) (7,8: none filled) (8,11).
    entries = {1: _entry("copied"), 2: _entry("filled", (1, 4), 1 / 3), 3: _entry("filled", (1, 4), 2 / 3),
               4: _entry("copied"), 5: _entry("filled", (4, 7), 1 / 3), 6: _entry("filled", (4, 7), 2 / 3),
               7: _entry("copied"), 8: _entry("copied"), 9: _entry("filled", (8, 11), 1 / 3),
               10: _entry("held", (8, 11), 2 / 3), 11: _entry("copied")}
    assert neighbour_frames(entries, 5) == (2, None)  # the gap after (7, 8) ends at 8, not 7's next gap
    assert neighbour_frames(entries, 2) == (None, 5)  # ties in |t - 0.5| go to the lower frame
    assert neighbour_frames(entries, 9) == (None, None)  # gap 7-8 has no filled frame; held frames never count
    assert neighbour_frames(entries, 4) == (None, None)  # a rendered frame has no gap


def test_speed_change():
    from framefill.pipeline.calibration import GapContext, speed_change

    maps = {"flow_mag": np.full((10, 10), 3.0, np.float32)}
    assert speed_change(maps, None) == 0.0
    assert speed_change(maps, GapContext(1.0, 6.5)) == 5.5
    assert speed_change(maps, GapContext(None, 4.0)) == 2.0  # one side: twice its difference from this gap
    assert speed_change(maps, GapContext(None, None)) == 0.0
