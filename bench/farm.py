"""Farm-layer costs (per task, per session, with and without the session worker), the speed-up of
run-local --workers 2 over 1, and fleet estimates for a feature film and for an hour of video.

    PYTHONPATH=core .venv/bin/python bench/farm.py [--repeats 3] [--frames 11] [--chunk-size 3]
        [--model rife-4] [--rife-frames 3] [--io-sizes 1080p,4k] [--feature-frames 170000] [--every 2]
        [--gpus 64] [--fleet-chunk-size 20] [--shot-frames 100] [--video-hours 1] [--video-fps 24]
        [--video-chunk-size 240] [--json] [--json-file PATH] [--out DIR]

Measured on this machine (each timed configuration --repeats times, interleaved; medians):
  farm overhead   a synthetic 96x64 EXR shot (3 channels, every other frame missing, --model
                  rife-4, CPU), or --keys PATTERN for a real one:
                    make_bundle               render, validate and write a fill bundle;
                    direct                    `framefill interpolate --json`, one process; its
                                              per-frame seconds are the frame work W;
                    run-local w1              the fill template through `openjd run`, k tasks, each
                                              handed to the session's framefill worker;
                    run-local w1, one task    the same with one chunk holding every frame;
                    run-local w2              k tasks split over 2 openjd sessions at once;
                    *_process                 w1 and w1-one-task with the template as it was before
                                              the worker: every task its own process (the baseline).
                  Per task (chunk) overhead c = (w1 - w1_one_task) / (k - 1), with the worker and,
                  as the baseline, with a process per task (process start, torch import, model
                  load). Session overhead S = w1_one_task - W - c (openjd start, the step
                  environment: with the worker, its start and model load). Every run's frames must
                  be byte-identical to the first direct run; the script fails otherwise.
  rife-4 on CPU   `framefill interpolate --model rife-4 --device cpu --json` on the bundled
                  480x270 sample shot (9 passes, DWAB) with every other frame missing,
                  --rife-frames filled frames (0 skips it). The first fill also loads the
                  network (lazily); the warm per-frame time is the median of the others.
  EXR I/O         in-process, on two sample frames resized to 1080p and 4K (same 9 HALF
                  channels, --exr-compression): read_exr, write_exr, the hashes the fill
                  pipeline takes (file sha256, pixel sha256), the byte copy of a rendered
                  frame, and the steps of interpolate_exr around the network, one by one,
                  with the zero-motion `blend` model: colour proxies, cut score and QC
                  features (numpy, on the CPU on any worker) and the warp of every layer
                  (apply_motion; on the CPU here, on the GPU on a GPU worker).
  manifest        one task's publish (8 frames) into sequences of 100, 1000 and 10000 entries,
                  against a rebuild from every entry (what each task's publish did before).
  video           per frame, in-process: decode of 1080p H.264, the segment's 16-bit PNG cache
                  write of the 4K result, the join's cache read and H.264 encode at 4K.
Estimated (nothing here has a GPU): the GPU-hours and wall time of a --feature-frames film
rendered on every --every-th frame (filled frames = the rest), cut into --shot-frames shots
(one output sequence each), filled on --gpus GPUs in --fleet-chunk-size chunks. The network
time per frame is a published figure, not a measurement (RIFE v4.4 fp16 1920x1088, ONNX
Runtime CUDA, RTX 3090: 53.6 fps, vs-mlrt wiki; or --gpu-fps-1080p), 4K scaled by RIFE
v4.25's 186/46 GMAC at UHD/1088p; EXR I/O, host work, per-task and session overhead are the ones
measured above. Three rows per size: network + EXR I/O; + the CPU proxy/cut/QC work; + the
layer warp at its CPU time (an upper bound). The formula is printed with the numbers, with
a chunk-size sweep. The same estimate from the measured CPU rife-4 fill time (scaled by
pixel count) is printed for scale. And --video-hours of 1080p video upscaled x4 by the
upscale_video job on --gpus GPUs: the network time is published (realesr-animevideov3, V100,
10 fps at 1080p input), decode, cache write, the join's read and encode, c and S are measured.

Prints a table, or one JSON document with --json.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))

from framefill.api import BundleRequest, make_bundle  # noqa: E402
from framefill.farm.local import split_blocks  # noqa: E402
from framefill.farm.templates import parse_frames  # noqa: E402

SAMPLE = REPO / "core" / "framefill" / "data" / "sample_shot"
SAMPLE_FIRST = 1001  # first frame of the bundled sample shot
SIZES = {"1080p": (1920, 1080), "4k": (3840, 2160)}

# Published GPU network speed (the project's reference notes, published-numbers.md):
# RIFE v4.4, fp16, 1920x1088, ONNX Runtime CUDA on an RTX 3090 (vs-mlrt wiki, secondary source).
GPU_FPS_1080P = 53.6
GPU_SOURCE_1080P = "RIFE v4.4 fp16 1920x1088 ORT-CUDA on RTX 3090: 53.6 fps (vs-mlrt wiki, secondary)"
# RIFE v4.25 (our rife-4): 46 GMAC at 1088p, 186 GMAC at UHD (derived) -> 4K costs 186/46 of 1080p.
GMAC_1088P, GMAC_UHD = 46.0, 186.0
# Published GPU upscale speed: realesr-animevideov3 (x4), 1080p input, V100: 10.0 fps (Real-ESRGAN's
# docs/anime_comparisons.md, via published-numbers.md).
GPU_UPSCALE_FPS_1080P = 10.0
GPU_UPSCALE_SOURCE = "realesr-animevideov3 x4, 1080p input, V100: 10.0 fps (Real-ESRGAN docs)"
# A typical feature shot is a few seconds; each shot is its own output sequence (own manifest).
DEFAULT_SHOT_FRAMES = 100


def note(message: str) -> None:
    """Progress on stderr, so that --json keeps stdout to the one document."""
    print(f"[farm bench] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def synthetic_shot(folder: Path, frames: int) -> str:
    """Odd frames 1..frames of a 96x64 RGB float EXR shot (a moving blob), ZIP."""
    import OpenEXR

    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:64, 0:96].astype(np.float32)
    for f in range(1, frames + 1, 2):
        blob = np.exp(-((x - 20 - 3 * f) ** 2 + (y - 32) ** 2) / 80.0)
        rgb = np.stack([0.2 + blob, 0.3 + 0.5 * y / 64, 0.1 + 0.3 * blob], -1).astype(np.float32)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": rgb}).write(str(folder / f"shot.{f:04d}.exr"))
    return str(folder / "shot.####.exr")


def sample_keys(folder: Path, fills: int) -> tuple[str, str]:
    """Every other frame of the sample shot around ``fills`` gaps; returns (pattern, frame range)."""
    folder.mkdir(parents=True, exist_ok=True)
    last = SAMPLE_FIRST + 2 * fills
    for f in range(SAMPLE_FIRST, last + 1, 2):
        shutil.copyfile(SAMPLE / f"shot.{f}.exr", folder / f"shot.{f}.exr")
    return str(folder / "shot.####.exr"), f"{SAMPLE_FIRST}-{last}"


def run_cli(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a command; return (wall seconds, stdout). Exits with its stderr on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)  # noqa: S603
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    return seconds, proc.stdout


# ---------------------------------------------------------------------------------------
# Farm overhead and the workers-2 speed-up
# ---------------------------------------------------------------------------------------


def measure_farm(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    keys = args.keys or synthetic_shot(work / "keys", args.frames)
    frame_range = args.frame_range or f"1-{args.frames}"
    n_frames = len(parse_frames(frame_range))
    ff = [sys.executable, "-m", "framefill"]

    per_call = []
    for i in range(20):
        t0 = time.perf_counter()
        make_bundle(BundleRequest("fill", work / f"b{i % 2}", input_pattern=keys,
                                  output_pattern=str(work / "x" / "shot.####.exr"), frames=frame_range))
        per_call.append(time.perf_counter() - t0)

    # name -> (chunk size, workers, session worker); None workers = the direct CLI. The *_process
    # rows run the template as it was before the session worker: every task its own process.
    configs = {
        "direct": (None, None, True),
        "run_local_w1": (args.chunk_size, 1, True),
        "run_local_w1_one_task": (n_frames, 1, True),
        "run_local_w2": (args.chunk_size, 2, True),
        "run_local_w1_process": (args.chunk_size, 1, False),
        "run_local_w1_one_task_process": (n_frames, 1, False),
    }
    seconds: dict[str, list[float]] = {k: [] for k in configs}
    frame_work: list[float] = []
    pipeline: list[float] = []
    outs: list[Path] = []
    for rep in range(args.repeats):
        # Configurations interleaved within a repeat, so a change in the machine's load hits all alike.
        for name, (chunk, workers, session_worker) in configs.items():
            out = work / f"{name}_r{rep}"
            outs.append(out)
            note(f"repeat {rep + 1}/{args.repeats}: {name}")
            if workers is None:
                s, stdout = run_cli([*ff, "interpolate", keys, "--out", str(out / "shot.####.exr"), "--frames",
                                     frame_range, "--model", args.model, "--device", args.device, "--quiet",
                                     "--json"], env)
                doc = json.loads(stdout)
                frame_work.append(sum(f["seconds"] for f in doc["frames"]))
                pipeline.append(doc["seconds"])
            else:
                bundle = make_bundle(BundleRequest(
                    "fill", work / f"bundle_{name}_r{rep}", input_pattern=keys,
                    output_pattern=str(out / "shot.####.exr"), frames=frame_range, chunk_size=chunk,
                    model=args.model, params={"Device": args.device})).folder
                if not session_worker:
                    task_per_process(bundle / "template.yaml")
                s, _ = run_cli([*ff, "farm", "run-local", str(bundle), "--workers", str(workers), "--quiet"], env)
            seconds[name].append(s)

    reference = outs[0]
    names = sorted(p.name for p in reference.glob("*.exr"))
    identical = bool(names) and all(
        (out / n).is_file() and filecmp.cmp(reference / n, out / n, shallow=False) for out in outs[1:] for n in names
    )
    med = {k: median(v) for k, v in seconds.items()}
    tasks = -(-n_frames // args.chunk_size)
    blocks = split_blocks(list(range(tasks)), 2)
    w = median(frame_work)
    per_task = (med["run_local_w1"] - med["run_local_w1_one_task"]) / max(tasks - 1, 1)
    per_task_before = (med["run_local_w1_process"] - med["run_local_w1_one_task_process"]) / max(tasks - 1, 1)
    return {
        "frames": n_frames, "chunk_size": args.chunk_size, "tasks": tasks, "model": args.model,
        "device": args.device, "input": "synthetic 96x64 RGB, every other frame" if not args.keys else keys,
        "make_bundle_ms": round(median(per_call) * 1000, 1),
        "seconds": {k: {"median": round(med[k], 2), "all": [round(x, 2) for x in v]} for k, v in seconds.items()},
        "speedup": {
            "w2_over_w1": round(med["run_local_w1"] / med["run_local_w2"], 3),
            # The best w2 can do: its slower session runs the larger block of tasks.
            "w2_ideal_for_split": round(tasks / max(len(b) for b in blocks), 3),
            "w2_blocks": [len(b) for b in blocks],
            "direct_over_w1": round(med["direct"] / med["run_local_w1"], 3),
            "direct_over_w2": round(med["direct"] / med["run_local_w2"], 3),
        },
        "overhead_s": {
            "frame_work_W": round(w, 3),
            "direct_pipeline": round(median(pipeline), 3),
            # One process: interpreter start, imports (torch), model load, publish.
            "direct_process": round(med["direct"] - w, 2),
            "per_task_c": round(per_task, 2),
            "per_task_c_process": round(per_task_before, 2),
            "session_S": round(med["run_local_w1_one_task"] - w - per_task, 2),
            "session_S_process": round(med["run_local_w1_one_task_process"] - w - per_task_before, 2),
            "per_task_session_spread": round((med["run_local_w1"] - w) / tasks, 2),
        },
        "identical": identical,
        "compared_files": len(names) * (len(outs) - 1),
    }


def task_per_process(template: Path) -> None:
    """Rewrite a bundle's template to run every task in its own process, as before the session
    worker: the step environment only fetches and verifies the weights (``farm prepare``)."""
    import yaml

    doc = yaml.safe_load(template.read_text(encoding="utf-8"))
    for step in doc["steps"]:
        envs = step.get("stepEnvironments", [])
        for i, env in enumerate(envs):
            if env["name"] == "FramefillWorker":
                args = env["script"]["actions"]["onEnter"]["args"]
                model = args[args.index("--model") + 1]
                envs[i] = {"name": "FramefillModel", "script": {"actions": {"onEnter": {
                    "command": "framefill", "args": ["farm", "prepare", "--model", model]}}}}
        if not envs:
            step.pop("stepEnvironments", None)
    template.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------------------------------
# rife-4 on the CPU, EXR I/O, manifest publish
# ---------------------------------------------------------------------------------------


def measure_rife(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    keys, frame_range = sample_keys(work / "rife_keys", args.rife_frames)
    note(f"rife-4 on cpu: {args.rife_frames} filled frame(s) of the 480x270 sample shot")
    wall, stdout = run_cli([sys.executable, "-m", "framefill", "interpolate", keys, "--out",
                            str(work / "rife_out" / "shot.####.exr"), "--frames", frame_range, "--model", "rife-4",
                            "--device", "cpu", "--quiet", "--json"], env)
    doc = json.loads(stdout)
    fills = [f["seconds"] for f in doc["frames"] if f["status"] == "filled"]
    copies = [f["seconds"] for f in doc["frames"] if f["status"] == "copied"]
    warm = median(fills[1:]) if len(fills) > 1 else fills[0]
    return {
        "size": "480x270", "passes": 9, "filled": len(fills),
        "fill_s": [round(x, 3) for x in fills],
        "warm_fill_s": round(warm, 3),
        # The first fill loads the network (LazyInterpolator); the difference is the load.
        "model_load_s": round(fills[0] - warm, 3) if len(fills) > 1 else None,
        "copy_s": round(median(copies), 4),
        "process_wall_s": round(wall, 2),
        "process_start_s": round(wall - doc["seconds"], 2),
    }


def _resized(image: Any, width: int, height: int, compression: str) -> Any:
    import cv2
    from framefill.frames.exr import image_from_arrays

    part = image.parts[0]
    channels = {}
    for name, arr in part.channels.items():
        # IDs stay exact integers (nearest); everything else is smooth (bilinear).
        interp = cv2.INTER_NEAREST if name.startswith("IndexOB") else cv2.INTER_LINEAR
        channels[name] = cv2.resize(arr.astype(np.float32), (width, height), interpolation=interp).astype(arr.dtype)
    return image_from_arrays(channels, compression=compression)


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return median(times), result


def measure_io(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """EXR I/O and the non-network work of one fill, per frame, at each --io-sizes size."""
    from framefill.frames.exr import pixel_sha256, read_exr, write_exr
    from framefill.models.interp import BlendInterpolator
    from framefill.ops.cuts import cut_score
    from framefill.ops.pixels import union_box
    from framefill.pipeline.fill import FillOptions
    from framefill.pipeline.fill_frame import apply_motion, make_proxy, proxy_tensor
    from framefill.pipeline.qc_features import feature_maps

    src0 = read_exr(SAMPLE / f"shot.{SAMPLE_FIRST}.exr")
    src1 = read_exr(SAMPLE / f"shot.{SAMPLE_FIRST + 2}.exr")
    options = FillOptions(model_id="blend", device="cpu")
    out: dict[str, Any] = {}
    for size in args.io_sizes:
        width, height = SIZES[size]
        note(f"EXR I/O and fill host work at {size} ({width}x{height}, {args.exr_compression})")
        folder = work / f"io_{size}"
        folder.mkdir(parents=True, exist_ok=True)
        k0, k1 = folder / "key.0001.exr", folder / "key.0003.exr"
        write_exr(k0, _resized(src0, width, height, args.exr_compression))
        write_exr(k1, _resized(src1, width, height, args.exr_compression))
        n = args.repeats
        t_read, img0 = _time(lambda k=k0: read_exr(k), n)
        img1 = read_exr(k1)
        t_src_sha, _ = _time(lambda k=k0: _file_sha(k), n)
        # The steps of pipeline.fill.interpolate_exr, timed one by one; the network is the
        # zero-motion `blend` model, so only the work around a network is measured.
        canvas = union_box(p.data_window for im in (img0, img1) for p in im.parts)
        # One proxy per fill: a rendered frame's proxy is made once and serves the gaps on both sides.
        t_proxy, p0 = _time(lambda: make_proxy(img0, canvas, options.color), n)
        p1 = make_proxy(img1, canvas, options.color)
        t_cut, _ = _time(lambda: cut_score(p0, p1), n)
        motion = BlendInterpolator().motion(proxy_tensor(p0, "cpu"), proxy_tensor(p1, "cpu"), 0.5)
        t_qc, _ = _time(lambda: feature_maps(p0, p1, motion, 0.5), n)
        t_warp, filled = _time(lambda: apply_motion(img0, img1, motion, canvas=canvas,
                                                    channels_per_batch=options.channels_per_batch), n)
        dest = folder / "out.0002.exr"
        t_write, _ = _time(lambda d=dest, im=filled: write_exr(d, im), n)
        t_pix, _ = _time(lambda im=filled: pixel_sha256(im), n)
        t_out_sha, _ = _time(lambda d=dest: _file_sha(d), n)
        t_copy, _ = _time(lambda s=k0, d=folder / "copy.0001.exr": shutil.copyfile(s, d), n)
        out[size] = {
            "width": width, "height": height, "channels": len(img0.parts[0].channels),
            "compression": args.exr_compression,
            "file_mb": round(k0.stat().st_size / 1e6, 2), "filled_file_mb": round(dest.stat().st_size / 1e6, 2),
            "read_s": round(t_read, 4), "file_sha256_s": round(t_src_sha, 4),
            "write_s": round(t_write, 4), "pixel_sha256_s": round(t_pix, 4), "out_sha256_s": round(t_out_sha, 4),
            "copy_s": round(t_copy, 4),
            "proxy_s": round(t_proxy, 4), "cut_score_s": round(t_cut, 4), "qc_features_s": round(t_qc, 4),
            "warp_layers_cpu_s": round(t_warp, 4),
            # What the pipeline does per frame besides the network (pipeline/fill.py):
            "key_read_total_s": round(t_read + t_src_sha, 4),  # decode + source sha256
            "fill_write_total_s": round(t_write + t_pix + t_out_sha, 4),  # encode + pixel sha + file sha
            "copy_total_s": round(t_src_sha + t_copy + t_out_sha, 4),  # source sha + copy + output sha
            # numpy work on the CPU whatever the device: colour proxies, cut score, QC features.
            "host_math_s": round(t_proxy + t_cut + t_qc, 4),
        }
        shutil.rmtree(folder, ignore_errors=True)
    return out


def measure_publish(work: Path) -> dict[str, Any]:
    """One task's manifest publish (8 frames) into sequences of 100, 1000 and 10000 entries: the
    incremental publish (the task's own entries merged into the merged file) against a rebuild from
    every entry (what each task's publish did before)."""
    from framefill.pipeline.manifest import Manifest, ManifestEntry

    entry = ManifestEntry(status="filled", file_sha256="0" * 64, pixel_sha256="0" * 64, needs_render=False,
                          recipe={"kind": "fill", "sources": {"1": "0" * 64, "3": "0" * 64}, "t": 0.5,
                                  "model": "rife-4"})
    task = list(range(8))
    out: dict[str, Any] = {}
    for count in (100, 1000, 10000):
        manifest = Manifest(str(work / f"manifest_{count}" / "shot.####.exr"))
        for f in range(count):
            manifest.put(f, entry)
        manifest.rebuild(model="rife-4")
        incremental, _ = _time(lambda m=manifest: m.publish(frames=task, model="rife-4"), 5)
        rebuild, _ = _time(lambda m=manifest: m.rebuild(model="rife-4"), 3)
        out[str(count)] = {"publish_s": round(incremental, 4), "rebuild_s": round(rebuild, 4)}
    return {"task_frames": len(task), "by_entries": out,
            "per_entry_s": round((out["10000"]["publish_s"] - out["100"]["publish_s"]) / 9900, 7)}


def measure_video(work: Path, repeats: int) -> dict[str, Any]:
    """Per-frame costs of the upscale_video job around the network, in-process: decode of a 1080p
    H.264 frame (to float RGB, as a segment task reads it), the segment's 16-bit PNG cache write of
    the 4K result, and the join's cache read and H.264 encode of it."""
    import av

    from framefill.frames.images import read_image, write_image
    from framefill.frames.video import VideoWriter, probe_video, read_video

    clip = work / "clip_1080p.mp4"
    count = 12
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        y, x = np.mgrid[0:1080, 0:1920]
        for i in range(count):
            rgb = np.stack([(x + 16 * i) % 256, (y + 8 * i) % 256, (x + y) % 256], -1).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = probe_video(clip)
    decode, frames = _time(lambda: list(read_video(clip, info)), repeats)
    rgb4k = np.clip(np.repeat(np.repeat(frames[0].rgb, 2, axis=0), 2, axis=1), 0, 1).astype(np.float32)
    png = work / "frame_4k.png"
    write, _ = _time(lambda: write_image(png, rgb4k, bit_depth=16), repeats)
    read, _ = _time(lambda: read_image(png), repeats)
    encoded = 6

    def encode() -> None:
        with VideoWriter(work / "clip_4k.mp4", source=info, width=3840, height=2160) as writer:
            for frame in frames[:encoded]:
                writer.write(rgb4k, pts=frame.pts, time_base=frame.time_base)

    encode_s, _ = _time(encode, repeats)
    return {"decode_1080p_s": round(decode / count, 4), "cache_write_4k_s": round(write, 4),
            "cache_read_4k_s": round(read, 4), "encode_4k_s": round(encode_s / encoded, 4),
            "cache_mb_4k": round(png.stat().st_size / 1e6, 1)}


# ---------------------------------------------------------------------------------------
# Fleet estimate
# ---------------------------------------------------------------------------------------

FORMULA = (
    "GPU-s = F*(t_net + t_write + t_read/(every-1) [+ t_host] [+ t_warp]) + R*t_copy"
    " + T*(c + t_read + n_shot*t_entry) + G*S;  wall = GPU-s/G + one task"
)
# Which CPU-measured work a row adds to the GPU network time per filled frame.
LEVELS = {
    "io": ("network + EXR I/O", ()),
    "host": ("+ CPU proxy/cut/QC", ("host_math_s",)),
    "warp": ("+ layer warp as on CPU", ("host_math_s", "warp_layers_cpu_s")),
}


def fleet_counts(args: argparse.Namespace, chunk: int) -> dict[str, int]:
    """Frames, rendered, filled, shots and tasks of the film; each shot is its own sequence."""
    shots = math.ceil(args.feature_frames / args.shot_frames)
    rendered = shots * math.ceil(args.shot_frames / args.every)
    return {"frames": args.feature_frames, "rendered": rendered, "filled": args.feature_frames - rendered,
            "shots": shots, "tasks": shots * math.ceil(args.shot_frames / chunk)}


def fleet_row(*, label: str, t_fill: float, io: dict[str, Any] | None, extra: tuple[str, ...], chunk: int,
              c: float, session: float, t_entry: float, args: argparse.Namespace) -> dict[str, Any]:
    """GPU-seconds and wall time of the whole film for one per-frame fill time (see FORMULA)."""
    n = fleet_counts(args, chunk)
    f, r, t, g = n["filled"], n["rendered"], n["tasks"], args.gpus
    read = io["key_read_total_s"] if io else 0.0
    write = io["fill_write_total_s"] if io else 0.0
    copy = io["copy_total_s"] if io else 0.0
    more = sum(io[k] for k in extra) if io else 0.0
    per_fill = t_fill + write + read / (args.every - 1) + more
    per_task = c + read + args.shot_frames * t_entry
    total = f * per_fill + r * copy + t * per_task + g * max(session, 0.0)
    task_len = per_task + chunk * (f * per_fill + r * copy) / (f + r)
    return {
        "label": label, "chunk_size": chunk, "tasks": t, "per_filled_frame_s": round(per_fill, 4),
        "per_task_s": round(per_task, 3), "gpu_hours": round(total / 3600, 1),
        "wall_hours": round((total / g + task_len) / 3600, 2), "overhead_share": round(t * per_task / total, 3),
    }


def fleet_estimate(args: argparse.Namespace, farm: dict[str, Any], rife: dict[str, Any] | None,
                   io: dict[str, Any], publish: dict[str, Any]) -> dict[str, Any]:
    chunk = args.fleet_chunk_size
    c = farm["overhead_s"]["per_task_c"]
    session = farm["overhead_s"]["session_S"]
    t_entry = publish["per_entry_s"]
    net = {"1080p": 1.0 / args.gpu_fps_1080p}
    net["4k"] = net["1080p"] * GMAC_UHD / GMAC_1088P
    common = {"c": c, "session": session, "t_entry": t_entry, "args": args}
    rows = []
    for size in args.io_sizes:
        for label, extra in LEVELS.values():
            rows.append(fleet_row(label=f"{size} GPU {label}", t_fill=net[size], io=io[size], extra=extra,
                                  chunk=chunk, **common))
    if rife:
        # The CPU fill at 480x270 already holds its own I/O and host work; scaled by pixel count.
        for size in args.io_sizes:
            w, h = SIZES[size]
            ratio = (w * h) / (480 * 270)
            rows.append(fleet_row(label=f"{size} CPU rife-4 fill x{ratio:.0f} px", t_fill=rife["warm_fill_s"] * ratio,
                                  io=None, extra=(), chunk=chunk, **common))
    # How the chunk size trades start-up against spreading, for the first size's lowest row.
    size = args.io_sizes[0]
    by_chunk = [fleet_row(label=f"{size} GPU network + EXR I/O", t_fill=net[size], io=io[size], extra=(), chunk=k,
                          **common) for k in sorted({10, 20, 50, 100, chunk})]
    counts = fleet_counts(args, chunk)
    # The film as one output sequence instead of shots: publish rereads every entry at each task.
    one_sequence_s = math.ceil(args.feature_frames / chunk) * args.feature_frames * t_entry
    return {
        "assumptions": {
            "feature_frames": args.feature_frames, "every": args.every, "gpus": args.gpus, "chunk_size": chunk,
            "shot_frames": args.shot_frames,
            "gpu_network_1080p_s": round(net["1080p"], 4), "gpu_network_4k_s": round(net["4k"], 4),
            "gpu_source": GPU_SOURCE_1080P if args.gpu_fps_1080p == GPU_FPS_1080P
            else f"--gpu-fps-1080p {args.gpu_fps_1080p}",
            "gpu_4k_scaling": f"x{GMAC_UHD / GMAC_1088P:.2f} (RIFE v4.25 {GMAC_UHD:.0f}/{GMAC_1088P:.0f} GMAC)",
            "per_task_c_s": c, "session_S_s": session, "publish_per_entry_s": t_entry,
        },
        "counts": counts, "formula": FORMULA, "rows": rows, "by_chunk_size": by_chunk,
        "one_sequence_publish_gpu_hours": round(one_sequence_s / 3600, 1),
    }


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


def video_fleet_estimate(args: argparse.Namespace, farm: dict[str, Any], video: dict[str, Any]) -> dict[str, Any]:
    """One --video-hours of 1080p video upscaled x4 (animevideov3) on --gpus GPUs with upscale_video:
    segments of --video-chunk-size frames in parallel, then one join that encodes the 4K file."""
    frames = round(args.video_hours * 3600 * args.video_fps)
    tasks = math.ceil(frames / args.video_chunk_size)
    net = 1.0 / GPU_UPSCALE_FPS_1080P
    per_frame = net + video["decode_1080p_s"] + video["cache_write_4k_s"]
    c, session = farm["overhead_s"]["per_task_c"], farm["overhead_s"]["session_S"]
    segments_gpu_s = frames * per_frame + tasks * c + args.gpus * max(session, 0.0)
    join_s = frames * (video["cache_read_4k_s"] + video["encode_4k_s"])
    segments_wall = segments_gpu_s / args.gpus + args.video_chunk_size * per_frame
    return {
        "hours": args.video_hours, "fps": args.video_fps, "frames": frames, "tasks": tasks,
        "chunk_size": args.video_chunk_size, "gpus": args.gpus,
        "gpu_network_s": round(net, 4), "gpu_source": GPU_UPSCALE_SOURCE, "per_frame_s": round(per_frame, 4),
        "segments_gpu_hours": round(segments_gpu_s / 3600, 1), "segments_wall_hours": round(segments_wall / 3600, 2),
        "join_hours": round(join_s / 3600, 2), "wall_hours": round((segments_wall + join_s) / 3600, 2),
        "cache_tb": round(frames * video["cache_mb_4k"] / 1e6, 2),
    }


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs, Python {m['python']}, torch {m['torch']}; load average "
          f"{m['loadavg_start']} at start, {m['loadavg_end']} at end; repeats {report['repeats']} (medians)")
    fa = report["farm"]
    print(f"\nfarm overhead: {fa['frames']} frames, {fa['input']}, model {fa['model']} on {fa['device']}, "
          f"chunk size {fa['chunk_size']} -> {fa['tasks']} tasks")
    print(f"  make_bundle                  {fa['make_bundle_ms']:8.1f} ms")
    for name, s in fa["seconds"].items():
        print(f"  {name:28s} {s['median']:8.2f} s   (runs: {', '.join(f'{x:.2f}' for x in s['all'])})")
    sp = fa["speedup"]
    print(f"  speed-up w2 over w1          {sp['w2_over_w1']:8.2f} x   (best possible for blocks {sp['w2_blocks']}: "
          f"{sp['w2_ideal_for_split']:.2f} x)")
    print(f"  direct / w1, direct / w2     {sp['direct_over_w1']:8.2f} , {sp['direct_over_w2']:.2f}   "
          "(direct CLI baseline, same run)")
    o = fa["overhead_s"]
    print(f"  frame work W (direct, sum of per-frame seconds)    {o['frame_work_W']:.3f} s")
    print(f"  direct process overhead (direct - W)               {o['direct_process']:.2f} s")
    print(f"  per-task overhead c = (w1 - w1_one_task)/(k-1)     {o['per_task_c']:.2f} s   session worker "
          "(goal < 0.5 s)")
    print(f"  the same, a process per task (before the worker)   {o['per_task_c_process']:.2f} s   -> "
          f"{o['per_task_c_process'] / max(o['per_task_c'], 1e-3):.1f}x")
    print(f"  session overhead S = w1_one_task - W - c           {o['session_S']:.2f} s   "
          f"(a process per task: {o['session_S_process']:.2f} s)")
    print(f"  (w1 - W)/k, session spread over the k tasks        {o['per_task_session_spread']:.2f} s")
    print(f"  byte-identical frames across all runs: {fa['identical']} ({fa['compared_files']} files compared)")
    r = report.get("rife_cpu")
    if r:
        print(f"\nrife-4 on CPU, {r['size']}, {r['passes']} passes: fills {r['fill_s']} s; warm {r['warm_fill_s']} "
              f"s/frame, first - warm (the lazy model load, within noise) {r['model_load_s']} s, copy {r['copy_s']} "
              f"s, process start {r['process_start_s']} s")
    print("\nEXR I/O and fill work per frame (medians, s; proxy..warp: the fill around the network, CPU):")
    cols = ["file_mb", "read_s", "file_sha256_s", "write_s", "pixel_sha256_s", "out_sha256_s", "copy_s",
            "proxy_s", "cut_score_s", "qc_features_s", "warp_layers_cpu_s"]
    print("  " + "size".ljust(7) + "".join(c.removesuffix("_s").ljust(15) for c in cols))
    for size, v in report["exr_io"].items():
        print("  " + size.ljust(7) + "".join(str(v[c]).ljust(15) for c in cols))
    p = report["manifest_publish"]
    print(f"\nmanifest publish of one {p['task_frames']}-frame task (incremental) vs a rebuild from every entry "
          "(each task's publish before):")
    for count, row in p["by_entries"].items():
        print(f"  {count:>6} entries   publish {row['publish_s']:.4f} s   rebuild {row['rebuild_s']:.4f} s   -> "
              f"{row['rebuild_s'] / max(row['publish_s'], 1e-6):.1f}x")
    print(f"  publish grows {p['per_entry_s'] * 1e6:.1f} us per entry of the sequence (it rewrites the merged file)")
    fl = report["fleet"]
    a, n = fl["assumptions"], fl["counts"]
    print(f"\nfleet estimate: {a['feature_frames']} frames, rendered every {a['every']} -> {n['rendered']} rendered, "
          f"{n['filled']} filled; {n['shots']} shots of {a['shot_frames']} frames; chunk {a['chunk_size']} -> "
          f"{n['tasks']} tasks on {a['gpus']} GPUs")
    print(f"  GPU network time (NOT measured here, no GPU): {a['gpu_source']}; 1080p {a['gpu_network_1080p_s']} s, "
          f"4K {a['gpu_network_4k_s']} s ({a['gpu_4k_scaling']})")
    print(f"  c = {a['per_task_c_s']} s per task and S = {a['session_S_s']} s per session, measured on this CPU: "
          "process starts, torch import, model load and manifest happen on a GPU worker too")
    print(f"  {fl['formula']}")
    head = "  " + "case".ljust(40) + "chunk".ljust(7) + "tasks".ljust(8) + "s/filled".ljust(10) + "s/task".ljust(9)
    head += "GPU-hours".ljust(11) + "wall h".ljust(9) + "task overhead share"
    print(head)
    for row in fl["rows"] + [None] + fl["by_chunk_size"]:
        if row is None:
            print("  chunk size (first size, network + EXR I/O):")
            continue
        print("  " + row["label"].ljust(40) + str(row["chunk_size"]).ljust(7) + str(row["tasks"]).ljust(8)
              + str(row["per_filled_frame_s"]).ljust(10) + str(row["per_task_s"]).ljust(9)
              + str(row["gpu_hours"]).ljust(11) + str(row["wall_hours"]).ljust(9) + str(row["overhead_share"]))
    print(f"  (the film as ONE output sequence instead of shots: each task's publish rewrites a merged file of up "
          f"to {a['feature_frames']} entries, up to ~{fl['one_sequence_publish_gpu_hours']} GPU-hours in all, "
          "about half on average, and as much wall time: publish runs under one lock)")
    v, vf = report["video"], report["video_fleet"]
    print(f"\nvideo upscale per frame, measured on this CPU: decode 1080p {v['decode_1080p_s']} s, 16-bit PNG cache "
          f"write 4K {v['cache_write_4k_s']} s ({v['cache_mb_4k']} MB), read {v['cache_read_4k_s']} s, "
          f"H.264 encode 4K {v['encode_4k_s']} s")
    print(f"video fleet estimate: {vf['hours']} h at {vf['fps']} fps of 1080p -> 4K = {vf['frames']} frames, "
          f"{vf['tasks']} segment tasks of {vf['chunk_size']} on {vf['gpus']} GPUs")
    print(f"  GPU network time (NOT measured here, no GPU): {vf['gpu_source']} -> {vf['gpu_network_s']} s/frame; "
          f"segment work {vf['per_frame_s']} s/frame with the measured decode and cache write; c and S as above")
    print(f"  segments {vf['segments_gpu_hours']} GPU-hours, {vf['segments_wall_hours']} h wall; join (one process, "
          f"measured read + encode per frame) {vf['join_hours']} h; total {vf['wall_hours']} h wall; "
          f"frame cache {vf['cache_tb']} TB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs of each timed configuration (medians quoted)")
    ap.add_argument("--frames", type=int, default=11, 
                    help="frames in the synthetic shot (odd: first and last rendered)")
    ap.add_argument("--keys", help="a real sparse sequence instead of the synthetic one")
    ap.add_argument("--range", dest="frame_range", help="with --keys: the output frames")
    ap.add_argument("--chunk-size", type=int, default=3, help="frames per task in the measured run-local runs")
    ap.add_argument("--model", default="rife-4", help="model of the farm-overhead runs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rife-frames", type=int, default=3, help="rife-4 fills on the sample shot (0: skip)")
    ap.add_argument("--io-sizes", default="1080p,4k", help="EXR I/O sizes: 1080p, 4k")
    ap.add_argument("--exr-compression", default="dwab", help="compression of the EXR I/O test (sample shot: dwab)")
    ap.add_argument("--feature-frames", type=int, default=170_000)
    ap.add_argument("--every", type=int, default=2, help="the film is rendered on every N-th frame")
    ap.add_argument("--gpus", type=int, default=64)
    ap.add_argument("--fleet-chunk-size", type=int, default=20, help="frames per task on the fleet")
    ap.add_argument("--shot-frames", type=int, default=DEFAULT_SHOT_FRAMES, help="frames per shot (one sequence each)")
    ap.add_argument("--gpu-fps-1080p", type=float, default=GPU_FPS_1080P, help="GPU network fills per second at 1080p")
    ap.add_argument("--video-hours", type=float, default=1.0, help="video estimate: hours of 1080p video")
    ap.add_argument("--video-fps", type=float, default=24.0)
    ap.add_argument("--video-chunk-size", type=int, default=240, help="video estimate: frames per segment task")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    ap.add_argument("--json-file", help="also write the JSON document here")
    ap.add_argument("--out", help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args()
    args.io_sizes = [s.strip().lower() for s in args.io_sizes.split(",") if s.strip()]
    if any(s not in SIZES for s in args.io_sizes) or args.repeats < 1 or args.every < 2:
        ap.error(f"--io-sizes from {', '.join(SIZES)}; --repeats >= 1; --every >= 2")

    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="framefill-bench-farm-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "core"), os.environ.get("PYTHONPATH", "")])}
    load_start = [round(x, 2) for x in os.getloadavg()]
    try:
        farm = measure_farm(args, work, env)
        rife = measure_rife(args, work, env) if args.rife_frames > 0 else None
        io = measure_io(args, work)
        publish = measure_publish(work)
        video = measure_video(work, args.repeats)
    finally:
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    import torch

    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "torch": torch.__version__,
                    "loadavg_start": load_start, "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "repeats": args.repeats,
        "farm": farm, "rife_cpu": rife, "exr_io": io, "manifest_publish": publish,
        "fleet": fleet_estimate(args, farm, rife, io, publish),
        "video": video, "video_fleet": video_fleet_estimate(args, farm, video),
    }
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if not farm["identical"]:
        raise SystemExit("farm outputs differ from the direct CLI run")


if __name__ == "__main__":
    main()
