"""World: the generated users, items, events and impressions, plus the simulator hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.dataset import Dataset
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab
from shortlist.data.world.config import WorldConfig
from shortlist.data.world.population import GENDERS, Geography, Items, Users
from shortlist.errors import DataError

__all__ = ["EVENT_TYPES", "Events", "Impressions", "World", "popularity_term"]

#: Event types, in order of engagement depth; ``Events.event_type`` holds codes into it.
EVENT_TYPES = ("view", "click", "like", "share")


def popularity_term(popularity: np.ndarray) -> np.ndarray:
    """0.5 * standardized log base popularity: how much popularity shifts the click logit."""
    lp = np.log(popularity)
    return 0.5 * (lp - lp.mean()) / max(float(lp.std()), 1e-12)


@dataclass
class Events:
    """The organic event log, sorted by user then time (one row per event)."""

    user: np.ndarray  # int32
    item: np.ndarray  # int32
    timestamp: np.ndarray  # int64 epoch seconds
    event_type: np.ndarray  # int16 code into EVENT_TYPES
    value: np.ndarray  # float32 watch fraction in (0, 1]
    origin: np.ndarray  # int8: 0 organic choice, 1 repeat, 2 copied from a followee

    def __len__(self) -> int:
        return int(self.user.shape[0])


@dataclass
class Impressions:
    """Logged slates shown by the logging policy, one row per (slate, position).

    ``propensity`` is the probability the logging policy had of putting ``item`` at
    ``position`` given the user, the time, its candidate pool and the items it had already
    placed above (Plackett-Luce): position 0 is the marginal, and the product over a slate
    is the probability of the whole slate. Rows are ordered by slate, then position.
    """

    slate: np.ndarray  # int64 slate id, chronological
    user: np.ndarray  # int32
    item: np.ndarray  # int32
    position: np.ndarray  # int16, 0 = top
    timestamp: np.ndarray  # int64 epoch seconds
    propensity: np.ndarray  # float64 in (0, 1]
    clicked: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.slate.shape[0])

    @property
    def n_slates(self) -> int:
        """Number of distinct slates."""
        return int(np.unique(self.slate).size)

    def slate_probability(self) -> np.ndarray:
        """Probability of each whole slate under the logging policy (product over positions)."""
        ids, start = np.unique(self.slate, return_index=True)
        return np.multiply.reduceat(self.propensity, start) if ids.size else np.zeros(0)


@dataclass
class World:
    """A generated world; ``dataset()`` gives the offline view, the methods give ground truth.

    Users and items are addressed by index (``user_idx``, ``item_idx``); their external ids in
    :meth:`dataset` are the strings ``"u<index>"`` and ``"i<index>"``. Item indices follow
    publish order, so the items available at time ``t`` are a prefix. Times are epoch seconds.
    """

    config: WorldConfig
    start: int
    end: int
    geography: Geography
    users: Users
    items: Items
    follows: sp.csr_matrix
    events: Events
    impressions: Impressions
    info: dict[str, Any] = field(default_factory=dict)

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return int(self.users.age.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.items.publish.shape[0])

    def __repr__(self) -> str:
        return (f"World({self.n_users} users, {self.n_items} items, {len(self.events)} events, "
                f"{len(self.impressions)} impressions, {self.follows.nnz} follows, seed={self.config.seed})")

    # -- simulator hooks -----------------------------------------------------------------
    def true_affinity(self, user_idx: Any, item_idx: Any) -> np.ndarray:
        """Taste . traits for broadcast user/item index arrays (float32).

        Pass equal-length arrays for pairs, or ``users[:, None]`` and ``items`` for a grid.
        """
        u, i = self._indices(user_idx, item_idx)
        if u.ndim == 2 and u.shape[1] == 1 and i.ndim == 1:
            return self.users.taste[u[:, 0]] @ self.items.traits[i].T
        u, i = np.broadcast_arrays(u, i)
        return np.einsum("...d,...d->...", self.users.taste[u], self.items.traits[i])

    def freshness(self, item_idx: Any, t: Any) -> np.ndarray:
        """Freshness weight floor + (1 - floor) * 2**(-age / half_life) in (0, 1]; 0 if unpublished."""
        cfg = self.config
        publish = self.items.publish[np.asarray(item_idx)]
        age = (np.asarray(t, dtype=np.float64) - publish) / 86400.0
        fresh = cfg.freshness_floor + (1 - cfg.freshness_floor) * np.exp2(-np.maximum(age, 0.0)
                                                                         / cfg.freshness_half_life_days)
        return np.where(age >= 0, fresh, 0.0)

    def click_probability(self, user_idx: Any, item_idx: Any, t: Any) -> np.ndarray:
        """P(click | the user examines the item at time t), in [0, 1]; 0 before publish.

        sigmoid(affinity_strength * taste.traits + pop_term + log(freshness) + click_bias).
        """
        u, i = self._indices(user_idx, item_idx)
        fresh = self.freshness(i, t)
        logit = (self.config.affinity_strength * self.true_affinity(u, i) + self.pop_term[i]
                 + np.log(np.maximum(fresh, 1e-300)) + self.config.click_bias)
        return np.where(fresh > 0, 1.0 / (1.0 + np.exp(-logit)), 0.0)

    def examination(self, position: Any) -> np.ndarray:
        """P(the user looks at slate position ``position``) = (1 + position) ** -position_bias."""
        return (1.0 + np.asarray(position, dtype=np.float64)) ** -self.config.position_bias

    def sample_clicks(self, user_idx: Any, item_idx: Any, t: Any,
                      rng: np.random.Generator | int | None = None, *,
                      position: Any = None) -> np.ndarray:
        """Bernoulli clicks with :meth:`click_probability` (times :meth:`examination` at a position)."""
        p = self.click_probability(user_idx, item_idx, t)
        if position is not None:
            p = p * self.examination(position)
        return np.random.default_rng(rng).random(p.shape) < p

    def items_available(self, t: Any) -> np.ndarray:
        """Indices of the items published at or before time ``t`` (a prefix 0..n-1)."""
        return np.arange(int(np.searchsorted(self.items.publish, int(t), side="right")))

    @cached_property
    def pop_term(self) -> np.ndarray:
        """Per-item popularity term of the click logit (see :func:`popularity_term`)."""
        return popularity_term(self.items.popularity)

    def _indices(self, user_idx: Any, item_idx: Any) -> tuple[np.ndarray, np.ndarray]:
        u, i = np.asarray(user_idx), np.asarray(item_idx)
        for name, arr, n in (("user_idx", u, self.n_users), ("item_idx", i, self.n_items)):
            if arr.dtype.kind not in "iu":
                raise DataError(f"{name} must hold integer indices, got dtype {arr.dtype}; "
                                "map external ids with dataset().interactions.users.index(...)")
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise DataError(f"{name} has values outside 0..{n - 1} (got {arr.min()}..{arr.max()}); "
                                "pass indices, not ids")
        return u, i

    # -- offline view --------------------------------------------------------------------
    def user_ids(self) -> np.ndarray:
        """External user ids ``"u0"``, ``"u1"``... in index order."""
        return np.char.add("u", np.arange(self.n_users).astype(str))

    def item_ids(self) -> np.ndarray:
        """External item ids ``"i0"``, ``"i1"``... in index order (= publish order)."""
        return np.char.add("i", np.arange(self.n_items).astype(str))

    def dataset(self, name: str | None = None) -> Dataset:
        """Interactions (binary weighting) with user/item features and the follow graph."""
        users, items = Vocab(self.user_ids()), Vocab(self.item_ids())
        ev = self.events
        inter = Interactions(users, items, ev.user, ev.item, ev.value, ev.timestamp, ev.event_type,
                             EVENT_TYPES, weighting="binary", validate=False)
        u, g = self.users, self.geography
        uf = FeatureTable(users)
        uf.add_numeric("age", u.age)
        uf.add_categorical_codes("gender", u.gender, GENDERS)
        uf.add_categorical_codes("country", u.country, g.countries)
        uf.add_categorical_codes("city", u.city, [f"city{c}" for c in range(len(g.city_lat))])
        uf.add_numeric("lat", u.lat)
        uf.add_numeric("lon", u.lon)
        it = self.items
        itf = FeatureTable(items)
        itf.add_categorical_codes("category", it.category, it.category_names)
        itf.add_categorical_codes("creator", it.creator, it.creator_names)
        itf.add_numeric("price", it.price)
        itf.add_numeric("published_day", ((it.publish - self.start) / 86400.0).astype(np.float32))
        itf.add_numeric("lat", it.lat)
        itf.add_numeric("lon", it.lon)
        itf.add_text("title", it.title)
        info = {"source": "synthetic world", "seed": self.config.seed,
                "start": self.start, "end": self.end, "impressions": len(self.impressions)}
        return Dataset(name or self.info.get("name", "world"), inter, uf, itf, self.follows, info)
