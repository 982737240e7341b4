"""Glue between the spec and the component registries (sources, merge, rules)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.dataset import Dataset
from shortlist.errors import ConfigError
from shortlist.models.base import Recommender
from shortlist.pipeline.spec import PipelineSpec
from shortlist.retrieval.types import Candidates, Request

__all__ = ["build_sources", "run_sources", "merge", "build_rules", "ModelSource"]


class ModelSource:
    """Top-``quota`` items of any fitted Recommender (known users) or its history scoring (anonymous)."""

    def __init__(self, name: str, model: Recommender, quota: int) -> None:
        self.name, self.model, self.quota = name, model, quota

    def __call__(self, request: Request, k: int, exclude: np.ndarray) -> Candidates:
        n_items = len(self.model.items_)
        ex = sp.csr_matrix((np.ones(exclude.size, np.float32), (np.zeros(exclude.size, np.int64), exclude)),
                           shape=(1, n_items))
        if request.known_user and request.user_index < len(self.model.users_):
            idx, sc = self.model.recommend_indices(np.array([request.user_index]), k, exclude_seen=False, exclude=ex)
        else:
            h = np.asarray(request.history, np.int64)
            if h.size == 0:
                return Candidates.empty()
            hist = sp.csr_matrix((np.ones(h.size, np.float32), (np.zeros(h.size, np.int64), h)), shape=(1, n_items))
            idx, sc = self.model.recommend_from_history(hist, k, exclude_seen=True)
        keep = idx[0] >= 0
        return Candidates(idx[0][keep], sc[0][keep])


def build_sources(spec: PipelineSpec, dataset: Dataset, models: dict[str, Recommender]) -> list[Any]:
    """Instantiate every declared source, in order."""
    out = []
    for i, s in enumerate(spec.sources):
        if s.kind == "model":
            if s.model is None:
                raise ConfigError(f"sources[{i}] kind 'model' needs model = one of {sorted(models)}")
            out.append(ModelSource(s.name, models[s.model], s.quota))
        else:
            raise ConfigError(f"sources[{i}].kind = {s.kind!r} is unknown; available: model")
    return out


def run_sources(sources: list[Any], request: Request, exclude: np.ndarray) -> list[Candidates]:
    """Each source's candidates (seen/excluded items never proposed)."""
    return [src(request, src.quota, exclude) for src in sources]


def merge(spec: PipelineSpec, results: list[Candidates]) -> Candidates:
    """Dedupe across sources; score = weighted reciprocal-rank fusion; keep per-source scores and ranks."""
    names = [s.name for s in spec.sources]
    weights = np.asarray([s.weight for s in spec.sources], np.float32)
    non_empty = [r.items for r in results if len(r)]
    if not non_empty:
        return Candidates.empty()
    items = np.unique(np.concatenate(non_empty))
    fused = np.zeros(items.size, np.float32)
    src_scores, src_ranks = {}, {}
    for name, w, r in zip(names, weights, results):
        sc = np.full(items.size, np.nan, np.float32)
        rk = np.full(items.size, -1, np.int64)
        if len(r):
            pos = np.searchsorted(items, r.items)
            sc[pos] = r.scores
            rk[pos] = np.arange(len(r))
            fused[pos] += w / (60.0 + np.arange(len(r), dtype=np.float32))
        src_scores[name], src_ranks[name] = sc, rk
    return Candidates(items, fused, src_scores, src_ranks)


def build_rules(spec: PipelineSpec, dataset: Dataset) -> list[Any]:
    """Instantiate the declared rules over item attributes read from the dataset's features."""
    if not spec.rules:
        return []
    from shortlist.rules import ItemAttributes, build_rule

    items = dataset.interactions.items
    if dataset.item_features is not None and spec.attributes:
        attributes = ItemAttributes.from_features(dataset.item_features, spec.attributes,
                                                  users=dataset.user_features, seen=dataset.interactions)
    else:
        if spec.attributes:
            raise ConfigError("[attributes] maps item feature columns, but the dataset has no item features")
        attributes = ItemAttributes(len(items), vocab=items, seen=dataset.interactions)
    rules = []
    for i, rs in enumerate(spec.rules):
        try:
            rules.append(build_rule(rs.kind, rs.model_dump(), attributes))
        except ConfigError as exc:
            raise ConfigError(f"rules[{i}] ({rs.kind}): {exc}") from None
    return rules
