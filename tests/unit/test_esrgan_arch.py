"""RRDBNet and SRVGGNetCompact: registry round trips with tiny random nets, checkpoint
unwrapping, the upscaler descriptor, the ncnn-style bicubic resize, TorchScript."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from framefill.errors import InputError, UnsupportedModelError
from framefill.models.arch import rrdbnet, srvgg
from framefill.models.arch.srvgg import NcnnBicubicResize, ncnn_bicubic_resize
from framefill.models.checkpoint import load_state_dict, unwrap_checkpoint
from framefill.models.upscale import upscale_model

RRDB_CONFIGS = [
    pytest.param(dict(num_feat=8, num_block=1, num_grow_ch=4, scale=4), id="x4-1block"),
    pytest.param(dict(num_feat=12, num_block=3, num_grow_ch=6, scale=4), id="x4-3blocks"),
    pytest.param(dict(num_feat=8, num_block=2, num_grow_ch=4, scale=2), id="x2-unshuffle2"),
    pytest.param(dict(num_feat=8, num_block=1, num_grow_ch=8, scale=1), id="x1-unshuffle4"),
    pytest.param(dict(in_channels=1, out_channels=1, num_feat=8, num_block=1, num_grow_ch=4, scale=4), id="x4-gray"),
]
SRVGG_CONFIGS = [
    pytest.param(dict(num_feat=8, num_conv=2, scale=4), id="x4-2conv"),
    pytest.param(dict(num_feat=16, num_conv=5, scale=2), id="x2-5conv"),
    pytest.param(dict(num_feat=8, num_conv=0, scale=3), id="x3-0conv"),
    pytest.param(dict(in_channels=1, out_channels=1, num_feat=8, num_conv=1, scale=4), id="x4-gray"),
]


def _randomise(net: torch.nn.Module) -> torch.nn.Module:
    """Perturb every parameter (PReLU slopes start all equal, which would hide a mix-up)."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def _input(channels: int, h: int = 12, w: int = 16) -> torch.Tensor:
    return torch.rand(1, channels, h, w) * 1.4 - 0.2  # a little outside [0, 1] on purpose


@pytest.mark.parametrize("cfg", RRDB_CONFIGS)
def test_rrdbnet_round_trip(cfg):
    # GIVEN a random RRDBNet of some config
    net = _randomise(rrdbnet.RRDBNet(**cfg))
    sd = net.state_dict()
    # WHEN it goes through detect/build from its state dict alone
    assert rrdbnet.detect(sd) and not srvgg.detect(sd)
    rebuilt = rrdbnet.build_net(sd)
    # THEN the hyperparameters and the outputs are the same
    assert asdict(rebuilt.config) == asdict(rrdbnet.RRDBNetConfig(**cfg))
    x = _input(net.config.in_channels)
    with torch.no_grad():
        out, out2 = net(x), rebuilt(x)
    assert out.shape == (1, net.config.out_channels, 12 * cfg["scale"], 16 * cfg["scale"])
    assert torch.equal(out, out2)


@pytest.mark.parametrize("cfg", SRVGG_CONFIGS)
def test_srvgg_round_trip(cfg):
    net = _randomise(srvgg.SRVGGNetCompact(**cfg))
    sd = net.state_dict()
    assert srvgg.detect(sd) and not rrdbnet.detect(sd)
    rebuilt = srvgg.build_net(sd)
    expected = srvgg.SRVGGConfig(**{"in_channels": 3, "out_channels": 3, **cfg})
    assert rebuilt.config == expected
    x = _input(expected.in_channels)
    with torch.no_grad():
        assert torch.equal(net(x), rebuilt(x))
    assert net(x).shape == (1, expected.out_channels, 12 * cfg["scale"], 16 * cfg["scale"])


def test_official_key_names():
    # The names of the published checkpoints, spelled out.
    rk = set(rrdbnet.RRDBNet(num_feat=8, num_block=2, num_grow_ch=4).state_dict())
    assert {
        "conv_first.weight",
        "body.1.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.bias",
        "conv_hr.weight",
        "conv_last.bias",
    } <= rk
    assert len(rk) == 2 * (1 + 2 * 15 + 5)
    sk = srvgg.SRVGGNetCompact(num_feat=8, num_conv=2).state_dict()
    assert list(sk) == [
        "body.0.weight",
        "body.0.bias",
        "body.1.weight",
        "body.2.weight",
        "body.2.bias",
        "body.3.weight",
        "body.4.weight",
        "body.4.bias",
        "body.5.weight",
        "body.6.weight",
        "body.6.bias",
    ]
    assert sk["body.1.weight"].shape == (8,)
    assert sk["body.6.weight"].shape == (48, 8, 3, 3)


