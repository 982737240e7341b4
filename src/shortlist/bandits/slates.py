"""Slates and rows (carousels) with cascade feedback.

Top-k slates come from any policy's ``select(context, arms, k)``: slot ``j`` holds the
j-th choice and ``propensities[:, j]`` its per-slot propensity. For a page of rows
(carousels, shelves), :class:`RowsCascade` orders the rows with a policy and learns with
the cascade model of Bendada et al. (2020, "Carousel personalization in music streaming
apps with contextual bandits"): the user scans from the top; rows up to the last
clicked one were examined (clicked -> reward 1, others -> 0); with no click, only the
first ``n_seen`` rows (visible without scrolling) count as examined. Rows below the
last examined one are *not* negatives - they get no update at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.bandits.base import Decision, Policy
from shortlist.errors import ConfigError, DataError

__all__ = ["RowsCascade", "cascade_examined"]


def cascade_examined(clicks: Any, n_seen: int) -> np.ndarray:
    """Boolean mask (n, k): positions examined under the cascade model with ``n_seen`` visible rows."""
    c = np.asarray(clicks, dtype=np.float64)
    if c.ndim != 2:
        raise DataError(f"clicks must have shape (n_pages, n_rows), got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise DataError("clicks contain NaN or infinite values; use 0/1 per row")
    if isinstance(n_seen, bool) or not isinstance(n_seen, (int, np.integer)) or n_seen < 0:
        raise ConfigError(f"n_seen must be an integer >= 0, got {n_seen!r}")
    k = c.shape[1]
    pos = np.arange(k)
    clicked = c > 0
    last = np.where(clicked.any(axis=1), k - 1 - np.argmax(clicked[:, ::-1], axis=1), -1)
    depth = np.maximum(last, n_seen - 1)
    return pos[None, :] <= depth[:, None]


class RowsCascade:
    """Order rows with ``policy`` and learn only from the rows the user examined.

    ``policy`` is any :class:`~shortlist.bandits.base.Policy` whose arms are the row ids.
    """

    def __init__(self, policy: Policy, *, n_seen: int = 3) -> None:
        if not isinstance(policy, Policy):
            raise ConfigError(f"policy must be a shortlist.bandits Policy, got {type(policy).__name__}")
        if isinstance(n_seen, bool) or not isinstance(n_seen, int) or n_seen < 0:
            raise ConfigError(f"n_seen must be an integer >= 0, got {n_seen!r}")
        self.policy, self.n_seen = policy, n_seen

    def select(self, context: Any = None, rows: Any = None, k: int = 10) -> Decision:
        """Order ``k`` rows (top first) for each context, with per-position propensities."""
        return self.policy.select(context, rows, k)

    def update(self, context: Any, shown: Any, clicks: Any) -> np.ndarray:
        """Learn from pages: ``shown`` (n, k) row ids top first, ``clicks`` (n, k) 0/1.

        Returns the examined mask that was used.
        """
        shown = np.asarray(shown)
        c = np.asarray(clicks, dtype=np.float64)
        if shown.shape != c.shape:
            raise DataError(f"shown and clicks must have the same shape, got {shown.shape} and {c.shape}")
        mask = cascade_examined(c, self.n_seen)
        rows, _ = np.nonzero(mask)
        ctx = None
        if context is not None and self.policy.uses_context:
            x = np.asarray(context, dtype=np.float64)
            ctx = (x[None, :] if x.ndim == 1 else x)[rows]
        elif context is None and not self.policy.uses_context:
            ctx = np.zeros((len(rows), 0))
        if len(rows):
            self.policy.update(ctx, shown[mask], (c[mask] > 0).astype(np.float64))
        return mask
