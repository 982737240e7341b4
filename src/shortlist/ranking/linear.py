"""Cheap first-stage scorer: a fixed, searched or learned linear combination of candidate features."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from shortlist.core.metrics import query_ndcg
from shortlist.core.parameters import Finite, NonNegative, Positive, check_params
from shortlist.core.persistence import Part
from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.params import KeywordParams
from shortlist.ranking._kernels import linear_scores

__all__ = ["LinearScorer"]


class LinearScorer(KeywordParams):
    """Score = w . standardized(features); weights given by name, searched, or learned.

    * ``weights`` alone: fixed weights (features not named weigh 0).
    * ``search = {name: [w1, w2, ...]}``: every combination of the listed weights (on top
      of the fixed ``weights``) is scored by mean NDCG@``search_k`` over the training
      queries, and the best one is kept (the first listed wins a tie). This is a validation
      search run by ``fit`` itself, on whatever labelled rows it is given - in a pipeline,
      the label folds that the candidate models never saw; ``search_results_`` keeps every
      combination's NDCG.
    * neither: L2-regularised logistic regression by a few Newton steps (deterministic).

    Missing values (NaN) count as the column mean (0 after standardization).

    With ``standardize = false`` and fixed ``weights`` the score is ``w . features`` as given
    (for features that are already standardised, such as the within-request ``model_*_z``):
    nothing is learned, and :meth:`fix` prepares the scorer without training rows.
    """

    def __init__(self, *, weights: Mapping[str, Finite[float]] | None = None,
                 search: Mapping[str, Annotated[list[Finite[float]], Field(min_length=1)]] | None = None,
                 search_k: Positive[int] = 10, l2: NonNegative[float] = 1.0, iterations: Positive[int] = 25,
                 standardize: bool = True) -> None:
        self.weights = dict(weights or {})
        self.standardize = standardize
        self.search = {name: list(values) for name, values in (search or {}).items()}
        self.search_k = search_k
        self.l2 = l2
        self.iterations = iterations
        check_params(self, "linear scorer")
        if not standardize and (search or not weights):
            raise ConfigError("standardize = false needs fixed weights and no search (nothing to learn from); "
                              "give weights = { feature = w, ... } or drop standardize")

    def fit(self, features: np.ndarray, labels: np.ndarray, feature_names: Sequence[str],
            groups: np.ndarray | None = None) -> "LinearScorer":
        """Learn standardization and the weights (fixed, searched on ``groups``, or logistic)."""
        x = np.asarray(features, np.float64)
        self.feature_names_ = list(feature_names)
        if x.shape[1] != len(self.feature_names_):
            raise DataError(f"{x.shape[1]} feature columns but {len(self.feature_names_)} names")
        with warnings.catch_warnings():  # an all-NaN column is expected: mean 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nan_to_num(np.nanmean(x, axis=0))
            self.scale_ = np.nan_to_num(np.nanstd(x, axis=0), nan=1.0)
        self.scale_[self.scale_ == 0] = 1.0
        if self.weights or self.search:
            for what, names in (("weights", self.weights), ("search", self.search)):
                unknown = set(names) - set(self.feature_names_)
                if unknown:
                    raise ConfigError(f"linear {what} name unknown features {sorted(unknown)}; "
                                      f"available: {self.feature_names_}")
            self.intercept_ = 0.0
            self.coef_ = self._coef(self.weights)
            if self.search:
                self._search(self._standardize(x), np.asarray(labels, np.float64), groups)
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

    @property
    def trainable(self) -> bool:
        """Whether :meth:`fit` learns anything (a fixed, unstandardised scorer does not)."""
        return self.standardize or bool(self.search) or not self.weights

    def fix(self, feature_names: Sequence[str]) -> "LinearScorer":
        """Prepare a fixed scorer (``standardize = false``) for ``feature_names``, without data."""
        self.feature_names_ = list(feature_names)
        unknown = set(self.weights) - set(self.feature_names_)
        if unknown:
            raise ConfigError(f"linear weights name unknown features {sorted(unknown)}; available: {self.feature_names_}")
        n = len(self.feature_names_)
        self.mean_, self.scale_ = np.zeros(n), np.ones(n)
        self.coef_, self.intercept_ = self._coef(self.weights), 0.0
        return self

    def _coef(self, weights: Mapping[str, float]) -> np.ndarray:
        return np.array([float(weights.get(n, 0.0)) for n in self.feature_names_])

    def _search(self, z: np.ndarray, labels: np.ndarray, groups: np.ndarray | None) -> None:
        """Keep the combination of searched weights with the best mean NDCG@k over the queries."""
        if groups is None or np.sum(groups) != z.shape[0]:
            raise ConfigError("a linear stage with search needs its training rows grouped by request "
                              "(groups summing to the row count); fit it inside a pipeline, or pass groups")
        names = list(self.search)
        best, self.search_results_ = -np.inf, []
        for values in itertools.product(*(self.search[n] for n in names)):
            weights = {**self.weights, **dict(zip(names, values))}
            ndcg = query_ndcg(z @ self._coef(weights), labels, groups, self.search_k)
            score = float(ndcg.mean()) if ndcg.size else 0.0
            self.search_results_.append({"weights": dict(zip(names, values)), f"ndcg@{self.search_k}": score})
            if score > best:
                best, self.coef_ = score, self._coef(weights)

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

    def to_part(self) -> Part:
        """The fitted scorer as one saved part (arrays + feature names, and the weight search's trials)."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("LinearScorer is not fitted; call fit(...) first")
        meta: dict[str, Any] = {"class": "LinearScorer", "feature_names": self.feature_names_}
        if hasattr(self, "search_results_"):
            meta["search_results"] = self.search_results_  # what the weight search saw
        return Part(meta, self.state())

    @classmethod
    def from_part(cls, part: Part, **params: Any) -> "LinearScorer":
        """Rebuild a scorer from the part written by :meth:`to_part` (``params``: its constructor's)."""
        try:
            model = cls(**params).set_state(part.arrays, part.meta["feature_names"])
        except KeyError as exc:
            raise ModelFileError(f"saved linear scorer lacks {exc}; retrain the pipeline") from None
        if "search_results" in part.meta:
            model.search_results_ = part.meta["search_results"]
        return model
