"""RIFE networks: detect/build round trips with random nets (mechanics only), the
InterpModel contract (padding, cropping, timesteps, dtypes), HD v3 bisection, TorchScript.

Random weights here test plumbing, never quality: the real checkpoints are
checked against their reference implementations in tests/integration.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from framefill.errors import InputError, UnsupportedModelError
from framefill.models.arch import rife, rife_hdv3
from framefill.models.arch.interp_model import InterpModel
from framefill.models.arch.rife import Rife4Config, Rife4Net, RifeOutput
from framefill.models.arch.rife_hdv3 import HDv3Config, HDv3Net
from framefill.ops.warp import rife_warp

torch.set_num_threads(2)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

V4_TINY = [
    pytest.param(
        Rife4Config(
            encoder_width=8,
            encoder_channels=2,
            in_channels=(11, 18),
            mids=(8, 4),
            widths=(16, 8),
            res_convs=(2, 1),
            outputs=(7, 7),
        ),
        (2.0, 1.0),
        id="2blocks",
    ),
    pytest.param(
        Rife4Config(
            encoder_width=4,
            encoder_channels=1,
            in_channels=(9, 15, 18),
            mids=(6, 4, 2),
            widths=(12, 8, 4),
            res_convs=(1, 2, 0),
            outputs=(6, 9, 5),
        ),
        (4.0, 2.0, 1.0),
        id="3blocks-uneven",
    ),
]
HD_TINY = [
    pytest.param(
        HDv3Config(
            in_channels=(11, 11),
            mids=(6, 4),
            widths=(12, 8),
            groups=(2, 1),
            convs_per_group=(2, 3),
            head_mids=(6, 4),
        ),
        (2.0, 1.0),
        id="2blocks",
    ),
]


def _randomise(net: torch.nn.Module) -> torch.nn.Module:
    """Perturb every parameter (betas and PReLU slopes start equal, which would hide a mix-up)."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def _frames(h: int = 32, w: int = 48, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    img0 = torch.rand((batch, 3, h, w), generator=gen) * 1.4 - 0.2  # a little outside [0, 1] on purpose
    return img0, torch.roll(img0, shifts=(1, 2), dims=(2, 3))


def _tiny_v4() -> InterpModel:
    cfg, schedule = V4_TINY[0].values
    return InterpModel(_randomise(Rife4Net(cfg, schedule)), arch_id="test-v4", pad_base=16, takes_timestep=True)


def _tiny_hd() -> InterpModel:
    cfg, schedule = HD_TINY[0].values
    return InterpModel(_randomise(HDv3Net(cfg, schedule)), arch_id="test-hd", pad_base=8, takes_timestep=False)


def _published_v4_dict() -> dict[str, torch.Tensor]:
    net = _randomise(Rife4Net(rife._RIFE425, (16.0, 8.0, 4.0, 2.0, 1.0)))
    sd = dict(net.state_dict())
    # The pinned checkpoint also carries training-only parts; build must ignore them.
    sd["teacher.conv0.0.0.weight"] = torch.randn(32, 31, 3, 3)
    sd["caltime.0.weight"] = torch.randn(32, 17, 3, 3)
    return sd


def _published_hd_dict() -> dict[str, torch.Tensor]:
    net = _randomise(HDv3Net(rife_hdv3._HDV3, (4.0, 2.0, 1.0)))
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}  # as saved from DataParallel
    sd["module.block_tea.conv0.0.0.weight"] = torch.randn(45, 14, 3, 3)
    return sd


# --------------------------------------------------------------------------- detect / build


@pytest.mark.parametrize("cfg, schedule", V4_TINY)
def test_v4_round_trip_reads_every_hyperparameter_from_shapes(cfg, schedule):
    # GIVEN a random 4.25-style net of some config
    net = _randomise(Rife4Net(cfg, schedule))
    sd = net.state_dict()
    # THEN it saves under the checkpoint's names ...
    assert "block0.conv0.0.0.weight" in sd and "encode.cnn3.weight" in sd
    assert not any(k.startswith("blocks.") for k in sd)
    # ... its config comes back from the shapes alone ...
    assert rife.config_from_state_dict_v4(sd) == cfg
    assert rife.detect_v4(sd) and not rife_hdv3.detect(sd)
    # ... and a fresh net loads it strictly and computes the same thing
    fresh = Rife4Net(cfg, schedule).eval()
    fresh.load_state_dict(sd, strict=True)
    img0, img1 = _frames()
    t = torch.full((1, 1, 1, 1), 0.3)
    with torch.no_grad():
        a, b = net(img0, img1, t), fresh(img0, img1, t)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert a.flow.shape == (1, 4, 32, 48) and a.mask.shape == (1, 1, 32, 48) and a.image.shape == (1, 3, 32, 48)


