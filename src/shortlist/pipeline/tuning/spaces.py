"""Search spaces of the models the tuner can tune, scaled to the data where ranges depend on it.

A space maps a hyperparameter to a distribution: ``("log", lo, hi)`` (float, log-uniform),
``("float", lo, hi)``, ``("int_log", lo, hi)`` or ``("choice", [v1, v2, ...])``. A spec's
``[tuning.spaces]`` replaces a model's space with explicit lists of values.
"""

from __future__ import annotations

from typing import Any

from shortlist.data.facts import DataFacts
from shortlist.errors import ConfigError

__all__ = ["model_space", "suggest"]


def _time_scale_range(facts: DataFacts) -> tuple[float, float]:
    """Session closeness in the data's time unit: seconds with timestamps, events with row order."""
    return (10.0, 3e6) if facts.has_timestamps else (0.5, 500.0)


def model_space(kind: str, facts: DataFacts) -> dict[str, tuple[Any, ...]]:
    """The default search space of model ``kind`` on data with ``facts`` (empty: nothing to tune)."""
    small = max(2, min(facts.n_users, facts.n_items) - 1)
    factors = [f for f in (16, 32, 64, 128, 256) if f < small] or [max(1, small - 1)]
    if kind == "ease":
        return {"regularization": ("log", 1.0, 1e4)}
    if kind == "session-ease":
        return {"regularization": ("log", 1.0, 1e4), "time_scale": ("log", *_time_scale_range(facts))}
    if kind == "als":
        return {"factors": ("choice", factors), "regularization": ("log", 0.01, 100.0),
                "alpha": ("log", 0.01, 10.0), "w0": ("log", 0.01, 3.0)}
    if kind in ("item-knn", "user-knn"):
        return {"n_neighbors": ("int_log", 5, 1000), "shrink": ("float", 0.0, 100.0),
                "weighting": ("choice", ["none", "tfidf", "bm25"]), "alpha": ("float", 0.1, 0.9)}
    if kind == "graph-filter":
        gf_factors = [f for f in (8, 16, 32, 64, 128, 256) if f < small] or [1]
        return {"factors": ("choice", gf_factors), "ideal_weight": ("log", 0.01, 3.0),
                "sharpen": ("float", 0.0, 1.0)}
    if kind in ("warp", "bpr"):
        # regularization stays at the preset's: its default 0 lies outside any log range
        return {"factors": ("choice", factors[:4]), "learning_rate": ("log", 0.005, 0.1),
                "epochs": ("int_log", 10, 100)}
    if kind == "period-popularity":
        return {"bins": ("choice", [16, 64, 256]), "bandwidth": ("log", 0.25, 16.0)}
    if kind in ("popularity", "time-lift"):
        # the time lift ranks nothing alone: its own ndcg cannot choose its periods; the blend weighs it
        return {}
    return {}


def explicit_space(values: dict[str, list[Any]], model: str) -> dict[str, tuple[Any, ...]]:
    """A ``[tuning.spaces.MODEL]`` table as choices (each key a non-empty list)."""
    out = {}
    for key, vals in values.items():
        if not isinstance(vals, list) or not vals:
            raise ConfigError(f"tuning.spaces.{model}.{key} = {vals!r}: give a non-empty list of values, "
                              f"e.g. {key} = [1, 2, 3]")
        out[key] = ("choice", list(vals))
    return out


def suggest(trial: Any, space: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Draw one parameter set from ``space`` through an Optuna trial."""
    params: dict[str, Any] = {}
    for key, dist in space.items():
        kind = dist[0]
        if kind == "log":
            params[key] = trial.suggest_float(key, dist[1], dist[2], log=True)
        elif kind == "float":
            params[key] = trial.suggest_float(key, dist[1], dist[2])
        elif kind == "int_log":
            params[key] = trial.suggest_int(key, dist[1], dist[2], log=True)
        elif kind == "choice":
            params[key] = trial.suggest_categorical(key, list(dist[1]))
        else:
            raise ConfigError(f"unknown distribution {kind!r} for {key!r}")
    return params
