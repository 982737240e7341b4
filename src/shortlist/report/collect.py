"""What the evaluation report plots: per-stage top-k lists of evaluated users, turned into curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.core.metrics import ranking_metrics
from shortlist.data.splits import Split
from shortlist.evaluation.runner import recommend_for_split
from shortlist.retrieval.types import Request

__all__ = ["KS", "EvalRun", "collect_run", "gini"]

#: list lengths of the metric-against-k curves (cut at the run's longest list)
KS = (1, 2, 3, 5, 10, 20, 30, 50)


@dataclass
class EvalRun:
    """One evaluated model or pipeline: its per-stage lists on the same users and what they are scored against."""

    name: str
    k: int
    stages: dict[str, np.ndarray]  # stage name -> users x kmax item indices (-1 pads), in pipeline order
    relevant: sp.csr_matrix  # users x items test interactions
    item_popularity: np.ndarray  # training interactions per item
    metrics: dict[str, float] = field(default_factory=dict)  # the headline table (final list)
    calibration: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        return self.stages[list(self.stages)[-1]]

    def per_user(self, stage: str, k: int) -> dict[str, np.ndarray]:
        """Per-user ranking metrics of ``stage`` at ``k``."""
        return ranking_metrics(self.stages[stage], self.relevant, k)

    def metric_at(self, stage: str, metric: str, k: int) -> float:
        return float(np.nanmean(self.per_user(stage, k)[metric]))

    def exposure(self, stage: str) -> np.ndarray:
        """How many evaluated users' top-k lists of ``stage`` hold each item."""
        top = self.stages[stage][:, : self.k]
        return np.bincount(top[top >= 0], minlength=self.item_popularity.size)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of ``counts`` over all items (0: every item equally exposed, 1: one item takes all)."""
    x = np.sort(np.asarray(counts, np.float64))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return 0.0
    return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * total))


class _StageLists:
    """A pipeline as an evaluation model that keeps every stage's top list of each request (one pass per user)."""

    def __init__(self, pipeline: Any, kmax: int) -> None:
        self.pipeline, self.kmax = pipeline, kmax
        self.rows: dict[str, list[np.ndarray]] = {}

    def _run(self, requests: list[Request], k: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.full((len(requests), k), -1, np.int64)
        for r, req in enumerate(requests):
            resp = self.pipeline.recommend(req)
            for stage in resp.trace.stages:
                if stage.kind in ("assemble", "rule", "popular"):
                    continue  # rules and padding show in the final list; features score nothing
                self.rows.setdefault(stage.stage, []).append(stage.top(k)[0])
            self.rows.setdefault("final", []).append(resp.item_indices[:k])
            out[r, : resp.item_indices[:k].size] = resp.item_indices[:k]
        return out, np.zeros_like(out, np.float32)

    def recommend_indices(self, users: np.ndarray, k: int, **_: Any) -> tuple[np.ndarray, np.ndarray]:
        return self._run([Request(user_index=int(u), k=k) for u in users], k)

    def recommend_from_history(self, history: Any, k: int, **_: Any) -> tuple[np.ndarray, np.ndarray]:
        h = sp.csr_matrix(history)
        return self._run([Request(user_index=-1, k=k, history=h.indices[h.indptr[r]:h.indptr[r + 1]].astype(np.int64))
                          for r in range(h.shape[0])], k)

    def matrices(self, k: int) -> dict[str, np.ndarray]:
        """Stage -> users x k matrix (-1 pads)."""
        out = {}
        for name, rows in self.rows.items():
            m = np.full((len(rows), k), -1, np.int64)
            for r, row in enumerate(rows):
                m[r, : row.size] = row[:k]
            out[name] = m
        return out


def collect_run(name: str, model: Any, split: Split, *, k: int = 10, kmax: int = 50, max_users: int | None = 1000,
                seed: int = 0, metrics: dict[str, float] | None = None) -> EvalRun:
    """Top-``kmax`` lists of a fitted model or pipeline (every stage) for a seeded sample of the test users."""
    kmax = max(k, kmax)
    is_pipeline = hasattr(model, "stages_") and hasattr(model, "recommend")
    target = _StageLists(model, kmax) if is_pipeline else model
    users, top = recommend_for_split(target, split, kmax, max_users=max_users, seed=seed)
    stages = target.matrices(kmax) if is_pipeline else {"final": top}
    train = split.train.matrix
    run = EvalRun(name=name, k=k, stages=stages, relevant=split.test.matrix[users],
                  item_popularity=np.bincount(train.indices, minlength=train.shape[1]), metrics=dict(metrics or {}))
    if is_pipeline:
        from shortlist.report.calibration import value_model_calibration

        run.calibration = value_model_calibration(model, users, split)
    return run
