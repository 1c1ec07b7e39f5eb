"""The MAC counter (models/complexity.py): exact on a hand-counted net, and the shipped models' counts
against the published figures (docs: ../shared/reference/published-numbers.md)."""

from __future__ import annotations

import pytest
import torch
from framefill.models.complexity import count_macs, count_parameters, model_info, precision_table
from framefill.models.loading import load_interpolator
from framefill.models.registry import MODELS
from torch import nn


class _HandCounted(nn.Module):
    """Every counted kind of layer once, on a 1x3x10x12 input (MACs worked out in the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 1, 1)
        self.down = nn.Conv2d(8, 4, 3, 2, 1)
        self.depthwise = nn.Conv2d(4, 4, 3, 1, 1, groups=4)
        self.up = nn.ConvTranspose2d(4, 2, 4, 2, 1)
        self.linear = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.depthwise(self.down(torch.relu(self.conv(x)))))  # 1,2,10,12
        tokens = self.linear(y)  # 1,2,10,5
        return tokens @ tokens.transpose(-2, -1)  # 1,2,10,10


def test_mac_count_of_a_hand_counted_net_is_exact():
    net = _HandCounted()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    count = count_macs(net, [(1, 3, 10, 12)])
    conv = 10 * 12 * 8 * 3 * 9  # every output pixel: Cout x Cin x 3x3 = 25920
    down = 5 * 6 * 4 * 8 * 9  # stride 2: 5x6 outputs = 8640
    depthwise = 5 * 6 * 4 * 1 * 9  # one input channel per group = 1080
    up = 5 * 6 * 4 * 2 * 4 * 4  # transposed: every INPUT pixel scatters Cin x Cout x 4x4 = 3840
    linear = 2 * 10 * 12 * 5  # 20 rows of 12 -> 5 = 1200
    matmul = 2 * 10 * 10 * 5  # two 10x5 @ 5x10 products = 1000
    assert count.by_op["convolution"] == conv + down + depthwise + up == 39480
    assert count.total == 39480 + linear + matmul == 41680
    assert sum(v for k, v in count.by_op.items() if k != "convolution") == linear + matmul
    # The module is left on the CPU with its values (the count ran on meta copies of its tensors).
    assert all(torch.equal(before[k], v) and v.device.type == "cpu" for k, v in net.state_dict().items())
    assert count_parameters(net) == (8 * 3 * 9 + 8) + (4 * 8 * 9 + 4) + (4 * 9 + 4) + (4 * 2 * 16 + 2) + (12 * 5 + 5)


def test_rife4_matches_the_published_46_gmac_and_framefill_pads_1080_to_1152(model_files):
    model_files("rife-4")
    net = load_interpolator("rife-4").model.net.net
    t = torch.empty((1, 1, 1, 1), device="meta")
    published_size = count_macs(net, [(1, 3, 1088, 1920)] * 2, t, 1.0).total
    assert published_size == 46_412_839_680
    assert abs(published_size / 46e9 - 1) < 0.05
    # At UHD and scale 1 (the published 186, derived): within 1%.
    assert abs(count_macs(net, [(1, 3, 2176, 3840)] * 2, t, 1.0).total / 186e9 - 1) < 0.01

    info = model_info("rife-4")
    assert info.parameters == 5_664_776  # published: 5.67M
    hd, uhd = info.sizes
    # 1080 pads to a multiple of 128 (Practical-RIFE's own padding), 5.9% more pixels than 1088.
    assert (hd.label, hd.width, hd.height, hd.run_width, hd.run_height, hd.rife_scale) == (
        "1080p", 1920, 1080, 1920, 1152, 1.0)
    assert hd.macs.total == 49_143_006_720
    # 4K: framefill's scale 0.5 (multiple 256: 2160 -> 2304).
    assert (uhd.label, uhd.run_width, uhd.run_height, uhd.rife_scale) == ("4K", 3840, 2304, 0.5)
    assert uhd.macs.total == 69_261_903_360
    assert info.sizes[0].macs.by_op == {"convolution": 49_143_006_720}


def test_upscaler_parameters_and_macs_per_input_frame(model_files):
    model_files("realesr-animevideov3-x4")
    model_files("realesrgan-x4plus")
    anime = model_info("realesr-animevideov3")
    assert anime.name == "realesr-animevideov3-x4"
    assert anime.parameters == 621_424 and round(anime.parameters / 1e6, 2) == 0.62  # published 0.62M
    # 18 3x3 convs at input resolution: 64<-3, 16 x 64<-64, 48<-64; PReLU adds no MACs.
    pixels = 1920 * 1080
    assert anime.sizes[0].macs.total == pixels * 9 * (3 * 64 + 16 * 64 * 64 + 64 * 48) == 1_283_973_120_000
    assert anime.sizes[1].macs.total == 4 * anime.sizes[0].macs.total
    assert [(s.width, s.height, s.run_width, s.run_height) for s in anime.sizes] == [
        (1920, 1080, 1920, 1080), (3840, 2160, 3840, 2160)]

    rrdb = model_info("realesrgan-x4plus")
    assert rrdb.parameters == 16_697_987  # published 16.7M
    # Published: about 74 TFLOP (2 x MACs) per 1080p input.
    assert abs(2 * rrdb.sizes[0].macs.total / 74e12 - 1) < 0.01


def test_dat_counts_attention_matmuls_and_pads_to_its_window(model_files):
    model_files("dat-light-x4")
    info = model_info("dat-light-x4")
    assert info.parameters == 572_766  # the card: 0.57M
    hd = info.sizes[0]
    assert (hd.run_width, hd.run_height) == (1920, 1088)  # 32-px windows
    assert hd.macs.by_op["bmm"] > 0 and hd.macs.by_op["addmm"] > hd.macs.by_op["convolution"]


def test_classical_models_have_no_network():
    info = model_info("flow")
    assert (info.parameters, info.sizes, info.precision) == (0, (), {})


def test_committed_precision_table_covers_every_network_with_its_weights():
    table = precision_table()
    assert table["machine"] and table["date"] and table["torch"]
    for card in MODELS:
        if card.classical or card.members:  # an ensemble's precision is its members'
            continue
        row = table["models"][card.name]
        assert row["sha256"] == "+".join(w.sha256 for w in card.files), card.name
        for precision in ("fp16", "bf16"):
            delta = row["deltas"][precision]
            assert delta["psnr_db"] == "inf" or delta["psnr_db"] > 30, (card.name, precision)
            assert 0 <= delta["max_abs_diff"] < 1
        assert "int8" in row["deltas"]


def test_unknown_model_is_an_input_error():
    from framefill.errors import InputError

    with pytest.raises(InputError, match="unknown model 'nosuch'"):
        model_info("nosuch")
