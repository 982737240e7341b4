"""Simulated traffic: the same requests and random draws for every policy; the product's metric per request."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from shortlist.data.world.usecases import UseCaseWorld
from shortlist.pipeline.usecases.policies import Served
from shortlist.pipeline.usecases.spec import UseCaseSpec

__all__ = ["METRICS", "PolicyLog", "simulate_traffic"]

#: per use case: (label of the metric per request, what counts)
METRICS = {
    "news": "clicks on stories under 24 h old",
    "social": "clicks",
    "streaming": "minutes watched per session",
    "video": "minutes watched",
    "games": "minutes played",
    "delivery": "completed orders with every constraint met",
}
_FRESH_NEWS_S = 86400.0


@dataclass
class PolicyLog:
    """Per request: the metric; and totals of what was shown."""

    metric: list[float] = field(default_factory=list)
    shown: int = 0
    violations: dict[str, int] = field(default_factory=lambda: {"outside-radius": 0, "closed": 0, "over-budget": 0})
    failed_orders: int = 0
    exposure: np.ndarray | None = None  # per seller / creator: items shown
    orders: np.ndarray | None = None  # per seller: completed orders


class _State:
    """One policy's running world: what each user consumed, plays per item, seller load."""

    def __init__(self, ucw: UseCaseWorld, train: sp.csr_matrix) -> None:
        self.ucw = ucw
        self.plays = train.astype(np.float64).tolil()  # games: plays so far; event weights are binary
        self.consumed: dict[int, list[int]] = {}
        creator = ucw.world.items.creator
        self.series = sp.csr_matrix((np.ones(train.nnz), (np.repeat(np.arange(train.shape[0]), np.diff(train.indptr)),
                                                          creator[train.indices])),
                                    shape=(train.shape[0], int(creator.max()) + 1)).tolil()
        self.orders: deque[tuple[float, int]] = deque()
        self.load = np.zeros(int(creator.max()) + 1)

    def busy_sellers(self, t: float) -> np.ndarray:
        while self.orders and self.orders[0][0] <= t - 3600.0:
            self.load[self.orders.popleft()[1]] -= 1
        return np.flatnonzero(self.load >= self.ucw.extras["capacity"])

    def carry(self, user: int, items: np.ndarray) -> np.ndarray | None:
        """Per item: the running state the click model reads (plays, series started), or None."""
        if self.ucw.name == "games":
            return np.asarray(self.plays[user, items].toarray()).ravel()
        if self.ucw.name == "streaming":
            return (np.asarray(self.series[user, self.ucw.world.items.creator[items]].toarray()).ravel() > 0) * 1.0
        return None


def _context(ucw: UseCaseWorld, spec: UseCaseSpec | None, user: int, t: float) -> dict[str, Any]:
    ctx: dict[str, Any] = {"now": float(t)}
    if spec is not None and "location" in spec.context:
        ctx["lat"], ctx["lon"] = float(ucw.world.users.lat[user]), float(ucw.world.users.lon[user])
    if spec is not None and "budget" in spec.context:
        ctx["price_max"] = float(ucw.extras["budget"][user])
    return ctx


def _exclude(state: _State, ucw: UseCaseWorld, spec: UseCaseSpec | None, user: int, t: float) -> np.ndarray:
    parts = []
    if spec is None or spec.exclude_consumed:
        parts.append(np.asarray(state.consumed.get(user, []), np.int64))
    if spec is not None and spec.capacity_aware:
        busy = state.busy_sellers(t)
        parts.append(np.flatnonzero(np.isin(ucw.world.items.creator, busy)))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def _respond(ucw: UseCaseWorld, state: _State, log: PolicyLog, user: int, t: float, served: Served,
             u_exam: np.ndarray, u_click: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Clicks per row and the metric of this request, updating the policy's world state."""
    w, x = ucw.world, ucw.extras
    total, clicks, ordered = 0.0, [], False
    for r, items in enumerate(served.rows):
        items = np.asarray(items, np.int64)[: u_exam.shape[1]]
        n = items.size
        log.shown += n
        log.exposure[w.items.creator[items]] += 1
        exam = (1.0 + np.arange(n)) ** -w.config.position_bias / (1.0 + r)
        p = ucw.click_probability(user, items, t, state.carry(user, items)) if n else np.zeros(0)
        click = (u_exam[r, :n] < exam) & (u_click[r, :n] < p)
        if ucw.name == "delivery":
            v = ucw.delivery_violations(user, items, t)
            for code, key in ((1, "outside-radius"), (2, "closed"), (3, "over-budget")):
                log.violations[key] += int((v == code).sum())
            click &= not ordered  # one order per visit: the first one the user picks
            first = np.flatnonzero(click)[:1]
            click[:] = False
            if first.size:
                ordered, seller = True, int(w.items.creator[items[first[0]]])
                state.busy_sellers(t)
                if state.load[seller] >= x["capacity"][seller]:
                    log.failed_orders += 1  # the kitchen is full: the order is refused
                else:
                    click[first] = True
                    state.load[seller] += 1
                    state.orders.append((t, seller))
                    log.orders[seller] += 1
                    total += 1.0
        elif ucw.name == "news":
            total += float((click & (t - w.items.publish[items] < _FRESH_NEWS_S)).sum())
        elif ucw.name == "social":
            total += float(click.sum())
        else:  # minutes: item length times the watched (played) fraction
            value = 1.0 / (1.0 + np.exp(-(w.config.affinity_strength * w.true_affinity(np.full(n, user), items) - 1)))
            total += float((x["length_min"][items] * value * click).sum()) if n else 0.0
        for i in items[click].tolist():
            state.consumed.setdefault(user, []).append(i)
            state.plays[user, i] += 1
            state.series[user, w.items.creator[i]] = 1
        clicks.append(click)
    return total, clicks


def simulate_traffic(ucw: UseCaseWorld, policies: dict[str, Any], specs: dict[str, UseCaseSpec | None],
                     train: sp.csr_matrix, *, requests: int, k: int, seed: int = 0) -> dict[str, PolicyLog]:
    """Serve ``requests`` user visits (activity-weighted, uniform in the traffic window) to every policy."""
    rng = np.random.default_rng([seed, 7])
    lo, hi = ucw.traffic_window
    users = rng.choice(ucw.world.n_users, size=requests, p=ucw.world.users.activity)
    times = np.sort(rng.uniform(lo, hi, requests))
    n_rows = 8  # rows on a page at most (streaming)
    width = max(k, 16)
    u_exam, u_click = rng.random((requests, n_rows, width)), rng.random((requests, n_rows, width))
    n_creators = int(ucw.world.items.creator.max()) + 1
    logs = {name: PolicyLog(exposure=np.zeros(n_creators), orders=np.zeros(n_creators)) for name in policies}
    states = {name: _State(ucw, train) for name in policies}
    # request-sized algebra: BLAS threads only stall each other (40x slower on a busy 2-core machine)
    with threadpool_limits(1, user_api="blas"):
        for j in range(requests):
            u, t = int(users[j]), float(times[j])
            for name, policy in policies.items():
                st, spec = states[name], specs.get(name)
                served = policy.serve(u, k, _context(ucw, spec, u, t), _exclude(st, ucw, spec, u, t))
                value, clicks = _respond(ucw, st, logs[name], u, t, served, u_exam[j], u_click[j])
                policy.feedback(u, served, clicks)
                logs[name].metric.append(value)
    return logs
