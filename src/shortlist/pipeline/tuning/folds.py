"""Validation folds carved out of the training data the tuner is given, and scoring on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shortlist.core.metrics import ranking_metrics
from shortlist.data.dataset import Dataset
from shortlist.data.splits import Split, random_holdout
from shortlist.pipeline.spec import PipelineSpec

__all__ = ["Fold", "make_folds", "score_model"]


@dataclass
class Fold:
    """One validation fold: its split, sampled validation users and their held-out items."""

    split: Split
    users: np.ndarray

    @property
    def relevant(self) -> Any:
        return self.split.test.matrix[self.users]


def make_folds(dataset: Dataset, spec: PipelineSpec, count: int | None = None, start: int = 0) -> list[Fold]:
    """Validation folds ``start .. start + count - 1`` (each a different seeded cut of ``dataset``)."""
    ts = spec.tuning
    out = []
    for f in range(start, start + (ts.folds if count is None else count)):
        split = random_holdout(dataset.interactions, ts.validation_fraction, seed=ts.seed + 1 + f)
        test_counts = np.diff(split.test.matrix.indptr)
        train_counts = np.diff(split.train.matrix.indptr)
        users = np.flatnonzero((test_counts > 0) & (train_counts > 0))
        if users.size > ts.max_users:
            users = np.sort(np.random.default_rng(ts.seed + f).choice(users, ts.max_users, replace=False))
        out.append(Fold(split, users))
    return out


def score_model(model: Any, fold: Fold, users: np.ndarray, k: int, metric: str) -> float:
    if users.size == 0:
        return 0.0
    top, _ = model.recommend_indices(users, k, exclude_seen=True)
    return float(np.nanmean(ranking_metrics(top, fold.split.test.matrix[users], k)[metric]))
