"""Shared fixtures: deterministic RNGs, the test device, and the real pinned weights."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

# One torch thread per process (framefill, and the CLIs the tests start): on a shared
# 2-core CI machine two threads that wait on each other ran a model 20x slower than
# one (0.7 s against 17 s at load 5). Results do not depend on it: reruns are
# bit-identical for a fixed thread count, and 1 and 2 threads were checked equal.
os.environ.setdefault("FRAMEFILL_THREADS", "1")



@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def test_device() -> str:
    """FRAMEFILL_TEST_DEVICE (default cpu): CI never has a GPU."""
    return os.environ.get("FRAMEFILL_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def model_files():
    """Paths of a model's cached, verified weight files by role; fails (not skips) when absent.

    The cache is filled by `framefill models fetch --all` (run by `make test`), never by a test.
    """

    def _get(name: str) -> dict[str, Path]:
        from framefill.errors import ModelNotFoundError
        from framefill.models.cache import require_files
        from framefill.models.registry import MODELS

        try:
            return require_files(MODELS.get(name))
        except ModelNotFoundError as err:
            pytest.fail(f"{err.msg} (tests never download; `make test` fetches the weights first)")

    return _get


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module, restored afterwards. On a shared 2-core box torch's OpenMP
    barriers stall whenever a sibling thread is descheduled (x4plus: ~2 s on 1 thread, 22 s on 2 under
    load, measured); values do not depend on the thread count beyond float rounding."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def linked_model_cache(tmp_path, monkeypatch, model_files):
    """``link(*names)``: a model cache of links to the real weights of ``names`` (verified), so the
    test's exported ONNX files land in a folder of its own; returns that folder."""

    def link(*names: str) -> Path:
        from framefill.models.cache import cache_dir

        for name in names:
            model_files(name)
        real = cache_dir()
        mine = tmp_path / "models"
        mine.mkdir()
        for item in real.iterdir():
            if item.is_file():
                (mine / item.name).symlink_to(item)
        monkeypatch.setenv("FRAMEFILL_MODELS", str(mine))
        return mine

    return link


@pytest.fixture(scope="session")
def reference_wheel():
    """Path of a pinned reference wheel kept in the model cache by `framefill models fetch`."""

    def _get(prefix: str) -> Path:
        from framefill.models.cache import wheel_dir

        found = sorted(wheel_dir().glob(f"{prefix}*.whl"))
        if not found:
            pytest.fail(f"reference wheel {prefix}* missing from {wheel_dir()}; run `framefill models fetch --all`")
        return found[0]

    return _get
