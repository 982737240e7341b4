"""SocialSource: recent items of the people a user follows or befriends."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pydantic
import scipy.sparse as sp

from shortlist.data.facts import Need
from shortlist.errors import ConfigError
from shortlist.retrieval.sources.base import (
    SOURCES,
    CandidateSource,
    RecentItems,
    SourceConfig,
    SourceContext,
    aggregate,
    gather_rows,
    unique_sorted,
)
from shortlist.retrieval.types import Request

__all__ = ["SocialConfig", "SocialSource"]


class SocialConfig(SourceConfig):
    """Parameters of :class:`SocialSource`."""

    per_friend: int = pydantic.Field(default=50, gt=0)
    by: Literal["count", "recency"] = "count"
    recency_decay: float = pydantic.Field(default=0.95, gt=0, le=1)


@SOURCES.register("social")
class SocialSource(CandidateSource):
    """Items of the user's friends: ``score_i = sum_f w_f,i`` over friends ``f`` who have item ``i``.

    Friends are the columns of row ``u`` of ``context.social`` (users x users, row follows
    column), or ``request.context["friends"]`` (user indices) for anonymous requests. Each
    friend contributes their ``per_friend`` newest items; ``w = 1`` (``by="count"``: the
    number of friends who have the item) or ``w = recency_decay^p`` with ``p`` the item's
    position in the friend's newest-first list (``by="recency"``).
    """

    Config = SocialConfig

    @classmethod
    def needs(cls, config: dict[str, Any]) -> list[Need]:
        """A users x users social graph."""
        return [Need("social")]

    def _fit(self, context: SourceContext) -> None:
        g = context.social
        if g is None:
            raise ConfigError(f"source {self.source_name!r} needs a social graph (context.social, users x users)")
        if g.shape != (self.n_users_, self.n_users_):
            raise ConfigError(f"source {self.source_name!r}: the social graph is {g.shape}, expected "
                              f"({self.n_users_}, {self.n_users_}) on the interactions' users")
        self.social_ = sp.csr_matrix(g)
        self.recent_ = RecentItems(context.interactions, self.per_friend)
        r = self.recent_
        lengths = np.diff(r.indptr)
        pos = np.arange(r.items.size) - np.repeat(r.indptr[:-1], lengths)
        if self.by == "count":
            self.item_weights_ = np.ones(r.items.size, np.float64)
        else:
            self.item_weights_ = float(self.recency_decay) ** pos.astype(np.float64)

    def friends(self, request: Request) -> np.ndarray:
        """User indices of the request's friends."""
        u = request.user_index
        if 0 <= u < self.n_users_:
            g = self.social_
            return g.indices[g.indptr[u]:g.indptr[u + 1]].astype(np.int64)
        f = np.asarray(request.context.get("friends", ()), np.int64).ravel()
        return unique_sorted(f[(f >= 0) & (f < self.n_users_)])

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        friends = self.friends(request)
        r = self.recent_
        items, weights = gather_rows(r.indptr, r.items, self.item_weights_, friends, np.ones(friends.size))
        return aggregate(items, weights)
