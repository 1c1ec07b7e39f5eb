"""The small façade used by the CLI, the hosts and the farm.

Every job takes a typed request (:mod:`framefill.requests`: ``FillRequest``,
``VideoInterpRequest``, ``UpscaleRequest``, ``QcRequest``, ``BundleRequest``, validated when built),
reports progress through ``report`` (a callable taking
:class:`framefill.events.Event`), checks ``cancelled`` between frames, returns
a typed result whose ``to_json()`` is the CLI's ``--json`` document, and raises
:class:`framefill.errors.FramefillError` subclasses with a one-line message.
Nothing here imports torch until a function runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from framefill.errors import FramefillError
from framefill.events import Reporter, never_cancelled, null_reporter
from framefill.requests import (
    DEFAULT_FILL_MODE,
    BundleRequest,
    FillRequest,
    PatchRequest,
    QcRequest,
    UpscaleRequest,
    VideoInterpRequest,
)

if TYPE_CHECKING:
    from framefill.farm.bundle import BundleResult
    from framefill.farm.local import LocalRun
    from framefill.models.complexity import ModelInfo
    from framefill.pipeline.calibration import Calibration
    from framefill.pipeline.demo import DemoResult
    from framefill.pipeline.fill import FillResult
    from framefill.pipeline.plan import PlanResult
    from framefill.pipeline.patch import PatchResult
    from framefill.pipeline.qc import QcResult
    from framefill.pipeline.upscale import UpscaleResult
    from framefill.pipeline.video_interp import VideoInterpResult
    from framefill.runtime.export import ExportResult

__all__ = [
    "FillRequest",
    "UpscaleRequest",
    "QcRequest",
    "BundleRequest",
    "DEFAULT_FILL_MODE",
    "VideoInterpRequest",
    "fill_shot",
    "interpolate_video",
    "upscale",
    "qc_shot",
    "patch_shot",
    "plan_shot",
    "plan_render",
    "describe_shot",
    "run_demo",
    "calibrate_qc",
    "list_models",
    "fetch_models",
    "verify_models",
    "model_info",
    "export_model",
    "make_bundle",
    "submit_bundle",
    "run_bundle_locally",
    "list_templates",
    "run_farm_task",
    "prepare_farm_worker",
    "review_shot",
    "color_spaces",
    "keep_freed_memory",
]

Cancelled = Callable[[], bool]


def fill_shot(request: FillRequest, *, report: Reporter = null_reporter,
              cancelled: Cancelled = never_cancelled) -> FillResult:
    """Fill every missing frame of ``request.frames`` (default: first to last rendered frame).

    Rendered frames are copied byte for byte; missing ones are interpolated from
    their nearest rendered neighbours and recorded in the manifest. A memory
    budget bounds the fill; the plan is in ``result.memory_plan``.
    """
    from framefill.pipeline.fill import run_fill

    return run_fill(request, report=report, cancelled=cancelled)


def interpolate_video(request: VideoInterpRequest, *, report: Reporter = null_reporter,
                      cancelled: Cancelled = never_cancelled) -> VideoInterpResult:
    """Retime a video file to ``request.fps`` and/or replace its repeated frames (``framefill interpolate in.mov``).

    Where the new timeline meets a source frame it is written unchanged; between
    frames RIFE fills at the exact timestep; nothing is filled across a scene
    cut (the nearer frame is held). Audio and timing carry over; an interrupted
    run resumes from its frame cache. See :mod:`framefill.pipeline.video_interp`.

    Raises:
        InputError: unreadable or unsupported input, an encoder missing from the build.
        CancelledError: ``cancelled()`` became true; the frame cache is kept for the rerun.
    """
    from framefill.pipeline.video_interp import run_video_interp

    return run_video_interp(request, report=report, cancelled=cancelled)


def upscale(request: UpscaleRequest, *, report: Reporter = null_reporter,
            cancelled: Cancelled = never_cancelled) -> UpscaleResult:
    """Upscale a frame sequence (EXR, PNG, TIFF, JPEG pattern) or a video file.

    Raises:
        InputError: unreadable inputs, or input and output of different kinds.
        SequenceError, ExrError, ModelNotFoundError, WeightsMismatchError,
        UnsupportedModelError, DeviceError: as their names say.
        CancelledError: ``cancelled()`` became true; finished frames (or the video's frame cache) are kept.
        JobFailedError: a video join (``video_step="join"``) whose frame cache lacks frames (named).
    """
    from framefill.pipeline.upscale_job import run_upscale

    return run_upscale(request, report=report, cancelled=cancelled)


def qc_shot(request: QcRequest, *, report: Reporter = null_reporter,
            cancelled: Cancelled = never_cancelled) -> QcResult:
    """Score the filled frames of ``request.pattern`` and list the ones that still need a real render.

    ``truth`` (a pattern of real renders) adds the true error; ``report_dir`` receives
    heatmaps, ``report.html`` and ``qc.json``. See :func:`framefill.pipeline.qc.qc_sequence`.
    """
    from framefill.pipeline.qc import qc_sequence

    return qc_sequence(request, report=report, cancelled=cancelled)


def patch_shot(request: PatchRequest, *, report: Reporter = null_reporter,
               cancelled: Cancelled = never_cancelled) -> PatchResult:
    """Merge region re-renders into the filled frames of ``request.pattern`` (``framefill patch``).

    See :func:`framefill.pipeline.patch.patch_sequence`.
    """
    from framefill.pipeline.patch import patch_sequence

    return patch_sequence(request, report=report, cancelled=cancelled)


def plan_shot(frames: Sequence[int], *, every: int) -> tuple[int, ...]:
    """The keyframes to render first: every ``every``-th frame plus the last."""
    from framefill.pipeline.plan import keyframes

    return keyframes(frames, every)


def plan_render(pattern: str, *, every: int, frames: str | Sequence[int] | None = None) -> PlanResult:
    """Which frames of ``pattern``'s shot to render first (``framefill plan``).

    ``frames``: the shot's range (default: first to last frame on disk).
    """
    from framefill.pipeline.plan import plan_render as plan

    return plan(pattern, every=every, frames=frames)


def describe_shot(pattern: str, *, frames: str | None = None) -> tuple[dict[str, Any], FramefillError | None]:
    """What a sequence or a single still holds (``framefill info --json``), and the error its damage
    calls for (None when every frame checked reads: see :func:`framefill.pipeline.info.exit_status`)."""
    from framefill.pipeline.info import describe_sequence, exit_status

    info = describe_sequence(pattern, frames)
    return info, exit_status(info)


def run_demo(out_dir: str | Path, *, device: str = "auto", report: Reporter = null_reporter) -> DemoResult:
    """The main job on the bundled sample shot (``framefill demo``): fetches missing weights first."""
    from framefill.pipeline.demo import run_demo as demo

    return demo(Path(out_dir), device=device, report=report)


def calibrate_qc(patterns: Sequence[str], *, out: str | Path, **options: Any) -> Calibration:
    """Fit a QC calibration on fully rendered shots and write it to ``out`` (``framefill qc calibrate``).

    ``options``: ``every``, ``model``, ``device``, ``work_dir``, ``threshold_db``, ``report``;
    see :func:`framefill.pipeline.qc_calibrate.calibrate_shots`.
    """
    from framefill.pipeline.qc_calibrate import calibrate_shots

    return calibrate_shots(patterns, out=Path(out), **options)


def list_models() -> dict[str, Any]:
    """The registry and the cache (``framefill models list --json``)."""
    from framefill.models.catalog import describe_models

    return describe_models()


def fetch_models(names: Sequence[str] = (), *, every: bool = False, report: Reporter = null_reporter,
                 ) -> list[dict[str, str]]:
    """Put verified weights of the named models (or ``every`` model with weights) in the cache."""
    from framefill.models.catalog import fetch_named

    return fetch_named(names, every=every, report=report)


def verify_models(names: Sequence[str] = ()) -> list[dict[str, str]]:
    """Re-hash cached weights against their cards (all models by default): a row per file with its status."""
    from framefill.models.catalog import verify_named

    return verify_named(names)


def model_info(name: str) -> ModelInfo:
    """Parameters, GMAC per frame at 1080p and 4K (counted on the real network) and the committed
    fp16/bf16/int8 quality deltas of a model (``framefill models info NAME``); loads its weights on the CPU.

    Raises:
        InputError: an unknown model. ModelNotFoundError: weights not cached (says how to fetch them).
    """
    from framefill.models.complexity import model_info as describe

    return describe(name)


def export_model(target: Literal["nuke", "onnx"], model: str, out_dir: str | Path, **options: Any) -> ExportResult:
    """Host-ready files of a model: TorchScript for Nuke (``target="nuke"``) or ONNX.

    ``options`` are those of :func:`framefill.runtime.export.export_nuke` or
    :func:`framefill.runtime.export.export_onnx` (weights, sizes, flips...).
    """
    from framefill.runtime import export

    run = export.export_nuke if target == "nuke" else export.export_onnx
    return run(model, out_dir, **options)


def make_bundle(request: BundleRequest) -> BundleResult:
    """Write the Deadline Cloud job bundle ``request`` describes into ``request.out_dir``.

    The kinds are ``fill``, ``upscale``, ``qc`` and ``sparse_pipeline``, optionally
    with a host's render step first. Every value is checked before anything is written; see
    :func:`framefill.farm.bundle.write_bundle` for how the request's fields fill
    template parameters. ``result.to_json()`` is ``framefill farm bundle --json``.

    Raises:
        RequestError: a value that cannot be used, naming its request field.
        TemplateError: the template or the values do not validate with openjd.
    """
    from framefill.farm.bundle import write_bundle

    return write_bundle(request)


# ---------------------------------------------------------------------------------------
# The farm beyond bundles: submission, local runs, templates and what a farm task runs
# ---------------------------------------------------------------------------------------


def submit_bundle(
    bundle_dir: str | Path,
    *,
    farm_id: str | None = None,
    queue_id: str | None = None,
    profile: str | None = None,
    assume_yes: bool = False,
    report: Reporter = null_reporter,
) -> str:
    """Submit the job bundle in ``bundle_dir`` to AWS Deadline Cloud and return the job id.

    Farm, queue and profile default to the Deadline configuration. The deadline
    client's own messages (queue, attachments, job id) arrive as ``progress``
    events of stage ``submit``. Confirmations the client asks for are declined
    unless ``assume_yes``.

    Raises:
        InputError: no bundle there. TemplateError: its template does not validate.
        FarmError: no farm/queue, region or credentials, or the service refused (one line).
    """
    from framefill.events import Event
    from framefill.farm.submit import submit_bundle as submit

    def say(message: str) -> None:
        text = " ".join(str(message).split())
        if text:
            report(Event("progress", stage="submit", message=text))

    return submit(bundle_dir, farm_id=farm_id, queue_id=queue_id, profile=profile, assume_yes=assume_yes,
                  print_fn=say)


def run_bundle_locally(
    source: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    environments: Sequence[str | Path] = (),
    report: Reporter = null_reporter,
) -> LocalRun:
    """Run a job bundle folder or a template file on this machine with ``openjd run``, as a farm would.

    ``params`` override the bundle's values; with ``workers`` > 1 each step's
    chunk tasks are split among that many sessions, worker i on ``devices[i]``.
    ``environments`` are OpenJD environment templates (a queue environment such
    as ``queue_env_framefill_venv.yaml``) entered around every session.
    See :func:`framefill.farm.local.run_local`. A failed task is in the result
    (``result.ok`` False), not raised.

    Raises:
        InputError: no such bundle or template, a bad worker count or device list.
        TemplateError: the template or the values do not validate. FarmError: openjd cannot start.
    """
    from framefill.farm.local import run_local

    return run_local(source, params=params, workers=workers, devices=devices, environments=environments,
                     reporter=report)


def list_templates() -> dict[str, Path]:
    """The OpenJD job templates framefill ships, by kind (``fill``, ``upscale``, ``qc``, ``sparse_pipeline``).

    Raises:
        TemplateError: the templates are missing from the installation.
    """
    from framefill.farm.templates import TEMPLATE_KINDS, template_path

    return {kind: template_path(kind) for kind in TEMPLATE_KINDS}


def run_farm_task(args: Sequence[str]) -> int:
    """A job template's task: ``framefill ARGS --events`` in a child process, its events as OpenJD lines.

    Progress, status and failure go to stdout as ``openjd_progress``,
    ``openjd_status`` and ``openjd_fail`` lines.

    Returns:
        The task's exit code (the child's, or 1 when it was killed).
    """
    from framefill.farm.task import run_task

    return run_task(args)


def prepare_farm_worker(model: str) -> int:
    """A job template's step environment: fetch and verify ``model`` once, then export the model cache.

    Returns:
        The exit code (0 when the model is ready).
    """
    from framefill.farm.task import prepare_session

    return prepare_session(model)


def start_farm_worker(model: str, device: str, session_dir: str | Path, *, idle_timeout_s: float | None = None,
                      ) -> int:
    """A job template's step environment (onEnter): fetch and verify ``model``, start the session's
    worker with it loaded on ``device``, and export its address for the tasks (``openjd_env`` lines).

    Returns:
        The exit code (0 when the worker is ready).
    """
    from framefill.farm.task import start_session_worker

    return start_session_worker(model, device, Path(session_dir), idle_timeout_s=idle_timeout_s)


def stop_farm_worker(session_dir: str | Path) -> int:
    """A job template's step environment (onExit): stop the session's worker. Returns 0."""
    from framefill.farm.task import stop_session_worker

    return stop_session_worker(Path(session_dir))


def serve_farm_worker(session_dir: str | Path, *, model: str, device: str, idle_timeout_s: float,
                      run: Callable[[list[str]], None]) -> int:
    """The session worker process itself (started detached by :func:`start_farm_worker`).

    ``run`` is the CLI entry point the worker runs each task's command with.

    Returns:
        The exit code when it stops.
    """
    from framefill.farm.worker import serve

    return serve(Path(session_dir), run=run, preload=lambda: _preload(model, device), idle_timeout_s=idle_timeout_s)


def _preload(name: str, device: str) -> str:
    """Load what a session's commands need before the first one (the farm worker's start); says what it did.

    Models stay loaded between commands from here on. A name that is not a model card (``auto``, an
    empty value) loads no model: the first command loads what it picks. ``all`` loads the model on the
    first device a fill spreads over (the others' copies load with the first task that uses them).
    """
    import framefill.pipeline.fill  # noqa: F401 - what a command imports before its first frame
    import framefill.pipeline.qc  # noqa: F401
    import framefill.pipeline.upscale_job  # noqa: F401
    import framefill.pipeline.video  # noqa: F401
    from framefill.models.loading import keep_models_loaded, load_interpolator, load_upscaler
    from framefill.models.registry import MODELS
    from framefill.runtime.device import resolve_devices

    keep_models_loaded()
    spec = resolve_devices(device or "auto", spread=True)[0]
    if name not in MODELS:
        return f"pipelines imported; model {name!r} is chosen per command"
    card = MODELS.get(name)
    if card.task == "interpolate":
        load_interpolator(card.name, device=spec.device, precision=spec.precision)
    else:
        load_upscaler(card.name, device=spec.device, precision=spec.precision)
    return f"model {card.name} loaded on {spec.device} ({spec.precision})"


def review_shot(pattern: str, **options: Any) -> int:
    """Open the review window on a filled shot (``framefill review``) and return when it closes (Qt's exit code).

    ``options``: ``truth``, ``report_dir``, ``display``, ``view``, ``fps``,
    ``cache_bytes``, ``user``; see :func:`framefill.review.app.run_review`.
    Needs the ``ui`` extra (PySide6).

    Raises:
        InputError: no PySide6 (one line naming the extra), a bad pattern, report folder or view.
    """
    from framefill.review.app import run_review

    return run_review(pattern, **options)


def color_spaces(config: str | None = None) -> dict[str, Any]:
    """The colour spaces of an OCIO config (``config``, else ``$OCIO``, else the built-in) for ``--colorspace``.

    Returns ``{"config", "spaces": [{"name", "aliases", "family"}], "roles": {role: space}}``.

    Raises:
        ColorError: the config cannot be loaded.
    """
    from framefill.color import config_from_env, describe_config

    return describe_config(config_from_env(config))


def keep_freed_memory(keep: bool) -> bool:
    """The process's allocator policy: keep freed buffers for the next frame's work, or give them back.

    The ``framefill`` command keeps them (a 1080p fill ran 1.4x faster, peaking 1.3x higher)
    unless a job has a memory budget; a host application may choose for its own process.
    Returns whether it took (glibc only; a ``MALLOC_*_`` variable that is set wins). See
    :func:`framefill.runtime.memory.keep_freed_memory`.
    """
    from framefill.runtime.memory import keep_freed_memory as set_policy

    return set_policy(keep)
