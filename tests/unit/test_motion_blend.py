"""An ensemble's motion (``Motion.blend_of``): smooth channels are the weighted sum of its members' fills,
so AOVs still add up to the beauty; ID channels take the nearest sample along the members' mean motion."""

from __future__ import annotations

import numpy as np
import torch
from framefill.frames import ExrImage, ExrPart
from framefill.models.ensemble import mix_motions
from framefill.models.interp import Motion
from framefill.pipeline.fill_frame import apply_motion

H, W = 12, 20


def _shift(dx: float, mask: float) -> Motion:
    """Every pixel fetched dx px to its left in source 0 (and source 1), source 0 weighted ``mask``."""
    flow = torch.zeros(1, 2, H, W)
    flow[:, 0] = -dx
    return Motion(flow, flow.clone(), torch.full((1, 1, H, W), mask))


def _frame(seed: int) -> ExrImage:
    gen = np.random.default_rng(seed)
    diffuse = gen.uniform(0, 4, (H, W)).astype(np.float32)
    specular = gen.uniform(0, 2, (H, W)).astype(np.float32)
    ids = gen.integers(1, 9, (H, W)).astype(np.float32)
    channels = {"R": diffuse + specular, "G": diffuse, "B": specular, "diffuse.R": diffuse, "specular.R": specular,
                "crypto00.R": ids}
    return ExrImage(parts=[ExrPart(name=None, channels=channels, linear={"R", "G", "B"})])


def test_smooth_channels_are_the_mean_of_the_members_fills_and_ids_follow_the_mean_motion():
    img0, img1 = _frame(1), _frame(2)
    canvas = (0, 0, W - 1, H - 1)
    one, three = _shift(1, 1.0), _shift(3, 0.25)
    fused = mix_motions(one, three, 0.5)
    out = apply_motion(img0, img1, fused, canvas=canvas).parts[0].channels
    alone = [apply_motion(img0, img1, m, canvas=canvas).parts[0].channels for m in (one, three)]
    for name in ("R", "G", "B", "diffuse.R", "specular.R"):
        np.testing.assert_allclose(out[name], (alone[0][name] + alone[1][name]) / 2, rtol=0, atol=1e-6)
    leaning = apply_motion(img0, img1, mix_motions(one, three, 0.75), canvas=canvas).parts[0].channels
    for name in ("R", "diffuse.R"):
        np.testing.assert_allclose(leaning[name], 0.75 * alone[0][name] + 0.25 * alone[1][name], rtol=0, atol=1e-6)
    # Whole-pixel shifts: away from the left edge, exact source pixels.
    src0, src1 = img0.parts[0].channels["G"], img1.parts[0].channels["G"]
    expect = (src0[:, 2:-1] + 0.25 * src0[:, :-3] + 0.75 * src1[:, :-3]) / 2
    np.testing.assert_allclose(out["G"][:, 3:], expect, rtol=0, atol=1e-6)
    # The AOVs still add up to the beauty.
    np.testing.assert_allclose(out["diffuse.R"] + out["specular.R"], out["R"], rtol=0, atol=1e-5)
    # IDs are never mixed: the nearest sample along the mean motion (2 px), from source 0 (mean mask 0.625).
    ids0 = img0.parts[0].channels["crypto00.R"]
    np.testing.assert_array_equal(out["crypto00.R"][:, 2:], ids0[:, :-2])


def test_an_ensemble_motion_moves_to_a_device_with_its_members():
    fused = mix_motions(_shift(1, 1.0), _shift(3, 0.0), 0.25).to("cpu")
    assert [w for w, _ in fused.blend_of] == [0.25, 0.75] and float(fused.blend_of[1][1].flow_t0[0, 0, 0, 0]) == -3
    assert float(fused.flow_t0[0, 0, 0, 0]) == -2.5 and float(fused.mask[0, 0, 0, 0]) == 0.25
    a, b = torch.rand(1, 2, H, W), torch.rand(1, 2, H, W)
    assert torch.equal(_shift(1, 1.0).blend(a, b)[..., 1:], a[..., :-1])
