"""Upscaling quality on the sample shot: each model against bicubic and Lanczos, x4.

    PYTHONPATH=core .venv/bin/python bench/upscale_quality.py [--frames 1001-1024] [--threads N]
        [--models realesrgan-x4plus,realesrgan-x4plus-anime,realesr-animevideov3-x4,dat-light-x4] [--alpha]
        [--json out.json]
        [--color-fix] [--sigmas 0.5,1,2] [--shot DIR/name.####.exr] [--degrade area|bicubic]

Ground truth: the sample shot's frames (480x270 EXR renders; rows 1..268 so
that the size divides by 4). Input: each frame downscaled x4 by area in linear
light (what a render at quarter resolution would roughly give), 120x67;
``--degrade bicubic``: antialiased bicubic of the display proxy instead, the
degradation SR networks (DAT) are trained on. Every
method upscales it x4 back to 480x268:

* the networks through framefill's own colour path (``pipeline.upscale.upscale_rgb``:
  OCIO sRGB proxy, clip-and-carry for values above 1, untiled);
* ``lanczos``: framefill's classical model (Lanczos-4 with the anti-ringing clamp) on the proxy;
* ``bicubic``: OpenCV bicubic on the proxy, no clamp (the usual SR baseline).

Scores, on the display proxy (sRGB-encoded, clipped to [0, 1]) against the ground truth:
PSNR (dB), SSIM, sharpness = gradient energy of the output / of the ground
truth (1.0 = as sharp as the render; GAN models can exceed it), colour shift =
the largest change of a channel's mean, and flicker = mean |frame-to-frame
difference| of the output over that of the Lanczos output on the same frames
(and the ground truth's own, for reference). Real-ESRGAN models are GANs:
they trade PSNR for sharpness, so lower PSNR than bicubic is expected; DAT-light
(``fidelity``) is L1-trained and should beat both.

``--color-fix``: the colour question. Each network also runs with the colour fix
(``ops/colorfix.py``) applied in the proxy (framefill's way, ``+fix``) and in
linear light (``+fixlin``: the same low-pass swap on the linear pixels).
Colour error, at the input's resolution (the low frequencies: output and truth
area-downscaled x4): ``lowpass_err`` = mean |difference| per channel of the
display proxies (x255, 8-bit steps) and ``delta_e`` = mean CIE76 deltaE in
CIELAB (D65, from the linear Rec.709 pixels clipped to [0, 1]).
``--sigmas``: the fix at several low-pass sigmas (output px per unit of scale).
``--shot``: another EXR shot (your own renders, e.g. bench/scenes' cache) instead of the sample shot.

``--alpha``: the alpha question. Mattes cut from the ``IndexOB`` pass (one per
object, hard 0/1 edges at 480x268) are area-downscaled x4 and upscaled back by
the network (as a grey image) and by Lanczos; PSNR/SSIM against the hard matte.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))

from framefill.color import to_network  # noqa: E402
from framefill.frames import parse_frame_range, read_exr  # noqa: E402
from framefill.ops.metrics import gradient_energy, mean_abs_frame_diff, psnr, ssim  # noqa: E402
from framefill.ops.resample import resize  # noqa: E402

SHOT = REPO / "core" / "framefill" / "data" / "sample_shot"
ROWS = slice(1, 269)  # 268 rows: divisible by 4
DEFAULT_MODELS = "realesrgan-x4plus,realesrgan-x4plus-anime,realesr-animevideov3-x4,dat-light-x4"


SHOT_PATTERN = str(SHOT / "shot.####.exr")


def load_frame(frame: int, pattern: str = SHOT_PATTERN) -> tuple[np.ndarray, np.ndarray | None]:
    """(linear RGB H,W,3, object index H,W) of a frame, cropped to a multiple of 4 in both sides."""
    from framefill.frames import FramePattern

    part = read_exr(FramePattern.parse(pattern).path(frame)).parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    rows = ROWS if pattern == SHOT_PATTERN else slice(0, rgb.shape[0] // 4 * 4)
    cols = slice(0, rgb.shape[1] // 4 * 4)
    index = part.channels.get("IndexOB.X")
    return (np.ascontiguousarray(rgb[rows, cols]),
            None if index is None else index.astype(np.float32)[rows, cols])


def lab_from_linear(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear Rec.709 RGB clipped to [0, 1] (what a display can show)."""
    rgb = np.clip(linear, 0.0, 1.0).astype(np.float64)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = rgb @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def colour_error(out_proxy: np.ndarray, truth_proxy: np.ndarray) -> tuple[float, float]:
    """(mean |difference| per channel x255, mean deltaE) of the low frequencies (both area-downscaled x4)."""
    from framefill.color import from_network

    h, w = truth_proxy.shape[0] // 4, truth_proxy.shape[1] // 4
    a = resize(from_network(out_proxy), height=h, width=w, method="area")
    b = resize(from_network(truth_proxy), height=h, width=w, method="area")
    diff = float(np.mean(np.abs(display(to_network(a)) - display(to_network(b))))) * 255
    return diff, float(np.mean(np.linalg.norm(lab_from_linear(a) - lab_from_linear(b), axis=-1)))


