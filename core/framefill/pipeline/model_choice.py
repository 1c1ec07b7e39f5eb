"""``--model auto``: pick the interpolation model for a shot from the shot's own keyframe checks.

No single network is best everywhere (real footage: RIFE HDv3; rendered CGI:
RIFE 4.25; very large motion: DIS flow, or RIFE at a lower scale). A sparsely
rendered shot can test them on itself: each candidate fills rendered frames from
their rendered neighbours (the keyframe checks of
:mod:`framefill.pipeline.keyframe_check`, at twice the fill gap) and the one
with the best mean check PSNR fills the shot.

Candidates, in tie order (equal means to 0.01 dB go to the first):
``rife-4`` at the width scale, ``rife-hdv3`` at the width scale, ``rife-4+hdv3``
at each mix of :data:`MIXES` (rife-4's share of each pixel, the rest HDv3's,
:mod:`framefill.models.ensemble`; measured from the two networks' own check
runs, so they cost no network run here; as the fill it runs both), ``rife-4``
at a motion-adapted lower scale (only when the measured motion is large),
``flow``.

The best network (ties to the earlier) fills the shot, unless ``flow`` leads it
by more than :data:`FLOW_MARGIN_DB`.

Motion: the 90th percentile of the displacement ``flow`` or ``rife-4`` found
across a check's span (their own check runs, no extra cost; the largest over the
checks and the two), halved to the fill gap, over the frame width. At or above
:data:`LARGE_MOTION` the lower scale is half the width scale, at or above
:data:`HUGE_MOTION` a quarter.

At most :data:`MAX_CHECKS` checks, spread evenly over the shot. No usable check
(fewer than three rendered frames, no frame with rendered neighbours, every
check across a cut or unreadable): :data:`FALLBACK_MODEL` at the width scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from framefill.color import ColorSetup
from framefill.errors import InputError
from framefill.frames import ExrImage
from framefill.models.ensemble import DEFAULT_MIX, mix_motions
from framefill.models.interp import Interpolator, Motion
from framefill.pipeline.keyframe_check import CheckTriplet, check_schedule, measure_check
from framefill.requests import AUTO_INTERPOLATION_MODEL as AUTO_MODEL

__all__ = ["AUTO_MODEL", "FALLBACK_MODEL", "FUSED_MODEL", "MIXES", "FLOW_MARGIN_DB", "MAX_CHECKS", "LARGE_MOTION",
           "HUGE_MOTION", "Candidate", "ModelChoice", "choose_model", "pick", "spread_checks", "candidate_scales"]

FALLBACK_MODEL = "rife-4"
# RIFE 4.25 and HDv3, their fills averaged (models/ensemble.py): measured from their own check runs.
FUSED_MODEL = "rife-4+hdv3"
# rife-4's shares of the fused fill that compete, in tie order: the even mix first, then in eighths
# outwards. bench/interp_quality.py: the best mix differs by kind of shot (rendered fast motion leans
# to HDv3, real footage and motion blur to RIFE 4.25), and the checks tell the mixes apart well enough
# to pay: on its 14 sets `auto` gains +0.44 dB pooled with these mixes, +0.36 with the even mix only
# (chosen in-sample, on those sets).
MIXES = (DEFAULT_MIX, 0.625, 0.375, 0.75, 0.25, 0.875, 0.125)
MAX_CHECKS = 4
# Motion per fill gap (90th percentile |displacement|) as a share of the frame width.
LARGE_MOTION = 0.04
HUGE_MOTION = 0.08
# Means this close (dB) are a tie: the earlier candidate wins.
TIE_DB = 0.01
# DIS flow fills the shot only when its check mean leads the best network's by more than this. A check
# spans twice the fill gap, and flow's lead there did not carry over to the fills on our sets
# (bench/interp_quality.py, 14 sets: thin_structures, flow +0.54 dB on the checks, -1.32 dB on the fills;
# no set where flow led the networks' fills by more than 0.05 dB). Set in-sample on those sets.
FLOW_MARGIN_DB = 1.0


@dataclass(frozen=True)
class Candidate:
    model: str
    scale: float
    mix: float | None = None  # the fused model's share of rife-4

    @property
    def label(self) -> str:
        if self.model == "flow":
            return self.model
        return f"{self.model}@{self.scale:g}" + ("" if self.mix is None else f" mix {self.mix:g}")


@dataclass(frozen=True)
class ModelChoice:
    """The model a shot is filled with, and why: each candidate's check PSNRs (dB) in tie order."""

    model: str
    scale: float
    reason: str
    checks: tuple[int, ...] = ()  # the keys of the checks measured
    evidence: tuple[tuple[Candidate, tuple[float, ...]], ...] = ()
    motion: float | None = None  # measured motion per fill gap / frame width
    mix: float | None = None  # the fused model's share of rife-4 (None: one network)

    @property
    def described(self) -> str:
        """The choice in a few words: ``rife-4+hdv3 at scale 1, mix 0.625``."""
        return f"{self.model} at scale {self.scale:g}" + ("" if self.mix is None else f", mix {self.mix:g}")

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "scale": self.scale, **({} if self.mix is None else {"mix": self.mix}),
            "reason": self.reason, "checks": list(self.checks),
            "motion": None if self.motion is None else round(self.motion, 4),
            "candidates": [{"model": c.model, "scale": c.scale, **({} if c.mix is None else {"mix": c.mix}),
                            "label": c.label,
                            "psnr_db": [round(p, 3) for p in psnrs],
                            "mean_psnr_db": round(sum(psnrs) / len(psnrs), 3) if psnrs else None}
                           for c, psnrs in self.evidence],
        }


