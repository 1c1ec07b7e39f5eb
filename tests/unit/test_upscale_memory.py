"""The upscale tile plan (runtime.memory.plan_upscale_memory): DAT's whole-frame token maps come out of the budget.

DAT-light's figures: 16,000 B per input pixel of a crop, a 32-px halo, the 32-px
window grid, and 480 B per padded input pixel of token maps (two fp32 copies of 60
channels) held for the whole frame while it tiles. Every number here is worked by hand.
"""

from __future__ import annotations

import pytest
import torch
from framefill.errors import InputError
from framefill.ops.tiling import tile_px_for_budget
from framefill.runtime.memory import plan_upscale_memory

GIB = 1 << 30
DAT_LIGHT = dict(bytes_per_px=16_000.0, frame_bytes_per_px=480.0, overlap_px=32, multiple_of=32, max_tile_px=1024,
                 model="dat-light-x4")


def test_1080p_tile_comes_from_what_the_token_maps_leave():
    # GIVEN a 1920x1080 frame (padded to 1920x1088) and 2 GiB
    plan = plan_upscale_memory(1920, 1080, budget_bytes=2 * GIB, tile_px=None, **DAT_LIGHT)
    # THEN the maps take 480 x 1920 x 1088 B; the 1,144,782,848 B left fit a 267 px read: a 192 px core
    # (without the maps the whole 2 GiB would fit a 366 px read: 288)
    assert plan.frame_bytes == 480 * 1920 * 1088 == 1_002_700_800
    assert plan.padded_size == (1920, 1088)
    assert plan.tile_px == 192
    assert plan.tile_bytes == 16_000 * (192 + 64) ** 2 == 1_048_576_000
    assert plan.estimated_peak_bytes == 2_051_276_800 <= 2 * GIB
    assert plan.to_json() == {
        "budget_bytes": 2 * GIB, "tile_px": 192, "tile_bytes": 1_048_576_000, "frame_bytes": 1_002_700_800,
        "frame_bytes_per_input_px": 480.0, "padded_size": [1920, 1088], "estimated_peak_bytes": 2_051_276_800}


def test_a_budget_that_cannot_hold_the_token_maps_is_refused_in_one_line():
    # GIVEN 1 GiB for the same frame: maps 1,002,700,800 B + the smallest tile (32 px, 96x96 read, 147,456,000 B)
    with pytest.raises(InputError) as caught:
        plan_upscale_memory(1920, 1080, budget_bytes=GIB, tile_px=None, **DAT_LIGHT)
    # THEN one line names the frame, the bytes needed and the fixes
    assert str(caught.value) == (
        "a 1920x1080 frame through dat-light-x4 needs 1.07 GiB (956.2 MiB of whole-frame token maps, 480 B per "
        "input pixel of the 1920x1088 padded frame, plus the smallest 32 px tile), over the memory budget of "
        "1.00 GiB; raise --memory-budget to 1097M, upscale a smaller input, or use another --model "
        "(e.g. realesrgan-x4plus, whose tiles hold no whole-frame memory)")
    # and the least budget it names is enough
    assert plan_upscale_memory(1920, 1080, budget_bytes=1097 << 20, tile_px=None,
                               **DAT_LIGHT).tile_px == 32


def test_a_frame_that_fits_one_tile_runs_untiled_without_token_maps():
    # GIVEN a 200x100 frame (padded 224x128) in 2 GiB: a 288 px core would cover it
    plan = plan_upscale_memory(200, 100, budget_bytes=2 * GIB, tile_px=None, **DAT_LIGHT)
    # THEN untiled: the whole padded frame's working set, no maps
    assert (plan.tile_px, plan.frame_bytes, plan.tile_bytes) == (0, 0, 16_000 * 224 * 128)


def test_a_given_tile_is_kept_and_its_maps_stated():
    plan = plan_upscale_memory(1920, 1080, budget_bytes=None, tile_px=256, **DAT_LIGHT)
    assert (plan.budget_bytes, plan.tile_px, plan.tile_bytes, plan.frame_bytes) == (
        None, 256, 16_000 * 320 ** 2, 1_002_700_800)


def test_models_without_whole_frame_memory_plan_as_before():
    # GIVEN RRDBNet-like figures (no frame bytes) and 4 GiB: a 463 px read, 255 px core, rounded to 8: 248
    fit = dict(bytes_per_px=20_000.0, overlap_px=104, multiple_of=1, max_tile_px=1024)
    plan = plan_upscale_memory(1920, 1080, budget_bytes=4 * GIB, tile_px=None, frame_bytes_per_px=0.0, model="x",
                               **fit)
    assert plan.tile_px == tile_px_for_budget(4 * GIB, **fit) == 248
    assert plan.frame_bytes == 0
    # and a budget below the smallest tile still gets the smallest tile, as before (no whole-frame memory to refuse)
    assert plan_upscale_memory(1920, 1080, budget_bytes=1 << 20, tile_px=None, frame_bytes_per_px=0.0, model="x",
                               **fit).tile_px == 32


def test_token_map_bytes_per_pixel():
    from framefill.models.arch.dat import DATConfig
    from framefill.models.arch.dat_tiled import token_map_bytes_per_px

    # DAT-light: one residual group, two fp32 copies of 60 channels; more groups keep the group's input too
    assert token_map_bytes_per_px(DATConfig()) == 2 * 60 * 4 == 480
    assert token_map_bytes_per_px(DATConfig(embed_dim=180, depths=(6, 6))) == 3 * 180 * 4


def test_token_maps_go_to_a_cuda_device_only_when_they_fit_its_free_memory(monkeypatch):
    from framefill.models.arch.dat_tiled import token_map_device

    cuda = torch.device("cuda:1")
    seen: list[torch.device] = []

    def free_memory(device: torch.device) -> tuple[int, int]:
        seen.append(device)
        return 1000, 4000

    monkeypatch.setattr(torch.cuda, "mem_get_info", free_memory)
    # The CPU keeps them on the host without asking CUDA
    assert token_map_device(torch.device("cpu"), 10, 10) == torch.device("cpu") and seen == []
    # maps + one crop within the 1000 free bytes: on the device asked; one byte over: on the host
    assert token_map_device(cuda, 600, 400) == cuda
    assert token_map_device(cuda, 601, 400) == torch.device("cpu")
    assert seen == [cuda, cuda]