@pytest.mark.parametrize("cfg, schedule", HD_TINY)
def test_hdv3_round_trip_reads_every_hyperparameter_from_shapes(cfg, schedule):
    net = _randomise(HDv3Net(cfg, schedule))
    sd = net.state_dict()
    assert "block1.convblock0.2.1.weight" in sd and "block0.conv2.2.weight" in sd
    assert not any(".res_groups." in k or k.startswith("blocks.") for k in sd)
    assert rife_hdv3.config_from_state_dict(sd) == cfg
    assert rife_hdv3.detect(sd) and not rife.detect_v4(sd)
    fresh = HDv3Net(cfg, schedule).eval()
    fresh.load_state_dict(sd, strict=True)
    img0, img1 = _frames()
    with torch.no_grad():
        assert all(torch.equal(x, y) for x, y in zip(net(img0, img1), fresh(img0, img1)))


def test_published_v4_builds_with_its_weights():
    # GIVEN a random net in the published 4.25 layout plus training-only tensors
    sd = _published_v4_dict()
    assert rife.detect_v4(sd) and not rife_hdv3.detect(sd)
    # WHEN built
    model = rife.build_v4(sd)
    # THEN it is a float32 eval-mode InterpModel holding exactly those weights
    assert isinstance(model, InterpModel) and isinstance(model.net, Rife4Net)
    described = (model.arch_id, model.multiple_of, model.supports_half, model.takes_timestep)
    assert described == ("rife-4.25", 128, True, True)
    assert not model.training and not model.net.training
    loaded = model.net.state_dict()
    assert set(loaded) == {k for k in sd if not k.startswith(("teacher.", "caltime."))}
    assert all(v.dtype == torch.float32 and torch.equal(v, sd[k]) for k, v in loaded.items())
    # a DataParallel-style prefix changes nothing
    assert rife.build_v4({f"module.{k}": v for k, v in sd.items()}).arch_id == "rife-4.25"


def test_published_hdv3_builds_with_its_weights():
    sd = _published_hd_dict()
    assert rife_hdv3.detect(sd) and not rife.detect_v4(sd)
    model = rife_hdv3.build(sd)
    assert isinstance(model.net, HDv3Net)
    assert (model.arch_id, model.multiple_of, model.takes_timestep) == ("rife-hdv3.6", 32, False)
    assert not model.training
    loaded = model.net.state_dict()
    assert set(loaded) == {k[len("module.") :] for k in sd if not k.startswith("module.block_tea.")}
    assert all(torch.equal(v, sd[f"module.{k}"]) for k, v in loaded.items())


def test_the_registry_tells_the_families_apart():
    from framefill.models.archs import standard_archs

    archs = standard_archs()
    assert archs.detect(_published_v4_dict(), task="interpolate").id == "rife-4"
    assert archs.detect(_published_hd_dict(), task="interpolate").id == "rife-hdv3"


@pytest.mark.parametrize(
    "state_dict",
    [
        pytest.param({}, id="empty"),
        pytest.param({"conv_first.weight": torch.zeros(64, 3, 3, 3), "body.0.weight": torch.zeros(64)}, id="esrgan"),
        pytest.param({"block0.conv0.0.0.weight": torch.zeros(4)}, id="1d-tensor"),
    ],
)
def test_foreign_dicts_are_not_claimed(state_dict):
    assert not rife.detect_v4(state_dict) and not rife_hdv3.detect(state_dict)
    with pytest.raises(UnsupportedModelError):
        rife.build_v4(state_dict)
    with pytest.raises(UnsupportedModelError):
        rife_hdv3.build(state_dict)


def test_build_rejects_other_variants_and_damaged_dicts():
    tiny = _randomise(Rife4Net(*V4_TINY[0].values)).state_dict()
    with pytest.raises(UnsupportedModelError, match="not Practical-RIFE 4.25/4.26"):
        rife.build_v4(tiny)
    tiny_hd = _randomise(HDv3Net(*HD_TINY[0].values)).state_dict()
    with pytest.raises(UnsupportedModelError, match="not the published HD v3.6"):
        rife_hdv3.build(tiny_hd)
    good = _published_v4_dict()
    with pytest.raises(UnsupportedModelError, match="unexpected"):
        rife.build_v4({**good, "refine.conv.weight": torch.zeros(1)})
    with pytest.raises(UnsupportedModelError):
        rife.build_v4({k: v for k, v in good.items() if k != "block3.convblock.7.beta"})
    with pytest.raises(UnsupportedModelError):
        rife_hdv3.build(good)
    with pytest.raises(UnsupportedModelError):
        rife.build_v4(_published_hd_dict())


