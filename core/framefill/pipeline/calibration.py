"""The QC calibration: from feature maps to a risk map and a per-frame risk, and how it is fitted.

Three small models, all written here with numpy (no scikit-learn):

1. **Pixel model** (logistic regression, L2, fitted by IRLS). Inputs: the
   feature maps of :data:`~framefill.ops.errormaps.FEATURE_NAMES`, each
   transformed (``log10(x + eps)`` for the heavy-tailed ones) and
   standardised. Target: "this pixel's squared error (display proxy, feature
   grid) is above ``tau``". Output: the risk map ``ff_risk.Y``, a probability
   per pixel.
2. **Frame model** (ridge regression; the L2 weight chosen by leave-one-scene-
   out cross-validation). Inputs: per-frame statistics of the feature maps and
   of the motion in the neighbouring gaps (:data:`FRAME_AGGREGATES`; a file
   names the ones it uses). Target: the frame's PSNR in dB, clipped to the
   range where the decision is made. Regressing the PSNR itself, rather than a
   yes/no label at 30 dB, uses every training frame's exact error (we have
   ~10^2 frames, not 10^5) and serves any ``--threshold``. With ``sigma_db``,
   the out-of-fold residual spread, the risk of a frame is
   ``P(PSNR < threshold) = Phi((threshold - predicted) / sigma_db)``.

3. **Keyframe model** (ridge regression, like the frame model). Inputs: the
   keyframe checks beside a fill's gap (:mod:`framefill.pipeline.keyframe_check`:
   a rendered frame filled from its rendered neighbours and measured), as
   statistics of :data:`KEYFRAME_STATISTICS`. Target: the fill's PSNR. It is the
   shot's own evidence, so it transfers where the features do not.

**The decision** (:meth:`Calibration.judge`, the one rule) favours recall: a fill
is accepted only when ``predicted - z(confidence) x sigma`` of its basis (the
keyframe model where checks exist, else the features) reaches the threshold,
and no check beside it failed. Each ``sigma`` is the out-of-fold error of the
training frames near the threshold, widened where needed so that at the
default confidence every training frame below the threshold is listed out of
fold: missing a bad frame costs a shot, re-rendering a good one minutes of farm
time. Version 1 files (a ``margin_db`` over the threshold) still load, as the
confidence that gives the same rule.

A calibration is a versioned JSON file (``format: framefill-qc-calibration``);
the default one ships as ``framefill/data/qc_calibration.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np

from framefill.errors import InputError
from framefill.ops.errormaps import FEATURE_NAMES
from framefill.ops.regression import LinearModel

__all__ = [
    "CALIBRATION_FORMAT",
    "CALIBRATION_VERSION",
    "DEFAULT_THRESHOLD_DB",
    "PIXEL_TAU",
    "PIXEL_TRANSFORMS",
    "FRAME_AGGREGATES",
    "BASELINE_AGGREGATES",
    "GapContext",
    "flow_p99",
    "speed_change",
    "Calibration",
    "FramePrediction",
    "default_calibration",
    "default_calibration_path",
    "load_calibration",
    "pixel_design",
    "frame_aggregates",
    "normal_cdf",
    "NOT_FINITE_REASON",
    "DEFAULT_CONFIDENCE",
    "KEYFRAME_STATISTICS",
    "CheckEvidence",
    "FillEvidence",
    "Verdict",
    "Basis",
    "keyframe_statistics",
    "normal_quantile",
    "residual_log",
    "check_failed",
]

CALIBRATION_FORMAT = "framefill-qc-calibration"
CALIBRATION_VERSION = 2
# A filled frame below 30 dB PSNR (sRGB proxy) shows visible ghosting or tearing
# on our scenes; SNU-FILM "extreme" averages ~25 dB for RIFE, "easy" ~40 dB.
DEFAULT_THRESHOLD_DB = 30.0
# Pixel target: squared error above 0.01 (|difference| 0.1 of the display range),
# an error a compositor sees at a glance. A frame at 30 dB has mean squared
# error 0.001, e.g. 10% of its pixels at this level.
PIXEL_TAU = 0.01

# Why a frame with a NaN/Inf score is on the re-render list (QC fails closed).
NOT_FINITE_REASON = "its QC score is not finite (NaN/Inf pixels in the frame or its features)"

# Per-pixel input transforms: (feature, eps) -> log10(x + eps); eps None -> x itself.
# eps sits near each feature's noise floor, so the log spreads the meaningful range.
PIXEL_TRANSFORMS: tuple[tuple[str, float | None], ...] = (
    ("residual", 1e-3),
    ("texture", 1e-3),
    ("angle_std", None),
    ("flow_mag", 0.25),
    ("fb_error", 0.1),
    ("occlusion", None),
    ("flow_disagreement", 0.1),
    ("mask_occlusion", None),
)


@dataclass(frozen=True)
class GapContext:
    """What the neighbouring gaps of a filled frame say about its motion.

    ``prev_flow_p99`` / ``next_flow_p99``: the 99th percentile of the model's
    motion (``flow_mag``, grid px) of a filled frame in the gap before / after
    this frame's gap, None where there is no such gap (shot edges, adjacent
    rendered frames). Two gaps that move at different speeds mean the motion
    accelerates, which linear interpolation cannot follow even when both
    warped neighbours agree.
    """

    prev_flow_p99: float | None = None
    next_flow_p99: float | None = None


def _log_mean(x: np.ndarray, eps: float) -> float:
    return float(np.log10(np.mean(x) + eps))


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q))


def flow_p99(maps: Mapping[str, np.ndarray]) -> float:
    """The 99th percentile of a frame's motion length (grid px): its fast-moving parts."""
    return _pct(maps["flow_mag"], 99)


