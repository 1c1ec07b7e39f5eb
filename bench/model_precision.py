"""The quality cost of lower precisions, per model, on the sample shot: writes
``core/framefill/data/model_precision.json``, which ``framefill models info NAME`` prints.

    PYTHONPATH=core .venv/bin/python bench/model_precision.py [--models rife-4,...] [--crop 128] [--threads 1]
        [--out core/framefill/data/model_precision.json] [--no-int8]

Each network runs on the same input at fp32 and at fp16 and bf16 (its weights and input cast with
``.to(dtype)``, on the CPU; the CLI itself runs half precision on CUDA only), and its output is compared
with the fp32 output, both clipped to [0, 1] (the sRGB-encoded network space framefill feeds it):
PSNR (dB, peak 1; "inf" when identical) and the largest absolute difference. int8: the network exported
to ONNX by framefill's own exporter (``api.export_model``), quantised by ONNX Runtime's dynamic
quantisation (``quantize_dynamic``: uint8 weights per tensor, activations quantised per call), and
compared with the same ONNX graph run at fp32 by ONNX Runtime, which isolates the quantisation.

Inputs (the sample shot is 480x270 linear EXR; framefill's OCIO sRGB proxy of the beauty):
* interpolators: frames 1012 and 1014 (mid-shot, the fastest motion), t = 0.5, whole frame, RIFE scale 1;
  for RIFE the largest flow difference (pixels) is recorded too;
* upscalers: a ``--crop`` x ``--crop`` crop from the centre of frame 1013 (fp16 convolutions have no
  fast kernel in torch's CPU build: a whole frame through RRDBNet would take hours).

Machine, date, torch and onnxruntime versions go into the JSON with the numbers.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "core"))
sys.path.insert(0, str(HERE))

from machine import cpu_model  # noqa: E402

from framefill import api  # noqa: E402
from framefill.color import to_network  # noqa: E402
from framefill.errors import FramefillError  # noqa: E402
from framefill.models.loading import load_interpolator, load_upscaler, model_identity  # noqa: E402
from framefill.models.registry import MODELS  # noqa: E402
from framefill.pipeline.demo import beauty_rgb, sample_shot_pattern  # noqa: E402
from framefill.frames.sequence import FramePattern  # noqa: E402

DEFAULT_OUT = HERE.parent / "core" / "framefill" / "data" / "model_precision.json"
PAIR = (1012, 1014)
UPSCALE_FRAME = 1013


def _proxy(frame: int) -> np.ndarray:
    path = Path(FramePattern.parse(sample_shot_pattern()).path(frame))
    return to_network(beauty_rgb(path))


def _delta(reference: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    a = np.clip(reference.astype(np.float64), 0.0, 1.0)
    b = np.clip(other.astype(np.float64), 0.0, 1.0)
    mse = float(np.mean((a - b) ** 2))
    psnr = "inf" if mse == 0.0 else round(10.0 * math.log10(1.0 / mse), 2)
    return {"psnr_db": psnr, "max_abs_diff": float(f"{float(np.max(np.abs(a - b))):.3g}")}


def _int8(name: str, inputs: dict[str, np.ndarray], size: tuple[int, int], frame_variant: bool) -> dict[str, Any]:
    """int8 (ONNX Runtime dynamic quantisation) against the same ONNX graph at fp32."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:
        return {"not_measured": f"needs onnxruntime ({err})"}
    with tempfile.TemporaryDirectory() as tmp:
        options: dict[str, Any] = {"size": size}
        if frame_variant:
            options["variant"] = "frame"
            options["rife_scale"] = 1.0
        try:
            result = api.export_model("onnx", name, tmp, **options)
        except FramefillError as err:
            return {"not_measured": f"needs an ONNX export of {name}, which framefill refuses: {err.msg}"}
        fp32_path = next(Path(f.path) for f in result.files if str(f.path).endswith(".onnx"))
        int8_path = Path(tmp) / "int8.onnx"
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser warns about every tensor it skips
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QUInt8)
        sess_options = ort.SessionOptions()
        sess_options.intra_op_num_threads = int(os.environ.get("FRAMEFILL_THREADS", "1"))
        outs = []
        for path in (fp32_path, int8_path):
            session = ort.InferenceSession(str(path), sess_options, providers=["CPUExecutionProvider"])
            feed = {i.name: inputs[i.name] for i in session.get_inputs()}
            outs.append(session.run(None, feed)[0])
    return {**_delta(outs[0], outs[1]), "provider": "onnxruntime CPUExecutionProvider, quantize_dynamic QUInt8",
            "reference": "the same ONNX graph at fp32"}


