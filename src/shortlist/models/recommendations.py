"""The result type of every model's top-k: :class:`Recommendations` (one row per query, best first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Recommendations"]


@dataclass
class Recommendations:
    """Top-k results: one row per query (user or item), best first.

    ``item_ids`` / ``item_indices`` / ``scores`` have shape (n_queries, k); unfilled slots
    (fewer than k candidates) hold index -1, id ``None`` and score ``-inf``.
    """

    query_ids: np.ndarray
    item_indices: np.ndarray
    item_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.item_indices.shape[0])

    def to_list(self) -> list[dict[str, Any]]:
        """One dict per query: ``{"id", "items": [...], "scores": [...]}`` without empty slots."""
        out = []
        for q, idx, ids, sc in zip(self.query_ids, self.item_indices, self.item_ids, self.scores):
            keep = idx >= 0
            out.append({"id": _py(q), "items": [_py(x) for x in ids[keep]],
                        "scores": [float(s) for s in sc[keep]]})
        return out


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x
