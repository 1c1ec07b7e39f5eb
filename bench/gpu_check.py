"""The prepared GPU check: one short run that measures what the throughput goals are about.

    bash bench/gpu_check.sh [--tiny] [--budget-s 420] [--repeats 5] [--json-file PATH]

On a CUDA machine (the first GPU; the whole run fits in about 8 minutes) it prints:
  fills     RIFE (rife-4) fills per second at 1080p, 4K and 5K, each at framefill's own RIFE
            scale for that width: the network alone (torch fp32, torch fp16, ONNX Runtime's
            CUDA and TensorRT providers where installed) and end to end (two 9-layer EXRs
            decoded, proxy, network, every layer warped, the filled EXR encoded and written),
            with peak GPU memory per configuration, and what the host's EXR work alone allows end
            to end on its cores; at 1080p also whole shots through `framefill
            interpolate --device all` at --batch 1 and 8 (every GPU; per filled frame), rendered every
            2nd frame (16 fills) and every 4th (18 fills, recursive);
  upscale   frames per second of realesr-animevideov3 x4 and realesrgan-x4plus on a 1080p
            input frame (torch fp32 and fp16, whole frame), and x4plus's achieved TFLOP/s
            against its arithmetic (about 74 TFLOP per 1080p input frame: 2 x its MACs);
  parity    every backend's and precision's largest difference from torch fp32 on the same
            inputs (flows in pixels and the mask; upscaled pixels).
Without CUDA (or with --tiny) the same code runs on the CPU at tiny sizes (the "1080p",
"4K" and "5K" rows become 128x72, 256x144 and 320x180), so CI keeps this script working; its
speeds then say nothing about a GPU. Each configuration runs one warm-up and --repeats timed
calls (medians). A configuration that fails (no provider, out of memory) prints one line and
the run goes on; the whole run stops starting new configurations after --budget-s seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))
sys.path.insert(0, str(REPO / "bench"))

FULL_SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160), "5K": (5120, 2880)}
TINY_SIZES = {"1080p": (128, 72), "4K": (256, 144), "5K": (320, 180)}
UPSCALE_INPUT = {"full": (1920, 1080), "tiny": (64, 36)}
X4PLUS_TFLOP_1080P = 74.0  # 2 x RRDBNet x4's MACs on a 1920x1080 input (the issue's figure)


def note(message: str) -> None:
    print(f"[gpu check] {message}", file=sys.stderr, flush=True)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> bool:
        return time.monotonic() < self.end


def timed(call: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls after one warm-up; also the last result."""
    result = call()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = call()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (always on without CUDA)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="start no new configuration after this")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json-file", help="also write the results as JSON here")
    args = ap.parse_args()

    import torch

    from framefill.runtime.device import configure_determinism

    configure_determinism()
    torch.set_grad_enabled(False)
    cuda = torch.cuda.is_available()
    tiny = args.tiny or not cuda
    device = "cuda:0" if cuda else "cpu"
    sizes = TINY_SIZES if tiny else FULL_SIZES
    budget = Budget(args.budget_s)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def peak_mb() -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None

    def reset_peak() -> None:
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    machine = torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)"
    report: dict[str, Any] = {"device": device, "machine": machine, "cores": os.cpu_count() or 1, "tiny": tiny,
                              "torch": torch.__version__,
                              "repeats": args.repeats, "fills": [], "upscale": [], "skipped": []}
    precisions = ["fp32", "fp16"] if cuda else ["fp32"]
    work = Path(tempfile.mkdtemp(prefix="framefill-gpu-check-"))

    for label, (w, h) in sizes.items():
        for row in fill_rows(label, w, h, device=device, precisions=precisions, repeats=args.repeats, work=work,
                             budget=budget, sync=sync, reset_peak=reset_peak, peak_mb=peak_mb):
            report["fills"].append(row) if "error" not in row else report["skipped"].append(row)
    for name in ("realesr-animevideov3-x4", "realesrgan-x4plus"):
        for row in upscale_rows(name, UPSCALE_INPUT["tiny" if tiny else "full"], device=device,
                                precisions=precisions, repeats=args.repeats, budget=budget, sync=sync,
                                reset_peak=reset_peak, peak_mb=peak_mb):
            report["upscale"].append(row) if "error" not in row else report["skipped"].append(row)
    print_report(report)
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------
# RIFE fills
# ---------------------------------------------------------------------------------------


