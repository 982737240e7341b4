"""Popularity: recommend the items with the most users (the baseline every model must beat)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from shortlist.data.interactions import Interactions
from shortlist.models.base import Recommender
from shortlist.models.registry import register

__all__ = ["Popularity"]


@register("popularity")
class Popularity(Recommender):
    """Score every item by its popularity in the training data, the same for all users.

    ``by="users"`` counts distinct users per item; ``by="weight"`` sums cell weights.
    """

    def __init__(self, *, by: Literal["users", "weight"] = "users") -> None:
        self.by = by

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        m = self.train_
        if self.by == "users":
            counts = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float32)
        else:
            counts = np.bincount(m.indices, weights=m.data, minlength=m.shape[1]).astype(np.float32)
        self.item_scores_ = counts

    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        s = self.item_scores_ if item_idx is None else self.item_scores_[item_idx]
        return np.broadcast_to(s, (len(user_idx), s.shape[0]))

    def _score_history(self, history):
        return np.broadcast_to(self.item_scores_, (history.shape[0], self.item_scores_.shape[0]))

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = arrays["item_scores"]
