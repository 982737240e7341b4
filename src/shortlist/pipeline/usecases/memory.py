"""What the app remembers per user between requests: online plays (with times) and the age of what they engaged with."""

from __future__ import annotations

import numpy as np

from shortlist.data.dataset import Dataset
from shortlist.ranking.behaviour import DAY_S, engaged_age_days

__all__ = ["EngagedAge", "OnlineHistory"]


class OnlineHistory:
    """Each user's clicks since training, one entry per play (replays repeat), oldest first."""

    def __init__(self) -> None:
        self.items: dict[int, list[int]] = {}
        self.times: dict[int, list[float]] = {}

    def add(self, user: int, items: np.ndarray, t: float) -> None:
        self.items.setdefault(user, []).extend(int(i) for i in items)
        self.times.setdefault(user, []).extend([float(t)] * len(items))

    def of(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, epoch seconds) of the user's online plays."""
        return np.asarray(self.items.get(user, []), np.int64), np.asarray(self.times.get(user, []), np.float64)


class EngagedAge:
    """Per user: a freshness half-life from the mean age (days) of the items they engaged with, log plus online.

    An exponential taste with half-life h, over a supply spread evenly in age, gives a mean engaged
    age of h / ln 2, hence ``h = ln 2 * mean age``. Users with few events are shrunk towards the
    mean of all users with ``prior_events`` pseudo-events, so one click does not set a taste.
    """

    def __init__(self, dataset: Dataset, publish: np.ndarray, prior_events: float = 10.0) -> None:
        it = dataset.interactions
        self.publish, self.prior = np.asarray(publish, np.float64), float(prior_events)
        ts = it.timestamp if it.timestamp is not None else np.full(it.n_events, np.nan)
        mean = engaged_age_days(it.user_index, it.item_index, ts, self.publish, it.n_users)
        self.count = np.bincount(it.user_index, minlength=it.n_users).astype(np.float64)
        self.count[np.isnan(mean)] = 0.0
        self.total = np.nan_to_num(mean) * self.count
        self.global_mean = float(self.total.sum() / max(self.count.sum(), 1.0))

    def clicked(self, user: int, items: np.ndarray, t: float) -> None:
        age = (float(t) - self.publish[np.asarray(items, np.int64)]) / DAY_S
        age = age[np.isfinite(age) & (age >= 0)]
        self.total[user] += age.sum()
        self.count[user] += age.size

    def mean_age_days(self, user: int) -> float:
        """The user's shrunk mean engaged age in days."""
        return float((self.total[user] + self.prior * self.global_mean) / (self.count[user] + self.prior))

    def half_life_days(self, user: int) -> float:
        return float(np.log(2.0) * self.mean_age_days(user))
