"""FRAMEFILL_THREADS is validated before torch sees it; --device all never silently uses one of several GPUs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from framefill.errors import DeviceError, InputError
from framefill.runtime import device
from framefill.runtime.device import (
    MAX_THREADS,
    configure_determinism,
    max_threads,
    resolve_devices,
    thread_count,
)
from synthetic_shot import write_shot


@pytest.fixture
def fake_cuda(monkeypatch):
    """Pretend the machine has ``n`` CUDA devices."""
    import torch

    def set_count(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return set_count


@pytest.mark.parametrize("text", ["99999", "-1", "abc", "1.5", "0", " ", "1e3", "4 threads", "\u00b2", "+2"])
def test_bad_thread_counts_are_one_line_errors(monkeypatch, text):
    monkeypatch.setenv("FRAMEFILL_THREADS", text)
    if not text.strip():
        assert thread_count() == (os.cpu_count() or 1)  # blank: the default
        return
    with pytest.raises(InputError) as err:
        thread_count()
    msg = err.value.msg
    assert "FRAMEFILL_THREADS" in msg and f"from 1 to {max_threads()}" in msg and "\n" not in msg
    assert err.value.exit_code == 2
    # and configure_determinism refuses it before torch is told anything
    with pytest.raises(InputError):
        configure_determinism()


def test_good_thread_counts(monkeypatch):
    monkeypatch.setenv("FRAMEFILL_THREADS", "1")
    assert thread_count() == 1
    monkeypatch.setenv("FRAMEFILL_THREADS", f" {max_threads()} ")
    assert thread_count() == max_threads()
    monkeypatch.delenv("FRAMEFILL_THREADS")
    assert thread_count() == (os.cpu_count() or 1)


def test_the_maximum_is_four_per_core_capped(monkeypatch):
    monkeypatch.setattr(device.os, "cpu_count", lambda: 2)
    assert max_threads() == 8
    monkeypatch.setattr(device.os, "cpu_count", lambda: 1024)
    assert max_threads() == MAX_THREADS == 256
    monkeypatch.setattr(device.os, "cpu_count", lambda: None)
    assert max_threads() == 4


def test_a_huge_thread_count_fails_cleanly_in_a_process():
    # Used to crash torch (SIGSEGV, rc -11) after the first frame.
    env = {**os.environ, "FRAMEFILL_THREADS": "99999"}
    code = "from framefill.runtime.device import configure_determinism\nconfigure_determinism()"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and "InputError: FRAMEFILL_THREADS='99999' is not a thread count" in proc.stderr


@pytest.mark.parametrize(
    ("count", "expected"),
    [pytest.param(0, ["cpu"], id="no-cuda"), pytest.param(1, ["cuda:0"], id="one-gpu")],
)
def test_device_all_resolves_where_it_means_one_device(fake_cuda, count, expected):
    fake_cuda(count)
    assert [d.device for d in resolve_devices("all")] == expected


def test_device_all_with_several_gpus_is_refused_by_a_job_on_one_device(fake_cuda):
    fake_cuda(4)
    with pytest.raises(DeviceError) as err:
        resolve_devices("all")
    msg = err.value.msg
    assert msg.startswith("--device all would use 4 GPUs, but this job runs on one device (only `framefill "
                          "interpolate` on a frame sequence spreads over GPUs); pick one:")
    assert "cuda:0, cuda:1, cuda:2, cuda:3" in msg and "\n" not in msg


def test_device_all_spreads_over_every_gpu_where_the_job_can(fake_cuda):
    fake_cuda(3)
    assert [(d.device, d.precision) for d in resolve_devices("all", spread=True)] == [
        ("cuda:0", "fp16"), ("cuda:1", "fp16"), ("cuda:2", "fp16")]
    fake_cuda(0)
    assert [d.device for d in resolve_devices("all", spread=True)] == ["cpu"]


def test_other_devices_and_precision_rules_are_unchanged(fake_cuda):
    fake_cuda(2)
    assert [(d.device, d.precision) for d in resolve_devices("auto")] == [("cuda:0", "fp16")]
    assert [d.device for d in resolve_devices("cuda:1")] == ["cuda:1"]
    with pytest.raises(DeviceError, match="not available"):
        resolve_devices("cuda:2")
    fake_cuda(0)
    assert [(d.device, d.precision) for d in resolve_devices("auto")] == [("cpu", "fp32")]
    with pytest.raises(DeviceError, match="the CPU runs fp32"):
        resolve_devices("all", precision="fp16")
    with pytest.raises(DeviceError, match="not available"):
        resolve_devices("cuda")


def test_device_all_on_a_machine_without_a_gpu_says_so_in_one_line(fake_cuda, tmp_path):
    from framefill.runtime.device import device_note

    fake_cuda(0)
    spec = resolve_devices("all")[0]
    assert spec.device == "cpu"
    assert device_note("all", spec) == "--device all: this machine has no CUDA GPU, so the job runs on the CPU"
    assert device_note("cpu", spec) is None and device_note("auto", spec) is None
    fake_cuda(1)
    assert device_note("all", resolve_devices("all")[0]) is None
    # The command says it once, as a warning beside its result.
    shot = write_shot(tmp_path / "keys", (1, 3))
    proc = subprocess.run([sys.executable, "-m", "framefill", "interpolate", shot, "--out",
                           str(tmp_path / "out" / "shot.####.exr"), "--model", "flow", "--device", "all", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads(proc.stdout)["warnings"]
    assert warnings.count("--device all: this machine has no CUDA GPU, so the job runs on the CPU") == 1


def test_a_farm_worker_for_every_gpu_starts_on_the_first(fake_cuda):
    # GIVEN a worker with two GPUs, started for a fill template's Device "all"
    from framefill import api

    fake_cuda(2)
    # THEN its start does not refuse "all" (a fill spreads over both); a card-less start loads nothing
    assert api._preload("", "all") == "pipelines imported; model '' is chosen per command"
    # and a job that runs on one device still refuses it, naming the GPUs
    with pytest.raises(DeviceError, match="cuda:0, cuda:1"):
        resolve_devices("all")


def test_determinism_keeps_deterministic_kernels_without_filling_new_tensors():
    """Deterministic algorithms stay on; the NaN fill of every new tensor (a memory pass per allocation)
    is off and torch.compile's config is not imported, in a fresh process as a job sets it up."""
    code = ("import sys, torch\nfrom framefill.runtime.device import configure_determinism\n"
            "assert torch.utils.deterministic.fill_uninitialized_memory\nconfigure_determinism()\n"
            "print(torch.are_deterministic_algorithms_enabled(),\n"
            "      torch.is_deterministic_algorithms_warn_only_enabled(),\n"
            "      torch.utils.deterministic.fill_uninitialized_memory, 'torch._inductor' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # Deterministic, warning only, no NaN fill, and torch.compile's modules never imported (0.8 s of start-up).
    assert proc.stdout.split() == ["True", "True", "False", "False"]


def test_determinism_falls_back_to_the_public_switch_where_torch_lacks_the_kernels_own(monkeypatch):
    import torch

    called = []

    def missing(*args, **kwargs):
        raise AttributeError("module 'torch._C' has no attribute '_set_deterministic_algorithms'")

    monkeypatch.setattr(torch._C, "_set_deterministic_algorithms", missing)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda mode, **kw: called.append((mode, kw)))
    configure_determinism()
    assert called == [(True, {"warn_only": True})]
