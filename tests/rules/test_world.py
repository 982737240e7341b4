"""End to end on the synthetic world: attributes from its feature tables, the recommended chain."""

from __future__ import annotations

from collections import Counter

import numpy as np

from shortlist.data.world import generate_world
from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import ItemAttributes, apply_rules, build_rules, haversine_km


def test_recommended_chain_on_the_synthetic_world():
    world = generate_world("tiny", seed=3)
    data = world.dataset()
    attrs = ItemAttributes.from_features(
        data.item_features,
        {
            "category": "category",
            "creator": "creator",
            "price": "price",
            "lat": "lat",
            "lon": "lon",
            "publish_time": "published_day",
            "time_origin": float(world.start),
            "time_unit_s": 86400.0,
            "content_hash": "title",
            "text": "title",
            "vectors": ["category", "creator"],
            "home_lat": "lat",
            "home_lon": "lon",
        },
        users=data.user_features,
        seen=data.interactions,
    )
    rules = build_rules(
        [
            {"kind": "exclude_seen"},
            {"kind": "geo_radius", "radius_km": 1500, "keep_unlocated": True},
            {"kind": "price_range", "max": float(np.nanmedian(attrs.price))},
            {"kind": "dedupe", "by": ["content_hash", "text"], "text_threshold": 0.95},
            {"kind": "creator_cap", "max_per_creator": 1},
            {"kind": "freshness_boost", "weight": 0.5, "half_life_days": 3},
            {"kind": "mmr", "lambda": 0.5},
            {"kind": "creator_spacing"},
        ],
        attrs,
    )
    rng = np.random.default_rng(0)
    now = float(world.start) + 30 * 86400.0
    for user in range(0, data.interactions.n_users, 17):
        items = rng.choice(attrs.n_items, 120, replace=False)
        cands = Candidates(items, np.sort(rng.random(120))[::-1])
        out, drops = apply_rules(rules, Request(user_index=user, context={"now": now}), cands, 10)
        kept = out.items
        dropped = np.concatenate([d.items for d in drops]) if drops else np.zeros(0, np.int64)
        assert sorted(kept.tolist() + dropped.tolist()) == sorted(items.tolist())
        assert not set(kept.tolist()) & set(data.interactions.matrix[user].indices.tolist())
        assert max(Counter(attrs.creator[kept].tolist()).values(), default=0) <= 1
        assert (attrs.price[kept] <= np.nanmedian(attrs.price)).all()
        home = attrs.home[user]
        dist = haversine_km(home[0], home[1], attrs.lat[kept], attrs.lon[kept])
        assert (dist[np.isfinite(dist)] <= 1500 + 1e-6).all()
        assert len(set(attrs.content_hash[kept].tolist())) == len(kept)
