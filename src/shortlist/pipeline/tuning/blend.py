"""Validation rows of a pipeline's candidates, and the searches that run on them.

The candidates and features of every validation user are computed once (the serving path up
to the first ranking stage, with models fitted on the validation fold's training part);
every blend-weight trial and every final-stage candidate is then scored on these arrays in
milliseconds, with the evaluator's own metric (``ranking_metrics``: held-out items that no
source proposed still count in the ideal DCG, as in the final evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.core.metrics import ranking_metrics
from shortlist.pipeline.stages import PREVIOUS, standardise

__all__ = ["ValidationRows", "build_rows", "concat_rows", "search_blend", "stacked_inputs"]


@dataclass
class ValidationRows:
    """Candidates (padded with -1) and their features (padded with NaN) for validation users."""

    users: np.ndarray
    items: np.ndarray  # (U, C) item indices, -1 = padding
    x: np.ndarray  # (U, C, F) float32 features
    names: list[str]
    relevant: sp.csr_matrix  # (U, n_items) held-out items of each user

    def __len__(self) -> int:
        return int(self.users.size)

    def subset(self, rows: np.ndarray) -> "ValidationRows":
        return ValidationRows(self.users[rows], self.items[rows], self.x[rows], self.names, self.relevant[rows])

    def column(self, name: str) -> np.ndarray:
        """Feature ``name`` as a (U, C) array (NaN -> 0: a missing z-score sits at the mean)."""
        return np.nan_to_num(self.x[:, :, self.names.index(name)], nan=0.0)

    def labels(self) -> np.ndarray:
        """(U, C) bool: the candidate is a held-out item of its user."""
        out = np.zeros(self.items.shape, bool)
        rel = self.relevant
        for r in range(len(self)):
            out[r] = np.isin(self.items[r], rel.indices[rel.indptr[r]:rel.indptr[r + 1]])
        return out & (self.items >= 0)

    def top(self, scores: np.ndarray, k: int) -> np.ndarray:
        """(U, k) item indices of the ``k`` best-scored candidates per user (-1 where fewer)."""
        s = np.where(self.items >= 0, scores, -np.inf)
        k_eff = min(k, s.shape[1])
        # order by score, ties by lower item index (as the pipeline's best-first cut)
        order = np.lexsort((self.items, -s), axis=1)[:, :k_eff]
        top = np.take_along_axis(self.items, order, axis=1)
        top = np.where(np.take_along_axis(s, order, axis=1) > -np.inf, top, -1)
        if k_eff < k:
            top = np.hstack([top, np.full((len(self), k - k_eff), -1, top.dtype)])
        return top

    def metric(self, scores: np.ndarray, k: int, metric: str = "ndcg") -> float:
        """Mean ``metric``@k of the lists that ``scores`` rank."""
        if len(self) == 0:
            return 0.0
        return float(np.nanmean(ranking_metrics(self.top(scores, k), self.relevant, k)[metric]))


def build_rows(pipeline: Any, parts: dict[str, Any], users: np.ndarray, relevant: sp.csr_matrix,
               progress: Any = None) -> ValidationRows:
    """Candidates and features of ``users`` (known users of ``parts``), padded into arrays."""
    items, feats = [], []
    for u in users:
        cands, x = pipeline.candidate_features(parts, int(u))
        items.append(np.asarray(cands.items, np.int64))
        feats.append(x)
        if progress is not None:
            progress()
    names = parts["assembler"].feature_names
    width = max((len(i) for i in items), default=0)
    it = np.full((len(items), width), -1, np.int64)
    xx = np.full((len(items), width, len(names)), np.nan, np.float32)
    for r, (i, x) in enumerate(zip(items, feats)):
        it[r, : len(i)] = i
        if len(i):
            xx[r, : len(i)] = x
    return ValidationRows(np.asarray(users, np.int64), it, xx, names, sp.csr_matrix(relevant))


def concat_rows(parts: list[ValidationRows]) -> ValidationRows:
    """Rows of several validation folds as one set (candidate lists padded to the widest)."""
    if len(parts) == 1:
        return parts[0]
    width = max(p.items.shape[1] for p in parts)
    items = np.concatenate([np.pad(p.items, ((0, 0), (0, width - p.items.shape[1])), constant_values=-1)
                            for p in parts])
    x = np.concatenate([np.pad(p.x, ((0, 0), (0, width - p.x.shape[1]), (0, 0)), constant_values=np.nan)
                        for p in parts])
    return ValidationRows(np.concatenate([p.users for p in parts]), items, x, parts[0].names,
                          sp.vstack([p.relevant for p in parts]).tocsr())


def search_blend(rows: ValidationRows, features: list[str], *, k: int, metric: str, n_trials: int,
                 seed: int, starts: list[dict[str, float]] = ()) -> tuple[dict[str, float], float, list[dict]]:
    """Blend weights in [0, 1] over ``features`` with the best validation metric (Optuna TPE).

    ``starts`` are tried first (each single feature alone is always among them, so the blend
    can only match or beat the best single scorer on these rows). Returns (weights, score,
    trials).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cols = np.stack([rows.column(f) for f in features], axis=-1) if features else np.zeros((len(rows), 0, 0))
    trials: list[dict] = []

    def score(w: dict[str, float]) -> float:
        vec = np.array([w.get(f, 0.0) for f in features])
        return rows.metric(cols @ vec, k, metric)

    def objective(trial: Any) -> float:
        w = {f: trial.suggest_float(f, 0.0, 1.0) for f in features}
        s = score(w)
        trials.append({"weights": {f: round(v, 4) for f, v in w.items()}, "score": s})
        return s

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    singles = [{f: (1.0 if f == g else 0.0) for f in features} for g in features]
    for start in [*singles, *starts]:
        study.enqueue_trial({f: float(min(1.0, max(0.0, start.get(f, 0.0)))) for f in features})
    study.optimize(objective, n_trials=max(n_trials, len(singles) + len(starts)))
    best = {f: round(float(study.best_params[f]), 4) for f in features}
    return best, float(study.best_value), trials


def stacked_inputs(rows: ValidationRows, blend: np.ndarray, budget: int) -> ValidationRows:
    """The ``budget`` best candidates by ``blend`` per user, with the blend as stage input.

    The cut rows' features are a stacked stage's inputs: the features plus the blend score
    z-scored within each request over the kept candidates (as ``Stage.inputs`` does).
    """
    s = np.where(rows.items >= 0, blend, -np.inf)
    width = min(budget, s.shape[1])
    order = np.lexsort((rows.items, -s), axis=1)[:, :width]
    items = np.take_along_axis(rows.items, order, axis=1)
    kept_scores = np.take_along_axis(s, order, axis=1)
    items = np.where(kept_scores > -np.inf, items, -1)
    x = np.take_along_axis(rows.x, order[:, :, None], axis=1)
    prev = np.full(items.shape, np.nan, np.float32)
    for r in range(items.shape[0]):
        ok = items[r] >= 0
        prev[r, ok] = standardise(kept_scores[r, ok])
    inputs = np.concatenate([x, prev[:, :, None]], axis=2)
    return ValidationRows(rows.users, items, inputs, [*rows.names, PREVIOUS], rows.relevant)