def spread_checks(schedule: Sequence[CheckTriplet], limit: int = MAX_CHECKS) -> tuple[CheckTriplet, ...]:
    """At most ``limit`` checks, evenly spread over the schedule (first and last included)."""
    if len(schedule) <= limit:
        return tuple(schedule)
    if limit == 1:
        return (schedule[len(schedule) // 2],)
    picks = sorted({round(i * (len(schedule) - 1) / (limit - 1)) for i in range(limit)})
    return tuple(schedule[i] for i in picks)


def candidate_scales(width_scale: float, motion: float | None) -> tuple[float, ...]:
    """RIFE scales worth testing: the width scale, and a lower one when the motion is large."""
    if motion is None or motion < LARGE_MOTION:
        return (width_scale,)
    return (width_scale, width_scale / (4 if motion >= HUGE_MOTION else 2))


class _Seen:
    """An interpolator that shows each answer to ``seen``."""

    def __init__(self, inner: Interpolator, seen: Callable[[Motion], None]) -> None:
        self.inner, self.seen, self.name = inner, seen, inner.name

    def motion(self, img0: Any, img1: Any, t: float) -> Motion:
        motion = self.inner.motion(img0, img1, t)
        self.seen(motion)
        return motion


class _Made:
    """The motions of a check made already (a fused candidate's, from its two networks' runs)."""

    def __init__(self, motions: dict[CheckTriplet, Motion], name: str) -> None:
        self.motions, self.name = motions, name
        self.triplet: CheckTriplet | None = None

    def motion(self, img0: Any, img1: Any, t: float) -> Motion:
        assert self.triplet is not None
        return self.motions.pop(self.triplet)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def pick(evidence: Sequence[tuple[Candidate, tuple[float, ...]]]) -> tuple[Candidate, tuple[float, ...], str]:
    """The candidate that fills the shot, its check PSNRs, and why (see the module doc).

    ``evidence``: every competing candidate in tie order with its check PSNRs (the same checks), at
    least one network among them.
    """
    networks = [(c, p) for c, p in evidence if c.model != "flow"]
    best, best_psnrs = networks[0]
    for c, p in networks[1:]:
        if _mean(p) > _mean(best_psnrs) + TIE_DB:
            best, best_psnrs = c, p
    for c, p in evidence:
        if c.model == "flow" and _mean(p) > _mean(best_psnrs) + FLOW_MARGIN_DB:
            return c, p, f"flow leads the best network by over {FLOW_MARGIN_DB:g} dB"
    return best, best_psnrs, "best mean keyframe-check PSNR"


def choose_model(rendered: Sequence[int], read: Callable[[int], ExrImage], *, width: int, width_scale: float,
                 load: Callable[[str, float], Interpolator], color: ColorSetup, device: str,
                 fallback: str = FALLBACK_MODEL, min_span: int = 3) -> ModelChoice:
    """Measure every candidate on the shot's keyframe checks and pick the best (see the module doc).

    ``read(frame)`` decodes a rendered frame; ``load(model, scale)`` gives an interpolator.
    A check whose frames cannot be read or paired is left out. ``min_span``: see
    :func:`~framefill.pipeline.keyframe_check.check_schedule` (2 for a video, whose every frame is real).
    """
    checks = spread_checks(check_schedule(rendered, min_span=min_span))
    if not checks:
        return ModelChoice(fallback, width_scale, f"no keyframe check (fewer than three rendered frames with a gap "
                                                  f"between them): the default {fallback}")
    triplets: list[tuple[CheckTriplet, tuple[ExrImage, ExrImage, ExrImage]]] = []
    for triplet in checks:
        try:
            triplets.append((triplet, (read(triplet.before), read(triplet.key), read(triplet.after))))
        except InputError:  # a damaged render: the fill lists it; it is no evidence here
            continue

    def run(candidate: Candidate, seen: Callable[[CheckTriplet, Motion], None] | None = None,
            made: dict[CheckTriplet, Motion] | None = None) -> list[tuple[CheckTriplet, float, float | None]]:
        """``candidate`` on every check; ``seen`` gets each check's motion; ``made``: motions
        computed already (a fused candidate's), nothing loaded."""
        interpolator: Interpolator = _Made(made, candidate.label) if made is not None else load(
            candidate.model, candidate.scale)
        out = []
        for triplet, (before, key, after) in triplets:
            if made is not None:
                if triplet not in made:
                    continue
                assert isinstance(interpolator, _Made)
                interpolator.triplet = triplet
            asked = interpolator if seen is None else _Seen(interpolator, partial(seen, triplet))
            try:
                m = measure_check(before, key, after, triplet, asked, color=color, device=device)
            except InputError:
                continue
            if m.psnr_db is not None:
                out.append((triplet, m.psnr_db, m.motion_px))
        return out

    # rife-4's motion per check, kept for the fused candidates (joined once rife-hdv3 has run on the check).
    kept: dict[CheckTriplet, Motion] = {}
    fused_motions: dict[float, dict[CheckTriplet, Motion]] = {mix: {} for mix in MIXES}

    def keep(triplet: CheckTriplet, motion: Motion) -> None:
        kept[triplet] = motion

    def fuse(triplet: CheckTriplet, motion: Motion) -> None:
        if triplet in kept:
            first = kept.pop(triplet)
            for mix, motions in fused_motions.items():
                motions[triplet] = mix_motions(first, motion, mix)

    flow, rife = Candidate("flow", 1.0), Candidate(FALLBACK_MODEL, width_scale)
    first = {flow: run(flow), rife: run(rife, keep)}
    used = {t for t, _, _ in first[flow]} & {t for t, _, _ in first[rife]}
    if not used:
        return ModelChoice(fallback, width_scale, f"no usable keyframe check (each crosses a cut or cannot be "
                                                  f"read): the default {fallback}")
    triplets = [(t, images) for t, images in triplets if t in used]
    # The motion either model found (one may miss a large one), per fill gap: a check spans two.
    spans = [m / 2 for runs in first.values() for t, _, m in runs if m is not None and t in used]
    motion = max(spans) / max(width, 1) if spans else None
    hdv3 = Candidate("rife-hdv3", width_scale)
    fused = {mix: Candidate(FUSED_MODEL, width_scale, mix) for mix in MIXES}
    later = [hdv3, *fused.values(), *(Candidate(FALLBACK_MODEL, s) for s in candidate_scales(width_scale, motion)[1:])]
    measured = {c: [r for r in runs if r[0] in used] for c, runs in first.items()}
    measured[hdv3] = run(hdv3, fuse)
    for mix, candidate in fused.items():
        measured[candidate] = run(candidate, made=fused_motions[mix])
    measured.update({c: run(c) for c in later if c not in measured})
    evidence = [(c, tuple(p for _, p, _ in measured[c])) for c in (rife, *later, flow)]
    # Only candidates measured on every check compete (a check one model could not pair is nobody's evidence).
    full = [(c, p) for c, p in evidence if len(p) == len(used)]
    best, best_psnrs, by = pick(full)
    reason = (f"{by} ({_mean(best_psnrs):.2f} dB over {len(best_psnrs)} check(s)) of "
              + ", ".join(f"{c.label} {_mean(p):.2f}" for c, p in full))
    return ModelChoice(best.model, best.scale, reason, tuple(t.key for t in sorted(used)), tuple(evidence), motion,
                       best.mix)
