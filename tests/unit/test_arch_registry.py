"""The architecture registry and its descriptors: round trips of small random nets through
detect/build for every architecture, detection order, atomic registration, and the
common interface of both upscaler kinds.

Every test builds its own registry (``standard_archs()`` or ``ArchRegistry()``);
none touches the global ``ARCHS``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from framefill.errors import UnsupportedModelError
from framefill.models.arch import rife, rife_hdv3, rrdbnet, srvgg
from framefill.models.arch.interp_model import InterpModel
from framefill.models.archs import ArchRegistry, ArchSpec, standard_archs
from framefill.models.upscale import (
    CLASSICAL_DEFAULT_SCALE,
    RESIZE_EXTRA_CONTEXT_PX,
    ClassicalUpscaler,
    UpscaleModel,
    Upscaler,
)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def _randomise(net: torch.nn.Module) -> torch.nn.Module:
    """Perturb every parameter (PReLU slopes and betas start equal, which would hide a mix-up)."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return net.eval()


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "cfg",
    [
        dict(num_feat=8, num_block=1, num_grow_ch=4, scale=4),
        dict(num_feat=12, num_block=2, num_grow_ch=6, scale=2),
        dict(num_feat=8, num_block=1, num_grow_ch=8, scale=1),
        dict(in_channels=1, out_channels=1, num_feat=8, num_block=1, num_grow_ch=4, scale=4),
    ],
    ids=["x4", "x2", "x1", "x4-gray"],
)
def test_rrdbnet_round_trip_through_the_registry(cfg):
    # GIVEN a small random RRDBNet and its state dict alone
    net = _randomise(rrdbnet.RRDBNet(**cfg))
    archs = standard_archs()
    # WHEN the registry detects and builds it
    spec = archs.detect(net.state_dict())
    model = spec.build(net.state_dict())
    # THEN it is the same architecture with the same hyperparameters and weights
    assert spec.id == "rrdbnet" and spec.task == "upscale"
    assert isinstance(model, UpscaleModel) and isinstance(model.net, rrdbnet.RRDBNet)
    assert model.net.config == net.config
    described = (model.arch, model.scale, model.net_scale, model.in_channels, model.out_channels, model.multiple_of)
    assert described == ("rrdbnet", cfg["scale"], cfg["scale"], net.config.in_channels, net.config.out_channels,
                         4 // cfg["scale"])
    assert (model.tile_overlap_px, model.bytes_per_input_px, model.supports_half) == (
        rrdbnet.TILE_OVERLAP_PX, rrdbnet.BYTES_PER_INPUT_PX, True)
    x = torch.rand(1, net.config.in_channels, 8, 12)
    with torch.no_grad():
        assert torch.equal(model(x), net(x))


@pytest.mark.parametrize(
    "cfg",
    [
        dict(num_feat=8, num_conv=2, scale=4),
        dict(num_feat=16, num_conv=5, scale=2),
        dict(num_feat=8, num_conv=0, scale=3),
        dict(in_channels=1, out_channels=1, num_feat=8, num_conv=1, scale=4),
    ],
    ids=["x4", "x2", "x3-noconv", "x4-gray"],
)
def test_srvgg_round_trip_through_the_registry(cfg):
    net = _randomise(srvgg.SRVGGNetCompact(**cfg))
    archs = standard_archs()
    spec = archs.detect(net.state_dict())
    model = spec.build(net.state_dict())
    assert spec.id == "srvgg" and isinstance(model, UpscaleModel)
    assert model.net.config == net.config
    assert (model.arch, model.scale, model.multiple_of) == ("srvgg", cfg["scale"], 1)
    assert model.tile_overlap_px == cfg["num_conv"] + srvgg.CONVS_OUTSIDE_BODY
    x = torch.rand(1, net.config.in_channels, 7, 9)
    with torch.no_grad():
        assert torch.equal(model(x), net(x))


def test_rife4_round_trip_through_the_registry():
    # The registry builds only the published 4.25 layout (its block schedule is in no tensor).
    net = _randomise(rife.Rife4Net(rife._RIFE425, (16.0, 8.0, 4.0, 2.0, 1.0)))
    archs = standard_archs()
    spec = archs.detect(net.state_dict(), task="interpolate")
    model = spec.build(net.state_dict())
    assert spec.id == "rife-4" and isinstance(model, InterpModel)
    assert model.net.config == net.config and model.net.block_scales == net.block_scales
    assert (model.arch_id, model.multiple_of, model.supports_half, model.takes_timestep) == (
        "rife-4.25", rife.V4_PAD_BASE, True, True)


def test_rife_hdv3_round_trip_through_the_registry():
    net = _randomise(rife_hdv3.HDv3Net(rife_hdv3._HDV3, (4.0, 2.0, 1.0)))
    state = {f"module.{k}": v for k, v in net.state_dict().items()}  # as DataParallel saved it
    archs = standard_archs()
    model = archs.load(state, task="interpolate")
    assert isinstance(model, InterpModel) and model.net.config == net.config
    assert (model.arch_id, model.multiple_of, model.takes_timestep) == ("rife-hdv3.6", rife_hdv3.PAD_BASE, False)


def test_an_upscaler_is_not_detected_as_an_interpolator():
    net = srvgg.SRVGGNetCompact(num_feat=4, num_conv=1)
    with pytest.raises(UnsupportedModelError, match=r"tried: rife-4, rife-hdv3\)"):
        standard_archs().detect(net.state_dict(), task="interpolate")
    with pytest.raises(UnsupportedModelError, match=r"tried: rife-4, rife-hdv3, rrdbnet, srvgg, dat\)"):
        standard_archs().load({"model.0.weight": torch.zeros(4, 3, 3, 3)})


def test_the_standard_order_tries_rife4_before_hdv3():
    assert [s.id for s in standard_archs()] == ["rife-4", "rife-hdv3", "rrdbnet", "srvgg", "dat"]


# --------------------------------------------------------------------------- registry mechanics


def _spec(arch_id: str, *, before: tuple[str, ...] = (), task: str = "upscale", key: str | None = None) -> ArchSpec:
    """A spec that recognises any dict holding ``key`` (its own id by default) and builds nothing."""
    wanted = key or arch_id
    return ArchSpec(arch_id, task, lambda sd: wanted in sd, lambda sd: None, before=before)  # type: ignore[arg-type]


def test_detection_follows_registration_order_and_before_hints():
    registry = ArchRegistry()
    for spec in (_spec("generic", key="w"), _spec("late"), _spec("specific", key="w", before=("generic",))):
        registry.add(spec)
    # "specific" was added last but names "generic" in before: it is tried first.
    assert [s.id for s in registry] == ["specific", "generic", "late"]
    assert registry.detect({"w": 1}).id == "specific"


def test_before_hints_order_transitively():
    registry = ArchRegistry()
    registry.add(_spec("c"))
    registry.add(_spec("a", before=("b",)))
    registry.add(_spec("b", before=("c",)))
    assert [s.id for s in registry] == ["a", "b", "c"]


def test_detect_filters_by_task_and_lists_what_it_tried():
    registry = ArchRegistry()
    registry.add(_spec("up", key="w"))
    registry.add(_spec("interp", key="w", task="interpolate"))
    assert registry.detect({"w": 1}, task="interpolate").id == "interp"
    with pytest.raises(UnsupportedModelError) as info:
        registry.detect({"other": 1}, task="upscale")
    assert info.value.tried == ("up",) and "\n" not in info.value.msg


def test_a_duplicate_id_is_refused_without_changing_anything():
    registry = ArchRegistry()
    first = _spec("x")
    registry.add(first)
    with pytest.raises(ValueError, match="already registered"):
        registry.add(_spec("x", key="y", before=("x",)))
    assert list(registry) == [first] and registry.get("x") is first


def test_an_ordering_cycle_is_refused_without_changing_anything():
    registry = ArchRegistry()
    registry.add(_spec("a", before=("b",)))
    with pytest.raises(ValueError, match="order each other"):
        registry.add(_spec("b", before=("a",)))
    assert [s.id for s in registry] == ["a"] and "b" not in registry


def test_unknown_id_and_bad_task():
    with pytest.raises(UnsupportedModelError, match="no architecture 'nope'"):
        ArchRegistry().get("nope")
    with pytest.raises(ValueError, match="task"):
        _spec("x", task="denoise")


def test_importing_the_registries_does_not_import_torch():
    code = ("import sys, framefill.models.registry, framefill.models.archs, framefill.models.loading; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- the two upscaler kinds


def test_both_upscaler_kinds_share_one_interface():
    net = _randomise(srvgg.SRVGGNetCompact(num_feat=4, num_conv=1, scale=4))
    network: Upscaler = srvgg.build(net.state_dict())
    classical: Upscaler = ClassicalUpscaler("lanczos")
    assert network.classical is False and classical.classical is True
    assert (network.scale, network.default_scale) == (4, 4.0)
    # The classical one has no scale of its own: the caller sets the output size.
    assert (classical.scale, classical.default_scale) == (1, CLASSICAL_DEFAULT_SCALE) == (1, 4.0)
    assert (classical.tile_overlap_px, classical.multiple_of, classical.supports_half,
            classical.bytes_per_input_px) == (0, 1, False, 0.0)
    assert isinstance(network.default_scale, float) and isinstance(classical.default_scale, float)
    # The pipeline still tells them apart by `module` until it reads `classical`.
    assert hasattr(network, "module") and not hasattr(classical, "module")


def test_an_output_resize_changes_scale_and_tiling_advice():
    net = _randomise(srvgg.SRVGGNetCompact(num_feat=4, num_conv=2, scale=4))
    plain = srvgg.build(net.state_dict())
    half = plain.with_output_resize(0.5)
    assert plain.with_output_resize(None) is plain and plain.with_output_resize(1.0) is plain
    assert (half.scale, half.net_scale, half.default_scale, half.output_resize) == (2, 4, 2.0, 0.5)
    assert half.tile_overlap_px == plain.tile_overlap_px + RESIZE_EXTRA_CONTEXT_PX
    assert half.net is plain.net and plain.output_resize is None
    x = torch.rand(1, 3, 10, 14)
    assert half(x).shape == (1, 3, 20, 28)