def measure_interpolator(name: str, *, int8: bool) -> dict[str, Any]:
    import torch

    net = load_interpolator(name).model.net  # type: ignore[attr-defined]  # a RifeInterpolator
    f0, f1 = (torch.from_numpy(np.ascontiguousarray(_proxy(f).transpose(2, 0, 1)))[None] for f in PAIR)
    results: dict[str, Any] = {}
    reference = None
    for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        model = copy.deepcopy(net).to(dtype=dtype)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model(f0.to(dtype), f1.to(dtype), 0.5, scale=1.0)
        image, flow = out.image.float()[0].permute(1, 2, 0).numpy(), out.flow.float().numpy()
        print(f"  {name} {precision}: {time.perf_counter() - start:.1f} s", flush=True)
        if reference is None:
            reference = (image, flow)
            continue
        results[precision] = {**_delta(reference[0], image),
                              "flow_max_abs_diff_px": float(f"{float(np.max(np.abs(flow - reference[1]))):.3g}")}
    if int8:
        h, w = f0.shape[-2:]
        feed = {"frame0": f0.numpy(), "frame1": f1.numpy(), "timestep": np.full((1, 1, h, w), 0.5, np.float32)}
        results["int8"] = _int8(name, feed, (int(w), int(h)), frame_variant=True)
    return {"input": f"sample shot frames {PAIR[0]} and {PAIR[1]}, t=0.5, 480x270, RIFE scale 1, output image",
            "deltas": results}


def measure_upscaler(name: str, *, crop: int, int8: bool) -> dict[str, Any]:
    import torch

    proxy = _proxy(UPSCALE_FRAME)
    top, left = (proxy.shape[0] - crop) // 2, (proxy.shape[1] - crop) // 2
    tile = np.ascontiguousarray(proxy[top:top + crop, left:left + crop].transpose(2, 0, 1))[None]
    x = torch.from_numpy(tile).contiguous(memory_format=torch.channels_last)
    model = load_upscaler(name).model
    results: dict[str, Any] = {}
    reference = None
    for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        copied = copy.deepcopy(model).to(dtype=dtype)  # type: ignore[union-attr]  # a network card
        start = time.perf_counter()
        out = copied(x.to(dtype)).float()[0].permute(1, 2, 0).numpy()
        print(f"  {name} {precision}: {time.perf_counter() - start:.1f} s", flush=True)
        if reference is None:
            reference = out
            continue
        results[precision] = _delta(reference, out)
    if int8:
        results["int8"] = _int8(name, {"image": tile}, (crop, crop), frame_variant=False)
    return {"input": f"sample shot frame {UPSCALE_FRAME}, centre {crop}x{crop} crop, output {out.shape[1]}x"
                     f"{out.shape[0]}", "deltas": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(c.name for c in MODELS if not c.classical and not c.members))
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("FRAMEFILL_THREADS", "1")))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-int8", dest="int8", action="store_false")
    args = parser.parse_args()

    import onnxruntime
    import torch
    from framefill.atomic import atomic_write_text

    torch.set_num_threads(args.threads)
    os.environ["FRAMEFILL_THREADS"] = str(args.threads)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rows: dict[str, Any] = dict(previous.get("models", {}))
    for name in args.models.split(","):
        card = MODELS.get(name)
        print(name, flush=True)
        row = (measure_interpolator(card.name, int8=args.int8) if card.task == "interpolate"
               else measure_upscaler(card.name, crop=args.crop, int8=args.int8))
        rows[card.name] = {"sha256": model_identity(card.name)[1], **row}
    table = {
        "machine": f"{cpu_model()}, {args.threads} thread(s), {platform.system()} {platform.machine()}",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "method": "output vs the same network at fp32 (int8: vs the same ONNX graph at fp32), clipped to [0, 1] "
                  "in the sRGB-encoded network space: PSNR (dB, peak 1) and max |difference|; fp16/bf16 by "
                  ".to(dtype) on the CPU; bench/model_precision.py",
        "models": rows,
    }
    atomic_write_text(args.out, json.dumps(table, indent=2, sort_keys=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
