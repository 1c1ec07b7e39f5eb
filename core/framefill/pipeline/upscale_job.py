"""An upscale job: load the upscaler, then upscale a frame sequence (on the engine) or a video.

Sequences (EXR, or PNG/TIFF/JPEG): each output frame is written atomically and
recorded in the manifest beside the outputs; frames whose entry (recipe and
file sha256) still verifies are skipped, so a rerun or a retried farm chunk
resumes. Videos: :mod:`framefill.pipeline.video`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill.color import ColorSetup
from framefill.errors import ExrError, InputError, SequenceError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import (
    FramePattern,
    count_nonfinite,
    format_frame_range,
    read_exr,
    read_image,
    write_exr,
    write_image,
)
from framefill.frames.exr import pixel_sha256
from framefill.frames.images import IMAGE_EXTENSIONS
from framefill.frames.sequence import STILL_FRAME
from framefill.pipeline.engine import Made, OutputLedger, run_frames
from framefill.pipeline.manifest import ManifestEntry
from framefill.pipeline.upscale import (
    FlickerMeter,
    FrameOutcome,
    Runner,
    UpscaleOptions,
    UpscaleResult,
    make_runner,
    upscale_image,
)
from framefill.requests import UpscaleRequest
from framefill.runtime.memory import frame_budget

__all__ = ["run_upscale", "upscale_sequence", "recipe"]

FrameKind = Literal["exr", "image"]
# The colour fix by default for the GAN models: bench/upscale_quality.py (sample shot, x4, 24 frames)
# measured mean deltaE 2.20 -> 1.43 (x4plus) and 2.58 -> 1.53 (animevideov3), sharpness 1.215 -> 1.226
# and 0.731 -> 0.727 of the render's, PSNR +0.6 and +1.2 dB (README "Colour").
COLOR_FIX_DEFAULT = True
# Not GANs (L1-trained, no colour or tone shift to fix): the colour fix stays off by default.
FAITHFUL_ARCHS = frozenset({"dat"})


def _kind(path: str) -> str:
    ext = Path(path).suffix.lower()
    if ext == ".exr":
        return "exr"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return ext or "(none)"


def recipe(options: UpscaleOptions, source_sha256: str) -> dict[str, Any]:
    """What an output frame is made from; a rerun redoes a frame whose recipe changed."""
    color = options.color or ColorSetup()
    return {
        "kind": "upscale", "source": source_sha256, "model": options.model_id,
        "model_sha256": options.model_sha256, "scale": options.scale,
        "size": list(options.size) if options.size else None, "aspect": options.aspect,
        "tile_px": options.tile_px, "feather_px": options.feather_px, "precision": options.precision,
        "alpha": options.alpha, "layers": options.layers,
        "color": [color.config, color.scene_linear, color.network],
        "color_fix": options.color_fix,
        # Only when not torch, so frames made before backends existed still verify.
        **({"backend": options.extra_job["backend"]} if options.extra_job.get("backend", "torch") != "torch" else {}),
    }


class _SequenceJob:
    """Upscale one frame of a sequence per item; the runner is bound on the first frame's size."""

    stage = "upscale"

    def __init__(self, on_disk: dict[int, Path], output_pattern: str, kind: FrameKind, model: Any,
                 options: UpscaleOptions, report: Reporter) -> None:
        self.on_disk = on_disk
        self.dst = FramePattern.parse(output_pattern)
        self.kind = kind
        self.model = model
        self.options = options
        self.report = report
        self.ledger = OutputLedger(output_pattern)
        self.meter = FlickerMeter()
        self.runner: Runner | None = None
        self.sizes: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
        self._warned: set[str] = set()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.report(Event("warning", stage="upscale", message=message))

    def _recipe(self, frame: int) -> dict[str, Any]:
        return recipe(self.options, self.ledger.sha256(Path(self.on_disk[frame])))

    def skip(self, frame: int) -> Made[FrameOutcome] | None:
        if self.ledger.proven(frame, Path(self.dst.path(frame)), self._recipe(frame)) is None:
            return None
        self.meter.add(None, None)
        return Made(frame, FrameOutcome(frame, "skipped"), event={"status": "skipped"})

    def _bind(self, height: int, width: int, frame: int) -> Runner:
        def progress(done: int, total: int) -> None:
            self.report(Event("progress", stage="tiles", frame=frame, done=done, total=total))

        if self.runner is None:
            self.runner = make_runner(self.model, options=self.options, height=height, width=width)
        return replace(self.runner, progress=progress)

    def make(self, frame: int) -> Made[FrameOutcome]:
        source, out_path = Path(self.on_disk[frame]), Path(self.dst.path(frame))
        want = self._recipe(frame)
        nonfinite: dict[str, int] = {}
        if self.kind == "exr":
            from framefill.pipeline.upscale_exr import upscale_exr

            image = read_exr(source, memory_budget_bytes=frame_budget())
            nonfinite = count_nonfinite(image)
            runner = self._bind(image.parts[0].height, image.parts[0].width, frame)
            result, facts = upscale_exr(image, runner, options=self.options, warn=self._warn_once)
            del image
            write_exr(out_path, result)
            pixels = pixel_sha256(result)
        else:
            pixels_in, depth = read_image(source)
            runner = self._bind(pixels_in.shape[0], pixels_in.shape[1], frame)
            up, facts = upscale_image(pixels_in, runner, options=self.options)
            bits = 8 if depth == 8 or out_path.suffix.lower() in (".jpg", ".jpeg") else 16
            write_image(out_path, up, bit_depth=bits)  # type: ignore[arg-type]
            pixels = hashlib.sha256(np.ascontiguousarray(up).tobytes()).hexdigest()
        self.sizes = (tuple(facts["input_size"]), tuple(facts["output_size"]))
        self.meter.add(facts.get("display"), facts.get("display_lanczos"))
        self.ledger.forget(out_path)
        entry = ManifestEntry(status="upscaled", recipe=want, file_sha256=self.ledger.sha256(out_path),
                              pixel_sha256=pixels, tile_px=runner.tile_px, overlap_px=runner.overlap_px,
                              nonfinite={str(frame): nonfinite} if nonfinite else None)
        tiles = len(runner.plan(*reversed(self.sizes[0])).tiles) if not runner.classical else 0
        warnings: tuple[str, ...] = ()
        if nonfinite:
            where = ", ".join(f"{n} in {ch}" for ch, n in list(nonfinite.items())[:4])
            warnings = (f"frame {frame} has NaN/Inf pixels ({where}); they were upscaled as 0 (NaN) or +/-65504 "
                        "(Inf), so they do not spread: fix the render if it matters",)
        return Made(frame, FrameOutcome(frame, "upscaled", tiles=tiles), entry,
                    event={"status": "upscaled", "tiles": tiles}, warnings=warnings)


