"""Diversity and freshness: per-creator caps, creator spacing, MMR, freshness boost."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.base import Rule, RuleConfig, request_now
from shortlist.rules.registry import register_rule

__all__ = ["MMR", "CreatorCap", "CreatorSpacing", "FreshnessBoost"]

DAY_S = 86400.0


def _occurrence(codes: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same code (0 for the first)."""
    n = codes.shape[0]
    order = np.argsort(codes, kind="stable")  # groups equal codes, positions ascending inside
    sc = codes[order]
    start = np.r_[True, sc[1:] != sc[:-1]] if n else np.zeros(0, bool)
    idx = np.arange(n)
    rank = np.empty(n, np.int64)
    rank[order] = idx - np.maximum.accumulate(np.where(start, idx, 0))
    return rank


@register_rule("creator_cap")
class CreatorCap(Rule):
    """Keep at most ``max_per_creator`` items per creator, the first ones in ranking order.

    Items beyond the cap are dropped as ``"creator-cap"`` wherever they sit, so any top-k cut
    taken afterwards respects the cap. Items without a creator are never capped.
    """

    class Config(RuleConfig):
        max_per_creator: int = Field(
            2, ge=1, description="an integer >= 1, the most items per creator"
        )

    requires = ("creator",)

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop candidates beyond their creator's cap."""
        c = self.attributes.creator[candidates.items]
        over = (_occurrence(c) >= self.config.max_per_creator) & (c >= 0)
        return self._filter(candidates, np.where(over, 0, -1), ("creator-cap",))


