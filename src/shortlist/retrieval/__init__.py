"""Candidate generation: request/candidate types, ANN index, candidate sources and merge."""

from shortlist.retrieval.ann import ANNIndex
from shortlist.retrieval.sources import (
    SOURCES,
    CandidateSource,
    SourceContext,
    build_source,
    merge_candidates,
)
from shortlist.retrieval.types import Candidates, Drop, Request

__all__ = [
    "ANNIndex",
    "SOURCES",
    "CandidateSource",
    "Candidates",
    "Drop",
    "Request",
    "SourceContext",
    "build_source",
    "merge_candidates",
]
