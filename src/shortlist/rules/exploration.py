"""Exploration slot: reserve positions of the final list for fresh or rarely seen items."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from shortlist.bandits.exploration import exploration_slots
from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.base import Rule, RuleConfig
from shortlist.rules.registry import register_rule

__all__ = ["ExplorationSlot"]


@register_rule("exploration")
class ExplorationSlot(Rule):
    """Put an exploration pick at each reserved position, with the propensity of what is shown.

    The pool is the ``pool_size`` newest items (``pool = "fresh"``, needs ``publish_time``) or
    those with the fewest training users (``"least-seen"``), minus the user's seen, history
    and excluded items. Each reserved position explores with probability ``rate``, drawing
    uniformly from the pool (see :func:`shortlist.bandits.exploration.exploration_slots`);
    the candidates' ``features["propensity"]`` then holds the probability the policy had of
    showing each item at its position (1 for ranked, unexplored positions), ready to be
    logged as impressions for off-policy evaluation. Nothing is dropped: displaced items
    move down.
    """

    class Config(RuleConfig):
        positions: list[int] = Field(default_factory=lambda: [2],
                                     description="0-based positions reserved for exploration")
        pool: Literal["fresh", "least-seen"] = Field("fresh", description="'fresh' or 'least-seen'")
        pool_size: int = Field(50, ge=1, description="an integer >= 1, the size of the exploration pool")
        rate: float = Field(1.0, ge=0.0, le=1.0, description="a probability: how often a slot explores")
        seed: int | None = Field(None, description="an integer for reproducible draws (default: fresh)")

    drops_items = False

    def _build(self) -> None:
        cfg = self.config
        if cfg.pool == "fresh":
            self.attributes.require("publish_time", self.kind)
            t = np.nan_to_num(self.attributes.publish_time, nan=-np.inf)
            order = np.lexsort((np.arange(t.size), -t))
        else:
            self.attributes.require("seen", self.kind)
            counts = np.bincount(self.attributes.seen.indices, minlength=self.attributes.n_items)
            order = np.lexsort((np.arange(counts.size), counts))
        # keep a margin so the pool stays full after removing a user's seen items
        self.ranked_pool_ = order[: cfg.pool_size * 4].astype(np.int64)
        self.rng_ = np.random.default_rng(cfg.seed)

    def _pool(self, request: Request) -> np.ndarray:
        blocked = [np.asarray(request.history, np.int64), np.asarray(request.exclude, np.int64)]
        seen = self.attributes.seen
        if seen is not None and 0 <= request.user_index < seen.shape[0]:
            blocked.append(seen.indices[seen.indptr[request.user_index]:seen.indptr[request.user_index + 1]])
        pool = self.ranked_pool_[~np.isin(self.ranked_pool_, np.concatenate(blocked))]
        return pool[: self.config.pool_size]

    def apply(self, request: Request, candidates: Candidates, k: int) -> tuple[Candidates, list[Drop]]:
        """Place exploration picks at the reserved positions of the first ``k``."""
        n = len(candidates)
        head = min(k, n)
        pool = self._pool(request)
        if head == 0 or pool.size == 0:
            return candidates, []
        res = exploration_slots(candidates.items, pool, positions=self.config.positions, k=head,
                                rate=self.config.rate, rng=self.rng_)
        chosen = np.asarray(res.items, np.int64)
        pos_of = {int(item): p for p, item in enumerate(candidates.items.tolist())}
        new_items = [i for i in chosen.tolist() if i not in pos_of]
        if new_items:
            candidates = _append(candidates, np.asarray(new_items, np.int64))
            pos_of.update({i: n + j for j, i in enumerate(new_items)})
        order = [pos_of[i] for i in chosen.tolist()]
        taken = set(order)
        order += [p for p in range(len(candidates)) if p not in taken]
        out = candidates.take(np.asarray(order, np.int64))
        props = np.ones(len(out), np.float32)
        props[: chosen.size] = res.propensities
        out.features["propensity"] = props
        explored = np.zeros(len(out), bool)
        explored[: chosen.size] = res.explored
        out.features["explored"] = explored
        return out, []


def _append(c: Candidates, items: np.ndarray) -> Candidates:
    """Candidates plus ``items`` (score: the lowest current score; features: missing)."""
    low = float(c.scores.min()) if len(c) else 0.0

    def pad(col: np.ndarray) -> np.ndarray:
        fill = np.full((items.size, *col.shape[1:]), np.nan if col.dtype.kind == "f" else -1, col.dtype) \
            if col.dtype.kind in "fi" else np.zeros((items.size, *col.shape[1:]), col.dtype)
        return np.concatenate([col, fill])

    return Candidates(
        np.concatenate([c.items, items]), np.concatenate([c.scores, np.full(items.size, low, np.float32)]),
        {k: pad(v) for k, v in c.source_scores.items()}, {k: pad(v) for k, v in c.source_ranks.items()},
        {k: pad(v) for k, v in c.features.items()},
        None if c.rows is None else pad(c.rows), list(c.drops),
    )