def speed_change(maps: Mapping[str, np.ndarray], context: GapContext | None) -> float:
    """How much the motion speed changes across this frame's gap (grid px), 0 without neighbours.

    ``|next - prev|`` with both neighbouring gaps; with one, twice its difference
    from this frame's own motion (the same slope over half the distance).
    """
    if context is None:
        return 0.0
    known = [v for v in (context.prev_flow_p99, context.next_flow_p99) if v is not None]
    if len(known) == 2:
        return abs(known[1] - known[0])
    if known:
        return 2.0 * abs(known[0] - flow_p99(maps))
    return 0.0


Aggregate = Callable[[Mapping[str, np.ndarray], np.ndarray, "GapContext | None"], float]

# Per-frame statistics the frame model may read: name -> f(maps, risk, context). Names are
# stored in calibration files, so an entry's meaning never changes; add new names instead.
FRAME_AGGREGATES: dict[str, Aggregate] = {
    # The two warped neighbours disagree: the strongest single predictor of the frame's MSE.
    "log_mean_residual_sq": lambda m, r, c: _log_mean(m["residual"] ** 2, 1e-6),
    "log_residual_p99": lambda m, r, c: float(np.log10(_pct(m["residual"], 99) + 1e-3)),
    # Strong edges that move far: a small timing or path error there costs a lot
    # (squared error ~ |gradient|^2 x |displacement error|^2).
    "log_motion_edge": lambda m, r, c: _log_mean((m["texture"] * m["flow_mag"]) ** 2, 1e-6),
    # Edges times the speed change across the gap: acceleration that linear motion misses.
    "log_accel_edge": lambda m, r, c: float(np.log10(np.mean(m["texture"] ** 2) * speed_change(m, c) ** 2 + 1e-6)),
    "log_mean_flow_disagreement": lambda m, r, c: _log_mean(m["flow_disagreement"], 0.1),
    "log_mean_fb_error": lambda m, r, c: _log_mean(m["fb_error"], 0.1),
    "log_flow_mag_p99": lambda m, r, c: float(np.log10(flow_p99(m) + 0.25)),
    "mean_occlusion": lambda m, r, c: float(np.mean(m["occlusion"])),
    "log_mean_risk": lambda m, r, c: _log_mean(r, 1e-4),
    "risk_p99": lambda m, r, c: _pct(r, 99),
    "angle_std_mean": lambda m, r, c: float(np.mean(m["angle_std"])),
    "angle_std_p90": lambda m, r, c: _pct(m["angle_std"], 90),
}
# The published baseline alone: statistics of the local flow-angle deviation.
BASELINE_AGGREGATES: tuple[str, ...] = ("angle_std_mean", "angle_std_p90")


