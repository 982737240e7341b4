"""The online state interface and the trending decay it shares between stores.

Trending scores decay exponentially without a sweeper: an event at time ``t`` adds
``2 ** ((t - t0) / half_life)``, so comparing scores at any moment is the same as comparing
decayed counts (the common factor ``2 ** (-(now - t0) / half_life)`` cancels).
"""

from __future__ import annotations

import sys
import time

import numpy as np

__all__ = ["MAX_EXPONENT", "OnlineState", "decayed_now", "decayed_weight"]

# scores would overflow float64 after ~1000 half-lives past t0; rebase well before that
MAX_EXPONENT = 900.0


def decayed_weight(timestamp: float, t0: float, half_life_s: float) -> float:
    """Weight of one event at ``timestamp`` on the scale that starts at ``t0`` (capped against overflow)."""
    exponent = min((timestamp - t0) / half_life_s, MAX_EXPONENT)
    return 2.0 ** max(exponent, -MAX_EXPONENT)


def decayed_now(score: float, t0: float, half_life_s: float, now: float | None = None) -> float:
    """A trending ``score`` (on the scale that starts at ``t0``) decayed to ``now``; always finite.

    A log may hold events dated far ahead of the clock (written before future times were
    clamped at ingest), which moves ``t0`` past ``now``: the factor is then huge, and an
    unbounded ``2 ** x`` would raise OverflowError in the middle of a request.
    """
    exponent = -((time.time() if now is None else now) - t0) / half_life_s
    value = score * 2.0 ** min(max(exponent, -2 * MAX_EXPONENT), MAX_EXPONENT)
    return min(value, sys.float_info.max)


class OnlineState:
    """Interface of the online state stores (ids are strings; vectors float32)."""

    #: True when other processes see writes (then readers must fetch vectors, not trust local models)
    shared = False

    def add_history(self, user_id: str, items: list[tuple[str, float]]) -> None:
        """Append ``(item_id, weight)`` pairs, newest last, to a user's bounded recent history."""
        raise NotImplementedError

    def history(self, user_id: str) -> list[tuple[str, float]]:
        """The user's recent ``(item_id, weight)``, oldest first."""
        raise NotImplementedError

    def set_vector(self, key: str, user_id: str, vector: np.ndarray) -> None:
        """Store a folded-in user vector under ``key`` (model version + model name)."""
        raise NotImplementedError

    def get_vector(self, key: str, user_id: str) -> np.ndarray | None:
        """The vector stored by :meth:`set_vector`, or None."""
        raise NotImplementedError

    def bump_trending(self, item_ids: list[str], timestamp: float) -> None:
        """Count one event for each item at ``timestamp`` (epoch seconds)."""
        raise NotImplementedError

    def trending(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` items with the highest decayed event counts, as (item_id, count now)."""
        raise NotImplementedError

    def bump_bandit(self, item_id: str, *, impressions: float = 0.0, reward: float = 0.0) -> None:
        """Add impressions and reward to an item's bandit counters."""
        raise NotImplementedError

    def bandit(self, item_id: str) -> tuple[float, float]:
        """(impressions, total reward) of an item."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""

    # -- position in the event log (what a restart replays after) ------------------------
    def applied_seq(self) -> int | None:
        """The log position this store says it holds every event up to (None: unknown, rebuild)."""
        return None

    def mark_applied(self, seq: int) -> None:
        """Record that the events up to ``seq`` are applied (stores that persist on their own)."""