def fill_rows(label: str, w: int, h: int, *, device: str, precisions: list[str], repeats: int, work: Path,
              budget: Budget, sync: Callable[[], None], reset_peak: Callable[[], None],
              peak_mb: Callable[[], float | None]) -> list[dict[str, Any]]:
    import torch

    from framefill.models.loading import auto_rife_scale, load_interpolator, torch_dtype
    from interpolate import _pair, _tensor

    scale = auto_rife_scale(FULL_SIZES[label][0])  # the scale framefill uses at the real size
    a, b = _pair(w, h)
    rows: list[dict[str, Any]] = []
    reference: Any = None
    base = {"size": label, "width": w, "height": h, "rife_scale": scale}
    for precision in precisions:
        if not budget.left():
            rows.append({**base, "kind": f"torch {precision}", "error": "over the time budget"})
            continue
        note(f"{label}: rife-4 network, torch {precision}")
        reset_peak()
        loaded = load_interpolator("rife-4", device=device, precision=precision, scale=scale)
        dtype = torch_dtype(precision)
        i0, i1 = _tensor(a, device, dtype), _tensor(b, device, dtype)
        seconds, motion = timed(lambda: loaded.model.motion(i0, i1, 0.5), repeats, sync)
        flows = torch.cat([motion.flow_t0, motion.flow_t1, motion.mask], 1).float().cpu()
        if reference is None:
            reference = flows
        rows.append({**base, "kind": f"torch {precision}", "what": "network", "seconds": seconds,
                     "per_second": 1 / seconds, "peak_gpu_mb": peak_mb(),
                     "max_diff_vs_fp32": float((flows - reference).abs().max())})
        if not budget.left():
            continue
        note(f"{label}: rife-4 end to end, torch {precision}")
        reset_peak()
        seconds, exr_cpu = end_to_end_fill(a, b, w, h, loaded, device=device, repeats=repeats, work=work,
                                           sync=sync, exr_work=precision == precisions[0])
        rows.append({**base, "kind": f"torch {precision}", "what": "end to end", "seconds": seconds,
                     "per_second": 1 / seconds, "peak_gpu_mb": peak_mb(), "exr_work_cpu_s": exr_cpu})
    rows += ort_fill_rows(base, a, b, w, h, scale=scale, device=device, repeats=repeats, work=work, budget=budget,
                          reference=reference)
    if label == "1080p":
        rows += shot_rows(base, w, h, device=device, budget=budget, sync=sync, reset_peak=reset_peak,
                          peak_mb=peak_mb)
    return rows


def shot_rows(base: dict[str, Any], w: int, h: int, *, device: str, budget: Budget, sync: Callable[[], None],
              reset_peak: Callable[[], None], peak_mb: Callable[[], float | None]) -> list[dict[str, Any]]:
    """A whole shot through `framefill interpolate --device all --batch N` (the frame engine: keyframes decoded
    once, fills batched over every GPU, writes overlapped), rendered every 2nd frame (direct fills) and every
    4th (recursive gaps, level by level), seconds per filled frame; one warm-up shot, which loads the model:
    the timed shots fill with it, as a farm worker's tasks do."""
    import torch
    from framefill.models.loading import keep_models_loaded

    from interpolate import _shot_call

    keep_models_loaded()

    gpus = torch.cuda.device_count() if device != "cpu" else 0
    batches = (1, 8) if gpus else (1, 2)
    rows: list[dict[str, Any]] = []
    for every, batch in ((every, batch) for every in (2, 4) for batch in batches):
        fills = (16 if every == 2 else 18) if gpus else 3 * (every - 1)
        kind = f"shot every {every} b{batch} x{max(gpus, 1)}{'gpu' if gpus else 'cpu'}"
        if not budget.left():
            rows.append({**base, "kind": kind, "error": "over the time budget"})
            continue
        note(f"{base['size']}: a {fills}-fill shot rendered every {every}, --device all --batch {batch}")
        reset_peak()
        call = _shot_call(w, h, "all", fills=fills, batch=batch, every=every)
        seconds, _ = timed(call, 2, sync)
        rows.append({**base, "kind": kind, "what": "shot", "seconds": seconds / fills,
                     "per_second": fills / seconds, "peak_gpu_mb": peak_mb()})
    return rows


