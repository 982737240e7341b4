"""The essay's six products as world presets: each adds the dynamics that define that product.

``usecase_world("news", seed=3)`` generates a world whose :class:`WorldConfig` carries the
product's time scales (item lifetimes, catalog growth, repeats, sharing) and adds what the
generic world lacks (bursts, per-user freshness taste, evergreen videos, series, replay
curves, sellers with hours and capacity). Events before ``cutoff`` are the training log;
requests after it are simulated against :meth:`UseCaseWorld.click_probability`.
See ``docs/usecases/*.md`` for each product's story and effect sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.dataset import Dataset
from shortlist.data.world.generator import generate_world
from shortlist.data.world.simulator import Events, World
from shortlist.data.world.usecase_extras import EXTRAS, km_between
from shortlist.errors import ConfigError

__all__ = ["SIZES", "USE_CASES", "WORLD_DYNAMICS", "UseCaseWorld", "usecase_world"]

USE_CASES = ("news", "social", "streaming", "video", "games", "delivery")

#: ``tiny`` for tests, ``demo`` for ``shortlist demo --use-case`` and the benchmark.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"n_users": 200, "n_items": 300, "n_interactions": 5_000, "n_creators": 30, "n_slates": 0},
    "demo": {"n_users": 1_500, "n_items": 1_500, "n_interactions": 40_000, "n_creators": 150, "n_slates": 0},
}

#: Product time scales and behaviour, as WorldConfig fields (set once from the essay, not tuned).
WORLD_DYNAMICS: dict[str, dict[str, Any]] = {
    # stories live hours: a 3-hour half-life, nearly nothing at the start, no re-reads
    "news": {"days": 10.0, "freshness_half_life_days": 0.125, "freshness_floor": 0.01,
             "catalog_at_start": 0.02, "repeat_probability": 0.0, "social_probability": 0.02,
             "n_categories": 10},
    # a dense follow graph, a third of events copied from followees, a one-day freshness scale
    "social": {"days": 30.0, "freshness_half_life_days": 1.0, "freshness_floor": 0.05,
               "catalog_at_start": 0.1, "follow_mean_degree": 15.0, "social_probability": 0.3},
    # a slow catalog: almost all of it there at the start; series are creators; re-watches
    "streaming": {"days": 60.0, "freshness_half_life_days": 60.0, "freshness_floor": 0.5,
                  "catalog_at_start": 0.95, "repeat_probability": 0.2, "session_length": 6.0,
                  "n_categories": 12},
    # fresh uploads matter, old ones still play, shares travel over the graph
    "video": {"days": 30.0, "freshness_half_life_days": 2.0, "freshness_floor": 0.05,
              "catalog_at_start": 0.4, "social_probability": 0.15, "follow_mean_degree": 10.0},
    # a small catalog played again and again; new games trend for weeks
    "games": {"days": 60.0, "freshness_half_life_days": 10.0, "freshness_floor": 0.2,
              "catalog_at_start": 0.6, "repeat_probability": 0.5, "n_items_scale": 0.2},
    # one city region; nothing goes stale; people re-order; no follow graph
    "delivery": {"days": 28.0, "freshness_half_life_days": 28.0, "freshness_floor": 1.0,
                 "catalog_at_start": 1.0, "repeat_probability": 0.3, "social_probability": 0.0,
                 "follow_mean_degree": 0.0, "n_countries": 1, "n_cities": 3},
}

_HOUR = 3600.0
_DAY = 86400.0
#: Share of the span logged for training; the rest is the simulated traffic window.
_CUTOFF = 0.8


@dataclass
class UseCaseWorld:
    """A generated world plus the product's extra ground truth; ``dataset()`` is the training log."""

    name: str
    world: World
    cutoff: int
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def traffic_window(self) -> tuple[int, int]:
        """Epoch seconds (from, to) of simulated requests: one evening-to-evening day for delivery."""
        if self.name == "delivery":
            return self.cutoff, self.cutoff + int(_DAY)
        return self.cutoff, self.world.end

    def dataset(self) -> Dataset:
        """The events before ``cutoff`` with item columns ``publish_time`` (epoch s) and the product's own."""
        ev = self.world.events
        keep = ev.timestamp < self.cutoff
        events = Events(*(getattr(ev, f)[keep] for f in ("user", "item", "timestamp", "event_type", "value",
                                                          "origin")))
        ds = replace(self.world, events=events).dataset(f"usecase-{self.name}")
        ds.item_features.add_numeric("publish_time", self.world.items.publish.astype(np.float64))
        for key in ("open_s", "close_s", "length_min"):
            if key in self.extras:
                ds.item_features.add_numeric(key, self.extras[key].astype(np.float64))
        if "budget" in self.extras:
            ds.user_features.add_numeric("budget", self.extras["budget"].astype(np.float64))
        return ds

    def item_age_days(self, items: np.ndarray, t: float) -> np.ndarray:
        """Age of items at time t in days (negative before publish)."""
        return (float(t) - self.world.items.publish[items]) / _DAY

    def click_probability(self, user: int, items: np.ndarray, t: float,
                          plays: np.ndarray | None = None) -> np.ndarray:
        """P(click | examined) for one user over ``items``: the world's model plus the product's terms.

        ``plays`` (games: earlier plays of each item; streaming: 1 where the user watched the series)
        comes from the simulator's running state.
        """
        w, x = self.world, self.extras
        items = np.asarray(items, np.int64)
        u = np.full(items.shape, int(user))
        p = w.click_probability(u, items, t)
        fresh = np.maximum(w.freshness(items, t), 1e-300)
        logit = np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(1 - p, 1e-12))
        if self.name == "news":  # breaking stories: +2 logits, fading over 3 hours
            age_h = np.maximum(self.item_age_days(items, t) * 24.0, 0.0)
            logit += 2.0 * x["burst"][items] * np.exp2(-age_h / 3.0)
        elif self.name == "social":  # each user weighs freshness differently; friends' engagement
            logit += (x["fresh_pref"][user] - 1.0) * np.log(fresh) + 1.0 * _row_has(x["friends_items"], user, items)
        elif self.name == "video":  # evergreen videos do not age; shares from followees
            logit -= x["evergreen"][items] * np.log(fresh)
            logit += 0.8 * _row_has(x["friends_items"], user, items)
        elif self.name == "streaming" and plays is not None:  # the next episode of a started series
            logit += 1.0 * plays
        elif self.name == "games" and plays is not None:  # replay appeal fades as a game is completed
            logit += np.where(plays > 0, 2.0 * np.exp(-plays / x["tau"][items]), 0.0)
        out = 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))
        if self.name == "delivery":
            out = np.where(self.delivery_violations(user, items, t) == 0, out, 0.0)
        return np.where(p > 0, out, 0.0)

    def delivery_violations(self, user: int, items: np.ndarray, t: float) -> np.ndarray:
        """Per item: 0 orderable, 1 outside the radius, 2 closed, 3 above the user's budget."""
        x, it = self.extras, self.world.items
        dist = km_between(self.world.users.lat[user], self.world.users.lon[user], it.lat[items], it.lon[items])
        tod = float(t) % _DAY
        o, c = x["open_s"][items], x["close_s"][items]
        is_open = np.where(o <= c, (o <= tod) & (tod < c), (tod >= o) | (tod < c))
        out = np.zeros(items.shape, np.int64)
        out[it.price[items] > x["budget"][user]] = 3
        out[~is_open] = 2
        out[dist > x["radius_km"][0]] = 1
        return out


