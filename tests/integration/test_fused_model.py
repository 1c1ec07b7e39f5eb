"""`rife-4+hdv3`: both RIFE networks run on the pair and each smooth pixel is the mean of their two fills
(flows and mask averaged where one motion is needed); `--model auto`
measures it from the two networks' own check runs (no network run of its own) and fills with it
exactly as `--model rife-4+hdv3` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from framefill import api
from framefill.color import ColorSetup
from framefill.errors import InputError, UnsupportedModelError
from framefill.frames import FramePattern, read_exr
from framefill.models.loading import load_interpolator, model_identity
from framefill.models.registry import MODELS
from framefill.ops.warp import backward_warp
from framefill.pipeline.keyframe_check import check_schedule, measure_check
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.model_choice import FUSED_MODEL, MIXES, choose_model
from framefill.requests import FillRequest
from framefill.runtime.export import load_export_model
from synthetic_shot import write_shot

pytestmark = pytest.mark.weights

KEYS = (1, 3, 5, 7, 9)
SMOOTH = {"bg_speed": 2, "fg_speed": 3}


def test_the_fused_fill_is_the_mean_of_both_networks_fills():
    torch.manual_seed(0)
    a, b = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    fused = load_interpolator(FUSED_MODEL, scale=1.0)
    first, second = (load_interpolator(m, scale=1.0).model.motion(a, b, 0.5) for m in ("rife-4", "rife-hdv3"))
    got = fused.model.motion(a, b, 0.5)
    def fill(motion):  # one motion's fill, from the one-call warp
        return backward_warp(a, motion.flow_t0) * motion.mask + backward_warp(b, motion.flow_t1) * (1.0 - motion.mask)

    # Pixels: the mean of the two fills, not one warp along the mean motion.
    both = (fill(first) + fill(second)) / 2
    assert torch.equal(got.blend(a, b), both)
    along_mean = fill(got)
    assert float((along_mean - both).abs().max()) > 1e-3
    # Where one motion is needed (ID channels, QC features): both flows and the mask averaged.
    assert torch.equal(got.flow_t0, (first.flow_t0 + second.flow_t0) / 2)
    assert torch.equal(got.flow_t1, (first.flow_t1 + second.flow_t1) / 2)
    assert torch.equal(got.mask, (first.mask + second.mask) / 2)
    # The manifest's identity names both pinned weight files.
    shas = [MODELS.get(m).files[0].sha256 for m in ("rife-4", "rife-hdv3")]
    assert fused.sha256 == "+".join(shas) and model_identity(FUSED_MODEL) == (FUSED_MODEL, "+".join(shas))


def test_one_networks_weights_and_an_export_are_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="rife-4 and rife-hdv3"):
        model_identity(FUSED_MODEL, tmp_path / "w.pkl")
    with pytest.raises(UnsupportedModelError, match="export each of rife-4 and rife-hdv3"):
        load_export_model(FUSED_MODEL)


def test_auto_measures_the_fused_candidate_from_the_two_networks_runs(tmp_path):
    pattern = write_shot(tmp_path / "keys", KEYS, **SMOOTH)
    seq = FramePattern.parse(pattern)
    calls: dict[str, int] = {}

    class Counted:
        def __init__(self, inner, label):
            self.inner, self.label, self.name = inner, label, inner.name

        def motion(self, img0, img1, t):
            calls[self.label] = calls.get(self.label, 0) + 1
            return self.inner.motion(img0, img1, t)

    def load(model, scale):
        return Counted(load_interpolator(model, scale=scale).model, model)

    choice = choose_model(KEYS, lambda f: read_exr(seq.path(f)), width=160, width_scale=1.0, load=load,
                          color=ColorSetup(), device="cpu")
    assert calls == {"flow": 3, "rife-4": 3, "rife-hdv3": 3}  # the fused candidates ran no network of their own
    evidence = {c["label"]: c["psnr_db"] for c in choice.to_json()["candidates"]}
    assert [label for label in evidence if label.startswith(FUSED_MODEL)] == [
        f"{FUSED_MODEL}@1 mix {m:g}" for m in MIXES]
    # Each mix's evidence is what the fused model at that mix scores itself on the same checks.
    for mix in (0.5, 0.875):
        fused = load_interpolator(FUSED_MODEL, scale=1.0, mix=mix).model
        direct = [round(measure_check(*(read_exr(seq.path(f)) for f in (c.before, c.key, c.after)), c, fused,
                                      color=ColorSetup(), device="cpu").psnr_db, 3) for c in check_schedule(KEYS)]
        assert evidence[f"{FUSED_MODEL}@1 mix {mix:g}"] == direct


def test_a_fill_with_the_fused_model_records_it_and_reruns_to_the_same_bytes(tmp_path):
    pattern = write_shot(tmp_path / "keys", KEYS, **SMOOTH)
    outs = []
    for name in ("a", "b"):
        out = str(tmp_path / name / "shot.####.exr")
        result = api.fill_shot(FillRequest(pattern, out, frames=tuple(range(1, 10)), model=FUSED_MODEL,
                                           device="cpu"))
        outs.append(Manifest(out).entries())
        assert json.loads(Path(result.manifest).read_text())
    first, second = outs
    assert {f: e.pixel_sha256 for f, e in first.items()} == {f: e.pixel_sha256 for f, e in second.items()}
    assert first[2].recipe["model"] == FUSED_MODEL
    assert first[2].recipe["model_sha256"] == "+".join(MODELS.get(m).files[0].sha256 for m in ("rife-4", "rife-hdv3"))