def _frames_to_upscale(input_pattern: str, frames: Sequence[int] | None, report: Reporter) -> dict[int, Path]:
    src = FramePattern.parse(input_pattern)
    on_disk = src.scan()
    for stray in src.strays():
        report(Event("warning", stage="upscale", message=src.stray_warning(stray)))
    if not on_disk:
        raise SequenceError(f"no frames match {input_pattern}; check the path and the padding (#)")
    wanted = tuple(sorted(set(frames))) if frames is not None else tuple(on_disk)
    missing = [f for f in wanted if f not in on_disk]
    if missing:
        raise SequenceError(f"frames {format_frame_range(missing)} of {input_pattern} are missing; "
                            f"on disk: {format_frame_range(on_disk)}")
    return {f: on_disk[f] for f in wanted}


def _check_inputs(todo: dict[int, Path], model: Any, options: UpscaleOptions) -> None:
    """Refuse, before anything is written, a damaged input frame or an output that cannot fit in memory.

    Raises:
        ExrError: a damaged frame (named), or an output frame over the memory budget.
    """
    from framefill.frames import check_exr, decoded_bytes, probe_exr
    from framefill.ops.resample import plan_output_size
    from framefill.runtime.memory import format_bytes

    budget = frame_budget()  # --memory-budget bounds a tile (and DAT's token maps); a frame has the frame budget
    for path in todo.values():
        check_exr(path, memory_budget_bytes=budget)
    first = probe_exr(next(iter(todo.values())))
    x0, y0, x1, y1 = first.parts[0].display_window
    size = plan_output_size(x1 - x0 + 1, y1 - y0 + 1, scale=options.scale, size=options.size, aspect=options.aspect,
                            default_scale=model.default_scale)
    growth = (size.canvas_width * size.canvas_height) / max(1, (x1 - x0 + 1) * (y1 - y0 + 1))
    # The output frame is built in float32 before it is cast and written: twice its stored size at most.
    need = int(decoded_bytes(first) * growth * 2)
    if need > budget:
        raise ExrError(
            f"upscaling {first.path} to {size.canvas_width}x{size.canvas_height} needs about {format_bytes(need)} "
            f"for the output frame, over the memory budget of {format_bytes(budget)}; upscale less or raise "
            "--memory-budget (or FRAMEFILL_MEMORY_BUDGET)")


