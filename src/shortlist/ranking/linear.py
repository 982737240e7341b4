"""Cheap first-stage scorer: a fixed or learned linear combination of candidate features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from shortlist.errors import ConfigError, DataError, NotFittedError
from shortlist.ranking._kernels import linear_scores

__all__ = ["LinearScorer"]


class LinearScorer:
    """Score = w . standardized(features); weights given by name or learned by logistic regression.

    Missing values (NaN) count as the column mean (0 after standardization). Learning uses
    a few Newton steps of L2-regularised logistic regression - cheap and deterministic.
    """

    def __init__(self, *, weights: Mapping[str, float] | None = None, l2: float = 1.0,
                 iterations: int = 25) -> None:
        self.weights = dict(weights or {})
        self.l2 = l2
        self.iterations = iterations
        if l2 < 0:
            raise ConfigError(f"l2 must be >= 0, got {l2}")

    def fit(self, features: np.ndarray, labels: np.ndarray, feature_names: Sequence[str]) -> "LinearScorer":
        """Learn standardization and (unless fixed weights were given) logistic weights."""
        x = np.asarray(features, np.float64)
        self.feature_names_ = list(feature_names)
        if x.shape[1] != len(self.feature_names_):
            raise DataError(f"{x.shape[1]} feature columns but {len(self.feature_names_)} names")
        with np.errstate(invalid="ignore"):
            self.mean_ = np.nan_to_num(np.nanmean(x, axis=0))
            self.scale_ = np.nan_to_num(np.nanstd(x, axis=0), nan=1.0)
        self.scale_[self.scale_ == 0] = 1.0
        if self.weights:
            unknown = set(self.weights) - set(self.feature_names_)
            if unknown:
                raise ConfigError(f"linear weights name unknown features {sorted(unknown)}; "
                                  f"available: {self.feature_names_}")
            self.coef_ = np.array([self.weights.get(n, 0.0) for n in self.feature_names_])
            self.intercept_ = 0.0
            return self
        z = self._standardize(x)
        y = (np.asarray(labels) > 0).astype(np.float64)
        z1 = np.column_stack([z, np.ones(len(z))])
        w = np.zeros(z1.shape[1])
        reg = self.l2 * np.eye(z1.shape[1])
        reg[-1, -1] = 0.0
        for _ in range(self.iterations):
            p = 1.0 / (1.0 + np.exp(-z1 @ w))
            grad = z1.T @ (p - y) + reg @ w
            hess = (z1 * (p * (1 - p))[:, None]).T @ z1 + reg + 1e-9 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.coef_, self.intercept_ = w[:-1], float(w[-1])
        return self

    def _standardize(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean_) / self.scale_
        z[np.isnan(z)] = 0.0  # a missing feature sits at the mean
        return z

    def score(self, features: np.ndarray) -> np.ndarray:
        """One score per row."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("LinearScorer is not fitted; call fit(...) first")
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.coef_.size:
            raise DataError(f"linear scorer expects {self.coef_.size} feature columns, got shape {x.shape}")
        return linear_scores(x, self.mean_.astype(np.float64), self.scale_.astype(np.float64),
                             self.coef_.astype(np.float64), float(self.intercept_))

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                "intercept": np.asarray([self.intercept_])}

    def set_state(self, arrays: Mapping[str, np.ndarray], feature_names: Sequence[str]) -> "LinearScorer":
        self.mean_, self.scale_, self.coef_ = arrays["mean"], arrays["scale"], arrays["coef"]
        self.intercept_ = float(arrays["intercept"][0])
        self.feature_names_ = list(feature_names)
        return self
