"""Candidate sources: each proposes up to ``quota`` items for a request; ``merge_candidates`` unites them."""

from shortlist.retrieval.sources.base import CandidateSource, SourceConfig, SourceContext
from shortlist.retrieval.sources.collaborative import ItemToItemSource, SimilarUsersSource
from shortlist.retrieval.sources.content import ContentSource, item_tokens, tfidf
from shortlist.retrieval.sources.embedding import EmbeddingSource
from shortlist.retrieval.sources.merge import merge_candidates
from shortlist.retrieval.sources.model import ModelSource
from shortlist.retrieval.sources.popular import PopularSource, TrendingSource
from shortlist.retrieval.sources.registry import SOURCES, build_source, source_config
from shortlist.retrieval.sources.rules import RuleSource
from shortlist.retrieval.sources.social import SocialSource

__all__ = [
    "SOURCES",
    "CandidateSource",
    "ContentSource",
    "EmbeddingSource",
    "ItemToItemSource",
    "ModelSource",
    "PopularSource",
    "RuleSource",
    "SimilarUsersSource",
    "SocialSource",
    "SourceConfig",
    "SourceContext",
    "TrendingSource",
    "build_source",
    "item_tokens",
    "merge_candidates",
    "source_config",
    "tfidf",
]
