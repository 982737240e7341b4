"""Offline evaluation of a whole pipeline, stage by stage, with the same protocols as models."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.dataset import Dataset
from shortlist.data.splits import split_by_protocol
from shortlist.evaluation.runner import EvaluationResult, evaluate
from shortlist.pipeline.pipeline import UPTO, Pipeline
from shortlist.retrieval.types import Request

__all__ = ["evaluate_pipeline"]


class _StagedLists:
    """One pipeline pass per evaluated user; the top-k after candidates, ranking and rules all kept.

    Evaluating each part with its own pass would run the whole request path three times; the
    trace of one pass already holds the merged candidates and each stage's output.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._cache: dict[tuple[Any, ...], dict[str, tuple[np.ndarray, np.ndarray]]] = {}

    def lists(self, requests: list[Request], key: tuple[Any, ...], k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if key not in self._cache:
            out = {u: (np.full((len(requests), k), -1, np.int64), np.full((len(requests), k), -np.inf, np.float32))
                   for u in UPTO}
            for r, req in enumerate(requests):
                resp = self.pipeline.recommend(req)
                for upto, (items, scores) in _stage_tops(resp, k).items():
                    out[upto][0][r, : items.size] = items
                    out[upto][1][r, : items.size] = scores
            self._cache = {key: out}  # one protocol at a time: keep only the latest
        return self._cache[key]


def _stage_tops(resp: Any, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Top-k items and scores after the candidates, after the last ranking stage, and final."""
    stages = resp.trace.stages
    cand = stages[0].top(k)
    ranked = [s for s in stages[1:] if s.kind not in ("assemble", "rule")]
    rank = ranked[-1].top(k) if ranked else cand
    return {"candidates": cand, "ranking": rank, "rules": (resp.item_indices[:k], resp.scores[:k])}


class _Truncated:
    """The pipeline seen up to one point (candidates / + ranking / + rules), as a model."""

    def __init__(self, staged: _StagedLists, upto: str) -> None:
        self.staged, self.upto = staged, upto

    def recommend_indices(self, users: np.ndarray, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        users = np.asarray(users)
        requests = [Request(user_index=int(u), k=k) for u in users]
        return self.staged.lists(requests, ("users", users.tobytes(), k), k)[self.upto]

    def recommend_from_history(self, history: Any, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        history = sp.csr_matrix(history)
        requests = [Request(user_index=-1, k=k, history=history.indices[history.indptr[r]:history.indptr[r + 1]]
                            .astype(np.int64)) for r in range(history.shape[0])]
        key = ("history", history.indptr.tobytes(), history.indices.tobytes(), k)
        return self.staged.lists(requests, key, k)[self.upto]


def evaluate_pipeline(
    pipeline: Pipeline,
    dataset: Dataset,
    protocol: str = "random-holdout:0.25",
    *,
    seed: int = 42,
    k: int = 10,
    stages: tuple[str, ...] = UPTO,
    progress: bool | None = None,
    max_users: int | None = None,
    budget: float | str | None = 0.0,
    log: Callable[[str], None] | None = None,
) -> dict[str, EvaluationResult]:
    """Fit ``pipeline`` on the protocol's training part and score it after each of ``stages``.

    Returns ``{"candidates": ..., "ranking": ..., "rules": ...}`` so the contribution of
    each part is visible (candidates only = merged source order). ``max_users`` scores a
    seeded sample of the test users (the same sample for every stage).

    ``budget`` (seconds) tunes the pipeline first on validation folds of the training part
    only (:func:`~shortlist.pipeline.tuning.fit_tuned`); None follows the spec's ``[tuning]``
    section, 0 (the default) fits the spec as declared. The test part is never shown to it.
    """
    from shortlist.pipeline.tuning import fit_tuned

    split = split_by_protocol(dataset.interactions, protocol, seed=seed)
    t0 = time.perf_counter()
    fit_tuned(pipeline, dataset.with_interactions(split.train), budget=budget, progress=progress, log=log)
    fit_seconds = time.perf_counter() - t0
    item_features = None
    if dataset.item_features is not None:
        cat = [n for n, kind in dataset.item_features.kinds.items() if kind in ("categorical", "multi")][:1]
        item_features = dataset.item_features.matrix(cat) if cat else None
    out = {}
    staged = _StagedLists(pipeline)
    for upto in stages:
        res = evaluate(_Truncated(staged, upto), split, k=k, item_features=item_features,
                       max_users=max_users)
        if pipeline.omitted_:
            res.info["left_out"] = [o.line() for o in pipeline.omitted_]
        if getattr(pipeline, "tuning_", None) is not None:
            res.info["tuning"] = pipeline.tuning_.summary()
        res.info.update(model=f"pipeline:{pipeline.spec.name}", upto=upto, fit_seconds=round(fit_seconds, 3),
                        n_users=dataset.interactions.n_users, n_items=dataset.interactions.n_items,
                        n_interactions=dataset.interactions.n_events, seed=seed)
        out[upto] = res
    return out
