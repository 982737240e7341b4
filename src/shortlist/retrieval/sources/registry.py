"""Source kinds by name, and ``build_source`` for pipeline specs.

A pipeline spec declares, e.g. ::

    [[sources]]
    kind = "embedding"
    quota = 500
    model = "als"
    index = "hnsw"
    index_params = { M = 32, ef_search = 256 }

and the pipeline calls ``build_source("embedding", {"quota": 500, "model": "als", ...}, context)``:
the kind is looked up in :data:`SOURCES` (the one :class:`~shortlist.core.registry.Registry`
mechanism), the dict is validated by the kind's pydantic ``Config`` (unknown keys and bad values raise
:class:`~shortlist.errors.ConfigError` naming the key, the value and the fix), the source is
constructed with the validated values and fitted on ``context``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# importing the source modules registers their kinds in SOURCES
from shortlist.retrieval.sources import (  # noqa: F401
    collaborative,
    content,
    embedding,
    model,
    popular,
    rules,
    social,
)
from shortlist.retrieval.sources.base import SOURCES, CandidateSource, SourceContext

__all__ = ["SOURCES", "build_source", "source_config"]


def source_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Validated parameters for a source of ``kind`` (defaults filled in)."""
    return SOURCES.get_class(kind).validate_params(dict(config))


def build_source(kind: str, config: Mapping[str, Any], context: SourceContext | None = None) -> CandidateSource:
    """A source of ``kind`` built from ``config`` (``kind`` itself may appear in it), fitted on ``context``."""
    config = {k: v for k, v in dict(config).items() if k != "kind"}
    source = SOURCES.get_class(kind)(**config)
    return source if context is None else source.fit(context)