def test_families_are_not_confused():
    assert not rrdbnet.detect({"body.0.weight": torch.zeros(4, 3, 3, 3), "body.1.weight": torch.zeros(4)})
    assert not srvgg.detect(rrdbnet.RRDBNet(num_feat=8, num_block=1, num_grow_ch=4).state_dict())
    assert not srvgg.detect({"body.0.weight": torch.zeros(4, 3, 3, 3), "body.1.weight": torch.zeros(4, 4, 3, 3)})
    with pytest.raises(UnsupportedModelError, match=r"tried: rrdbnet, srvgg"):
        upscale_model({"model.0.weight": torch.zeros(4, 3, 3, 3)})


def test_build_rejects_bad_shapes():
    sd = rrdbnet.RRDBNet(num_feat=8, num_block=1, num_grow_ch=4).state_dict()
    bad = dict(sd, **{"conv_first.weight": torch.zeros(8, 9, 3, 3)})  # 9 in-channels for 3 out: no fold fits
    with pytest.raises(UnsupportedModelError, match="conv_first has 9 in-channels"):
        rrdbnet.build(bad)
    bad = dict(sd, **{"body.0.rdb2.conv3.weight": torch.zeros(4, 17, 3, 3)})
    with pytest.raises(UnsupportedModelError, match=r"body\.0\.rdb2\.conv3\.weight has shape \(4, 17, 3, 3\)"):
        rrdbnet.build(bad)
    missing = {k: v for k, v in sd.items() if k != "conv_hr.bias"}
    with pytest.raises(UnsupportedModelError, match=r"missing \['conv_hr\.bias'\]"):
        rrdbnet.build(missing)
    ssd = srvgg.SRVGGNetCompact(num_feat=8, num_conv=1).state_dict()
    with pytest.raises(UnsupportedModelError, match="not 3 x a square scale"):
        srvgg.build(dict(ssd, **{"body.4.weight": torch.zeros(21, 8, 3, 3), "body.4.bias": torch.zeros(21)}))


def test_unwrap_checkpoint_prefers_ema():
    sd = {"conv_first.weight": torch.ones(1)}
    raw = {"conv_first.weight": torch.zeros(1)}
    assert unwrap_checkpoint({"params_ema": sd, "params": raw}) == sd
    assert unwrap_checkpoint({"params": raw}) == raw
    assert unwrap_checkpoint(sd) == sd
    with pytest.raises(UnsupportedModelError, match="not a state dict"):
        unwrap_checkpoint([1, 2])
    with pytest.raises(UnsupportedModelError, match="'iter' is not a named tensor"):
        unwrap_checkpoint({"params": {"iter": 5}})


def test_load_checkpoint_round_trip(tmp_path):
    net = _randomise(srvgg.SRVGGNetCompact(num_feat=8, num_conv=1))
    path = tmp_path / "tiny.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    sd = load_state_dict(path)
    assert srvgg.detect(sd)
    model = upscale_model(sd)
    x = _input(3)
    assert torch.equal(model(x), net(x).detach())


class _NotWeights:
    pass


def test_load_checkpoint_refuses_code_and_missing_files(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "obj": _NotWeights()}, path)
    with pytest.raises(InputError, match="is not a weights-only file") as info:
        load_state_dict(path)
    assert "\n" not in info.value.msg
    with pytest.raises(InputError, match="not found"):
        load_state_dict(tmp_path / "absent.pth")


def test_upscale_model_pads_and_crops_for_unshuffle():
    net = _randomise(rrdbnet.RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2))
    model = upscale_model(net.state_dict())
    assert (model.scale, model.net_scale, model.multiple_of, model.in_channels, model.out_channels) == (2, 2, 2, 3, 3)
    assert model.supports_half and model.arch == "rrdbnet"
    x = _input(3, 11, 13)  # odd: the net itself would refuse it
    out = model(x)
    assert out.shape == (1, 3, 22, 26)
    with torch.no_grad():
        expected = net(F.pad(x, [0, 1, 0, 1], mode="replicate"))[:, :, :22, :26]
    assert torch.equal(out, expected)
    with pytest.raises(InputError, match=r"expects B,3,H,W input, got \(1, 4, 8, 8\)"):
        model(torch.zeros(1, 4, 8, 8))


def test_upscale_model_does_not_clamp():
    # GIVEN an SRVGG whose body outputs zero, so the model is exactly the nearest-upsampled input
    net = srvgg.SRVGGNetCompact(num_feat=8, num_conv=1, scale=2)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    model = upscale_model(net.state_dict())
    # WHEN it sees HDR and negative values
    x = torch.tensor([[5.0, -0.5], [0.25, 12.0]]).expand(1, 3, 2, 2).contiguous()
    out = model(x)
    # THEN they come back untouched
    assert torch.equal(out, F.interpolate(x, scale_factor=2.0, mode="nearest"))
    assert out.max().item() == 12.0 and out.min().item() == -0.5


