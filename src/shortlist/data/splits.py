"""Train/test splits that never leak test interactions into training.

Every split works on *cells* (distinct user-item pairs): all events of a held-out cell go
to the test side, so a repeated interaction can never sit on both sides. All splits are
seeded and return new :class:`Interactions` sharing the original vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, DataError

__all__ = [
    "Split",
    "random_holdout",
    "temporal_split",
    "leave_last_k",
    "user_holdout",
    "split_by_protocol",
    "PROTOCOLS",
]

PROTOCOLS = ("random-holdout:FRACTION", "temporal:QUANTILE", "leave-last:K", "user-holdout:FRACTION")


@dataclass
class Split:
    """A train/test pair; ``fold_in`` holds held-out users' known history (strong generalization)."""

    train: Interactions
    test: Interactions
    fold_in: Interactions | None = None
    protocol: str = ""

    def __repr__(self) -> str:
        extra = f", fold_in={self.fold_in.n_events} events" if self.fold_in is not None else ""
        return f"Split({self.protocol}: train={self.train.n_events} events, test={self.test.n_events} events{extra})"


def _cell_keys(data: Interactions) -> np.ndarray:
    return data.user_index.astype(np.int64) * data.n_items + data.item_index


def _events_in(keys: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Mask of events whose cell key is in the sorted array ``chosen``."""
    if chosen.size == 0:
        return np.zeros(keys.shape, bool)
    pos = np.minimum(np.searchsorted(chosen, keys), chosen.size - 1)
    return chosen[pos] == keys


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{name} must be between 0 and 1 (exclusive), got {value!r}; e.g. 0.25")
    return float(value)


def _holdout_cells(cell_user: np.ndarray, fraction: float, rng: np.random.Generator,
                   min_items: int) -> np.ndarray:
    """Mask over cells (sorted by user): round(fraction * n) cells per user, at least 1.

    Users with fewer than ``min_items`` distinct items keep everything in training.
    """
    n_cells = cell_user.size
    counts = np.bincount(cell_user)
    n_test = np.maximum(1, np.round(fraction * counts)).astype(np.int64)
    n_test = np.minimum(n_test, counts - 1)
    n_test[counts < min_items] = 0
    order = np.lexsort((rng.random(n_cells), cell_user))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n_cells, np.int64)
    rank[order] = np.arange(n_cells) - starts[cell_user[order]]
    return rank < n_test[cell_user]


def random_holdout(data: Interactions, fraction: float = 0.25, *, seed: int = 42,
                   min_user_items: int = 2) -> Split:
    """Hold out ``round(fraction * n)`` random items (at least 1) of each user with >= 2 items."""
    fraction = _check_fraction("fraction", fraction)
    rng = np.random.default_rng(seed)
    keys = _cell_keys(data)
    cells = np.unique(keys)
    held = _holdout_cells(cells // data.n_items, fraction, rng, min_user_items)
    test_mask = _events_in(keys, cells[held])
    return Split(data.subset(~test_mask), data.subset(test_mask), protocol=f"random-holdout:{fraction:g}")


def _require_time(data: Interactions, protocol: str) -> np.ndarray:
    if data.timestamp is None:
        raise DataError(
            f"protocol {protocol!r} needs timestamps; load the data with a time column "
            "(--columns ...,time=COL) or use random-holdout"
        )
    return data.timestamp


def _drop_known_cells(train: Interactions, test: Interactions) -> Interactions:
    """Remove test events whose cell also occurs in train (repeats are not new items)."""
    known = np.unique(_cell_keys(train))
    return test.subset(~_events_in(_cell_keys(test), known))


def temporal_split(data: Interactions, quantile: float = 0.8, *, cutoff: int | None = None) -> Split:
    """Global cutoff: events before ``cutoff`` (default: the time quantile) train, later ones test.

    Test cells the user already had before the cutoff are dropped (they are repeats, not
    discoveries), so "exclude seen" evaluation stays meaningful.
    """
    ts = _require_time(data, "temporal")
    if cutoff is None:
        quantile = _check_fraction("quantile", quantile)
        cutoff = int(np.quantile(ts, quantile))
    train = data.subset(ts < cutoff)
    test = _drop_known_cells(train, data.subset(ts >= cutoff))
    if train.n_events == 0 or test.n_events == 0:
        raise DataError(f"temporal cutoff {cutoff} leaves an empty side; choose another quantile")
    return Split(train, test, protocol=f"temporal:{quantile:g}")


def leave_last_k(data: Interactions, k: int = 1) -> Split:
    """Per user, the ``k`` most recent distinct items go to test (users need more than k)."""
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ConfigError(f"leave-last k must be a positive integer, got {k!r}")
    ts = _require_time(data, "leave-last")
    keys = _cell_keys(data)
    # last time each cell was touched, then rank cells within user by it (newest first)
    order = np.lexsort((ts, keys))
    last_idx = np.flatnonzero(np.r_[keys[order][1:] != keys[order][:-1], True])
    cell_keys = keys[order][last_idx]
    cell_last = ts[order][last_idx]
    cell_user = cell_keys // data.n_items
    by_user = np.lexsort((-cell_last, cell_user))
    counts = np.bincount(cell_user, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(cell_keys.size, np.int64)
    rank[by_user] = np.arange(cell_keys.size) - starts[cell_user[by_user]]
    held = (rank < k) & (counts[cell_user] > k)
    test_mask = _events_in(keys, np.sort(cell_keys[held]))
    return Split(data.subset(~test_mask), data.subset(test_mask), protocol=f"leave-last:{int(k)}")


def user_holdout(data: Interactions, fraction_users: float = 0.1, *, target_fraction: float = 0.25,
                 seed: int = 42) -> Split:
    """Strong generalization: held-out users leave training entirely.

    Their history is split per user into a ``fold_in`` part (given to the model at
    recommend time) and a ``test`` part (the targets).
    """
    fraction_users = _check_fraction("fraction_users", fraction_users)
    target_fraction = _check_fraction("target_fraction", target_fraction)
    rng = np.random.default_rng(seed)
    counts = data.user_counts()
    eligible = np.flatnonzero(counts >= 2)
    n_out = max(1, round(fraction_users * eligible.size))
    out_users = np.zeros(data.n_users, bool)
    out_users[rng.choice(eligible, size=n_out, replace=False)] = True
    keys = _cell_keys(data)
    cells = np.unique(keys[out_users[data.user_index]])
    held = _holdout_cells(cells // data.n_items, target_fraction, rng, 2)
    test_mask = _events_in(keys, cells[held])
    out_mask = out_users[data.user_index]
    return Split(
        data.subset(~out_mask), data.subset(test_mask), data.subset(out_mask & ~test_mask),
        protocol=f"user-holdout:{fraction_users:g}",
    )


def split_by_protocol(data: Interactions, protocol: str, *, seed: int = 42) -> Split:
    """Parse ``NAME:ARG`` (see :data:`PROTOCOLS`) and split."""
    name, _, arg = protocol.partition(":")
    try:
        if name == "random-holdout":
            return random_holdout(data, float(arg or 0.25), seed=seed)
        if name == "temporal":
            return temporal_split(data, float(arg or 0.8))
        if name == "leave-last":
            return leave_last_k(data, int(arg or 1))
        if name == "user-holdout":
            return user_holdout(data, float(arg or 0.1), seed=seed)
    except ValueError as exc:
        if isinstance(exc, (ConfigError, DataError)):
            raise
        raise ConfigError(f"protocol {protocol!r}: {arg!r} is not a number") from exc
    raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
