"""The registry and the cache described for people: ``framefill models list | fetch | verify``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from framefill.errors import InputError
from framefill.events import Event, Reporter, null_reporter
from framefill.models.cache import cache_dir, cached_path, fetch, verify
from framefill.models.registry import MODELS, ModelCard

__all__ = ["describe_models", "fetch_named", "verify_named", "ensure_fetched"]


def _cards(names: Sequence[str], *, every: bool) -> list[ModelCard]:
    """The cards named (aliases too), or every card with weights."""
    return [c for c in MODELS if not c.classical] if every else [MODELS.get(n) for n in names]


def describe_models() -> dict[str, Any]:
    """Every registered model, its task, licence, sources and whether its weights are cached."""
    rows = []
    for card in MODELS:
        cached = all(cached_path(w).is_file() for w in card.files)
        rows.append({
            "name": card.name, "task": card.task, "arch": card.arch, "license": card.license, "scale": card.scale,
            "aliases": list(card.aliases),
            "weights": "none needed" if card.classical else ("cached" if cached else "not fetched"),
            "sha256": {w.role: w.sha256 for w in card.files},
            "sources": {w.role: [s.describe() for s in w.sources] for w in card.files},
            "description": card.description,
        })
    return {"cache": str(cache_dir()), "models": rows}


def fetch_named(names: Sequence[str], *, every: bool = False, report: Reporter = null_reporter,
                ) -> list[dict[str, str]]:
    """Fetch the named models' weights (or ``every`` model's) into the cache: a row per file.

    Raises:
        InputError: nothing named; an unknown name.
    """
    if not names and not every:
        raise InputError("name a model to fetch, or use --all; see `framefill models list`")
    cards = _cards(names, every=every)
    done: list[dict[str, str]] = []
    for i, card in enumerate(cards):
        report(Event("progress", stage="fetch", message=card.name, done=i, total=len(cards)))
        done += [{"model": r.name, "file": r.role, "path": str(r.path), "source": r.source} for r in fetch(card)]
    report(Event("progress", stage="fetch", done=len(cards), total=len(cards)))
    return done


def verify_named(names: Sequence[str]) -> list[dict[str, str]]:
    """Re-hash the named models' cached files (all models with weights by default): ok, missing or CORRUPT."""
    rows = []
    for card in _cards(names, every=not names):
        for weight, path, ok in verify(card):
            status = "ok" if ok else ("missing" if ok is None else "CORRUPT")
            rows.append({"model": card.name, "file": weight.role, "path": str(path), "status": status})
    return rows


def ensure_fetched(names: Sequence[str], *, report: Reporter = null_reporter) -> None:
    """Fetch any of the named models whose cached weights are missing or do not verify."""
    for name in names:
        card = MODELS.get(name)
        if any(ok is not True for _, _, ok in verify(card)):
            report(Event("start", stage="fetch", message=f"fetching {name} weights (pinned, verified)..."))
            fetch(card)