def _row_has(matrix: sp.csr_matrix, row: int, cols: np.ndarray) -> np.ndarray:
    """1.0 where ``matrix[row, cols]`` is non-zero."""
    have = matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
    return np.isin(cols, have).astype(np.float64)


def usecase_world(name: str, *, size: str = "demo", seed: int = 0, **overrides: Any) -> UseCaseWorld:
    """Generate the ``name`` product's world at ``size`` (``tiny`` | ``demo``) with WorldConfig overrides."""
    if name not in WORLD_DYNAMICS:
        raise ConfigError(f"unknown use case {name!r}; fix: use one of {', '.join(USE_CASES)}")
    if size not in SIZES:
        raise ConfigError(f"unknown use-case world size {size!r}; fix: use one of {', '.join(SIZES)}")
    fields = {**SIZES[size], **WORLD_DYNAMICS[name]}
    scale = fields.pop("n_items_scale", 1.0)
    fields["n_items"] = max(50, int(fields["n_items"] * scale))
    fields["n_creators"] = min(fields["n_creators"], fields["n_items"])
    world = generate_world({**fields, **overrides, "seed": seed}, progress=False)
    world.info["name"] = f"usecase-{name}"
    cutoff = int(world.start + _CUTOFF * (world.end - world.start))
    rng = np.random.default_rng([seed, USE_CASES.index(name)])
    world, extras = EXTRAS[name](world, cutoff, rng)
    return UseCaseWorld(name, world, cutoff, extras)
