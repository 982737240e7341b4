"""Behavioural statistics from the event log: repeat counts per (user, item) and the age at engagement."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.data.interactions import Interactions

__all__ = ["engaged_age_days", "history_counts", "user_item_counts"]

DAY_S = 86400.0


def user_item_counts(train: Interactions) -> sp.csr_matrix:
    """User x item: how many logged events each user had on each item (replays count, weights do not)."""
    ones = np.ones(train.n_events, np.float32)
    # duplicates are summed by the constructor: one entry per event becomes the cell's count
    return sp.csr_matrix((ones, (train.user_index, train.item_index)), shape=(train.n_users, train.n_items))


def history_counts(history: np.ndarray, items: np.ndarray) -> np.ndarray:
    """How often each of ``items`` occurs in a request's history (repeats kept: one entry per play)."""
    hist = np.asarray(history, np.int64)
    if hist.size == 0:
        return np.zeros(np.asarray(items).shape, np.float32)
    uniq, n = np.unique(hist, return_counts=True)
    pos = np.clip(np.searchsorted(uniq, items), 0, uniq.size - 1)
    return np.where(uniq[pos] == items, n[pos], 0).astype(np.float32)


def engaged_age_days(index: np.ndarray, item_index: np.ndarray, timestamp: np.ndarray, publish: np.ndarray,
                     n: int) -> np.ndarray:
    """Per row of ``index`` (users or items): mean age in days of the item at its events; NaN without events.

    Items without a publish time and events before publication are left out (an age is not known).
    """
    age = (np.asarray(timestamp, np.float64) - publish[item_index]) / DAY_S
    ok = np.isfinite(age) & (age >= 0)
    total = np.bincount(index[ok], age[ok], minlength=n)
    count = np.bincount(index[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)
