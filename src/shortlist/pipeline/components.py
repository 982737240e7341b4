"""Glue between the spec and the component registries (sources, merge, rules)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shortlist.data.dataset import Dataset
from shortlist.errors import ConfigError
from shortlist.models.base import Recommender
from shortlist.pipeline.spec import PipelineSpec
from shortlist.retrieval.sources import SourceContext, build_source, merge_candidates
from shortlist.retrieval.sources.store import SourceStore
from shortlist.retrieval.types import Candidates, Exclusions, Request

__all__ = ["Exclusions", "build_sources", "run_sources", "merge", "build_rules"]


def build_sources(spec: PipelineSpec, dataset: Dataset, models: dict[str, Recommender],
                  store: SourceStore | None = None) -> list[Any]:
    """Instantiate and fit every declared source, in order (expensive parts through ``store``)."""
    context = SourceContext.from_dataset(dataset, models, store=store)
    out = []
    for i, s in enumerate(spec.sources):
        config = s.model_dump(exclude={"kind", "weight", "required"}, exclude_unset=True)
        try:
            out.append(build_source(s.kind, config, context))
        except ConfigError as exc:
            raise ConfigError(f"sources[{i}] ({s.name}): {exc}") from None
    return out


def run_sources(sources: list[Any], request: Request, exclusions: Exclusions | None = None) -> list[Candidates]:
    """Each source's candidates, ``source(request, candidates)``, without what the request excludes.

    The exclusion sets are computed once per request and travel on it (``request.exclusions``):
    every source uses one of them as is, instead of rebuilding its own copy.
    """
    if exclusions is not None:
        request = replace(request, exclusions=exclusions)
    empty = Candidates.empty()
    return [src(request, empty) for src in sources]


def merge(spec: PipelineSpec, results: list[Candidates]) -> Candidates:
    """Dedupe across sources with weighted reciprocal-rank fusion, keeping provenance."""
    return merge_candidates(results, {s.name: s.weight for s in spec.sources})


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
            rules.append(build_rule(rs.kind, rs.model_dump(exclude={"required"}), attributes))
        except ConfigError as exc:
            raise ConfigError(f"rules[{i}] ({rs.kind}): {exc}") from None
    return rules
