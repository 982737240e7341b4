"""Exploration slots: reserve a few positions of a ranked list for fresh or uncertain items.

The ranked list keeps its order everywhere else. At each reserved position, with
probability ``rate``, an item is drawn from the exploration pool (without replacement,
probability proportional to ``weights``, e.g. an uncertainty score); otherwise the next
ranked item takes the slot. Every position gets its logged propensity - the probability,
given the positions above, that this item was placed there - so the traffic can later
be used for off-policy evaluation:

* explored slot: ``rate * w_i / (sum of weights of pool items not yet used)``;
* reserved slot left to the ranking: ``1 - rate``;
* any other slot: 1 (the ranking is deterministic given its input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shortlist.errors import ConfigError, DataError

__all__ = ["ExplorationResult", "exploration_slots"]


@dataclass
class ExplorationResult:
    """The final list, the propensity of each position, and which positions explored."""

    items: np.ndarray
    propensities: np.ndarray
    explored: np.ndarray


def _checked(ranked: Any, pool: Any, positions: Any, k: int | None, weights: Any,
             rate: float) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """The arguments of :func:`exploration_slots` as arrays (ranked, pool, k, positions, weights), checked."""
    ranked = np.asarray(ranked)
    pool = np.asarray(pool)
    if ranked.ndim != 1 or pool.ndim != 1:
        raise DataError(f"ranked and pool must be 1-D item arrays, got shapes {ranked.shape} and {pool.shape}")
    if len(np.unique(pool)) != len(pool):
        raise DataError("pool contains duplicate items; pass each candidate once")
    k = len(ranked) if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if pos.size and (pos.min() < 0 or len(np.unique(pos)) != pos.size):
        raise ConfigError(f"positions must be distinct non-negative indices, got {list(pos)}")
    if not (isinstance(rate, (int, float)) and 0.0 <= rate <= 1.0):
        raise ConfigError(f"rate must be a probability in [0, 1], got {rate!r}")
    w = np.ones(len(pool)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != pool.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(f"weights must be {len(pool)} finite non-negative numbers (one per pool item), "
                        f"got shape {w.shape}")
    return ranked, pool, k, pos, w


def exploration_slots(ranked: Any, pool: Any, *, positions: Any = (2,), k: int | None = None,
                      weights: Any = None, rate: float = 1.0,
                      rng: np.random.Generator | int | None = None) -> ExplorationResult:
    """Return a list of length ``k`` (default ``len(ranked)``) with exploration at ``positions`` (0-based).

    Pool items already in ``ranked`` are explored only at reserved positions (their ranked
    copy is skipped); positions past the end of the list are ignored.
    """
    ranked, pool, k, pos, w = _checked(ranked, pool, positions, k, weights, rate)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    reserved = {int(p) for p in pos if p < k}
    available = w.copy()
    used: set[Any] = set()
    items, props, explored = [], [], []
    queue = iter(ranked.tolist())

    def next_ranked() -> Any:
        for it in queue:
            if it not in used:
                return it
        return None

    for j in range(k):
        pick, prop, exp = None, 1.0, False
        if j in reserved:
            total = available.sum()
            if total > 0 and gen.random() < rate:
                i = int(gen.choice(len(pool), p=available / total))
                pick, prop, exp = pool[i].item(), rate * available[i] / total, True
                available[i] = 0.0
            else:
                # no eligible pool item left means the ranking keeps the slot with certainty
                prop = 1.0 - rate if total > 0 else 1.0
        if pick is None:
            pick = next_ranked()
            if pick is None:
                break
        used.add(pick)
        in_pool = np.flatnonzero(pool == pick)
        available[in_pool] = 0.0
        items.append(pick)
        props.append(prop)
        explored.append(exp)
    return ExplorationResult(np.asarray(items, dtype=ranked.dtype if len(ranked) else pool.dtype),
                             np.asarray(props), np.asarray(explored, bool))