def end_to_end_fill(a: np.ndarray, b: np.ndarray, w: int, h: int, loaded: Any, *, device: str, repeats: int,
                    work: Path, sync: Callable[[], None], exr_work: bool) -> tuple[float, float | None]:
    """Seconds per fill of two 9-layer EXRs on disk (read, proxy, network, warp every layer, write), and, with
    ``exr_work``, the median CPU seconds of the host's EXR work per filled frame of a shot
    (``interpolate.exr_work_cpu_s``, three times)."""
    from framefill.frames import read_exr, write_exr
    from framefill.pipeline.fill import FillOptions, interpolate_exr
    from interpolate import exr_work_cpu_s, write_pair_exrs

    folder = work / f"exr_{w}x{h}"
    if not folder.is_dir():
        folder.mkdir()
        write_pair_exrs(folder, a, b)
    options = FillOptions(model_id="rife-4", model_sha256=loaded.sha256, device=device)

    def call() -> None:
        out, _ = interpolate_exr(read_exr(folder / "a.exr"), read_exr(folder / "b.exr"), 0.5, loaded.model,
                                 options=options)
        write_exr(folder / "out.exr", out)

    seconds, _ = timed(call, repeats, sync)
    return seconds, statistics.median(exr_work_cpu_s(folder) for _ in range(3)) if exr_work else None


