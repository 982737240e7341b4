"""Hyperparameter search on a validation split carved out of the training data only.

The test split is never touched: :func:`tune` splits ``train`` again (per-user random
holdout with its own seed), scores each candidate on that inner validation part, and
returns the best parameters, which the caller then fits on the whole training part.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from shortlist.data.interactions import Interactions
from shortlist.data.splits import random_holdout
from shortlist.errors import ConfigError
from shortlist.evaluation.runner import evaluate
from shortlist.models.registry import create_model

__all__ = ["TuningResult", "tune", "parse_space", "coerce_params", "DEFAULT_SPACES"]

#: search spaces used when the caller gives none (small grids; random search samples them)
DEFAULT_SPACES: dict[str, dict[str, list[Any]]] = {
    "popularity": {"by": ["users", "weight"]},
    "trending": {"half_life": [86_400.0, 604_800.0, 2_592_000.0, 15_552_000.0]},
    "period-popularity": {"bins": [16, 64, 256], "bandwidth": [0.5, 2.0, 8.0]},
    "time-lift": {"bins": [16, 64, 256], "bandwidth": [0.5, 2.0, 8.0], "prior": [0.25, 1.0, 4.0]},
    "als": {"factors": [32, 64, 128], "alpha": [0.1, 0.3, 1.0], "w0": [0.1, 0.3, 1.0],
            "regularization": [1.0, 10.0, 30.0]},
    "ease": {"regularization": [100.0, 250.0, 500.0, 1000.0, 2000.0]},
    "session-ease": {"time_scale": [60.0, 300.0, 1800.0], "regularization": [25.0, 50.0, 100.0, 200.0]},
    "graph-filter": {"factors": [16, 32, 64, 128], "ideal_weight": [0.1, 0.3, 1.0], "sharpen": [0.0, 0.5, 1.0]},
    "item-knn": {"n_neighbors": [10, 20, 50, 100], "weighting": ["none", "tfidf", "bm25"],
                 "shrink": [0.0, 10.0, 50.0]},
    "user-knn": {"n_neighbors": [25, 50, 100, 200], "weighting": ["none", "tfidf", "bm25"]},
    "bpr": {"factors": [32, 64], "learning_rate": [0.02, 0.05], "epochs": [20, 40, 60]},
    "warp": {"factors": [32, 64], "learning_rate": [0.02, 0.05], "epochs": [20, 40, 60]},
    "mf-mse": {"factors": [32, 64], "w0": [0.1, 0.5, 1.0], "epochs": [10, 20, 30]},
    "mf-logistic": {"factors": [32, 64], "learning_rate": [0.02, 0.05], "epochs": [10, 20, 30]},
    # neural models (registered when torch is installed): early stopping picks the epoch
    "neumf": {"factors": [16, 32, 64], "learning_rate": [0.001, 0.002, 0.005], "negatives": [4, 8]},
    "two-tower": {"factors": [32, 64], "temperature": [0.05, 0.1, 0.2], "learning_rate": [0.001, 0.003]},
    "softmax-dnn": {"factors": [32, 64], "learning_rate": [0.001, 0.002, 0.005]},
    "fm": {"factors": [16, 32, 64], "learning_rate": [0.001, 0.002, 0.005]},
    "deepfm": {"factors": [16, 32], "learning_rate": [0.001, 0.002, 0.005]},
}


@dataclass
class TuningResult:
    """Best parameters found, their validation score, and every trial."""

    best_params: dict[str, Any]
    best_score: float
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"best_params": self.best_params, "best_score": self.best_score, "metric": self.metric,
                "n_trials": len(self.trials)}


def parse_space(items: Sequence[str]) -> dict[str, list[str]]:
    """Parse CLI ``--space key=v1,v2,v3`` entries into a grid."""
    space: dict[str, list[str]] = {}
    for item in items:
        key, sep, vals = item.partition("=")
        if not sep or not vals:
            raise ConfigError(f"--space {item!r} must look like name=v1,v2 e.g. factors=32,64,128")
        space[key.strip()] = [v.strip() for v in vals.split(",") if v.strip()]
    return space


def _candidates(space: Mapping[str, Sequence[Any]], n_trials: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    keys = list(space)
    grid = list(itertools.product(*(space[k] for k in keys)))
    if len(grid) > n_trials:
        pick = rng.choice(len(grid), size=n_trials, replace=False)
        grid = [grid[i] for i in sorted(pick)]
    return [dict(zip(keys, combo)) for combo in grid]


def tune(
    model: str,
    train: Interactions,
    *,
    space: Mapping[str, Sequence[Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
    n_trials: int = 20,
    k: int = 10,
    metric: str = "ndcg",
    validation_fraction: float = 0.2,
    seed: int = 0,
    progress: bool | None = None,
) -> TuningResult:
    """Random search over ``space`` for model ``model`` using only ``train``.

    ``fixed`` parameters apply to every trial. The inner validation split uses
    ``seed + 1`` so it differs from any outer split made with ``seed``.
    """
    space = dict(space if space is not None else DEFAULT_SPACES.get(model, {}))
    if not space:
        raise ConfigError(
            f"no search space for model {model!r}; give one, e.g. --space factors=32,64 --space regularization=0.01,0.1"
        )
    if n_trials <= 0:
        raise ConfigError(f"n_trials must be positive, got {n_trials}")
    metric_key = f"{metric}@{k}"
    inner = random_holdout(train, validation_fraction, seed=seed + 1)
    rng = np.random.default_rng(seed)
    trials: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] = (-np.inf, {})
    for params in tqdm(_candidates(space, n_trials, rng), desc=f"tuning {model}", disable=None if progress is None else not progress):
        all_params = {**(fixed or {}), **params}
        est = create_model(model, all_params)
        t0 = time.perf_counter()
        est.fit(inner.train, progress=False)
        score = evaluate(est, inner, k=k).metrics[metric_key]
        trials.append({**all_params, metric_key: score, "fit_seconds": time.perf_counter() - t0})
        if score > best[0]:
            best = (score, all_params)
    return TuningResult(best_params=coerce_params(model, best[1]), best_score=float(best[0]),
                        metric=metric_key, trials=trials)


def coerce_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Typed copy of ``params`` (strings from the CLI converted like ``--param``)."""
    est = create_model(model, params)
    return {k: getattr(est, k) for k in params}

