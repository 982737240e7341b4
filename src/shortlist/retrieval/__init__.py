"""Candidate generation: request/candidate types, ANN index, candidate sources."""

from shortlist.retrieval.types import Candidates, Drop, Request

__all__ = ["Candidates", "Drop", "Request"]
