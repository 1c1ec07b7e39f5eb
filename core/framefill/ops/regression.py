"""The small regression fits QC calibrates with: logistic (IRLS) and ridge, on standardised inputs.

Pure numpy. :class:`LinearModel` is the fitted linear part (``intercept +
sum(coef * (x - mean) / scale)``), serialisable as JSON for calibration files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from framefill.errors import InputError

__all__ = ["LinearModel", "fit_logistic", "fit_ridge", "choose_ridge_l2", "RIDGE_L2_GRID"]


@dataclass(frozen=True)
class LinearModel:
    """``intercept + sum(coef * (x - mean) / scale)``: the linear part of both models."""

    inputs: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    l2: float = 0.0

    def decision(self, x: np.ndarray) -> np.ndarray:
        """N x k raw inputs (or a k vector) -> N linear scores (or one)."""
        z = (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.coef) + self.intercept

    def to_json(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "standardise": {"mean": list(self.mean), "scale": list(self.scale)},
                "coef": list(self.coef), "intercept": self.intercept, "l2": self.l2}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LinearModel:
        std = doc["standardise"]
        return cls(tuple(doc["inputs"]), tuple(map(float, std["mean"])), tuple(map(float, std["scale"])),
                   tuple(map(float, doc["coef"])), float(doc["intercept"]), float(doc.get("l2", 0.0)))


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, inputs: Sequence[str], l2: float = 1e-4,
                 max_iter: int = 100) -> LinearModel:
    """L2-regularised logistic regression by iteratively reweighted least squares.

    Minimises ``mean(log-loss) + l2/2 * |coef|^2`` on standardised inputs (the
    intercept is not penalised). Newton steps converge in ~10 iterations.

    Args:
        x: N x k raw inputs; y: N labels in {0, 1}.
    Raises:
        InputError: empty data, or only one class present.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(y) == 0 or y.min() == y.max():
        raise InputError("cannot fit the pixel model: the training pixels need both low- and high-error examples")
    mean, scale = _standardise(x)
    z = np.hstack([(x - mean) / scale, np.ones((len(y), 1))])
    n, k = z.shape
    w = np.zeros(k)
    pen = np.full(k, l2)
    pen[-1] = 0.0
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) / n + pen * w
        hess = (z * (p * (1 - p))[:, None]).T @ z / n + np.diag(pen) + 1e-9 * np.eye(k)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return LinearModel(tuple(inputs), tuple(mean), tuple(scale), tuple(w[:-1]), float(w[-1]), l2)


def fit_ridge(x: np.ndarray, y: np.ndarray, *, inputs: Sequence[str], l2: float) -> LinearModel:
    """Ridge regression on standardised inputs: ``min mean((y - f)^2) + l2 |coef|^2``.

    Raises:
        InputError: fewer than two rows.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(y) < 2:
        raise InputError("cannot fit the frame model: it needs at least two training frames")
    mean, scale = _standardise(x)
    z = (x - mean) / scale
    n, k = z.shape
    coef = np.linalg.solve(z.T @ z / n + l2 * np.eye(k), z.T @ (y - y.mean()) / n)
    return LinearModel(tuple(inputs), tuple(mean), tuple(scale), tuple(coef), float(y.mean()), l2)


# Candidate ridge weights, from almost none to strong shrinkage.
RIDGE_L2_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def choose_ridge_l2(x: np.ndarray, y: np.ndarray, groups: Sequence[str], *,
                    grid: Sequence[float] = RIDGE_L2_GRID) -> tuple[float, np.ndarray]:
    """The ridge weight with the lowest leave-one-group-out squared error, and its out-of-fold predictions.

    Groups are scenes: a frame is always predicted by a model that saw none of
    its scene, as a new shot would be.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(groups)
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in grid:
        pred = np.empty(len(y))
        for name in np.unique(g):
            hold = g == name
            # With one scene only there is no other scene to learn from: in-sample then.
            train = ~hold if not hold.all() else hold
            pred[hold] = _ridge_predict(x[train], y[train], x[hold], l2)
        err = float(np.mean((pred - y) ** 2))
        if best is None or err < best[1] - 1e-12:
            best = (l2, err, pred)
    assert best is not None
    return best[0], best[2]


def _ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, l2: float) -> np.ndarray:
    names = tuple(str(i) for i in range(x_train.shape[1]))
    return fit_ridge(x_train, y_train, inputs=names, l2=l2).decision(x_test)
