"""Upscaling speed and memory: framefill's tiled torch and ONNX Runtime paths against the ncnn reference runtime.

    PYTHONPATH=core .venv/bin/python bench/upscale.py [--model realesr-animevideov3-x4] [--sizes 540p,1080p,2160p]
        [--tile 256] [--repeats 3] [--threads N] [--device cpu] [--full-sizes 540p] [--no-ort] [--json out.json]
    PYTHONPATH=core .venv/bin/python bench/upscale.py --context [--model realesrgan-x4plus]
    PYTHONPATH=core .venv/bin/python bench/upscale.py --memory-per-px [--model ...]

Default mode. Input: a sample-shot frame's display proxy (480x270) repeated
to 960x540 (540p), 1920x1080 and 3840x2160; the model's scale (x4: 540p ->
3840x2160).
Each (runtime, size) runs in a fresh process, because ``ru_maxrss`` is a
process high-water mark:

* ``ours``: ``pipeline.upscale.upscale_rgb`` (clip-and-carry, tiles of
  ``--tile`` with the model's overlap and feather, merge), fp32 on the CPU,
  fp16 on CUDA;
* ``ours-bf16``: the same function with the network in bfloat16 (``--precision
  bf16``; the Real-ESRGAN nets on the CPU), and its distance from ``ours`` in fp32
  on one 128x128 tile of the input (max |difference| and PSNR; the same is
  printed for every runtime but ``ours``, ncnn included, so the accuracy each
  pays for its speed is on one line);
* ``ours-ort``: the same function with the network in ONNX Runtime
  (``--backend onnxruntime``: fp32, the CPU provider on the CPU), and its
  largest |difference| from ``ours`` on one 128x128 tile of the input (fp32 both);
* ``ncnn``: PyPI ``ncnn`` with the same .param/.bin, its default CPU options
  (Vulkan off, ``--threads`` threads), run through the *same* tile plan, so
  the two differ only in runtime.

Reported: seconds per frame (median of ``--repeats`` whole frames, at the
sizes in ``--full-sizes``), fps, and the process's peak memory while those
frames run (model, frame buffers and tiles together), each of ours over ncnn
as ratios. Then the *tile working set*: with the model loaded and warm and the
frame buffers (input, whole output) allocated and touched, the process peak is
reset (``/proc/self/clear_refs``) and ``--probe-tiles`` interior tiles whose
core is exactly ``--tile`` px run through ``ops.tiling.run_tiled`` (merge
included); their peak minus the resident memory before is what tiling bounds.
It must stay flat as the input grows 540p -> 1080p -> 2160p (the tiles are the
same size). The frame buffers themselves grow with the frame (1.7 GB of
float32 output at 2160p x4) and are listed apart. Timed frames run under the
``framefill`` command's allocator policy (freed buffers kept for reuse:
``runtime.memory.keep_freed_memory``), every runtime alike; tile probes with a
fixed glibc mmap threshold (``MMAP_THRESHOLD_BYTES``: why there);
``--malloc-default`` runs both under glibc's default. The load average is
printed because on a shared machine every time moves with it.

Models without ncnn files (``dat-light-x2/x3/x4``, ``fidelity``) run ours only (not
``ours-ort`` either: the DAT graph is fixed to one tile size);
their speed beside the Real-ESRGAN nets is in ``bench/upscale_quality.py``'s
s/frame column (same run, same input).

``--context``: how far a cut in the input moves RRDBNet's output (the data
behind ``models/upscale.py``'s overlap constants). ``--memory-per-px``: peak
working memory per input pixel of a tile (``BYTES_PER_INPUT_PX``).

DAT (``fidelity``, ``dat-light-x*``) tiles itself, exactly (``models/arch/dat_tiled.py``:
block by block over the whole frame, holding its token maps): its tile probes run that
path, not ``run_tiled``. ``--memory-per-px`` runs ``exact_tiled_fn`` on a frame of 3x3
cores of each ``--mem-sides`` size (one process each, fixed mmap threshold), reports the
peak growth, the token maps and output apart, the rest per input pixel of the central
core's crop (core + 2 x 32 px halo), and max/mean |tiled - untiled| on the same frame;
the default mode's tile probe runs the exact tiler on a 3x3-core crop of the frame.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))

# glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after
# which tile-sized buffers come from the heap and stay resident when freed: the process
# peak then depends on the allocation history (measured at --tile 256: 91 MB at 540p,
# 160 MB at 1080p for the same tiles). A fixed 1 MiB threshold (glibc's
# MALLOC_MMAP_THRESHOLD_) returns every large buffer to the kernel when freed, so the
# peak is the memory the code holds (76 MB at 540p, 1080p and 2160p alike, measured).
# --malloc-default measures glibc's adaptive default instead.
MMAP_THRESHOLD_BYTES = 1 << 20
SIZES = {"540p": (960, 540), "1080p": (1920, 1080), "2160p": (3840, 2160)}
SAMPLE = REPO / "core" / "framefill" / "data" / "sample_shot" / "shot.1013.exr"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample_proxy(width: int, height: int) -> np.ndarray:
    """The sample frame's display proxy (sRGB-encoded, HDR kept) resized to width x height, H,W,3 float32."""
    from framefill.color import to_network
    from framefill.frames import read_exr
    from framefill.ops.resample import resize

    part = read_exr(SAMPLE).parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    proxy = to_network(rgb)
    return np.ascontiguousarray(resize(proxy, height=height, width=width, method="lanczos", antiring=True))


