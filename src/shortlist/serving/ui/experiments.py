"""The experiments page's figures: arms and variants from the event log, and off-policy estimates of candidate policies."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.evaluation.ope import bootstrap_ci
from shortlist.serving.ui.live import CLICK_TYPES, query_log

__all__ = ["arms", "off_policy", "variants", "wilson"]

_CLICKS = ",".join(f"'{t}'" for t in CLICK_TYPES)  # constants of this module, not user input


def wilson(successes: float, trials: float, z: float = 1.96) -> tuple[float, float, float]:
    """(rate, low, high): Wilson score interval of a click-through rate."""
    if trials <= 0:
        return math.nan, math.nan, math.nan
    p = min(successes / trials, 1.0)
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _rows_to_table(rows: list[tuple]) -> list[dict[str, Any]]:
    out = []
    for key, shown, clicked in rows:
        rate, lo, hi = wilson(float(clicked or 0), float(shown or 0))
        out.append({"key": key, "impressions": int(shown or 0), "clicks": int(clicked or 0), "rate": rate,
                    "low": lo, "high": hi})
    return out


def arms(path: Path | None, limit: int = 20) -> list[dict[str, Any]]:
    """Items an exploring slot drew (impressions with propensity < 1): impressions, clicks, CTR with interval."""
    rows = query_log(path, f"""
        SELECT i.item_id, COUNT(*), SUM(EXISTS(SELECT 1 FROM events c WHERE c.user_id = i.user_id
               AND c.item_id = i.item_id AND c.type IN ({_CLICKS}) AND c.seq > i.seq))
        FROM events i WHERE i.type = 'impression' AND i.propensity < 1
        GROUP BY i.item_id ORDER BY COUNT(*) DESC LIMIT ?""", (limit,))
    return _rows_to_table(rows)


def variants(path: Path | None) -> list[dict[str, Any]]:
    """A/B variants named in events' ``extra.variant``: impressions, clicks, CTR with interval."""
    rows = query_log(path, f"""
        SELECT json_extract(extra, '$.variant') AS v, SUM(type = 'impression'), SUM(type IN ({_CLICKS}))
        FROM events WHERE extra IS NOT NULL AND json_extract(extra, '$.variant') IS NOT NULL
        GROUP BY v ORDER BY v""")
    return _rows_to_table(rows)


def _logged(path: Path | None, limit: int) -> list[tuple[str, str, float, float]]:
    """(user, item, propensity, reward) of the latest logged impressions with a propensity."""
    return query_log(path, f"""
        SELECT i.user_id, i.item_id, i.propensity, EXISTS(SELECT 1 FROM events c WHERE c.user_id = i.user_id
               AND c.item_id = i.item_id AND c.type IN ({_CLICKS}) AND c.seq > i.seq)
        FROM events i WHERE i.type = 'impression' AND i.propensity > 0 ORDER BY i.seq DESC LIMIT ?""", (limit,))


def off_policy(path: Path | None, pipeline: Any, *, limit: int = 2000, max_users: int = 200) -> list[dict[str, Any]]:
    """IPS and self-normalised IPS of candidate policies on the logged impressions, with bootstrap intervals.

    A list policy counts as choosing a logged item with probability 1/k when the item is in
    its top-k for that user (each position equally likely), else 0: a per-position
    approximation that is exact for single-slot exploration.
    """
    logged = _logged(path, limit)
    if not logged:
        return []
    users = list(dict.fromkeys(u for u, *_ in logged))[:max_users]
    logged = [row for row in logged if row[0] in set(users)]
    k = pipeline.spec.k
    served = {u: set(map(str, pipeline.recommend(pipeline.make_request(_user(pipeline, u), k=k)).item_ids))
              for u in users}
    counts = np.bincount(pipeline.train_.indices, minlength=len(pipeline.items_))
    popular = set(map(str, pipeline.items_.lookup(np.argsort(-counts, kind="stable")[:k]).tolist()))
    reward = np.array([float(r) for *_, r in logged])
    prop = np.array([float(p) for _, _, p, _ in logged])
    policies = {
        "logging policy (on-policy mean)": np.ones(len(logged)),
        "served pipeline, top-k": np.array([(i in served[u]) / k for u, i, _, _ in logged]) / prop,
        "most popular, top-k": np.array([(i in popular) / k for _, i, _, _ in logged]) / prop,
    }
    out = []
    for name, w in policies.items():
        ips = bootstrap_ci(w * reward, n_bootstrap=200)
        snips = float((w * reward).sum() / w.sum()) if w.sum() > 0 else math.nan
        out.append({"policy": name, "ips": ips["mean"], "low": ips["lower"], "high": ips["upper"], "snips": snips,
                    "n": len(logged)})
    return out


def _user(pipeline: Any, user_id: str) -> Any:
    found = pipeline.users_.index(np.asarray([user_id]), missing="ignore")[0]
    return user_id if found >= 0 else None