# How sure QC must be that a filled frame is above the threshold to accept it: the
# lower end of the one-sided interval ``predicted - z(confidence) * sigma`` must reach
# the threshold. Chosen on the training shots (bench/qc.py) for full recall.
DEFAULT_CONFIDENCE = 0.95

# The most a confidence may be (z = 4.75): beyond it every interval covers everything.
MAX_CONFIDENCE = 0.999999

# Where a filled frame's prediction comes from: the shot's own keyframe checks beside
# its gap, or the no-reference features alone (ends of a shot, a single pair, a cut).
Basis = Literal["keyframe-check", "features"]


@dataclass(frozen=True)
class CheckEvidence:
    """One keyframe check beside a fill's gap: its measured PSNR, what the features said of it, its span."""

    psnr_db: float
    features_psnr_db: float
    key: int = 0
    span: int = 2
    residual_log: float = 0.0  # log_mean_residual_sq of the check fill's features


@dataclass(frozen=True)
class FillEvidence:
    """Everything QC knows of one filled frame: its feature prediction, its gap and the checks beside it."""

    features_psnr_db: float
    gap: int = 2
    checks: tuple[CheckEvidence, ...] = ()
    residual_log: float = 0.0  # log_mean_residual_sq of the fill's own features


def check_failed(psnr_db: float, threshold_db: float, allowance_db: float) -> bool:
    """Whether a keyframe check failed: measured more than ``allowance_db`` below the threshold (NaN fails)."""
    return not psnr_db >= threshold_db - allowance_db


def residual_log(maps: Mapping[str, np.ndarray]) -> float:
    """log10 of the mean squared disagreement of the two warped sources: how much the gap's motion is in doubt."""
    return _log_mean(np.asarray(maps["residual"], dtype=np.float64) ** 2, 1e-6)


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _checks_min(e: FillEvidence, what: Callable[[CheckEvidence], float]) -> float:
    return min(what(c) for c in e.checks)


# Per-fill statistics the keyframe model may read: name -> f(evidence). As with
# FRAME_AGGREGATES, names are stored in calibration files: add, never redefine.
KEYFRAME_STATISTICS: dict[str, Callable[[FillEvidence], float]] = {
    # The fill's own no-reference prediction.
    "features_psnr": lambda e: _clip(e.features_psnr_db, 15.0, 40.0),
    # The worst measured check beside the gap: true error of this shot, at about twice the gap.
    "check_psnr_min": lambda e: _clip(_checks_min(e, lambda c: c.psnr_db), 10.0, 45.0),
    "check_psnr_mean": lambda e: _clip(float(np.mean([c.psnr_db for c in e.checks])), 10.0, 45.0),
    # How far the features were off on the checks (measured minus predicted): the shot's own correction.
    "check_offset_min": lambda e: _clip(_checks_min(e, lambda c: c.psnr_db - _clip(c.features_psnr_db, 15.0, 40.0)),
                                        -20.0, 20.0),
    # How much larger the checks' span is than the fill's own gap (log2: 1 = twice).
    "log2_span_ratio": lambda e: math.log2(max(c.span for c in e.checks) / max(e.gap, 1)),
    # Each check's true PSNR moved by how much less (or more) the fill's warped sources
    # disagree than the check's did: the shot's own error, scaled to this fill's motion.
    "check_residual_scaled_min": lambda e: _clip(_checks_min(e, lambda c: c.psnr_db - 10.0 * (
        e.residual_log - c.residual_log)), 0.0, 60.0),
}