def _feasible(counts: np.ndarray, last: int, r: int) -> bool:
    """Can ``r`` items be picked from ``counts``, no two adjacent alike, the first not ``last``?"""
    if r <= 0:
        return True
    cap = (r + 1) // 2
    total = int(np.minimum(counts, cap).sum())
    if last >= 0:
        total += min(int(counts[last]), r // 2) - min(int(counts[last]), cap)
    return total >= r


@register_rule("creator_spacing")
class CreatorSpacing(Rule):
    """Re-order so no two items of the same creator are adjacent in the first ``k`` positions.

    Greedy and rank-preserving: each position takes the best-ranked remaining item whose
    creator differs from the previous one and after which the rest can still be spaced (a
    counting check). When the creator mix makes spacing impossible (e.g. 3 of 4 items from
    one creator), the rule falls back to the plain greedy: a different creator when one is
    left, else the best-ranked item, so the unavoidable neighbours land at the end of the
    window. Positions after ``k`` keep their order; nothing is dropped; scores are untouched.
    Items without a creator never conflict.
    """

    class Config(RuleConfig):
        window: int | None = Field(
            None,
            ge=1,
            description="an integer >= 1, the positions to space (default: the request's k)",
        )

    requires = ("creator",)
    drops_items = False

    def order(self, creators: np.ndarray, m: int) -> np.ndarray:
        """Positions in the new order, given each position's creator code (-1 = none)."""
        n = creators.shape[0]
        m = min(m, n)
        head = creators[:m]
        if not ((head[1:] == head[:-1]) & (head[1:] >= 0)).any():
            return np.arange(n)  # already spaced: the common case costs one compare
        code_l = np.where(
            creators >= 0, creators, -1 - np.arange(n)
        ).tolist()  # no creator: one of its own
        out = self._plain_greedy(code_l, m)
        if out is not None:
            return out
        # the plain greedy failed, so spacing may need look-ahead (or be impossible)
        codes = {c: i for i, c in enumerate(dict.fromkeys(code_l))}
        code_l = [codes[c] for c in code_l]
        counts = np.bincount(code_l).astype(np.int64)
        remaining = list(range(n))
        out: list[int] = []
        prev = -1
        for pos in range(m):
            r = m - pos
            check = _feasible(counts, prev, r)
            pick = -1
            for j_at, j in enumerate(remaining):
                g = code_l[j]
                if g == prev:
                    continue
                if check:
                    counts[g] -= 1
                    ok = _feasible(counts, g, r - 1)
                    counts[g] += 1
                    if not ok:
                        continue
                pick = j_at
                break
            pick = max(pick, 0)  # impossible here: keep ranking order
            j = remaining.pop(pick)
            counts[code_l[j]] -= 1
            prev = code_l[j]
            out.append(j)
        return np.asarray(out + remaining, np.int64)

    @staticmethod
    def _plain_greedy(code: list[int], m: int) -> np.ndarray | None:
        """Earliest item of another creator at each position; None if it ever has to repeat.

        When this succeeds it equals the look-ahead greedy: every remainder it left was
        spaceable (it spaced it), so the look-ahead would have made the same picks.
        """
        remaining = list(range(len(code)))
        out = []
        prev = None
        for _ in range(m):
            for j_at, j in enumerate(remaining):
                if code[j] != prev:
                    break
            else:
                return None
            out.append(remaining.pop(j_at))
            prev = code[j]
        return np.asarray(out + remaining, np.int64)

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Re-order candidates to space out creators."""
        if len(candidates) < 2:
            return candidates, []
        creators = self.attributes.creator[candidates.items]
        perm = self.order(creators, self.config.window or k)
        return candidates.take(perm), []


@register_rule("mmr")
class MMR(Rule):
    """Maximal Marginal Relevance: greedily pick ``k`` items trading relevance for novelty.

    Step t picks ``argmax_i lambda_ * rel_i - (1 - lambda_) * max_{j picked} cos(v_i, v_j)``;
    the first pick is the most relevant item. ``rel`` is the candidate score, min-max scaled to
    [0, 1] when ``normalize`` (so lambda_ means the same for any scorer). ``lambda_ = 1`` keeps
    pure relevance order, ``0`` pure diversity. Ties go to the earlier position. The ``k``
    picks come first, the others follow in their order; scores are untouched, nothing dropped.
    """

    class Config(RuleConfig):
        lambda_: float = Field(
            0.7,
            ge=0.0,
            le=1.0,
            alias="lambda",
            description="a number in [0, 1] (1 = relevance only, 0 = diversity only)",
        )
        normalize: bool = Field(True, description="true to min-max scale scores before mixing")

    requires = ("vectors",)
    drops_items = False

    def order(self, relevance: np.ndarray, vectors: Any, k: int) -> np.ndarray:
        """Positions in MMR order given relevance and L2-normalized vectors (dense or CSR)."""
        n = relevance.shape[0]
        rel = relevance.astype(np.float64)
        if self.config.normalize and n:
            span = rel.max() - rel.min()
            rel = (rel - rel.min()) / span if span > 0 else np.zeros(n)
        lam = self.config.lambda_
        m = min(k, n)
        if lam == 1.0:  # pure relevance: a stable sort gives the same picks
            top = np.argsort(-rel, kind="stable")[:m]
            rest = np.ones(n, bool)
            rest[top] = False
            return np.concatenate([top, np.flatnonzero(rest)])
        if sp.issparse(vectors):
            cos = (vectors @ vectors.T).toarray().astype(np.float64)
        else:
            v = vectors.astype(np.float64)
            cos = v @ v.T
        # scaled once so each step is one maximum and one subtraction
        sim = (1.0 - lam) * cos
        base = lam * rel
        out = np.empty(m, np.int64)
        i = int(np.argmax(rel))
        out[0] = i
        penalty = sim[i].copy()
        penalty[i] = np.inf  # a picked item can never win again
        gain = np.empty(n)
        for t in range(1, m):
            np.subtract(base, penalty, out=gain)
            i = int(np.argmax(gain))
            out[t] = i
            np.maximum(penalty, sim[i], out=penalty)
            penalty[i] = np.inf
        rest = np.ones(n, bool)
        rest[out] = False
        return np.concatenate([out, np.flatnonzero(rest)])

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Re-order candidates by MMR."""
        if len(candidates) < 2:
            return candidates, []
        vectors = self.attributes.vectors[candidates.items]
        return candidates.take(self.order(candidates.scores, vectors, k)), []


@register_rule("freshness_boost")
class FreshnessBoost(Rule):
    """Add ``weight * 0.5 ** (age_days / half_life_days)`` to each score, then re-sort.

    ``age = now - publish_time`` with ``now`` from ``context["now"]`` (wall clock when absent);
    items published "in the future" count as age 0, items without a publish time get no boost.
    With ``resort`` the list is re-sorted by the new score (stable: ties keep their order).
    With ``per_user`` a request's ``context["freshness_half_life_days"]`` (the user's own taste for
    freshness, e.g. learned from the age of what they engaged with) replaces ``half_life_days``.
    """

    class Config(RuleConfig):
        weight: float = Field(
            0.1, ge=0.0, description="a number >= 0, the boost of a brand-new item"
        )
        half_life_days: float = Field(7.0, gt=0.0, description="a positive number of days")
        resort: bool = Field(True, description="true to re-sort by the boosted score")
        per_user: bool = Field(False, description="true to read the half-life from the request context")

    requires = ("publish_time",)
    drops_items = False

    def boost(self, publish_time: np.ndarray, now: float, half_life_days: float | None = None) -> np.ndarray:
        """The score increment for items published at ``publish_time``."""
        age_days = np.maximum(now - publish_time, 0.0) / DAY_S
        inc = self.config.weight * 0.5 ** (age_days / (half_life_days or self.config.half_life_days))
        inc[np.isnan(inc)] = 0.0  # no publish time: no boost
        return inc

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Boost fresh candidates."""
        if len(candidates) == 0:
            return candidates, []
        half_life = request.context.get("freshness_half_life_days") if self.config.per_user else None
        if half_life is not None and not half_life > 0:
            half_life = None  # an unusable value falls back to the configured half-life
        inc = self.boost(self.attributes.publish_time[candidates.items], request_now(request), half_life)
        scores = (candidates.scores.astype(np.float64) + inc).astype(np.float32)
        order = (
            np.argsort(-scores, kind="stable") if self.config.resort else np.arange(len(candidates))
        )
        out = candidates.take(order)
        out.scores = scores[order]
        return out, []
