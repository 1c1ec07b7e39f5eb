"""``framefill farm bundle | submit | run-local | templates`` and the task-side ``task | prepare``.

Each command calls :mod:`framefill.api` (``make_bundle``, ``submit_bundle``,
``run_bundle_locally``, ``list_templates``, ``run_farm_task``,
``prepare_farm_worker``), never the farm package itself; openjd and deadline
are imported only when a command runs, so ``framefill --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command
from framefill.errors import InputError, JobFailedError

__all__ = ["farm_group"]

_KINDS = ("fill", "upscale", "qc", "sparse_pipeline", "upscale_video")


@click.group("farm")
def farm_group() -> None:
    """OpenJD job templates, Deadline Cloud job bundles, submission and local runs.

    \b
    framefill farm bundle fill --out job/ --input renders/sh.####.exr --output filled/sh.####.exr --frames 1001-1100
    framefill farm run-local job/ --workers 2
    framefill farm submit job/ --farm-id farm-... --queue-id queue-...
    """


def _parse_params(items: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"-p takes NAME=VALUE, got {item!r}")
        params[name.strip()] = value
    return params


_param_option = click.option(
    "-p", "--param", "param_items", multiple=True, metavar="NAME=VALUE",
    help="A job template parameter value (repeatable), e.g. -p Device=cuda:0 -p deadline:priority=60.",
)


# The flag that sets each BundleRequest field, so an error names what was typed.
_BUNDLE_FLAGS = {
    "kind": "KIND", "out_dir": "--out", "params": "-p", "input_pattern": "--input", "output_pattern": "--output",
    "frames": "--frames", "keyframes": "--keyframes", "filled": "--filled", "chunk_size": "--chunk-size",
    "model": "--model", "report_dir": "--report", "name": "--name", "gpu_memory_mib": "--gpu-memory-mib",
    "conda_packages": "--conda-package",
}
# The keys a --render-step file may hold.
_RENDER_STEP_KEYS = ("step", "parameterDefinitions")


def _read_render_step(path_text: str) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """The OpenJD step and extra parameter definitions of a ``--render-step`` file (YAML or JSON).

    Raises:
        InputError: one line starting ``--render-step FILE:``.
    """
    import yaml

    flag = f"--render-step {path_text}:"
    path = Path(path_text).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{flag} no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{flag} cannot be read ({getattr(err, 'strerror', None) or err})") from None
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise InputError(f"{flag} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                         f"{' '.join(str(err).split())}") from None
    example = "step: {name: Render, script: ...} and, optionally, parameterDefinitions: [...]"
    if not isinstance(doc, dict):
        raise InputError(f"{flag} must be a mapping with {example}")
    extra = sorted(str(k) for k in doc if k not in _RENDER_STEP_KEYS)
    if extra:
        raise InputError(f"{flag} has {', '.join(extra)}; a render-step file holds only step and parameterDefinitions")
    step = doc.get("step")
    if step is None:
        raise InputError(f"{flag} has no step; give {example}")
    if not isinstance(step, dict):
        raise InputError(f"{flag} step must be an OpenJD step (a mapping with name and script), got {step!r}")
    if not isinstance(step.get("name"), str) or not step["name"].strip():
        raise InputError(f"{flag} the step has no name; give it one, e.g. name: Render")
    params = doc.get("parameterDefinitions") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str)
                                               for p in params):
        raise InputError(f"{flag} parameterDefinitions must be a list of OpenJD parameter definitions, "
                         "each with a name and a type")
    return step, tuple(params)


@farm_group.command("bundle")
@click.argument("kind", type=click.Choice(_KINDS))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the job bundle.")
@click.option("--input", "input_pattern", metavar="PATTERN",
              help="Input sequence, e.g. renders/beauty.####.exr (upscale_video: the video file, e.g. in.mov).")
@click.option("--output", "output_pattern", metavar="PATTERN",
              help="Output sequence, e.g. filled/beauty.####.exr (upscale_video: the video file to write).")
@click.option("--frames", metavar="RANGE", help="Frames to write: 1001-1100, 1001-1100:2, 1,5,9-12.")
@click.option("--keyframes", metavar="RANGE", help="sparse_pipeline: the frames that are rendered.")
@click.option("--filled", metavar="RANGE",
              help="qc, sparse_pipeline: the filled frames (default: frames minus keyframes).")
@click.option("--chunk-size", type=click.IntRange(min=1), help="Frames per task.")
@click.option("--model", metavar="NAME", help="Model name (framefill models list).")
@click.option("--report", "report_dir", metavar="DIR", help="qc, sparse_pipeline: folder for report.html and qc.json.")
@click.option("--name", metavar="NAME", help="Job name shown on the farm.")
@click.option("--gpu-memory-mib", type=click.IntRange(min=1), help="Minimum GPU memory of the GPU steps, in MiB.")
@click.option("--conda-package", "conda_packages", multiple=True, metavar="SPEC",
              help="A conda package a step needs on the worker, appended to CondaPackages (repeatable), "
                   "e.g. --conda-package blender=4.2.")
@click.option("--render-step", "render_step_file", metavar="FILE",
              help="A YAML or JSON file with an OpenJD `step:` (e.g. a host's render of the keyframes) and, "
                   "optionally, the `parameterDefinitions:` it needs; the step goes first and the template's "
                   "steps wait for it. Give the extra parameters' values with -p.")
@_param_option
@output_options
def bundle_command(
    kind: str, out_dir: str, input_pattern: str | None, output_pattern: str | None, frames: str | None,
    keyframes: str | None, filled: str | None, chunk_size: int | None, model: str | None, report_dir: str | None,
    name: str | None, gpu_memory_mib: int | None, conda_packages: tuple[str, ...], render_step_file: str | None,
    param_items: tuple[str, ...], json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Write a Deadline Cloud job bundle (template, parameter values, asset references).

    Every value is checked first (models, devices, modes, ranges and each
    template parameter's constraints), so a bad one fails here, not on the farm.
    """
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill import api
        from framefill.requests import BundleRequest

        render_step, render_parameters = _read_render_step(render_step_file) if render_step_file else (None, ())
        step_flag = f"--render-step {render_step_file}:"
        with named_flags({**_BUNDLE_FLAGS, "render_step": step_flag, "render_parameters": step_flag}):
            request = BundleRequest(
                kind=kind,  # type: ignore[arg-type]  # one of _KINDS (click.Choice)
                out_dir=Path(out_dir), params=_parse_params(param_items), input_pattern=input_pattern,
                output_pattern=output_pattern, frames=frames, keyframes=keyframes, filled=filled,
                chunk_size=chunk_size, model=model, report_dir=None if report_dir is None else Path(report_dir),
                render_step=render_step, render_parameters=render_parameters, name=name,
                gpu_memory_mib=gpu_memory_mib, conda_packages=conda_packages,
            )
            result = api.make_bundle(request)

        def human() -> None:
            click.echo(f"job bundle written to {result.folder}")
            for key, value in result.parameters.items():
                click.echo(f"  {key:<14} {value}")

        out.result(result.to_json(), human)