def ort_fill_rows(base: dict[str, Any], a: np.ndarray, b: np.ndarray, w: int, h: int, *, scale: float, device: str,
                  repeats: int, work: Path, budget: Budget, reference: Any) -> list[dict[str, Any]]:
    """rife-4 through ONNX Runtime (the static-size export `framefill export onnx` writes), per provider."""
    try:
        import onnxruntime as ort
    except ImportError:
        return [{**base, "kind": "onnxruntime", "error": "onnxruntime is not installed"}]
    wanted = ["CPUExecutionProvider"] if device == "cpu" else ["CUDAExecutionProvider", "TensorrtExecutionProvider"]
    available = ort.get_available_providers()
    rows: list[dict[str, Any]] = []
    model_path: Path | None = None
    for provider in wanted:
        kind = f"ORT {provider.removesuffix('ExecutionProvider')}"
        if provider not in available:
            rows.append({**base, "kind": kind, "error": f"{provider} is not available here"})
            continue
        if not budget.left():
            rows.append({**base, "kind": kind, "error": "over the time budget"})
            continue
        try:
            if model_path is None:
                note(f"{base['size']}: exporting rife-4 to ONNX at {w}x{h}")
                from framefill.runtime.onnx_export import export_onnx

                result = export_onnx("rife-4", work / f"onnx_{w}x{h}", size=(w, h), rife_scale=scale,
                                     linear_input=False)
                model_path = result.files[0].path
            note(f"{base['size']}: rife-4 network, {kind}")
            session = ort.InferenceSession(str(model_path), providers=[provider])
            feeds = {"frame0": a.transpose(2, 0, 1)[None].astype(np.float32),
                     "frame1": b.transpose(2, 0, 1)[None].astype(np.float32),
                     "timestep": np.full((1, 1, h, w), 0.5, np.float32)}
            seconds, outs = timed(lambda s=session: s.run(None, feeds), repeats, lambda: None)
            got = np.concatenate([outs[0], outs[1], outs[2]], 1)
            diff = float(np.abs(got - reference.numpy()).max()) if reference is not None else None
            rows.append({**base, "kind": kind, "what": "network", "seconds": seconds, "per_second": 1 / seconds,
                         "peak_gpu_mb": None, "max_diff_vs_fp32": diff})
        except Exception as err:  # noqa: BLE001 - a provider that fails is reported, the check goes on
            rows.append({**base, "kind": kind, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"})
    return rows


# ---------------------------------------------------------------------------------------
# Upscaling
# ---------------------------------------------------------------------------------------


def upscale_rows(name: str, size: tuple[int, int], *, device: str, precisions: list[str], repeats: int,
                 budget: Budget, sync: Callable[[], None], reset_peak: Callable[[], None],
                 peak_mb: Callable[[], float | None]) -> list[dict[str, Any]]:
    import torch

    from framefill.models.loading import load_upscaler, torch_dtype
    from interpolate import _pair

    w, h = size
    image = _pair(w, h)[0]
    rows: list[dict[str, Any]] = []
    reference: np.ndarray | None = None
    for precision in precisions:
        base = {"model": name, "input": f"{w}x{h}", "kind": f"torch {precision}"}
        if not budget.left():
            rows.append({**base, "error": "over the time budget"})
            continue
        note(f"{name} at {w}x{h}, torch {precision}")
        reset_peak()
        try:
            loaded = load_upscaler(name, device=device, precision=precision)
            model, dtype = loaded.model, torch_dtype(precision if device != "cpu" else "fp32")
            x = torch.from_numpy(image.transpose(2, 0, 1).copy())[None].to(device=device, dtype=dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            seconds, y = timed(lambda: model(x), repeats, sync)
        except Exception as err:  # noqa: BLE001 - out of memory and the like: reported, the check goes on
            rows.append({**base, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"})
            continue
        out = y[0].float().cpu().numpy()
        if reference is None:
            reference = out
        row = {**base, "seconds": seconds, "fps": 1 / seconds, "peak_gpu_mb": peak_mb(),
               "max_diff_vs_fp32": float(np.abs(out - reference).max())}
        if name == "realesrgan-x4plus":
            tflop = X4PLUS_TFLOP_1080P * (w * h) / (1920 * 1080)
            row["tflop_per_s"] = tflop / seconds
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def shot_ratios(fills: list[dict[str, Any]]) -> list[str]:
    """Each batched shot's speed per filled frame against the same shot at --batch 1, measured in this run."""
    shots = {r["kind"]: r for r in fills if r["what"] == "shot"}
    lines = []
    for kind, row in shots.items():
        alone = shots.get(re.sub(r" b\d+ ", " b1 ", kind))
        if alone is not None and alone is not row:
            lines.append(f"{row['size']} {kind}: {alone['seconds'] / row['seconds']:.2f}x the speed of --batch 1 "
                         "per filled frame (same run)")
    return lines


def host_bounds(rows: list[dict[str, Any]], cores: int) -> list[str]:
    """What the host's EXR work (decode, encode, hash) allows a shot end to end, whatever the GPU does:
    one line per size."""
    lines = []
    for r in rows:
        if r.get("exr_work_cpu_s") is not None:  # measured once per size, with the first precision
            lines.append(f"{r['size']} host EXR work per filled frame (decode one render, encode the fill, hash): "
                         f"{r['exr_work_cpu_s']:.3f} CPU s: at most {cores / r['exr_work_cpu_s']:.1f} fills/s end "
                         f"to end on these {cores} cores")
    return lines


def print_report(report: dict[str, Any]) -> None:
    print(f"framefill GPU check on {report['machine']} ({report['device']}), torch {report['torch']}, "
          f"medians of {report['repeats']}" + ("; TINY sizes: not GPU figures" if report["tiny"] else ""))
    print(f"\n{'size':<7}{'WxH':<11}{'scale':<7}{'kind':<25}{'what':<12}{'s/fill':>9}{'fills/s':>9}"
          f"{'peak GPU MB':>13}{'max diff vs fp32':>18}")
    for r in report["fills"]:
        print(f"{r['size']:<7}{r['width']}x{r['height']:<6}{r['rife_scale']:<7}{r['kind']:<25}{r['what']:<12}"
              f"{_num(r['seconds']):>9}{_num(r['per_second']):>9}{_num(r['peak_gpu_mb']):>13}"
              f"{_num(r.get('max_diff_vs_fp32')):>18}")
    for line in shot_ratios(report["fills"]) + host_bounds(report["fills"], report["cores"]):
        print(line)
    print(f"\n{'model':<26}{'input':<10}{'kind':<12}{'s/frame':>9}{'fps':>8}{'peak GPU MB':>13}"
          f"{'max diff vs fp32':>18}{'TFLOP/s':>9}")
    for r in report["upscale"]:
        print(f"{r['model']:<26}{r['input']:<10}{r['kind']:<12}{_num(r['seconds']):>9}{_num(r['fps']):>8}"
              f"{_num(r['peak_gpu_mb']):>13}{_num(r['max_diff_vs_fp32']):>18}{_num(r.get('tflop_per_s')):>9}")
    for r in report["skipped"]:
        what = r.get("size") or r.get("model")
        print(f"not measured: {what} {r['kind']}: {r['error']}")


if __name__ == "__main__":
    main()
