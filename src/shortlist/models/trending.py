"""Trending: popularity in which every event fades with a half-life (recent events count more)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from shortlist.core.parameters import Finite, Positive
from shortlist.data.interactions import Interactions
from shortlist.errors import DataError
from shortlist.models.base import Recommender
from shortlist.models.registry import register

__all__ = ["Trending"]

DAY = 86_400.0


@register("trending")
class Trending(Recommender):
    """Time-decayed popularity, the same list for every user.

    ``score_i = sum over events e of item i: v_e * 0.5 ** ((now - t_e) / half_life)`` with
    ``half_life`` in **seconds** (the unit of timestamps and of the ``time-decay``
    weighting; default one week). ``v_e`` is the event's value (``by="value"``) or 1
    (``by="events"``). ``now`` defaults to the latest training timestamp; events after a
    fixed ``now`` count with weight 1 (no growth). Needs timestamps. ``partial_fit`` decays
    the current scores to the new ``now`` and adds the new events - the same result as a
    refit on all events, without keeping them.
    """

    needs = ("timestamps",)

    def __init__(self, *, half_life: Positive[float] = 7 * DAY, now: Finite[float] | None = None,
                 by: Literal["value", "events"] = "value") -> None:
        self.half_life = half_life
        self.now = now
        self.by = by

    def _contributions(self, data: Interactions, now: float) -> np.ndarray:
        if data.timestamp is None:
            raise DataError(
                "trending needs event timestamps; load the interactions with a time column "
                "(Interactions.from_frame(..., time='ts'), CLI --columns ...,time=COL) or use "
                "the popularity model"
            )
        age = np.maximum(now - data.timestamp.astype(np.float64), 0.0)
        value = data.value.astype(np.float64) if self.by == "value" else 1.0
        return value * np.power(0.5, age / float(self.half_life))

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        if data.timestamp is None or data.timestamp.size == 0:
            self._contributions(data, 0.0)  # raises the DataError
        now = float(data.timestamp.max()) if self.now is None else float(self.now)
        contrib = self._contributions(data, now)
        self.now_: float = now
        self.item_scores_: np.ndarray = np.bincount(
            data.item_index, weights=contrib, minlength=data.n_items).astype(np.float32)

    def partial_fit(self, data: Interactions, *, progress: bool | None = None) -> Trending:
        """Decay the scores to the new ``now`` and add the events of ``data`` (needs timestamps).

        New users and items are appended to the vocabularies; the result equals a refit on
        the old and new events together.
        """
        self._check_fitted()
        self._contributions(data, self.now_)  # fail before touching any state
        users = self.users_.extend(data.users.ids)
        items = self.items_.extend(data.items.ids)
        u_idx = users.index(data.users.lookup(data.user_index))
        i_idx = items.index(data.items.lookup(data.item_index))
        now = max(self.now_, float(data.timestamp.max())) if self.now is None else float(self.now)
        scores = np.zeros(len(items), np.float64)
        scores[: self.item_scores_.shape[0]] = self.item_scores_
        scores *= 0.5 ** ((now - self.now_) / float(self.half_life))
        scores += np.bincount(i_idx, weights=self._contributions(data, now), minlength=len(items))
        new = Interactions(users, items, u_idx, i_idx, data.value, weighting=data.weighting,
                           validate=False).matrix
        old = sp.csr_matrix((self.train_.data, self.train_.indices, self.train_.indptr),
                            shape=self.train_.shape)
        old.resize(new.shape)
        self.users_, self.items_, self.train_ = users, items, (old + new).tocsr()
        self.train_.sort_indices()
        self.now_ = now
        self.item_scores_ = scores.astype(np.float32)
        return self

    # -- scoring -----------------------------------------------------------------------
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        s = self.item_scores_ if item_idx is None else self.item_scores_[item_idx]
        return np.broadcast_to(s, (len(user_idx), s.shape[0]))

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (history.shape[0], self.item_scores_.shape[0]))

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_, "now": np.asarray([self.now_], np.float64)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = np.asarray(arrays["item_scores"], np.float32)
        self.now_ = float(arrays["now"][0])
