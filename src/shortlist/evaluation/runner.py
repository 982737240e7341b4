"""Evaluation runner: fitted model + split -> a table (and JSON) of metrics."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.core.metrics import RANKING_METRICS, ranking_metrics
from shortlist.data.interactions import Interactions
from shortlist.data.splits import Split, split_by_protocol
from shortlist.errors import ConfigError
from shortlist.evaluation.beyond import (
    average_popularity,
    catalog_coverage,
    intra_list_diversity,
    novelty,
)
from shortlist.models.base import Recommender, check_k

__all__ = ["EvaluationResult", "evaluate", "evaluate_protocol", "recommend_for_split"]


@dataclass
class EvaluationResult:
    """Metric values (``"ndcg@10"``...) plus facts about the run."""

    metrics: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: metrics first, then info."""
        return {**self.metrics, **self.info}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=lambda o: o.item() if hasattr(o, "item") else str(o))

    def to_table(self) -> str:
        """Readable two-column table."""
        rows = [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in self.to_dict().items()]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _relevant_rows(split: Split, users: np.ndarray) -> sp.csr_matrix:
    return split.test.matrix[users]


def recommend_for_split(model: Any, split: Split, k: int, *, max_users: int | None = None,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Evaluated users (indices) and their top-k lists, training items excluded.

    Users are those with at least one relevant test item; under user holdout, they are
    recommended from their fold-in history only. ``max_users`` evaluates a seeded random
    sample of them (for slow per-request pipelines).
    """
    test = split.test.matrix
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if max_users is not None and users.size > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    if split.fold_in is not None:
        history = split.fold_in.matrix[users]
        top, _ = model.recommend_from_history(history, k)
    else:
        train_counts = np.diff(split.train.matrix.indptr)
        users = users[train_counts[users] > 0]
        top, _ = model.recommend_indices(users, k, exclude_seen=True)
    return users, top


def evaluate(
    model: Any,
    split: Split,
    *,
    k: int = 10,
    item_features: sp.spmatrix | np.ndarray | None = None,
    max_users: int | None = None,
) -> EvaluationResult:
    """Ranking, beyond-accuracy and popularity metrics of a fitted ``model`` on ``split``.

    ``max_users`` limits the evaluation to a seeded sample of the test users.
    """
    k = check_k(k)
    t0 = time.perf_counter()
    users, top = recommend_for_split(model, split, k, max_users=max_users)
    rec_seconds = time.perf_counter() - t0
    if users.size == 0:
        raise ConfigError("no user has both training and test interactions; check the split")
    per_user = ranking_metrics(top, _relevant_rows(split, users), k)
    metrics = {f"{name}@{k}": float(np.nanmean(per_user[name])) for name in RANKING_METRICS}
    train = split.train.matrix
    item_users = np.bincount(train.indices, minlength=train.shape[1])
    metrics["coverage"] = catalog_coverage(top, train.shape[1])
    metrics["novelty"] = novelty(top, item_users, int((np.diff(train.indptr) > 0).sum()))
    metrics["avg_popularity"] = average_popularity(top, item_users)
    if item_features is not None:
        metrics["diversity"] = intra_list_diversity(top, item_features)
    info = {"k": k, "n_eval_users": int(users.size), "recommend_seconds": round(rec_seconds, 4),
            "protocol": split.protocol}
    return EvaluationResult(metrics, info)


def evaluate_protocol(
    model: Recommender,
    data: Interactions,
    protocol: str = "random-holdout:0.25",
    *,
    seed: int = 42,
    k: int = 10,
    item_features: sp.spmatrix | np.ndarray | None = None,
    progress: bool | None = None,
) -> EvaluationResult:
    """Split ``data`` by ``protocol``, fit ``model`` on the train part, evaluate on test."""
    split = split_by_protocol(data, protocol, seed=seed)
    t0 = time.perf_counter()
    model.fit(split.train, progress=progress)
    fit_seconds = time.perf_counter() - t0
    result = evaluate(model, split, k=k, item_features=item_features)
    result.info.update(
        model=model.name or type(model).__name__,
        fit_seconds=round(fit_seconds, 4),
        n_users=data.n_users,
        n_items=data.n_items,
        n_interactions=data.n_events,
        seed=seed,
    )
    return result