def keyframe_statistics(evidence: FillEvidence, names: Sequence[str]) -> np.ndarray:
    """The named keyframe statistics of one fill (float64 vector); needs at least one check.

    Raises:
        InputError: an unknown statistic (a calibration from a newer framefill).
    """
    return np.asarray([fn(evidence) for fn in _named(KEYFRAME_STATISTICS, names, "keyframe statistic")],
                      dtype=np.float64)


def _named(table: Mapping[str, Any], names: Sequence[str], what: str) -> list[Any]:
    """The entries of ``table`` for ``names``.

    Raises:
        InputError: an unknown name (a calibration from a newer framefill).
    """
    unknown = [n for n in names if n not in table]
    if unknown:
        raise InputError(f"calibration uses {what} {unknown[0]!r}, unknown to this framefill; upgrade framefill")
    return [table[n] for n in names]


def normal_cdf(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """The standard normal quantile (inverse CDF) for 0 < p < 1, by bisection on :func:`normal_cdf`."""
    low, high = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if normal_cdf(mid) < p:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Verdict:
    """The decision on one filled frame: listed for a real render or accepted, why, and on what evidence.

    ``interval_db`` is the two-sided interval of the prediction at the confidence;
    a frame is accepted only when its lower end is at or above the threshold.
    """

    listed: bool
    reason: str
    basis: Basis
    predicted_psnr_db: float
    interval_db: tuple[float, float]
    risk: float  # P(true PSNR < threshold)
    checks: tuple[int, ...] = ()  # the rendered frames whose checks were the evidence


def pixel_design(maps: Mapping[str, np.ndarray], transforms: Sequence[tuple[str, float | None]] = PIXEL_TRANSFORMS,
                 ) -> np.ndarray:
    """The pixel model's raw inputs: N x k float64 (N = pixels of the grid, row-major).

    Raises:
        InputError: a map the transforms need is missing.
    """
    cols = []
    for name, eps in transforms:
        if name not in maps:
            raise InputError(f"feature map {name!r} missing; the features were made by another framefill version")
        x = np.asarray(maps[name], dtype=np.float64).ravel()
        cols.append(np.log10(np.maximum(x, 0.0) + eps) if eps is not None else x)
    return np.stack(cols, axis=1)


def frame_aggregates(maps: Mapping[str, np.ndarray], risk: np.ndarray, names: Sequence[str],
                     context: GapContext | None = None) -> np.ndarray:
    """The named per-frame statistics of one frame's maps, risk map and gap context (float64 vector).

    Raises:
        InputError: an unknown statistic (a calibration from a newer framefill).
    """
    return np.asarray([fn(maps, risk, context) for fn in _named(FRAME_AGGREGATES, names, "frame statistic")],
                      dtype=np.float64)


# ---------------------------------------------------------------------------------------
# Linear models
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FramePrediction:
    """What QC predicts for one filled frame (threshold-independent)."""

    risk_map: np.ndarray  # h,w float32 in [0, 1] on the feature grid: P(pixel squared error > tau)
    predicted_psnr_db: float
    aggregates: dict[str, float]


@dataclass(frozen=True)
class Calibration:
    """A fitted pixel model and frame model, the operating point, and what they were fitted on."""

    pixel_model: LinearModel
    pixel_tau: float
    pixel_transforms: tuple[tuple[str, float | None], ...]
    frame_model: LinearModel
    sigma_db: float
    confidence: float = DEFAULT_CONFIDENCE
    threshold_db: float = DEFAULT_THRESHOLD_DB
    keyframe_model: LinearModel | None = None  # PSNR of a fill from its keyframe checks (ridge)
    keyframe_sigma_db: float = 1.0
    check_allowance_db: float = 0.0  # a check this far below the threshold lists the fills beside it
    trained_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    # -- prediction -----------------------------------------------------------------
    def risk_map(self, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(pixel squared error > tau) on the feature grid, h,w float32."""
        shape = np.asarray(maps[FEATURE_NAMES[0]]).shape
        z = self.pixel_model.decision(pixel_design(maps, self.pixel_transforms))
        return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).reshape(shape).astype(np.float32)

    def predict(self, maps: Mapping[str, np.ndarray], context: GapContext | None = None) -> FramePrediction:
        """Risk map, predicted PSNR and the statistics behind it, for one frame's feature maps."""
        risk = self.risk_map(maps)
        agg = frame_aggregates(maps, risk, self.frame_model.inputs, context)
        psnr = float(self.frame_model.decision(agg))
        return FramePrediction(risk, psnr, dict(zip(self.frame_model.inputs, map(float, agg))))

    def risk(self, predicted_psnr_db: float, threshold_db: float | None = None, sigma_db: float | None = None,
             ) -> float:
        """P(true PSNR < threshold) given the prediction and its spread (the features' by default; NaN for NaN)."""
        thr = self.threshold_db if threshold_db is None else threshold_db
        return normal_cdf((thr - predicted_psnr_db) / (self.sigma_db if sigma_db is None else sigma_db))

    def margin_db(self, basis: Basis = "features", confidence: float | None = None) -> float:
        """How far above the threshold a prediction on ``basis`` must be to accept the frame: z(confidence) x sigma."""
        conf = self.confidence if confidence is None else confidence
        sigma = self.keyframe_sigma_db if basis == "keyframe-check" and self.keyframe_model is not None \
            else self.sigma_db
        return normal_quantile(conf) * sigma

    def judge(self, evidence: FillEvidence, threshold_db: float | None = None, confidence: float | None = None, *,
              inputs: Mapping[str, float] | None = None, predicted_psnr_db: float | None = None) -> Verdict:
        """The one decision rule: whether a filled frame goes on the re-render list, why, and on what evidence.

        In order:

        1. fails closed: listed when a number it stands on (the predictions, a
           check's PSNR, any of ``inputs``: frame statistics, the true PSNR) is NaN/Inf;
        2. listed when a keyframe check beside its gap measured below
           ``threshold - check_allowance_db`` (the check fills across about twice the
           gap, in the same stretch of the shot: the fills there are at risk);
        3. otherwise the prediction: from the keyframe model when a check is beside
           the gap (basis ``keyframe-check``), else from the features alone (basis
           ``features``: shot ends, a single pair, next to a cut); accepted only when
           ``predicted - z(confidence) x sigma`` of that basis reaches the threshold.

        ``predicted_psnr_db`` replaces the basis's own prediction (the fit judges its
        training frames with out-of-fold predictions).
        """
        thr = self.threshold_db if threshold_db is None else threshold_db
        conf = self.confidence if confidence is None else confidence
        checks = evidence.checks
        use_model = bool(checks) and self.keyframe_model is not None
        basis: Basis = "keyframe-check" if use_model else "features"
        keys = tuple(c.key for c in checks)
        numbers = {"predicted_psnr_db": evidence.features_psnr_db}
        if predicted_psnr_db is not None:
            numbers["the prediction given"] = predicted_psnr_db
        for c in checks:
            numbers[f"keyframe check {c.key}"] = c.psnr_db
            numbers[f"keyframe check {c.key} features"] = c.features_psnr_db
            numbers[f"keyframe check {c.key} residual"] = c.residual_log
        if use_model:
            numbers["residual_log"] = evidence.residual_log
        bad = [name for name, value in numbers.items() if not math.isfinite(value)]
        bad += sorted(name for name, value in (inputs or {}).items() if not math.isfinite(value))
        if use_model:
            assert self.keyframe_model is not None
            model_numbers = [v for k, v in numbers.items() if k.startswith("keyframe check") or k == "residual_log"]
            predicted = math.nan
            if all(math.isfinite(v) for v in model_numbers):
                predicted = float(self.keyframe_model.decision(
                    keyframe_statistics(evidence, self.keyframe_model.inputs)))
            sigma = self.keyframe_sigma_db
        else:
            predicted, sigma = evidence.features_psnr_db, self.sigma_db
        if predicted_psnr_db is not None:
            predicted = predicted_psnr_db
        if not math.isfinite(predicted):
            predicted = math.nan
        half = normal_quantile(conf) * sigma
        interval = (predicted - half, predicted + half)
        risk = normal_cdf((thr - predicted) / sigma)
        if bad:  # fails closed; the prediction is kept where its own numbers are finite
            return Verdict(True, f"{NOT_FINITE_REASON}: {', '.join(bad)}", basis, predicted, interval, risk, keys)
        failed = [c for c in checks if check_failed(c.psnr_db, thr, self.check_allowance_db)]
        if failed:
            worst = min(failed, key=lambda c: c.psnr_db)
            return Verdict(True, (f"beside a failed keyframe check: frame {worst.key} filled across {worst.span} "
                                  f"frames measured {worst.psnr_db:.1f} dB"), basis, predicted, interval, risk, keys)
        if interval[0] < thr:
            return Verdict(True, (f"predicted {predicted:.1f} dB ({basis}), lower bound {interval[0]:.1f} dB at "
                                  f"{conf * 100:.4g}% confidence < {thr:g} dB"), basis, predicted, interval, risk, keys)
        return Verdict(False, "", basis, predicted, interval, risk, keys)

    # -- identity and files ------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "version": CALIBRATION_VERSION,
            "features": list(FEATURE_NAMES),
            "pixel_model": {
                "kind": "logistic",
                "target": "squared error of the sRGB display proxy, area-averaged to the feature grid, above tau",
                "tau": self.pixel_tau,
                "transforms": [{"feature": n, "log10_eps": e} for n, e in self.pixel_transforms],
                **self.pixel_model.to_json(),
            },
            "frame_model": {
                "kind": "ridge",
                "target": "PSNR in dB of the sRGB display proxy against the real render",
                "sigma_db": self.sigma_db,
                **self.frame_model.to_json(),
            },
            **({} if self.keyframe_model is None else {"keyframe_model": {
                "kind": "ridge",
                "target": "PSNR in dB of a filled frame, from the keyframe checks beside its gap",
                "sigma_db": self.keyframe_sigma_db,
                **self.keyframe_model.to_json(),
            }}),
            "threshold_db": self.threshold_db,
            "operating_point": {
                "confidence": self.confidence,
                "check_allowance_db": self.check_allowance_db,
                "rule": ("re-render a filled frame when a keyframe check beside it measured below threshold_db - "
                         "check_allowance_db, or when predicted PSNR - z(confidence) x sigma_db of its basis "
                         "(keyframe_model with checks, else frame_model) is below threshold_db"),
            },
            "trained_on": self.trained_on,
            "metrics": self.metrics,
        }

    @property
    def id(self) -> str:
        """12 hex digits identifying the fitted numbers (cached scores are keyed on it)."""
        doc = self.to_json()
        doc.pop("metrics", None)
        doc.pop("trained_on", None)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON, atomically."""
        from framefill.atomic import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, source: str = "") -> Calibration:
        """Parse and check a calibration document: every field present, of its type, finite, of the right length.

        Raises:
            InputError: one line naming the file and the field: not a calibration, a newer
                version, a missing or wrong field, a model that does not fit its inputs.
        """
        r = _Fields(source)
        if not isinstance(doc, Mapping) or doc.get("format") != CALIBRATION_FORMAT:
            raise InputError(f"{r.where} is not a framefill QC calibration (format {CALIBRATION_FORMAT!r} expected)")
        version = r.get(doc, "version")
        if not _is_int(version) or version < 1:
            r.fail("version", f"a calibration version number ({CALIBRATION_VERSION})", version)
        if version > CALIBRATION_VERSION:
            raise InputError(f"{r.where} is calibration version {version}; this framefill reads "
                             f"version {CALIBRATION_VERSION}; upgrade framefill")
        for name, home in _NESTED_FIELDS.items():
            if name in doc:  # a hand edit in the wrong place would silently change nothing
                raise InputError(f"{r.where}: {name} is not read at the top level; it belongs in {home}; {r.fix}")
        transforms = _transforms(r, doc)
        features = [n for n, _ in transforms]
        if r.get(doc, "pixel_model.inputs") != features:
            r.fail("pixel_model.inputs", f"the transforms' features {features}", r.get(doc, "pixel_model.inputs"))
        pixel = r.linear(doc, "pixel_model", "logistic")
        frame = r.linear(doc, "frame_model", "ridge")
        for name in frame.inputs:
            if name not in FRAME_AGGREGATES:
                raise InputError(f"{r.where} uses frame statistic {name!r}, unknown to this framefill; "
                                 "upgrade framefill")
        sigma = r.number(doc, "frame_model.sigma_db", unit=" of dB", positive=True)
        if version == 1:  # a margin over the threshold: the same rule as the confidence where z x sigma = margin
            margin = r.number(doc, "operating_point.margin_db", unit=" of dB")
            confidence = min(max(normal_cdf(margin / sigma), 0.5), MAX_CONFIDENCE)
        else:
            confidence = r.number(doc, "operating_point.confidence")
            if not 0.5 <= confidence <= MAX_CONFIDENCE:
                r.fail("operating_point.confidence", "a probability from 0.5 to below 1", confidence)
        keyframe = None
        if version >= 2 and "keyframe_model" in doc:
            keyframe = r.linear(doc, "keyframe_model", "ridge")
            for name in keyframe.inputs:
                if name not in KEYFRAME_STATISTICS:
                    raise InputError(f"{r.where} uses keyframe statistic {name!r}, unknown to this framefill; "
                                     "upgrade framefill")
        return cls(
            pixel_model=pixel,
            pixel_tau=r.number(doc, "pixel_model.tau", positive=True),
            pixel_transforms=transforms,
            frame_model=frame,
            sigma_db=sigma,
            confidence=confidence,
            keyframe_model=keyframe,
            keyframe_sigma_db=(1.0 if keyframe is None else
                               r.number(doc, "keyframe_model.sigma_db", unit=" of dB", positive=True)),
            check_allowance_db=(0.0 if version == 1 else
                                r.number(doc, "operating_point.check_allowance_db", unit=" of dB", default=0.0)),
            threshold_db=r.number(doc, "threshold_db", unit=" of dB", default=DEFAULT_THRESHOLD_DB),
            trained_on=dict(r.mapping(doc, "trained_on", default={})),
            metrics=dict(r.mapping(doc, "metrics", default={})),
            source=source,
        )


# ---------------------------------------------------------------------------------------
# Reading a calibration file
# ---------------------------------------------------------------------------------------

_MISSING: Any = object()
# Fields of the nested sections, by where they belong: found at the top level, they are a misplaced edit.
_NESTED_FIELDS = {
    "margin_db": "operating_point", "confidence": "operating_point", "check_allowance_db": "operating_point",
    "rule": "operating_point", "sigma_db": "frame_model", "tau": "pixel_model",
    "transforms": "pixel_model", "coef": "pixel_model and frame_model", "intercept": "pixel_model and frame_model",
    "standardise": "pixel_model and frame_model", "inputs": "pixel_model and frame_model",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """A value as an error message shows it: numbers as written, other things by type, long ones cut."""
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "an object"
    text = repr(value) if isinstance(value, str) or value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Fields:
    """Typed fields of a calibration document: a wrong one is a one-line InputError naming the file and field."""

    def __init__(self, source: str) -> None:
        self.where = f"calibration {source}" if source else "calibration"
        shipped = bool(source) and Path(source) == default_calibration_path()
        self.fix = ("reinstall framefill (its shipped calibration is damaged)" if shipped else
                    "refit it with `framefill qc calibrate` or remove --calibration")

    def fail(self, name: str, want: str, got: Any) -> NoReturn:
        raise InputError(f"{self.where}: {name} must be {want}, got {_shown(got)}; {self.fix}")

    def get(self, doc: Any, name: str, default: Any = _MISSING) -> Any:
        """The value at a dotted path (``frame_model.coef``)."""
        node = doc
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is not _MISSING:
                    return default
                raise InputError(f"{self.where} is damaged or incomplete: {name} is missing; {self.fix}")
            node = node[part]
        return node

    def mapping(self, doc: Any, name: str, default: Any = _MISSING) -> Mapping[str, Any]:
        value = self.get(doc, name, default)
        if not isinstance(value, Mapping):
            self.fail(name, "an object", value)
        return value

    def number(self, doc: Any, name: str, *, unit: str = "", positive: bool = False, default: Any = _MISSING,
               ) -> float:
        return self.finite(self.get(doc, name, default), name, unit=unit, positive=positive)

    def finite(self, value: Any, name: str, *, unit: str = "", positive: bool = False) -> float:
        """``value`` as a float: a finite number (above 0 with ``positive``), never a bool or a string."""
        if not _is_number(value) or not math.isfinite(value) or (positive and value <= 0):
            self.fail(name, f"a {'positive ' if positive else ''}finite number{unit}", value)
        return float(value)

    def numbers(self, doc: Any, name: str, length: int, *, positive: bool = False) -> tuple[float, ...]:
        value = self.get(doc, name)
        want = f"a list of {length} {'positive ' if positive else ''}finite numbers (one per input)"
        if not isinstance(value, list) or len(value) != length:
            self.fail(name, want, value)
        for item in value:
            if not _is_number(item) or not math.isfinite(item) or (positive and item <= 0):
                self.fail(name, want, f"a list holding {_shown(item)}")
        return tuple(float(v) for v in value)

    def linear(self, doc: Any, name: str, kind: str) -> LinearModel:
        """A model's linear part: inputs, standardisation, coefficients and intercept, all of one length."""
        if self.get(doc, f"{name}.kind", kind) != kind:
            self.fail(f"{name}.kind", repr(kind), self.get(doc, f"{name}.kind"))
        inputs = self.get(doc, f"{name}.inputs")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(n, str) for n in inputs):
            self.fail(f"{name}.inputs", "a non-empty list of names", inputs)
        k = len(inputs)
        l2 = self.number(doc, f"{name}.l2", default=0.0)
        if l2 < 0:
            self.fail(f"{name}.l2", "0 or more", l2)
        return LinearModel(tuple(inputs), self.numbers(doc, f"{name}.standardise.mean", k),
                           self.numbers(doc, f"{name}.standardise.scale", k, positive=True),
                           self.numbers(doc, f"{name}.coef", k), self.number(doc, f"{name}.intercept"), l2)


