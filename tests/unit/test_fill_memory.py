"""The fill's memory plan: RIFE scale, channels warped at once and decoded frames kept, from a budget; a round
of batches (--batch, --device all) in it."""

from __future__ import annotations

import pytest
from framefill.errors import InputError
from framefill.runtime.memory import (
    DEFAULT_CHANNELS_PER_BATCH,
    SOURCE_CACHE_FRAMES,
    PROXY_BYTES_PER_PX,
    network_bytes,
    plan_fill_memory,
    round_frames,
)

GIB = 1 << 30
UHD8K = (7680, 4320)
# An 8K frame of 40 half channels (beauty, alpha and a dozen AOVs): 2.47 GiB decoded.
FRAME_8K = 7680 * 4320 * 40 * 2


def test_without_a_budget_nothing_changes():
    plan = plan_fill_memory(*UHD8K, FRAME_8K, scale=0.25, budget_bytes=None)
    assert (plan.scale, plan.channels_per_batch, plan.cached_frames) == (0.25, DEFAULT_CHANNELS_PER_BATCH,
                                                                        SOURCE_CACHE_FRAMES)


def test_8k_in_24_gib_keeps_quarter_scale_and_stays_under_budget():
    plan = plan_fill_memory(*UHD8K, FRAME_8K, scale=0.25, budget_bytes=24 * GIB)
    assert plan.scale == 0.25
    assert 1 <= plan.channels_per_batch <= 16
    assert plan.estimated_peak_bytes <= 24 * GIB


def test_a_tighter_budget_lowers_the_scale_then_the_batch():
    roomy = plan_fill_memory(*UHD8K, FRAME_8K, scale=0.5, budget_bytes=40 * GIB)
    tight = plan_fill_memory(*UHD8K, FRAME_8K, scale=0.5, budget_bytes=20 * GIB)
    assert roomy.scale == 0.5 and tight.scale == 0.25
    assert tight.channels_per_batch < roomy.channels_per_batch
    assert tight.cached_frames == 0
    assert tight.estimated_peak_bytes <= 20 * GIB


def test_a_given_scale_is_kept():
    plan = plan_fill_memory(*UHD8K, FRAME_8K, scale=0.5, budget_bytes=40 * GIB, scale_given=True)
    assert plan.scale == 0.5
    with pytest.raises(InputError, match="--memory-budget .* or lower --scale"):
        plan_fill_memory(*UHD8K, FRAME_8K, scale=1.0, budget_bytes=20 * GIB, scale_given=True)


def test_a_budget_too_small_for_any_plan_names_the_size_and_the_fix():
    with pytest.raises(InputError, match=r"7680x4320 fill .* needs at least 1[89]\.\d GiB.*raise --memory-budget"):
        plan_fill_memory(*UHD8K, FRAME_8K, scale=0.25, budget_bytes=8 * GIB)


def test_network_estimate_matches_the_benchmark_it_came_from():
    # bench/interpolate.py, rife-4 CPU fp32 (peak minus the loaded process): 1080p at scale 1
    # ~1.46 GB, 4K at scale 0.5 ~3.56 GB.
    assert network_bytes(1920 * 1080, 1.0) == pytest.approx(1.46e9, rel=0.05)
    assert network_bytes(3840 * 2160, 0.5) == pytest.approx(3.56e9, rel=0.05)


def test_a_round_of_batches_is_in_the_plan_and_a_batch_too_big_for_the_budget_names_it():
    uhd, frame_4k = (3840, 2160), 3840 * 2160 * 22  # the sample's nine layers: 22 bytes per pixel
    alone = plan_fill_memory(*uhd, frame_4k, scale=0.5, budget_bytes=None)
    gpus = plan_fill_memory(*uhd, frame_4k, scale=0.5, budget_bytes=None, batch=8, devices=2, network_on_host=False)
    # Two GPUs at --batch 8: 34 frames and their proxies decoded beside the fill's own; the networks on the GPUs.
    assert round_frames(8, 2) == 34
    assert gpus.estimated_peak_bytes - alone.estimated_peak_bytes == 34 * (frame_4k + PROXY_BYTES_PER_PX * 3840 * 2160)
    # On the CPU a batch's network holds every pair's working set.
    cpu = plan_fill_memory(*uhd, frame_4k, scale=0.5, budget_bytes=None, batch=4)
    assert cpu.estimated_peak_bytes - alone.estimated_peak_bytes == \
        9 * (frame_4k + PROXY_BYTES_PER_PX * 3840 * 2160) + 3 * network_bytes(3840 * 2160, 0.5)
    # A budget that holds one fill at a time but not a round of 64: refused, naming --batch.
    assert plan_fill_memory(*uhd, frame_4k, scale=0.5, budget_bytes=8 * GIB, network_on_host=False).scale == 0.5
    with pytest.raises(InputError, match=r"over the memory budget of 8\.0 GiB; raise --memory-budget .* or lower "
                                         r"--batch \(64\)$"):
        plan_fill_memory(*uhd, frame_4k, scale=0.5, budget_bytes=8 * GIB, batch=64, network_on_host=False)