def display(proxy: np.ndarray) -> np.ndarray:
    return np.clip(proxy, 0.0, 1.0)


_MODELS: dict[str, object] = {}


def method_fn(name: str):  # noqa: ANN201 - bench helper
    """proxy (h,w,3) -> proxy (4h,4w,3) for a method name (``model+fix``, ``model+fixlin``, ``model+fix@SIGMA``)."""
    if name == "bicubic":
        return lambda p: resize(p, height=4 * p.shape[0], width=4 * p.shape[1], method="bicubic")
    from framefill.color import from_network
    from framefill.models.loading import load_upscaler
    from framefill.ops import colorfix
    from framefill.pipeline.upscale import Runner, upscale_rgb

    model_name, _, variant = name.partition("+")
    if model_name not in _MODELS:
        _MODELS[model_name] = load_upscaler(model_name).model
    fix, _, sigma = variant.partition("@")
    runner = Runner(model=_MODELS[model_name], tile_px=0, color_fix=fix == "fix")  # type: ignore[arg-type]

    def run(p: np.ndarray) -> np.ndarray:
        old = colorfix.SIGMA_PER_SCALE
        if sigma:
            colorfix.SIGMA_PER_SCALE = float(sigma)
        try:
            out = upscale_rgb(runner, p, height=4 * p.shape[0], width=4 * p.shape[1])
            if fix == "fixlin":  # the same swap on linear pixels: network output vs the input resized smoothly
                ref = resize(from_network(p), height=out.shape[0], width=out.shape[1], method="smooth")
                out = to_network(colorfix.color_fix(from_network(out), ref,
                                                    sigma_px=colorfix.color_fix_sigma_px(4)))
            return out
        finally:
            colorfix.SIGMA_PER_SCALE = old

    return run