@farm_group.command("submit")
@click.argument("bundle_dir", type=click.Path())
@click.option("--farm-id", metavar="ID", help="Deadline Cloud farm (default: deadline config defaults.farm_id).")
@click.option("--queue-id", metavar="ID", help="Deadline Cloud queue (default: deadline config defaults.queue_id).")
@click.option("--profile", metavar="NAME", help="AWS profile (default: deadline config defaults.aws_profile_name).")
@click.option("--yes", "assume_yes", is_flag=True,
              help="Accept the deadline client's confirmations (attachments, hooks).")
@output_options
def submit_command(
    bundle_dir: str, farm_id: str | None, queue_id: str | None, profile: str | None, assume_yes: bool,
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Submit a job bundle to AWS Deadline Cloud."""
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill import api
        from framefill.events import Event

        def say(event: Event) -> None:
            # The deadline client's own messages (queue, attachments, job id) as they come.
            if out.mode == "human" and not out.quiet:
                click.echo(event.message, err=True)
            else:
                out.report(event)

        job_id = api.submit_bundle(
            bundle_dir, farm_id=farm_id, queue_id=queue_id, profile=profile, assume_yes=assume_yes, report=say,
        )
        out.result({"job_id": job_id, "bundle": str(Path(bundle_dir).resolve())},
                   lambda: click.echo(f"submitted job {job_id}"))


@farm_group.command("run-local")
@click.argument("source", type=click.Path(), metavar="BUNDLE_DIR|TEMPLATE")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; each step's chunk tasks are split among them.")
@click.option("--devices", metavar="LIST",
              help="Comma list of devices, one per worker (default: cuda:i if enough GPUs, else cpu).")
@click.option("--environment", "environments", multiple=True, metavar="ENV.yaml",
              help="An OpenJD environment template entered around every session, like a queue environment "
                   "(repeatable, outermost first), e.g. openjd_templates/queue_env_framefill_venv.yaml.")
@_param_option
@output_options
def run_local_command(
    source: str, workers: int, devices: str | None, environments: tuple[str, ...], param_items: tuple[str, ...],
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Run a job bundle or template on this machine with openjd, as a farm would.

    Without --environment the tasks run this very framefill; with a queue
    environment they run the framefill it puts on PATH.
    """
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill import api

        device_list = [d.strip() for d in devices.split(",")] if devices else None
        result = api.run_bundle_locally(source, params=_parse_params(param_items), workers=workers,
                                        devices=device_list, environments=environments, report=out.report)
        if not result.ok:
            failed = next(r for r in result.runs if not r.ok)
            where = f"step {failed.step} on worker {failed.worker}" if failed.step else "the job"
            raise JobFailedError(f"{where} failed: {failed.message}; openjd logs kept in {result.logs_dir}")

        def human() -> None:
            click.echo(f"{result.job_name}: done in {result.duration_s:.1f} s on {result.workers} worker(s)")

        out.result(result.to_dict(), human)


@farm_group.command("templates")
@output_options
def templates_command(json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """List the OpenJD job templates framefill ships."""
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill import api

        rows = {kind: str(path) for kind, path in api.list_templates().items()}

        def human() -> None:
            for kind, path in rows.items():
                click.echo(f"{kind:<16} {path}")

        out.result({"templates": rows}, human)


@farm_group.command(
    "task", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def task_command(args: tuple[str, ...]) -> None:
    """(Used by the job templates.) Run `framefill ARGS --events` and print OpenJD progress lines.

    An option followed by an empty value (--mode "") is left out.
    """
    from framefill import api

    if not [a for a in args if a != "--"]:
        click.echo("framefill: error: farm task needs a framefill command, e.g. farm task -- interpolate ...", err=True)
        sys.exit(2)
    sys.exit(api.run_farm_task(args))


@farm_group.command("prepare")
@click.option("--model", required=True, metavar="NAME", help="Model to fetch and verify for the session.")
def prepare_command(model: str) -> None:
    """(Used by the job templates' step environment.) Fetch the model once and export the cache."""
    from framefill import api

    sys.exit(api.prepare_farm_worker(model))


@farm_group.group("worker")
def worker_group() -> None:
    """(Used by the job templates' step environments.) The session worker that keeps the model loaded."""


_SESSION_DIR = click.option("--session-dir", required=True, type=click.Path(file_okay=False),
                            help="The session's working directory ({{Session.WorkingDirectory}}).")
_IDLE = click.option("--idle-timeout", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
                     help="Exit after this long without a task (default 3600).")


@worker_group.command("start")
@click.option("--model", required=True, metavar="NAME", help="Model to fetch, verify and keep loaded.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@_SESSION_DIR
@_IDLE
def worker_start_command(model: str, device: str, session_dir: str, idle_timeout: float | None) -> None:
    """Start the session's worker (model loaded once) and export FRAMEFILL_WORKER for its tasks."""
    from framefill import api

    sys.exit(api.start_farm_worker(model, device, session_dir, idle_timeout_s=idle_timeout))


@worker_group.command("stop")
@_SESSION_DIR
def worker_stop_command(session_dir: str) -> None:
    """Stop the session's worker."""
    from framefill import api

    sys.exit(api.stop_farm_worker(session_dir))


@worker_group.command("serve", hidden=True)
@click.option("--model", required=True, metavar="NAME")
@click.option("--device", default="auto")
@_SESSION_DIR
@_IDLE
def worker_serve_command(model: str, device: str, session_dir: str, idle_timeout: float | None) -> None:
    """The worker process itself (`worker start` runs it detached)."""
    from framefill import api
    from framefill.cli import main

    sys.exit(api.serve_farm_worker(session_dir, model=model, device=device, idle_timeout_s=idle_timeout or 3600.0,
                                   run=main))


cli.add_command(farm_group, "farm")
