"""Per-product ground truth added to a generated world (see ``usecases.py``): one builder each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.world.simulator import World

__all__ = ["EXTRAS", "km_between"]

_EARTH_KM = 6371.0088
_HOUR = 3600.0


def km_between(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in km (haversine) between points in degrees."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.asarray(lon2) - np.asarray(lon1)) / 2) ** 2)
    return 2 * _EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _friends_items(world: World, cutoff: int) -> sp.csr_matrix:
    """User x item: items some followee engaged with (liked or shared) before ``cutoff``."""
    ev = world.events
    keep = (ev.timestamp < cutoff) & (ev.event_type >= 2)
    engaged = sp.csr_matrix((np.ones(int(keep.sum())), (ev.user[keep], ev.item[keep])),
                            shape=(world.n_users, world.n_items))
    out = (world.follows @ engaged).tocsr()
    out.data[:] = 1.0
    return out


def _news(world: World, cutoff: int, rng: np.random.Generator) -> tuple[World, dict]:
    # one story in seven breaks: it draws far more clicks for its first hours
    return world, {"burst": (rng.random(world.n_items) < 0.15).astype(np.float64)}


def _social(world: World, cutoff: int, rng: np.random.Generator) -> tuple[World, dict]:
    # fresh_pref 0: age does not matter to this user; 2: twice the world's freshness decay
    return world, {"fresh_pref": rng.uniform(0.0, 2.0, world.n_users),
                   "friends_items": _friends_items(world, cutoff)}


def _video(world: World, cutoff: int, rng: np.random.Generator) -> tuple[World, dict]:
    evergreen = (rng.random(world.n_items) < 0.3).astype(np.float64)
    length = np.where(evergreen > 0, rng.lognormal(np.log(12), 0.5, world.n_items),
                      rng.lognormal(np.log(6), 0.5, world.n_items))
    return world, {"evergreen": evergreen, "length_min": length,
                   "friends_items": _friends_items(world, cutoff)}


def _streaming(world: World, cutoff: int, rng: np.random.Generator) -> tuple[World, dict]:
    # creators are series or albums; an episode runs 20-60 minutes
    return world, {"length_min": rng.uniform(20, 60, world.n_items)}


def _games(world: World, cutoff: int, rng: np.random.Generator) -> tuple[World, dict]:
    # tau: plays until a game feels done (completion / churn); a play lasts ~15 minutes
    return world, {"tau": rng.lognormal(np.log(4.0), 0.6, world.n_items),
                   "length_min": rng.lognormal(np.log(15), 0.4, world.n_items)}


def _delivery(world: World, cutoff: int, rng: np.random.Generator) -> tuple[World, dict]:
    """Users and sellers a few km around city centres; sellers have hours and an hourly capacity."""
    g, users, items = world.geography, world.users, world.items
    n_sellers = int(items.creator.max()) + 1
    seller_city = rng.choice(g.city_lat.shape[0], size=n_sellers, p=g.city_weight)
    s_lat = g.city_lat[seller_city] + rng.normal(0, 0.04, n_sellers)
    s_lon = g.city_lon[seller_city] + rng.normal(0, 0.04, n_sellers)
    u_lat = (g.city_lat[users.city] + rng.normal(0, 0.04, world.n_users)).astype(np.float32)
    u_lon = (g.city_lon[users.city] + rng.normal(0, 0.04, world.n_users)).astype(np.float32)
    # breakfast-lunch 7-15, lunch-dinner 11-23, or late 17-02 (wraps past midnight)
    shifts = np.array([[7, 15], [11, 23], [17, 2]], np.float64) * _HOUR
    shift = rng.choice(3, size=n_sellers, p=[0.25, 0.5, 0.25])
    it = replace(items, lat=s_lat[items.creator].astype(np.float32), lon=s_lon[items.creator].astype(np.float32))
    us = replace(users, lat=u_lat, lon=u_lon)
    return replace(world, users=us, items=it), {
        "open_s": shifts[shift, 0][items.creator], "close_s": shifts[shift, 1][items.creator],
        "capacity": rng.integers(1, 4, n_sellers).astype(np.float64),  # orders per hour
        "budget": np.exp(rng.normal(np.log(np.median(items.price)) + 0.3, 0.4, world.n_users)),
        "radius_km": np.array([5.0]),
    }


EXTRAS: dict[str, Callable[[World, int, np.random.Generator], tuple[World, dict]]] = {
    "news": _news, "social": _social, "streaming": _streaming, "video": _video, "games": _games,
    "delivery": _delivery,
}
