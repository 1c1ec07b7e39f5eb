"""The fill's memory plan: RIFE scale, channels warped at once and decoded frames kept, from a budget."""

from __future__ import annotations

import pytest
from framefill.errors import InputError
from framefill.runtime.memory import (
    DEFAULT_CHANNELS_PER_BATCH,
    SOURCE_CACHE_FRAMES,
    network_bytes,
    plan_fill_memory,
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
