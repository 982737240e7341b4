"""Time lift: how much more an item is used in the periods this user was active than overall."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from shortlist.core.parameters import Positive
from shortlist.data.interactions import Interactions
from shortlist.models.period_popularity import PeriodPopularity
from shortlist.models.registry import register

__all__ = ["TimeLift"]


@register("time-lift")
class TimeLift(PeriodPopularity):
    """How much more an item is used in the periods the user was active than at any time (a log-ratio).

    ``lift(u, i) = log((S_u,i + a) / (mean_b S[b, i] + a))``. ``S_u,i = sum_b h_u[b] S[b, i]`` is
    :class:`PeriodPopularity`'s score (the item's smoothed count in the periods the user was
    active); dividing by the item's mean over all periods removes its popularity and keeps
    only *when* it was used. An item released after a user
    left, or one whose moment passed before the user came, gets a large negative lift; items
    of the user's own periods a positive one. ``a = prior`` times the mean count of an item in
    a period shrinks the lift of rarely seen items toward 0.

    On its own it ranks poorly (it ignores what the user likes); it is a term for a blend,
    where it adds to a collaborative score what those models see only indirectly. Its scores
    are log-ratios on one scale for every user, so a blend weighs them as they are
    (``blend_feature = "raw"``) instead of standardizing them per request. Needs timestamps.
    """

    needs = ("timestamps",)
    blend_feature: ClassVar[str] = "raw"

    def __init__(self, *, bins: Positive[int] = 64, bandwidth: Positive[float] = 1.0,
                 prior: Positive[float] = 1.0) -> None:
        super().__init__(bins=bins, bandwidth=bandwidth)
        self.prior = prior

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        super()._fit(data, progress=progress)
        self._set_baseline()

    def _set_baseline(self) -> None:
        # one shrinkage for every item, in the data's own unit of a period's count
        self.shrink_ = float(self.prior) * max(float(self.smoothed_.mean()), 1e-12)
        self.baseline_ = np.log(self.smoothed_.mean(axis=0) + self.shrink_).astype(np.float32)

    def _lift(self, scores: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        base = self.baseline_ if item_idx is None else self.baseline_[item_idx]
        return (np.log(scores + self.shrink_) - base).astype(np.float32)

    # -- scoring -----------------------------------------------------------------------
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        return self._lift(super()._score_block(user_idx, item_idx), item_idx)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return self._lift(super()._score_history(history), None)

    # -- persistence -------------------------------------------------------------------
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self._set_baseline()