# --------------------------------------------------------------------------- InterpModel contract


def test_padding_multiple_follows_the_reference_scripts():
    v4 = rife.build_v4(_published_v4_dict())
    hd = rife_hdv3.build(_published_hd_dict())
    assert [v4.multiple_for(s) for s in (0.25, 0.5, 1.0, 2.0, 4.0)] == [512, 256, 128, 128, 128]
    assert [hd.multiple_for(s) for s in (0.25, 0.5, 1.0, 2.0, 4.0)] == [128, 64, 32, 32, 32]
    with pytest.raises(InputError, match="scale 0.3"):
        v4.multiple_for(0.3)


@pytest.mark.parametrize("make", [_tiny_v4, _tiny_hd], ids=["v4", "hdv3"])
def test_every_convolution_runs_channels_last_and_the_outputs_come_back_nchw(make):
    """oneDNN's NCHW kernels for a block's few-channel inputs are several times slower (README)."""
    model = make()
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    seen: list[bool] = []
    hooks = [m.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))) for m in convs]
    img0, img1 = _frames(64, 96)
    with torch.no_grad():
        out = model(img0, img1, 0.5)
    for hook in hooks:
        hook.remove()
    assert len(seen) >= len(convs) and all(seen)
    assert all(x.is_contiguous() for x in out)


@pytest.mark.parametrize("make", [_tiny_v4, _tiny_hd], ids=["v4", "hdv3"])
def test_odd_sizes_are_zero_padded_bottom_right_and_cropped_back(make):
    model = make()
    img0, img1 = _frames(37, 53)
    with torch.no_grad():
        out = model(img0, img1, 0.5)
        m = model.multiple_of
        pad = (0, -53 % m, 0, -37 % m)
        p0, p1 = F.pad(img0, pad), F.pad(img1, pad)
        t = torch.full((1, 1, 1, 1), 0.5)
        full = model.net(p0, p1, t) if model.takes_timestep else model.net(p0, p1)
    assert out.flow.shape == (1, 4, 37, 53) and out.mask.shape == (1, 1, 37, 53) and out.image.shape == (1, 3, 37, 53)
    for got, want in zip(out, full):
        assert torch.equal(got, want[:, :, :37, :53])


@pytest.mark.parametrize("make", [_tiny_v4, _tiny_hd], ids=["v4", "hdv3"])
def test_image_is_fully_determined_by_flow_and_mask(make):
    model = make()
    img0, img1 = _frames(32, 48)  # a multiple of the padding: nothing cropped
    with torch.no_grad():
        out = model(img0, img1, 0.5)
    merged = rife_warp(img0, out.flow[:, 0:2]) * out.mask + rife_warp(img1, out.flow[:, 2:4]) * (1 - out.mask)
    assert torch.equal(out.image, merged)
    assert float(out.mask.min()) >= 0.0 and float(out.mask.max()) <= 1.0


def test_timesteps_per_batch_item_match_separate_runs():
    model = _tiny_v4()
    img0, img1 = _frames(batch=2)
    with torch.no_grad():
        both = model(img0, img1, torch.tensor([0.2, 0.7]))
        first = model(img0[:1], img1[:1], 0.2)
        second = model(img0[1:], img1[1:], torch.tensor(0.7))
    for name in RifeOutput._fields:
        assert torch.allclose(getattr(both, name), torch.cat((getattr(first, name), getattr(second, name))), atol=1e-6)


@pytest.mark.parametrize(
    "args, match",
    [
        pytest.param(dict(timestep=1.5), "timestep", id="t>1"),
        pytest.param(dict(timestep=float("nan")), "timestep", id="t-nan"),
        pytest.param(dict(timestep=torch.tensor([0.1, 0.2, 0.3])), "3 timesteps", id="t-count"),
        pytest.param(dict(scale=3.0), "scale 3.0", id="scale"),
    ],
)
def test_bad_calls_raise_input_errors(args, match):
    model = _tiny_v4()
    img0, img1 = _frames()
    kwargs = {"timestep": 0.5, **args}
    with pytest.raises(InputError, match=match):
        model(img0, img1, kwargs.pop("timestep"), **kwargs)


