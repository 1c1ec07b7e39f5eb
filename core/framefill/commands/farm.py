"""``framefill farm bundle | submit | run-local | templates`` and the task-side ``task | prepare``.

The farm package imports openjd and deadline only inside the command bodies, so
``framefill --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, output_options, run_command
from framefill.errors import InputError, JobFailedError

__all__ = ["farm_group"]

_KINDS = ("fill", "upscale", "qc", "sparse_pipeline")


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


@farm_group.command("bundle")
@click.argument("kind", type=click.Choice(_KINDS))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the job bundle.")
@click.option("--input", "input_pattern", metavar="PATTERN", help="Input sequence, e.g. renders/beauty.####.exr.")
@click.option("--output", "output_pattern", metavar="PATTERN", help="Output sequence, e.g. filled/beauty.####.exr.")
@click.option("--frames", metavar="RANGE", help="Frames to write: 1001-1100, 1001-1100:2, 1,5,9-12.")
@click.option("--keyframes", metavar="RANGE", help="sparse_pipeline: the frames that are rendered.")
@click.option("--filled", metavar="RANGE", help="qc, sparse_pipeline: the filled frames (default: frames minus keyframes).")
@click.option("--chunk-size", type=click.IntRange(min=1), help="Frames per task.")
@click.option("--model", metavar="NAME", help="Model name (framefill models list).")
@click.option("--report", "report_dir", metavar="DIR", help="qc, sparse_pipeline: folder for report.html and qc.json.")
@click.option("--name", metavar="NAME", help="Job name shown on the farm.")
@click.option("--gpu-memory-mib", type=click.IntRange(min=1), help="Minimum GPU memory of the GPU steps, in MiB.")
@_param_option
@output_options
def bundle_command(
    kind: str, out_dir: str, input_pattern: str | None, output_pattern: str | None, frames: str | None,
    keyframes: str | None, filled: str | None, chunk_size: int | None, model: str | None, report_dir: str | None,
    name: str | None, gpu_memory_mib: int | None, param_items: tuple[str, ...],
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Write a Deadline Cloud job bundle (template, parameter values, asset references)."""
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill.farm.bundle import BUNDLE_FILES, make_bundle, read_bundle_values

        folder = make_bundle(
            kind, out_dir=out_dir, params=_parse_params(param_items), input_pattern=input_pattern,
            output_pattern=output_pattern, frames=frames, keyframes=keyframes, filled=filled,
            chunk_size=chunk_size, model=model, report_dir=report_dir, name=name, gpu_memory_mib=gpu_memory_mib,
        )
        values = read_bundle_values(folder)
        payload: dict[str, Any] = {
            "bundle": str(folder), "kind": kind, "files": [str(folder / f) for f in BUNDLE_FILES],
            "parameters": values,
        }

        def human() -> None:
            click.echo(f"job bundle written to {folder}")
            for key, value in values.items():
                click.echo(f"  {key:<14} {value}")

        out.result(payload, human)


@farm_group.command("submit")
@click.argument("bundle_dir", type=click.Path())
@click.option("--farm-id", metavar="ID", help="Deadline Cloud farm (default: deadline config defaults.farm_id).")
@click.option("--queue-id", metavar="ID", help="Deadline Cloud queue (default: deadline config defaults.queue_id).")
@click.option("--profile", metavar="NAME", help="AWS profile (default: deadline config defaults.aws_profile_name).")
@click.option("--yes", "assume_yes", is_flag=True, help="Accept the deadline client's confirmations (attachments, hooks).")
@output_options
def submit_command(
    bundle_dir: str, farm_id: str | None, queue_id: str | None, profile: str | None, assume_yes: bool,
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Submit a job bundle to AWS Deadline Cloud."""
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill.events import Event
        from framefill.farm.submit import submit_bundle

        def say(message: str) -> None:
            # The deadline client's own messages (queue, attachments, job id) as they come.
            text = " ".join(str(message).split())
            if not text:
                return
            if out.mode == "human" and not out.quiet:
                click.echo(text, err=True)
            else:
                out.report(Event("progress", stage="submit", message=text))

        job_id = submit_bundle(
            bundle_dir, farm_id=farm_id, queue_id=queue_id, profile=profile, assume_yes=assume_yes, print_fn=say,
        )
        out.result({"job_id": job_id, "bundle": str(Path(bundle_dir).resolve())},
                   lambda: click.echo(f"submitted job {job_id}"))


@farm_group.command("run-local")
@click.argument("source", type=click.Path(), metavar="BUNDLE_DIR|TEMPLATE")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; each step's chunk tasks are split among them.")
@click.option("--devices", metavar="LIST", help="Comma list of devices, one per worker (default: cuda:i if enough GPUs, else cpu).")
@_param_option
@output_options
def run_local_command(
    source: str, workers: int, devices: str | None, param_items: tuple[str, ...],
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """Run a job bundle or template on this machine with openjd, as a farm would."""
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill.farm.local import run_local

        device_list = [d.strip() for d in devices.split(",")] if devices else None
        result = run_local(source, params=_parse_params(param_items), workers=workers, devices=device_list,
                           reporter=out.report)
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
        from framefill.farm.templates import TEMPLATE_KINDS, template_path

        rows = {kind: str(template_path(kind)) for kind in TEMPLATE_KINDS}

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
    from framefill.farm.task import run_task

    if not [a for a in args if a != "--"]:
        click.echo("framefill: error: farm task needs a framefill command, e.g. farm task -- interpolate ...", err=True)
        sys.exit(2)
    sys.exit(run_task(args))


@farm_group.command("prepare")
@click.option("--model", required=True, metavar="NAME", help="Model to fetch and verify for the session.")
def prepare_command(model: str) -> None:
    """(Used by the job templates' step environment.) Fetch the model once and export the cache."""
    from framefill.farm.task import prepare_session

    sys.exit(prepare_session(model))


cli.add_command(farm_group, "farm")