def _transforms(r: _Fields, doc: Any) -> tuple[tuple[str, float | None], ...]:
    """The pixel model's input transforms: known features, each with ``log10_eps`` null or above 0."""
    items = r.get(doc, "pixel_model.transforms")
    if not isinstance(items, list) or not items:
        r.fail("pixel_model.transforms", "a non-empty list of {feature, log10_eps}", items)
    out: list[tuple[str, float | None]] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("feature"), str) or "log10_eps" not in item:
            r.fail(f"pixel_model.transforms[{i}]", "an object with a feature name and log10_eps", item)
        name, eps = item["feature"], item["log10_eps"]
        if name not in FEATURE_NAMES:
            raise InputError(f"{r.where} uses features {[name]} unknown to this framefill; upgrade framefill")
        field_name = f"pixel_model.transforms[{i}].log10_eps"
        if eps is not None and not _is_number(eps):
            r.fail(field_name, "null or a positive finite number", eps)
        out.append((name, None if eps is None else r.finite(eps, field_name, positive=True)))
    return tuple(out)


def default_calibration_path() -> Path:
    """The calibration shipped with framefill (fitted on framefill's own rendered scenes)."""
    return Path(str(resources.files("framefill") / "data" / "qc_calibration.json"))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read a calibration file (None: the shipped default).

    Raises:
        InputError: missing, unreadable or invalid file.
    """
    p = Path(path) if path is not None else default_calibration_path()
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"calibration file {p} not found; fit one with `framefill qc calibrate` "
                         "or leave --calibration out to use the shipped one") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read calibration {p}: {err}; refit it with `framefill qc calibrate` "
                         "or remove --calibration") from None
    return Calibration.from_json(doc, source=str(p))


def default_calibration() -> Calibration:
    """The shipped calibration."""
    return load_calibration(None)