def test_bad_frames_raise_input_errors():
    model = _tiny_v4()
    img0, img1 = _frames()
    with pytest.raises(InputError, match="B,3,H,W"):
        model(img0[:, :2], img1[:, :2], 0.5)
    with pytest.raises(InputError, match="B,3,H,W"):
        model(img0, img1[..., :40], 0.5)
    with pytest.raises(InputError, match="dtype"):
        model(img0, img1.double(), 0.5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("make", [_tiny_v4, _tiny_hd], ids=["v4", "hdv3"])
def test_half_precision_follows_the_input_dtype(make, dtype):
    # CPU torch runs every op of both nets in float16 and bfloat16 (tiny nets keep it fast).
    model = make()
    img0, img1 = _frames(37, 53)
    with torch.no_grad():
        reference = model(img0, img1, 0.25)
        half = model.to(dtype)(img0.to(dtype), img1.to(dtype), 0.25)
    assert all(x.dtype == dtype for x in half)
    assert float((half.image.float() - reference.image).abs().mean()) < 0.02
    assert float((half.flow.float() - reference.flow).abs().mean()) < 0.05


@pytest.mark.parametrize("make", [_tiny_v4, _tiny_hd], ids=["v4", "hdv3"])
def test_networks_compile_with_torchscript(make):
    model = make()
    scripted = torch.jit.script(model.net)
    img0, img1 = _frames()
    t = torch.full((1, 1, 1, 1), 0.5)
    with torch.no_grad():
        eager = model.net(img0, img1, t, 1.0) if model.takes_timestep else model.net(img0, img1, 1.0)
        compiled = scripted(img0, img1, t, 1.0) if model.takes_timestep else scripted(img0, img1, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))


def test_published_networks_compile_with_torchscript():
    for model in (rife.build_v4(_published_v4_dict()), rife_hdv3.build(_published_hd_dict())):
        assert isinstance(torch.jit.script(model.net), torch.jit.ScriptModule)


# --------------------------------------------------------------------------- HD v3 bisection


class _Recorder(torch.nn.Module):
    """Wraps an HD v3 net and records what it was shown."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, scale: float = 1.0) -> RifeOutput:
        self.calls.append((img0, img1))
        return self.net(img0, img1, scale)


@pytest.mark.parametrize(
    "t, calls",
    [
        pytest.param(0.5, 1, id="0.5"),
        pytest.param(0.25, 2, id="0.25"),
        pytest.param(0.75, 2, id="0.75"),
        # 0.5, 0.25, 0.375, 0.3125, 0.28125, 0.296875 (within 0.01 of 0.3)
        pytest.param(0.3, 6, id="0.3"),
        pytest.param(0.005, 0, id="near-0"),
        pytest.param(0.995, 0, id="near-1"),
    ],
)
def test_hdv3_bisects_like_the_reference(t, calls):
    base = _tiny_hd()
    recorder = _Recorder(base.net)
    model = InterpModel(recorder, arch_id="test-hd", pad_base=8, takes_timestep=False)
    img0, img1 = _frames()
    with torch.no_grad():
        out = model(img0, img1, t)
    assert len(recorder.calls) == calls
    if calls == 0:
        # The reference returns the nearer frame itself.
        near, weight = (img0, 1.0) if t < 0.5 else (img1, 0.0)
        assert torch.equal(out.image, near) and torch.equal(out.flow, torch.zeros_like(out.flow))
        assert torch.equal(out.mask, torch.full_like(out.mask, weight))
        return
    # The first call sees the two frames; later calls see the frames made so far, as the reference does.
    assert torch.equal(recorder.calls[0][0], img0) and torch.equal(recorder.calls[0][1], img1)
    if t == 0.25:
        with torch.no_grad():
            middle = base.net(img0, img1, 1.0).image
        assert torch.equal(recorder.calls[1][0], img0) and torch.equal(recorder.calls[1][1], middle)
    # Whatever the depth, the result is expressed as flows and a mask on the two input frames.
    merged = rife_warp(img0, out.flow[:, 0:2]) * out.mask + rife_warp(img1, out.flow[:, 2:4]) * (1 - out.mask)
    assert torch.equal(out.image, merged)
    assert float(out.mask.min()) >= 0.0 and float(out.mask.max()) <= 1.0 and bool(torch.isfinite(out.flow).all())


def test_hdv3_mixed_timesteps_in_a_batch_match_separate_runs():
    model = _tiny_hd()
    img0, img1 = _frames(batch=2)
    with torch.no_grad():
        both = model(img0, img1, torch.tensor([0.5, 0.25]))
        first = model(img0[:1], img1[:1], 0.5)
        second = model(img0[1:], img1[1:], 0.25)
    for name in RifeOutput._fields:
        assert torch.allclose(getattr(both, name), torch.cat((getattr(first, name), getattr(second, name))), atol=1e-6)
