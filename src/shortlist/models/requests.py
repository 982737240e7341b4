"""The one way a request reaches a model: its user row and its history, as the model sees them.

Candidate sources, ranking features and model stages all score a request through
:meth:`shortlist.models.Recommender.score_request`; the history it folds in is built here,
once, the same way for all of them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

__all__ = ["ScoredRequest", "request_history", "history_matrix"]


class ScoredRequest(Protocol):
    """What a model reads from a request (``shortlist.retrieval.Request`` has it)."""

    user_index: int
    history: Any


def request_history(request: ScoredRequest, seen: sp.csr_matrix | None) -> np.ndarray:
    """Sorted distinct item indices: a known user's row of ``seen`` plus ``request.history``."""
    parts = [np.asarray(request.history, np.int64).ravel()]
    u = int(request.user_index)
    if seen is not None and 0 <= u < seen.shape[0]:
        parts.append(seen.indices[seen.indptr[u]:seen.indptr[u + 1]].astype(np.int64))
    return np.unique(np.concatenate(parts))


def history_matrix(items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """One history row (1 x ``n_items``) with weight 1 on each of ``items`` (sorted, distinct)."""
    items = np.asarray(items, np.int64)
    return sp.csr_matrix((np.ones(items.size, np.float32), items, [0, items.size]), shape=(1, n_items))