def test_output_resize_stage():
    net = _randomise(srvgg.SRVGGNetCompact(num_feat=8, num_conv=1, scale=4))
    for factor, scale in ((0.5, 2), (0.75, 3)):
        model = upscale_model(net.state_dict(), output_resize=factor)
        assert (model.scale, model.net_scale, model.output_resize) == (scale, 4, factor)
        x = _input(3, 10, 14)
        out = model(x)
        assert out.shape == (1, 3, 10 * scale, 14 * scale)
        with torch.no_grad():
            assert torch.equal(out, ncnn_bicubic_resize(net(x), factor))


def test_ncnn_bicubic_hand_computed():
    # Shrinking by 0.5 puts every output at fraction 0.5 between taps: Keys (a = -0.75)
    # weights there are (-0.09375, 0.59375, 0.59375, -0.09375).
    row = torch.tensor([0.0, 1.0, 4.0, 2.0, -1.0, 3.0, 5.0, 0.5])
    x = row.expand(1, 1, 4, 8).contiguous()
    out = ncnn_bicubic_resize(x, 0.5)
    assert out.shape == (1, 1, 2, 4)
    w = (-0.09375, 0.59375, 0.59375, -0.09375)
    # output column 1 reads source 1..4 (centre 2.5); column 0 reads -1..2, the -1 tap folded onto 0
    assert out[0, 0, 0, 1].item() == pytest.approx(
        sum(c * v for c, v in zip(w, row[1:5].tolist(), strict=True)), abs=1e-6
    )
    assert out[0, 0, 0, 0].item() == pytest.approx((w[0] + w[1]) * 0.0 + w[2] * 1.0 + w[3] * 4.0, abs=1e-6)
    assert out[0, 0, 0, 3].item() == pytest.approx(w[0] * 3.0 + w[1] * 5.0 + (w[2] + w[3]) * 0.5, abs=1e-6)
    # rows are constant, so every output row is the same
    assert torch.equal(out[0, 0, 0], out[0, 0, 1])


def test_ncnn_bicubic_matches_torch_filter_and_keeps_constants():
    x = torch.rand(1, 2, 24, 20)
    for factor in (0.5, 0.75, 1.5):
        ours = ncnn_bicubic_resize(x, factor)
        theirs = F.interpolate(
            x, scale_factor=factor, mode="bicubic", align_corners=False, recompute_scale_factor=False
        )
        assert ours.shape == theirs.shape
        # same filter; only coordinate rounding differs
        assert (ours - theirs).abs().max().item() < 1e-4
    flat = torch.full((1, 1, 9, 7), 0.37)
    assert (ncnn_bicubic_resize(flat, 0.75) - 0.37).abs().max().item() < 1e-6
    assert ncnn_bicubic_resize(x, 1.0) is x


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: rrdbnet.RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4), id="rrdbnet-x4"),
        pytest.param(lambda: rrdbnet.RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2), id="rrdbnet-x2"),
        pytest.param(lambda: srvgg.SRVGGNetCompact(num_feat=8, num_conv=2, scale=4), id="srvgg-x4"),
    ],
)
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript(make):
    net = _randomise(make())
    x = _input(3, 8, 12)
    with torch.no_grad():
        assert torch.equal(torch.jit.script(net)(x), net(x))
        model = upscale_model(net.state_dict(), output_resize=0.75 if isinstance(net, srvgg.SRVGGNetCompact) else None)
        scripted = torch.jit.script(model.module)
        odd = _input(3, 9, 13)
        assert torch.equal(scripted(odd), model(odd))
    assert torch.equal(torch.jit.script(NcnnBicubicResize(0.5))(x), ncnn_bicubic_resize(x, 0.5))


def test_srvgg_tile_overlap_is_its_exact_receptive_field():
    # GIVEN an SRVGG with 3 hidden convs (5 convs at input resolution)
    model = upscale_model(_randomise(srvgg.SRVGGNetCompact(num_feat=8, num_conv=3, scale=2)).state_dict())
    assert model.tile_overlap_px == 5
    x = _input(3, 10, 24)
    full = model(x)
    # WHEN a tile keeps tile_overlap_px of context THEN its output matches the whole image's exactly
    tile = model(x[..., : 8 + model.tile_overlap_px])
    assert torch.equal(tile[..., :16], full[..., :16])
    # AND one pixel less context changes it
    short = model(x[..., : 8 + model.tile_overlap_px - 1])
    assert not torch.equal(short[..., :16], full[..., :16])