def upscale_sequence(
    input_pattern: str,
    output_pattern: str,
    *,
    frames: Sequence[int] | None,
    model: Any,
    options: UpscaleOptions,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> UpscaleResult:
    """Upscale the frames of a sequence (EXR, or PNG/TIFF/JPEG) into ``output_pattern``.

    Raises:
        SequenceError: no input frames, a requested frame missing, or an output
            pattern equal to the input.
        InputError: input and output of different kinds (EXR vs image).
        CancelledError: ``cancelled()`` became true; finished frames are kept.
    """
    src, dst = FramePattern.parse(input_pattern), FramePattern.parse(output_pattern)
    kind = _kind(src.path(STILL_FRAME))
    if kind not in ("exr", "image"):
        raise InputError(f"cannot upscale {input_pattern}: use an EXR, PNG, TIFF or JPEG sequence or a video file")
    if _kind(dst.path(STILL_FRAME)) != kind:
        raise InputError(f"output {output_pattern} must be the same kind of file as the input ({src.suffix}); "
                         "framefill keeps every layer of an EXR only in an EXR")
    if Path(src.path(STILL_FRAME)).resolve() == Path(dst.path(STILL_FRAME)).resolve():
        raise SequenceError(f"--out {output_pattern} is the input pattern; upscaled frames need their own files")
    todo = _frames_to_upscale(input_pattern, frames, report)
    for frame in todo:  # an output without a frame token holds one frame: say so before writing
        dst.path(frame)
    if kind == "exr":
        _check_inputs(todo, model, options)
    job = _SequenceJob(todo, output_pattern, kind, model, options, report)  # type: ignore[arg-type]
    manifest = job.ledger.manifest
    fields = dict(model=options.model_id, model_sha256=options.model_sha256, device=options.device,
                  precision=options.precision, input=str(input_pattern), task="upscale", **options.extra_job)
    run = run_frames(list(todo), job, manifest=manifest, report=report, cancelled=cancelled,
                     start_message=f"upscaling {len(todo)} frame(s) to {output_pattern}", device=options.device,
                     checkpoint=lambda: manifest.publish(**fields))
    manifest.publish(frames=todo, **fields)  # also entries a killed run wrote but never published
    runner = job.runner
    return UpscaleResult(
        kind="frames", output=output_pattern, model=options.model_id, model_sha256=options.model_sha256,
        frames=run.outcomes, input_size=job.sizes[0], output_size=job.sizes[1],
        tile_px=runner.tile_px if runner else 0, overlap_px=runner.overlap_px if runner else 0,
        seconds=run.seconds, peak_rss_mb=run.peak_rss_mb, peak_device_mb=run.peak_device_mb,
        manifest=str(job.ledger.manifest.path), flicker=job.meter.result() if options.flicker else None,
        memory_plan=runner.memory_plan if runner else None,
    )


def _color_fix_default(model: Any) -> bool:
    """The colour fix is on by default for the GAN networks (the Real-ESRGAN family; not DAT).

    Measured by ``bench/upscale_quality.py`` (sample shot, x4): see README "Colour".
    """
    return not model.classical and COLOR_FIX_DEFAULT and model.arch not in FAITHFUL_ARCHS


def _runtime_fields(model: Any, determinism: dict[str, Any], *, is_cuda: bool) -> dict[str, Any]:
    """The manifest's job fields on what ran the network: backend, provider, and whether reruns are bit-identical.

    torch: bit-identical on the CPU (fixed threads), not promised on CUDA. ONNX Runtime:
    bit-identical on its CPU provider (fixed threads), not promised on CUDA or TensorRT
    (see :mod:`framefill.models.ort_backend`).
    """
    from framefill.models.ort_backend import OrtUpscaleModel

    if isinstance(model, OrtUpscaleModel):
        runtime = model.describe()
        return {"determinism": {**determinism, **runtime}, "bit_identical": model.bit_identical,
                "backend": "onnxruntime", "provider": model.provider}
    return {"determinism": determinism, "bit_identical": not is_cuda, "backend": "torch",
            "provider": "cuda" if is_cuda else "cpu"}


def run_upscale(request: UpscaleRequest, *, report: Reporter = null_reporter,
                cancelled: Callable[[], bool] = never_cancelled) -> UpscaleResult:
    """Load the upscaler the request names and upscale its sequence or video.

    ``model`` defaults to the registry's default upscaler; a family name with a
    whole ``scale`` picks the family's card of that scale (see
    :func:`framefill.models.loading.pick_upscale_card`).

    Raises:
        InputError, SequenceError, ExrError, ModelNotFoundError, WeightsMismatchError,
        UnsupportedModelError, DeviceError: as their names say.
        CancelledError: ``cancelled()`` became true; finished work is kept.
    """
    from framefill.models.loading import load_upscaler, pick_upscale_card
    from framefill.models.registry import DEFAULT_UPSCALE_MODEL
    from framefill.ops.resample import plan_output_size
    from framefill.pipeline.job_color import job_color
    from framefill.runtime.device import configure_determinism, cpu_has_bf16, device_note, resolve_devices

    r = request
    plan_output_size(16, 16, scale=r.scale, size=r.size, aspect="stretch")  # validates scale/size early
    spec = resolve_devices(r.device)[0]
    if (note := device_note(r.device, spec)) is not None:
        report(Event("warning", stage="upscale", message=note))
    determinism = configure_determinism()
    name = pick_upscale_card(r.model or DEFAULT_UPSCALE_MODEL, r.scale)
    wanted = spec.precision if r.precision == "auto" else r.precision
    loaded = load_upscaler(name, weights=r.weights, device=spec.device, precision=wanted, backend=r.backend)
    half_ok = not loaded.model.classical and loaded.model.supports_half
    if r.precision == "bf16" and not half_ok:
        raise InputError(f"--precision bf16: {loaded.name} runs in fp32 only (DAT and lanczos); use --precision "
                         "auto, or a Real-ESRGAN model")
    precision = wanted if half_ok and (spec.is_cuda or wanted == "bf16") else "fp32"
    if precision == "bf16" and not spec.is_cuda and not cpu_has_bf16():
        report(Event("warning", stage="upscale", message=(
            "--precision bf16: this CPU has no bfloat16 instructions (avx512_bf16 or AMX), so bf16 runs "
            "emulated, about 10x slower than fp32 (measured on an AVX2 CPU); use --precision auto")))
    first = None if r.is_video else next(iter(FramePattern.parse(r.input_path).scan().values()), None)
    color = job_color(r, Path(first) if first is not None else None, stage="upscale", report=report)
    options = UpscaleOptions(
        model_id=loaded.name, model_sha256=loaded.sha256, scale=r.scale, size=r.size, aspect=r.aspect,
        tile_px=r.tile_px, memory_budget_bytes=r.memory_budget_bytes, device=spec.device, precision=precision,
        color=color, alpha=r.alpha, layers=r.layers,
        color_fix=_color_fix_default(loaded.model) if r.color_fix is None
        else r.color_fix and not loaded.model.classical,
        extra_job=_runtime_fields(loaded.model, determinism, is_cuda=spec.is_cuda),
    )
    if r.is_video:
        from framefill.pipeline.video import VideoPart, upscale_video

        return upscale_video(r.input_path, r.output_path, model=loaded.model, options=options, codec=r.codec,
                             crf=r.crf, cache_dir=r.cache_dir, keep_cache=r.keep_cache, report=report,
                             cancelled=cancelled, part=VideoPart(r.video_step, r.frames))
    return upscale_sequence(r.input_path, r.output_path, frames=r.frames, model=loaded.model, options=options,
                            report=report, cancelled=cancelled)