def degrade(rgb: np.ndarray, how: str) -> np.ndarray:
    """The x4-smaller input, on the proxy: area in linear light, or antialiased bicubic of the
    display proxy (the MATLAB-style degradation SR networks such as DAT are trained on)."""
    if how == "area":
        return to_network(resize(rgb, height=rgb.shape[0] // 4, width=rgb.shape[1] // 4, method="area"))
    import torch

    proxy = torch.from_numpy(np.ascontiguousarray(display(to_network(rgb)).transpose(2, 0, 1)))[None]
    small = torch.nn.functional.interpolate(proxy, size=(rgb.shape[0] // 4, rgb.shape[1] // 4), mode="bicubic",
                                            antialias=True, align_corners=False)
    return np.ascontiguousarray(small[0].numpy().transpose(1, 2, 0).clip(0.0, 1.0))


def quality(args: argparse.Namespace) -> dict:
    frames = parse_frame_range(args.frames)
    truth, inputs = [], []
    for f in frames:
        rgb, _ = load_frame(f, args.shot)
        truth.append(display(to_network(rgb)))
        inputs.append(degrade(rgb, args.degrade))
    models = [m for m in args.models.split(",") if m]
    methods = ["bicubic", "lanczos", *models]
    if args.color_fix:
        sigmas = [s for s in args.sigmas.split(",") if s]
        for m in models:
            methods += [f"{m}+{v}@{s}" for v in ("fix", "fixlin") for s in sigmas] if sigmas else [
                f"{m}+fix", f"{m}+fixlin"]
    outputs: dict[str, list[np.ndarray]] = {}
    rows = []
    for name in methods:
        fn = method_fn(name)
        t0 = time.perf_counter()
        outs = [display(fn(p)) for p in inputs]
        seconds = (time.perf_counter() - t0) / len(inputs)
        outputs[name] = outs
        rows.append({
            "method": name,
            "psnr_db": round(float(np.mean([psnr(o, t) for o, t in zip(outs, truth, strict=True)])), 2),
            "ssim": round(float(np.mean([ssim(o, t) for o, t in zip(outs, truth, strict=True)])), 4),
            "sharpness": round(float(np.mean([gradient_energy(o) / gradient_energy(t)
                                               for o, t in zip(outs, truth, strict=True)])), 3),
            "colour_shift": round(float(max(np.abs(o.mean(axis=(0, 1)) - t.mean(axis=(0, 1))).max()
                                            for o, t in zip(outs, truth, strict=True))), 4),
            "lowpass_err": round(float(np.mean([colour_error(o, t)[0] for o, t in zip(outs, truth, strict=True)])), 3),
            "delta_e": round(float(np.mean([colour_error(o, t)[1] for o, t in zip(outs, truth, strict=True)])), 3),
            "seconds_per_frame": round(seconds, 2),
        })
        print(json.dumps(rows[-1]), flush=True)

    mafd = mean_abs_frame_diff
    ref = mafd(outputs["lanczos"])
    for row in rows:
        row["flicker_mafd"] = round(mafd(outputs[row["method"]]), 5)
        row["flicker_vs_lanczos"] = round(row["flicker_mafd"] / ref, 3) if ref else None
    return {
        "frames": list(frames), "degrade": args.degrade, "input": [inputs[0].shape[1], inputs[0].shape[0]],
        "output": [truth[0].shape[1], truth[0].shape[0]], "rows": rows,
        "truth_flicker_mafd": round(mafd(truth), 5), "lanczos_flicker_mafd": round(ref, 5),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def alpha_study(args: argparse.Namespace) -> dict:
    from framefill.models.loading import load_upscaler
    from framefill.pipeline.upscale import Runner, upscale_grey

    frames = parse_frame_range(args.frames)
    mattes = []
    for f in frames:
        _, index = load_frame(f)
        assert index is not None
        for obj in np.unique(index):
            matte = (index == obj).astype(np.float32)
            if 0.02 < matte.mean() < 0.6:  # objects with edges worth scoring
                mattes.append(matte)
    rows = []
    for name in ["lanczos", *[m for m in args.models.split(",") if m]]:
        runner = Runner(model=load_upscaler(name).model, tile_px=0)
        scores, sharp = [], []
        t0 = time.perf_counter()
        for matte in mattes:
            small = resize(matte, height=matte.shape[0] // 4, width=matte.shape[1] // 4, method="area")
            up = upscale_grey(runner, small, height=matte.shape[0], width=matte.shape[1], method="network")
            scores.append((psnr(up, matte), ssim(up, matte)))
            sharp.append(gradient_energy(up) / gradient_energy(matte))
        rows.append({"method": name, "mattes": len(mattes), "psnr_db": round(float(np.mean([s[0] for s in scores])), 2),
                     "ssim": round(float(np.mean([s[1] for s in scores])), 4),
                     "sharpness": round(float(np.mean(sharp)), 3),
                     "seconds_per_matte": round((time.perf_counter() - t0) / max(len(mattes), 1), 2)})
        print(json.dumps(rows[-1]), flush=True)
    return {"alpha": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="1001-1024",
                    help="consecutive frames (default: the whole sample shot; x4plus takes ~5 s a frame on one "
                         "core of this CPU)")
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--alpha", action="store_true", help="compare network and Lanczos on mattes instead")
    ap.add_argument("--color-fix", action="store_true", help="also each network with the colour fix (proxy, linear)")
    ap.add_argument("--sigmas", default="", help="with --color-fix: low-pass sigmas per unit of scale, e.g. 0.5,1,2")
    ap.add_argument("--degrade", choices=["area", "bicubic"], default="area",
                    help="how the input is made x4 smaller: area in linear light (default), or antialiased bicubic "
                         "of the display proxy (the networks' training degradation)")
    ap.add_argument("--shot", default=SHOT_PATTERN, help="an EXR shot pattern (default: the sample shot)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads (default: all CPUs; on a busy machine use 1, see bench/upscale.py)")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    result = alpha_study(args) if args.alpha else quality(args)
    if not args.alpha:
        print(f"\nsample shot frames {args.frames}, {result['input'][0]}x{result['input'][1]} -> "
              f"{result['output'][0]}x{result['output'][1]} (x4), display proxy vs the renders")
        print("sharp: gradient energy / the render's; shift: largest change of a channel's mean; "
              "flicker: mean |frame-to-frame difference| / Lanczos's")
        print("lowpass: mean |difference| per channel x255 and deltaE (CIE76), both at the input's resolution")
        print(f"{'method':36s} {'PSNR dB':>8s} {'SSIM':>7s} {'sharp':>6s} {'shift':>7s} {'lowpass':>8s} "
              f"{'deltaE':>7s} {'flicker':>8s} {'s/frame':>8s}")
        for r in result["rows"]:
            print(f"{r['method']:36s} {r['psnr_db']:8.2f} {r['ssim']:7.4f} {r['sharpness']:6.3f} "
                  f"{r['colour_shift']:7.4f} {r['lowpass_err']:8.3f} {r['delta_e']:7.3f} "
                  f"{r['flicker_vs_lanczos']:8.3f} {r['seconds_per_frame']:8.2f}")
        print(f"ground truth's own flicker (mafd) {result['truth_flicker_mafd']}, "
              f"Lanczos {result['lanczos_flicker_mafd']}; "
              f"load average {result['load_average']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
