"""Offline evaluation of a whole pipeline, stage by stage, with the same protocols as models."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shortlist.data.dataset import Dataset
from shortlist.data.splits import split_by_protocol
from shortlist.evaluation.runner import EvaluationResult, evaluate
from shortlist.pipeline.pipeline import UPTO, Pipeline, _with_interactions

__all__ = ["evaluate_pipeline"]


class _Truncated:
    """The pipeline seen up to one point (candidates / + ranking / + rules), as a model."""

    def __init__(self, pipeline: Pipeline, upto: str) -> None:
        self.pipeline, self.upto = pipeline, upto

    def recommend_indices(self, users: np.ndarray, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.pipeline.recommend_indices(users, k, upto=self.upto)

    def recommend_from_history(self, history: Any, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.pipeline.recommend_from_history(history, k, upto=self.upto)


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
    fit_tuned(pipeline, _with_interactions(dataset, split.train), budget=budget, progress=progress, log=log)
    fit_seconds = time.perf_counter() - t0
    item_features = None
    if dataset.item_features is not None:
        cat = [n for n, kind in dataset.item_features.kinds.items() if kind in ("categorical", "multi")][:1]
        item_features = dataset.item_features.matrix(cat) if cat else None
    out = {}
    for upto in stages:
        res = evaluate(_Truncated(pipeline, upto), split, k=k, item_features=item_features,
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
