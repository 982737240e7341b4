"""Source kinds by name, and ``build_source`` for pipeline specs.

A pipeline spec declares, e.g. ::

    [[sources]]
    kind = "embedding"
    quota = 500
    model = "als"
    index = "hnsw"
    index_params = { M = 32, ef_search = 256 }

and the pipeline calls ``build_source("embedding", {"quota": 500, "model": "als", ...}, context)``:
the dict is validated by the kind's pydantic ``Config`` (unknown keys and bad values raise
:class:`~shortlist.errors.ConfigError` naming the key, the value and the fix), the source is
constructed with the validated values and fitted on ``context``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from shortlist.errors import ConfigError
from shortlist.retrieval.sources.base import CandidateSource, SourceContext, config_error
from shortlist.retrieval.sources.collaborative import ItemToItemSource, SimilarUsersSource
from shortlist.retrieval.sources.content import ContentSource
from shortlist.retrieval.sources.embedding import EmbeddingSource
from shortlist.retrieval.sources.model import ModelSource
from shortlist.retrieval.sources.popular import PopularSource, TrendingSource
from shortlist.retrieval.sources.rules import RuleSource
from shortlist.retrieval.sources.social import SocialSource

__all__ = ["SOURCES", "build_source", "source_config"]

SOURCES: dict[str, type[CandidateSource]] = {
    cls.kind: cls
    for cls in (EmbeddingSource, ModelSource, ItemToItemSource, SimilarUsersSource, PopularSource,
                TrendingSource, ContentSource, SocialSource, RuleSource)
}


def _source_class(kind: str) -> type[CandidateSource]:
    if kind not in SOURCES:
        raise ConfigError(f"unknown source kind {kind!r}; choose one of: {', '.join(sorted(SOURCES))}")
    return SOURCES[kind]


def source_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Validated parameters for a source of ``kind`` (defaults filled in)."""
    cls = _source_class(kind)
    try:
        cfg = cls.Config(**dict(config))
    except pydantic.ValidationError as exc:
        raise config_error(kind, exc, cls.Config, dict(config)) from None
    return cfg.model_dump()


def build_source(kind: str, config: Mapping[str, Any], context: SourceContext | None = None) -> CandidateSource:
    """A source of ``kind`` built from ``config`` (``kind`` itself may appear in it), fitted on ``context``."""
    config = {k: v for k, v in dict(config).items() if k != "kind"}
    params = source_config(kind, config)
    source = _source_class(kind)(**params)
    return source if context is None else source.fit(context)