def load(model_name: str, device: str, backend: str = "torch", precision: str | None = None):  # noqa: ANN201
    """A bench helper: the upscaler on ``device`` (``precision``: the device's default unless given)."""
    from dataclasses import replace

    from framefill.models.loading import load_upscaler
    from framefill.runtime.device import resolve_devices

    spec = resolve_devices(device)[0]
    if precision is not None:
        spec = replace(spec, precision=precision)
    return load_upscaler(model_name, device=spec.device, precision=spec.precision, backend=backend), spec


# Each runtime a worker can measure: ncnn is the reference the others are divided by.
REFERENCE = "ncnn"


# ncnn options that decide its speed and memory on a CPU, recorded with every ncnn row.
NCNN_OPTS = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
             "use_winograd_convolution", "use_sgemm_convolution", "use_packing_layout")


def ncnn_fn(model_name: str, threads: int):  # noqa: ANN201 - bench helper
    """The reference runtime as a tile operator: ncnn's default CPU options, Vulkan off."""
    import ncnn
    from framefill.models.cache import require_files
    from framefill.models.registry import MODELS

    files = require_files(MODELS.get(model_name))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    assert net.load_param(str(files["param"])) == 0
    assert net.load_model(str(files["bin"])) == 0
    enabled = [k.removeprefix("use_") for k in NCNN_OPTS if getattr(net.opt, k, False)]

    def run(tile: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(tile, dtype=np.float32)
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(data))
        _ret, out = ex.extract("output")
        return np.array(out, dtype=np.float32, copy=True)

    run.options = enabled  # type: ignore[attr-defined]
    return run


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: resident now, VmHWM: peak since the last reset), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is this phase's own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def probe_plan(plan, count: int):  # noqa: ANN001, ANN201 - bench helper
    """``count`` interior tiles whose core is exactly ``plan.tile_px`` square, reading the full margin.

    The real plan equalises its cores, so their size drifts a little with the
    frame (540p at --tile 256: 180x240 cores; 2160p: 240x256). Probing tiles of
    exactly the tile size makes every frame size run the same work, the largest
    any core of the plan can be: what is left to vary is only what the frame
    size leaks into a tile's memory (nothing, if tiling bounds it).
    """
    import math
    from dataclasses import replace

    from framefill.ops.tiling import Tile

    if count < 2:  # run_tiled runs a one-tile plan on the whole frame
        raise SystemExit("--probe-tiles must be at least 2")
    t = plan.tile_px
    margin = math.ceil(plan.overlap_px / plan.multiple_of) * plan.multiple_of
    if plan.height < t + 2 * margin or plan.width < t + 2 * margin:
        raise SystemExit(f"--tile {t} leaves no interior tile in a {plan.width}x{plan.height} frame")
    y0 = margin
    tiles = tuple(Tile(y0, y0 + t, x0, x0 + t, y0 - margin, y0 + t + margin, x0 - margin, x0 + t + margin)
                  for x0 in (margin + i * t for i in range(count)) if x0 + t + margin <= plan.width)
    return replace(plan, tiles=tiles)


