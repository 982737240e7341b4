"""Period popularity: the items popular at the times this user was active."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.core.parameters import Positive
from shortlist.data.interactions import Interactions
from shortlist.errors import DataError
from shortlist.models.base import Recommender
from shortlist.models.registry import register

__all__ = ["PeriodPopularity", "time_bins"]


def time_bins(timestamps: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin edges at quantiles of ``timestamps``: each bin holds about the same number of events.

    Quantile bins make the kernel's width a share of the events rather than a span of
    seconds, so one default fits a log of an hour and a log of ten years. Repeated edges
    (many events at one instant) collapse, so there may be fewer than ``n_bins`` bins.
    """
    edges = np.unique(np.quantile(timestamps.astype(np.float64), np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    return edges


@register("period-popularity")
class PeriodPopularity(Recommender):
    """Popularity in the periods the user was active, smoothed over neighbouring periods.

    The event times are cut into ``bins`` periods holding equal numbers of events.
    ``H[b, i]`` counts item ``i``'s events in period ``b``; a Gaussian kernel of width
    ``bandwidth`` periods smooths it over neighbouring periods into ``S``. A user's score for
    item ``i`` is ``sum_b h_u[b] S[b, i]`` where ``h_u`` is the share of the user's own
    events in period ``b``. Catalogs whose popularity moves over time (new releases, seasons,
    trends) rank differently for a user active in 1997 than for one active in 2005; plain
    popularity cannot tell them apart, and collaborative models see it only indirectly.
    Users known only by a history (no times) get the periods of their items' events.
    Needs timestamps.
    """

    needs = ("timestamps",)

    def __init__(self, *, bins: Positive[int] = 64, bandwidth: Positive[float] = 1.0) -> None:
        self.bins = bins
        self.bandwidth = bandwidth

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        if data.timestamp is None or data.timestamp.size == 0:
            raise DataError(f"{self.name} needs event timestamps; load the interactions with a time "
                            "column (CLI --columns ...,time=COL) or use the popularity model")
        edges = time_bins(data.timestamp, self.bins)
        period = np.searchsorted(edges, data.timestamp.astype(np.float64), side="right")
        n_periods = len(edges) + 1
        # one count per (user, item, period): repeated rows of a cell add confidence elsewhere,
        # here they would let one heavy user make an item "popular" in a period
        n_users, n_items = data.n_users, data.n_items
        key = (data.user_index.astype(np.int64) * n_items + data.item_index) * n_periods + period
        key = np.unique(key)
        per = key % n_periods
        cell = key // n_periods
        item = cell % n_items
        user = cell // n_items
        counts = sp.csr_matrix((np.ones(len(key), np.float32), (per, item)), shape=(n_periods, n_items))
        h = sp.csr_matrix((np.ones(len(key), np.float32), (user, per)), shape=(n_users, n_periods)).toarray()
        h /= np.maximum(h.sum(axis=1, keepdims=True), 1.0)
        dense = counts.toarray()
        self.edges_ = edges
        self.smoothed_ = (self._kernel(n_periods) @ dense).astype(np.float32)
        self.user_periods_ = h.astype(np.float32)
        # an item's share of its events per period: the periods of a history's items
        self.item_periods_ = (dense / np.maximum(dense.sum(axis=0, keepdims=True), 1.0)).T.astype(np.float32)

    def _kernel(self, n_periods: int) -> np.ndarray:
        """Gaussian smoothing over period distance, each row summing to one."""
        d = np.arange(n_periods, dtype=np.float64)
        k = np.exp(-0.5 * ((d[:, None] - d[None, :]) / float(self.bandwidth)) ** 2)
        return k / k.sum(axis=1, keepdims=True)

    # -- scoring -----------------------------------------------------------------------
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        s = self.smoothed_ if item_idx is None else self.smoothed_[:, item_idx]
        return self.user_periods_[user_idx] @ s

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        h = sp.csr_matrix(history, dtype=np.float32)
        h.data[:] = 1.0
        periods = np.asarray(h @ self.item_periods_)
        periods /= np.maximum(periods.sum(axis=1, keepdims=True), 1e-12)
        return periods @ self.smoothed_

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {"edges": self.edges_, "smoothed": self.smoothed_, "user_periods": self.user_periods_,
                "item_periods": self.item_periods_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.edges_ = np.asarray(arrays["edges"], np.float64)
        self.smoothed_ = np.asarray(arrays["smoothed"], np.float32)
        self.user_periods_ = np.asarray(arrays["user_periods"], np.float32)
        self.item_periods_ = np.asarray(arrays["item_periods"], np.float32)
