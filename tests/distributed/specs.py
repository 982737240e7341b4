"""A small pipeline spec for the distributed tests: ALS + popularity, rules, no ranking stage."""

from __future__ import annotations

ALS_PARAMS = {"factors": 8, "iterations": 3, "regularization": 1.0, "alpha": 1.0, "progress": False}


def spec(engine: str = "local") -> dict:
    return {
        "name": "distributed-test", "k": 5,
        "models": {"als": {"kind": "als", "params": ALS_PARAMS}, "pop": {"kind": "popularity"}},
        "sources": [{"name": "als", "kind": "embedding", "model": "als", "quota": 40},
                    {"name": "popular", "kind": "popular", "quota": 10}],
        "rules": [{"kind": "exclude_seen"}, {"kind": "creator_cap", "max_per_creator": 2}],
        "tuning": {"budget": 0},
        "cluster": {"engine": engine, "blocks": 3},
    }