def tiled_input(width: int, height: int) -> np.ndarray:
    """H,W,3: the 480x270 sample proxy repeated to the size (no frame-sized temporaries on the way)."""
    small = sample_proxy(480, 270)
    reps = (-(-height // 270), -(-width // 480), 1)
    return np.ascontiguousarray(np.tile(small, reps)[:height, :width])


def exact_probe(model, image: np.ndarray, tile: int) -> dict:  # noqa: ANN001 - bench helper
    """DAT's exact tiler (``exact_tiled_fn``) on ``image`` (C,H,W) in cores of ``tile``: peak RSS growth, split.

    ``tile_working_mb``: the growth less the whole-frame token maps (``frame_bytes_per_input_px``
    per padded input pixel) and the output frame, i.e. what one crop's pass holds. The model must be warm.
    """
    from framefill.models.upscale import exact_tiled_fn

    run = exact_tiled_fn(model, tile_px=tile)
    if run is None:
        raise SystemExit(f"{model.arch} does not tile itself")
    grid = int(model.multiple_of)
    padded_px = (-(-image.shape[1] // grid) * grid) * (-(-image.shape[2] // grid) * grid)
    maps = model.frame_bytes_per_input_px * padded_px
    before = _status_mb("VmRSS")
    reset = _reset_peak()
    out = run(image)
    grew_mb = _status_mb("VmHWM") - before if reset else float("nan")
    return {"tile_px": tile, "frame": [int(image.shape[2]), int(image.shape[1])],
            "rss_growth_mb": round(grew_mb, 1), "token_maps_mb": round(maps / 2**20, 1),
            "output_mb": round(out.nbytes / 2**20, 1),
            "tile_working_mb": round(grew_mb - (maps + out.nbytes) / 2**20, 1), "_out": out}


def exact_memory_worker(args: argparse.Namespace) -> dict:
    """``--memory-per-px`` for a model that tiles itself: 3x3 cores of ``--worker-mem-side`` through the exact path."""
    import torch
    from framefill.models.arch.dat_tiled import SPATIAL_HALO_PX
    from framefill.models.upscale import array_fn, exact_tiled_fn

    torch.set_num_threads(args.threads)
    model = load(args.model, "cpu")[0].model
    side = args.worker_mem_side
    warm = exact_tiled_fn(model, tile_px=32)
    assert warm is not None
    warm(np.random.rand(3, 64, 64).astype(np.float32))  # kernels, allocator pools
    image = np.ascontiguousarray(np.clip(tiled_input(3 * side, 3 * side), 0, 1).transpose(2, 0, 1))
    probe = exact_probe(model, image, side)
    tiled = probe.pop("_out")
    crop = side + 2 * SPATIAL_HALO_PX  # the central core's crop
    probe["crop_px"] = f"{crop}x{crop}"
    probe["crop_bytes_per_input_px"] = round(probe["tile_working_mb"] * 2**20 / (crop * crop))
    untiled = array_fn(model)(image)  # after the measurement: its own peak is larger
    diff = np.abs(tiled - untiled)
    probe["tiled_vs_untiled_max_abs"] = float(f"{float(diff.max()):.3g}")
    probe["tiled_vs_untiled_mean_abs"] = float(f"{float(diff.mean()):.3g}")
    return probe


def worker(args: argparse.Namespace) -> dict:
    """One (runtime, size, phase) measurement in this process.

    ``probe``: after the model is loaded and warm and the frame buffers (input,
    whole output) are allocated and touched, the peak is reset and
    ``--probe-tiles`` interior tiles run: ``tile_working_mb`` is that phase's
    peak minus the resident memory before it, the memory tiling bounds.
    ``frames``: ``--repeats`` whole frames, through the real pipeline function
    for ours; the process peak while they run is the real-world figure (model,
    buffers, tiles, allocator slack).
    """
    import torch
    from framefill.models.upscale import array_fn
    from framefill.ops.tiling import run_tiled
    from framefill.pipeline.upscale import Runner, upscale_rgb

    from framefill.runtime.device import THREADS_ENV, configure_determinism

    # Torch as an upscale job sets it up (deterministic kernels, the thread count), before loading:
    # the onnxruntime session takes torch's thread count.
    os.environ[THREADS_ENV] = str(args.threads)
    configure_determinism()
    malloc = "glibc default"
    if args.worker_phase == "frames" and not args.malloc_default:
        from framefill.runtime.memory import keep_freed_memory

        malloc = "framefill" if keep_freed_memory(True) else malloc
    width, height = SIZES[args.worker_size]
    loaded, spec = load(args.model, args.device, "onnxruntime" if args.worker == "ours-ort" else "torch",
                        "bf16" if args.worker == "ours-bf16" else None)
    model = loaded.model
    scale = int(model.scale)
    fn = ncnn_fn(args.model, args.threads) if args.worker == "ncnn" else array_fn(
        model, device=spec.device, dtype=spec.torch_dtype())
    fn(np.random.rand(3, 64, 64).astype(np.float32))  # warm-up: kernels, allocator pools
    rgb = tiled_input(width, height)
    accuracy = None
    if args.worker != "ours" and args.worker_phase == "frames":
        # Accuracy against ours in fp32 on the CPU on one tile of the real input, measured beside the speed.
        torch_model = load(args.model, "cpu")[0].model
        probe = np.ascontiguousarray(np.clip(rgb[:128, :128], 0, 1).transpose(2, 0, 1))
        got, want = fn(probe), array_fn(torch_model)(probe)
        accuracy = (float(np.abs(got - want).max()),
                    float(10 * np.log10(1.0 / max(float(np.mean((got - want) ** 2)), 1e-20))))
        del torch_model
    image = np.ascontiguousarray(np.clip(rgb, 0, 1).transpose(2, 0, 1))
    runner = Runner(model=model, device=spec.device, dtype=spec.torch_dtype(), tile_px=args.tile)
    plan = runner.plan(height, width)
    result = {
        "runtime": args.worker, "size": args.worker_size, "phase": args.worker_phase, "input": [width, height],
        "output": [width * scale, height * scale], "model": loaded.name, "device": spec.device,
        "precision": "ncnn defaults: " + ",".join(fn.options) if args.worker == "ncnn" else (
            spec.precision if args.worker in ("ours", "ours-bf16") else f"fp32, {getattr(model, 'provider', '?')}"),
        "threads": args.threads, "malloc": malloc, "tile_px": plan.tile_px, "overlap_px": plan.overlap_px,
        "tiles": len(plan.tiles),
        "largest_plan_read_px": plan.largest_read_px,
        "frame_buffers_mb": round((rgb.nbytes + image.nbytes + 3 * height * scale * width * scale * 4) / 2**20, 1),
    }
    if args.worker_phase == "probe" and getattr(model, "tiles_itself", False):
        # DAT tiles itself over the whole frame: probe 3x3 cores of --tile (the same work at every size)
        side = 3 * args.tile
        if height < side or width < side:
            raise SystemExit(f"--tile {args.tile}: a {width}x{height} frame has no 3x3 cores of it")
        probe_result = exact_probe(model, np.ascontiguousarray(image[:, :side, :side]), args.tile)
        probe_result.pop("_out")
        result.update({"probe_tiles": 9, "tile_read_px": [args.tile + 64, args.tile + 64],
                       "rss_before_tiles_mb": None, **{k: probe_result[k] for k in (
                           "tile_working_mb", "token_maps_mb", "rss_growth_mb")}})
    elif args.worker_phase == "probe":
        out = np.empty((3, height * scale, width * scale), dtype=np.float32)
        out.fill(0.0)  # resident, as a whole frame's output is
        probe = probe_plan(plan, args.probe_tiles)
        before = _status_mb("VmRSS")
        reset = _reset_peak()
        run_tiled(fn, image, probe, scale=scale, out=out)
        if spec.is_cuda:
            torch.cuda.synchronize()
        result.update({
            "probe_tiles": len(probe.tiles), "tile_read_px": list(probe.tiles[0].read_shape),
            "rss_before_tiles_mb": round(before, 1),
            "tile_working_mb": round(_status_mb("VmHWM") - before, 1) if reset else None,
        })
    else:
        times = []
        _reset_peak()
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            if args.worker != "ncnn":
                done = upscale_rgb(runner, rgb, height=height * scale, width=width * scale)
            else:
                done = run_tiled(fn, image, plan, scale=scale)
            if spec.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            del done
        result["seconds"] = [round(t, 3) for t in times]
        result["seconds_per_frame"] = round(statistics.median(times), 3)
        result["fps"] = round(1.0 / statistics.median(times), 4)
        result["full_frame_peak_rss_mb"] = round(_status_mb("VmHWM"), 1)
    if accuracy is not None:
        result["max_abs_diff_vs_torch"] = float(f"{accuracy[0]:.3g}")
        result["psnr_db_vs_torch"] = round(accuracy[1], 2)
    result["process_peak_rss_mb"] = round(rss_mb(), 1)
    if spec.is_cuda and args.worker == "ours":
        result["peak_device_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def spawn(args: argparse.Namespace, runtime: str, size: str, phase: str) -> dict:
    """Run one worker. Timed frames run under the framefill command's allocator policy (a fixed
    mmap threshold costs a page fault per fresh buffer: ours measured 35% slower with it); the
    memory probe fixes the threshold. ``--malloc-default``: glibc's default for both (see
    MMAP_THRESHOLD_BYTES)."""
    cmd = [sys.executable, __file__, "--worker", runtime, "--worker-size", size, "--worker-phase", phase,
           "--model", args.model, "--tile", str(args.tile), "--repeats", str(args.repeats), "--device", args.device,
           "--threads", str(args.threads), "--probe-tiles", str(args.probe_tiles)]
    if args.malloc_default:
        cmd.append("--malloc-default")
    env = {**os.environ, "PYTHONPATH": str(REPO / "core")}
    if phase == "probe" and not args.malloc_default:
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD_BYTES)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def context_table(args: argparse.Namespace) -> dict:
    """Max |output change| of RRDBNet when the input is cut k px from an output pixel (fp32, CPU)."""
    import torch

    torch.set_num_threads(args.threads)
    loaded, _ = load(args.model, "cpu")
    model = loaded.model
    from framefill.models.upscale import array_fn

    run = array_fn(model)
    s = int(model.scale)
    proxy = np.clip(sample_proxy(480, 270), 0, 1).transpose(2, 0, 1)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:270, 0:480].astype(np.float32)
    texture = np.clip(0.25 + 0.5 * rng.random((3, 270, 480), dtype=np.float32)
                      + 0.25 * (np.sin(xx * 0.3 + yy * 0.2) * ((xx // 8 + yy // 8) % 2))[None], 0, 1)
    worst: dict[int, float] = {}
    for image in (proxy, texture):
        for r0 in (100, 180):
            strip = np.ascontiguousarray(image[:, r0 : r0 + 24, 100:356])
            full = run(strip)
            cut = 200
            right = run(strip[:, :, :cut])
            for j in range(cut):
                k = cut - 1 - j
                e = float(np.abs(right[:, :, s * j : s * j + s] - full[:, :, s * j : s * j + s]).max())
                worst[k] = max(worst.get(k, 0.0), e)
            start = 56
            left = run(strip[:, :, start:])
            for j in range(start, strip.shape[2]):
                k = j - start
                js = j - start
                e = float(np.abs(left[:, :, s * js : s * js + s] - full[:, :, s * j : s * j + s]).max())
                worst[k] = max(worst.get(k, 0.0), e)
    rows = {k: worst[k] for k in (16, 32, 48, 56, 64, 72, 80, 88, 96, 128, 160, 199) if k in worst}
    return {"model": loaded.name, "max_abs_change_by_context_px": {str(k): float(f"{v:.3g}") for k, v in rows.items()}}


def memory_per_px(args: argparse.Namespace) -> dict:
    """Peak working memory per input pixel of a tile, from ru_maxrss growth over two tile sizes (one process each).

    DAT (tiles itself): the exact path instead, in :func:`exact_memory_worker` (token maps apart, and
    tiled vs untiled on the same frame).
    """
    from framefill.models.loading import load_upscaler

    if getattr(load_upscaler(args.model).model, "tiles_itself", False):
        rows = {}
        for side in args.mem_sides:
            cmd = [sys.executable, __file__, "--model", args.model, "--threads", str(args.threads),
                   "--worker-mem-side", str(side)]
            env = {**os.environ, "PYTHONPATH": str(REPO / "core"), "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES)}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            rows[side] = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"model": args.model, "path": "exact_tiled_fn (3x3 cores)", "by_tile": rows}
    out = {}
    for side in args.mem_sides:
        cmd = [sys.executable, "-c", (
            "import sys, resource, torch, numpy as np; sys.path.insert(0, %r);"
            "torch.set_num_threads(%d);"
            "from framefill.models.loading import load_upscaler;"
            "from framefill.models.upscale import array_fn;"
            "m = load_upscaler(%r).model; f = array_fn(m); f(np.random.rand(3, 16, 16).astype(np.float32));"
            "b = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            "f(np.random.rand(3, %d, %d).astype(np.float32));"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - b) * 1024)"
        ) % (str(REPO / "core"), args.threads, args.model, side, side)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        grew = int(proc.stdout.strip().splitlines()[-1])
        out[side] = {"tile": f"{side}x{side}", "rss_growth_mb": round(grew / 2**20, 1),
                     "bytes_per_input_px": round(grew / (side * side))}
    return {"model": args.model, "by_tile": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realesr-animevideov3-x4")
    ap.add_argument("--sizes", default="540p,1080p,2160p")
    ap.add_argument("--full-sizes", default="540p", help="sizes run as whole frames (others: --probe-tiles tiles)")
    ap.add_argument("--probe-tiles", type=int, default=2)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads for each runtime (default: all CPUs). On a busy machine use 1: torch's "
                         "OpenMP barriers stall whenever a sibling thread is descheduled")
    ap.add_argument("--no-ncnn", action="store_true")
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime row (ours-ort)")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 row (ours-bf16, --precision bf16)")
    ap.add_argument("--malloc-default", action="store_true",
                    help="glibc's default allocator in every worker (else timed frames run under the framefill "
                         "command's policy and tile probes with a fixed mmap threshold: see MMAP_THRESHOLD_BYTES)")
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--context", action="store_true")
    ap.add_argument("--memory-per-px", action="store_true")
    ap.add_argument("--mem-sides", type=lambda t: [int(x) for x in t.split(",")], default=[64, 128])
    ap.add_argument("--worker", choices=["ours", "ours-bf16", "ours-ort", "ncnn"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-size", help=argparse.SUPPRESS)
    ap.add_argument("--worker-phase", choices=["probe", "frames"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-mem-side", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker_mem_side:
        print(json.dumps(exact_memory_worker(args)))
        return
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.context:
        print(json.dumps(context_table(args), indent=1))
        return
    if args.memory_per_px:
        print(json.dumps(memory_per_px(args), indent=1))
        return
    load_before = os.getloadavg()
    from framefill.models.registry import MODELS

    # ncnn runs only the ncnn cards (the Real-ESRGAN family); dat-light-x* is ours alone (torch only).
    has_ncnn = any(w.role == "param" for w in MODELS.get(args.model).files)
    try:
        import onnxruntime  # noqa: F401 - only whether it is there
        has_ort = has_ncnn and not args.no_ort
    except ImportError:
        has_ort = False
    # bf16: the Real-ESRGAN nets on CPUs with bf16 instructions (`--precision bf16`); DAT runs fp32 only.
    has_bf16 = has_ncnn and args.device == "cpu" and not args.no_bf16
    runtimes = (("ours",) + (("ours-bf16",) if has_bf16 else ()) + (("ours-ort",) if has_ort else ())
                + (("ncnn",) if has_ncnn and not args.no_ncnn else ()))
    print(f"model {args.model}, device {args.device}, {args.threads} thread(s) per runtime, tile {args.tile} px, "
          f"median of {args.repeats} frame(s); load average {[round(x, 2) for x in load_before]} on "
          f"{os.cpu_count()} CPUs", flush=True)
    rows = []
    full_sizes = [s for s in args.full_sizes.split(",") if s in SIZES]
    for phase, sizes in (("frames", full_sizes), ("probe", args.sizes.split(","))):
        for size in sizes:
            for runtime in runtimes:
                rows.append(spawn(args, runtime, size, phase))
                print(f"  measured {runtime} {size} {phase}", flush=True)
    load_after = os.getloadavg()
    summary: dict = {"rows": rows, "load_average_before": [round(x, 2) for x in load_before],
                     "load_average_after": [round(x, 2) for x in load_after], "cpus": os.cpu_count()}
    by = {(r["runtime"], r["size"]): r for r in rows if r["phase"] == "probe"}
    timed = {(r["runtime"], r["size"]): r for r in rows if r["phase"] == "frames"}

    full = [r for r in rows if r["phase"] == "frames"]
    if full:
        print("\nwhole frames (x{0}): seconds per frame (median), the process's peak RSS while upscaling them "
              "(allocator: {1})".format(full[0]["output"][0] // full[0]["input"][0], full[0]["malloc"]))
        print(f"{'runtime':8s} {'input':>10s} {'output':>10s} {'tiles':>5s} {'s/frame':>8s} {'fps':>7s} "
              f"{'peak MB':>8s} {'(frame buffers MB)':>19s}  precision")
        for r in full:
            print(f"{r['runtime']:8s} {'x'.join(map(str, r['input'])):>10s} {'x'.join(map(str, r['output'])):>10s} "
                  f"{r['tiles']:5d} {r['seconds_per_frame']:8.2f} {r['fps']:7.4f} {r['full_frame_peak_rss_mb']:8.0f} "
                  f"{r['frame_buffers_mb']:19.0f}  {r['precision']}")
        for size in full_sizes:
            ref = timed.get((REFERENCE, size))
            for runtime in (rt for rt in runtimes if rt != REFERENCE):
                ours = timed.get((runtime, size))
                if ours and ref:
                    time_ratio = ours["seconds_per_frame"] / ref["seconds_per_frame"]
                    mem_ratio = ours["full_frame_peak_rss_mb"] / ref["full_frame_peak_rss_mb"]
                    summary[f"seconds_ratio_{runtime}_over_ncnn_{size}"] = round(time_ratio, 3)
                    summary[f"peak_memory_ratio_{runtime}_over_ncnn_{size}"] = round(mem_ratio, 3)
                    print(f"{size}: {runtime}/ncnn time {time_ratio:.2f}x ({runtime} runs at {1 / time_ratio:.2f}x "
                          f"ncnn's speed), peak memory {mem_ratio:.2f}x")
            for runtime in (rt for rt in runtimes if rt != "ours"):
                row = timed.get((runtime, size))
                if row and "max_abs_diff_vs_torch" in row:
                    summary[f"{runtime}_max_abs_diff_vs_torch"] = row["max_abs_diff_vs_torch"]
                    summary[f"{runtime}_psnr_db_vs_torch"] = row["psnr_db_vs_torch"]
                    print(f"{size}: {runtime} against ours (torch fp32), one 128x128 tile: max |difference| "
                          f"{row['max_abs_diff_vs_torch']:.3g}, PSNR {row['psnr_db_vs_torch']:.1f} dB")

    print("\ntile working set at a fixed tile size: peak RSS growth while {0} interior tiles of a {1} px core "
          "({2}x{2} read) run,\nafter the model, the input and the whole output frame are resident ({3})"
          .format(args.probe_tiles, args.tile, next(iter(by.values()))["tile_read_px"][0],
                  "glibc's adaptive mmap threshold" if args.malloc_default
                  else f"MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD_BYTES}"))
    print(f"{'input':>10s} {'output':>12s} {'tiles':>5s} " + " ".join(f"{rt + ' MB':>11s}" for rt in runtimes)
          + f" {'frame buffers MB':>17s}")
    for size in args.sizes.split(","):
        first = by[(runtimes[0], size)]
        cells = " ".join(f"{by[(rt, size)]['tile_working_mb']:11.1f}" for rt in runtimes)
        print(f"{'x'.join(map(str, first['input'])):>10s} {'x'.join(map(str, first['output'])):>12s} "
              f"{first['tiles']:5d} {cells} {first['frame_buffers_mb']:17.0f}")
    sizes = args.sizes.split(",")
    growth = (SIZES[sizes[-1]][0] * SIZES[sizes[-1]][1]) / (SIZES[sizes[0]][0] * SIZES[sizes[0]][1])
    for runtime in runtimes:
        working = [by[(runtime, s)]["tile_working_mb"] for s in sizes]
        if all(w is not None for w in working):
            summary[f"{runtime}_tile_working_mb"] = working
            spread = max(working) / max(min(working), 1e-9)
            summary[f"{runtime}_tile_working_max_over_min"] = round(spread, 3)
            print(f"{runtime}: tile working set {min(working):.1f}..{max(working):.1f} MB over {args.sizes} "
                  f"(max/min {spread:.2f}) while the input grows {growth:.0f}x in pixels")
    print(f"load average before {summary['load_average_before']}, after {summary['load_average_after']} "
          f"on {summary['cpus']} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
