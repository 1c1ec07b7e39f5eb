"""The framefill command keeps freed buffers for reuse (runtime.memory.keep_freed_memory), except under a budget;
the farm worker hands their pages back after each task (release_freed_memory).

glibc hands a large buffer out as a fresh mapping and unmaps it when freed, so every
frame's tens-of-MB temporaries paid for zeroed pages again (RIFE ran 2.1x slower at
1080p). The allocator's state is per process, so each check runs in its own
interpreter and reads glibc's own count of mapped bytes (mallinfo2).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ffpaths

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                           reason="the policy is glibc's mallopt")

# Allocates a 64 MiB buffer, frees it, allocates it again; prints what glibc held each time.
PROBE = """
import ctypes, json, sys
import numpy as np
from framefill.runtime.memory import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
took = [keep_freed_memory(arg == "keep") for arg in sys.argv[1:] if arg != "release"]
buffer = np.ones(64 << 20, dtype=np.uint8)
held = libc.mallinfo2()
del buffer
freed = libc.mallinfo2()
seen = {"took": took, "mapped_while_held": held.hblkhd, "heap_after_free": freed.arena}
if "release" in sys.argv:
    from framefill.runtime.memory import release_freed_memory

    seen["released"] = release_freed_memory()
    seen["heap_after_release"] = libc.mallinfo2().arena
print(json.dumps(seen))
"""

MIB64 = 64 << 20


def _probe(*calls: str, env: dict[str, str] | None = None) -> dict[str, object]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run_env.update(env or {}, PYTHONPATH=os.pathsep.join([str(ffpaths.REPO / "core"), run_env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", PROBE, *calls], capture_output=True, text=True, env=run_env,
                          check=True, timeout=120)
    return json.loads(done.stdout)


@glibc
def test_glibc_maps_a_large_buffer_afresh_by_default():
    # GIVEN glibc's default policy (nothing called)
    seen = _probe()
    # THEN the 64 MiB buffer is its own mapping, gone from the heap once freed
    assert seen["mapped_while_held"] >= MIB64
    assert seen["heap_after_free"] < MIB64


@glibc
def test_kept_the_buffer_comes_from_the_heap_and_stays_for_the_next():
    # GIVEN the framefill command's policy
    seen = _probe("keep")
    # THEN the setting took, nothing is mapped for the buffer, and the heap still holds it after the free
    assert seen["took"] == [True]
    assert seen["mapped_while_held"] < MIB64
    assert seen["heap_after_free"] >= MIB64


@glibc
def test_released_the_kept_pages_go_back_between_jobs():
    # GIVEN the policy kept and a freed 64 MiB buffer in the heap
    seen = _probe("keep", "release")
    # THEN releasing (the farm worker, after each task) shrinks the heap below it
    assert seen["heap_after_free"] >= MIB64
    assert seen["released"] is True
    assert seen["heap_after_release"] < MIB64


def test_the_farm_worker_releases_after_every_task(monkeypatch: pytest.MonkeyPatch):
    from framefill.farm import worker

    released: list[int] = []
    monkeypatch.setattr(worker, "release_freed_memory", lambda: released.append(1) or True)

    def fails(argv: list[str]) -> None:
        raise SystemExit(2)

    # WHEN the worker runs a task that succeeds and one that fails
    lines: list[str] = []
    assert worker._run_cli(lambda argv: None, ["info"], cwd=None, env=None, send_line=lines.append) == 0
    assert worker._run_cli(fails, ["info"], cwd=None, env=None, send_line=lines.append) == 2
    # THEN each hands its freed pages back
    assert released == [1, 1]


@glibc
def test_a_budgeted_job_gives_buffers_back():
    # GIVEN the policy set, then undone as a job with --memory-budget does
    seen = _probe("keep", "give-back")
    # THEN glibc's default behaviour is back: the buffer is mapped and unmapped again
    assert seen["took"] == [True, True]
    assert seen["mapped_while_held"] >= MIB64
    assert seen["heap_after_free"] < MIB64


@glibc
def test_a_malloc_variable_someone_set_is_left_alone():
    # GIVEN a user's own glibc setting (every buffer over 1 MiB mapped)
    seen = _probe("keep", env={"MALLOC_MMAP_THRESHOLD_": str(1 << 20)})
    # THEN framefill does not override it
    assert seen["took"] == [False]
    assert seen["mapped_while_held"] >= MIB64


@pytest.mark.parametrize(("budget", "expected"), [((), [True, True]), (("--memory-budget", "1G"), [True, False])])
def test_the_command_keeps_buffers_unless_given_a_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          budget: tuple[str, ...], expected: list[bool]):
    import cv2
    from framefill import api
    from framefill.cli import main

    calls: list[bool] = []
    monkeypatch.setattr(api, "keep_freed_memory", lambda keep: calls.append(keep) or True)
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.full((8, 8, 3), 128, dtype=np.uint8))
    # WHEN the CLI upscales a picture, with and without a budget
    with pytest.raises(SystemExit) as done:
        main(["upscale", str(source), "--out", str(tmp_path / "out.png"), "--model", "lanczos", "--scale", "2",
              "-q", *budget])
    # THEN the entry point keeps buffers, and the job itself keeps them or gives them back
    assert done.value.code == 0
    assert calls == expected
    assert cv2.imread(str(tmp_path / "out.png")).shape == (16, 16, 3)
