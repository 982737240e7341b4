"""Live figures: event counts over time from the log (its own read-only connection) and latency from Prometheus."""

from __future__ import annotations

import math
import sqlite3
import time
from collections import deque
from pathlib import Path
from typing import Any

__all__ = ["LatencySampler", "event_series", "histogram_quantiles", "query_log"]

#: bucket widths tried in turn so a chart has at most ~60 points
_BUCKETS = (10, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
CLICK_TYPES = ("click", "reward", "feedback", "like", "purchase", "play")


def query_log(path: Path | None, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a read-only query on the event log ([] when there is no log yet)."""
    if path is None or not Path(path).exists():
        return []
    db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5.0)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # a log from before the schema: nothing to show
        return []
    finally:
        db.close()


def event_series(path: Path | None, *, item_id: str | None = None, column: str = "received_at") -> dict[str, Any]:
    """Events per time bucket and type (by arrival time), with click-through per bucket."""
    where, args = ("WHERE item_id = ?", (item_id,)) if item_id is not None else ("", ())
    span = query_log(path, f"SELECT MIN({column}), MAX({column}), COUNT(*) FROM events {where}", args)
    if not span or not span[0][2]:
        return {"bucket_s": 0, "start": 0.0, "series": {}, "ctr": [], "total": 0, "types": {}}
    lo, hi, total = span[0]
    bucket = next((b for b in _BUCKETS if (hi - lo) / b <= 60), _BUCKETS[-1])
    rows = query_log(path, f"SELECT CAST(({column} - ?) / ? AS INTEGER), type, COUNT(*) FROM events {where} "
                           "GROUP BY 1, 2 ORDER BY 1", (lo, bucket, *args))
    n = max(r[0] for r in rows) + 1
    series: dict[str, list[float]] = {}
    for b, typ, c in rows:
        series.setdefault(typ, [0.0] * n)[b] = float(c)
    shown = series.get("impression", [0.0] * n)
    clicks = [sum(series.get(t, [0.0] * n)[b] for t in CLICK_TYPES) for b in range(n)]
    ctr = [c / s if s else math.nan for c, s in zip(clicks, shown)]
    types = {t: int(sum(v)) for t, v in series.items()}
    return {"bucket_s": bucket, "start": float(lo), "series": series, "ctr": ctr, "total": int(total), "types": types}


def histogram_quantiles(histogram: Any, endpoint: str, qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[str, Any]:
    """Count and quantiles (ms, bucket-interpolated as Prometheus does) of one endpoint's latency histogram."""
    buckets: dict[float, float] = {}
    for metric in histogram.collect():
        for s in metric.samples:
            if s.name.endswith("_bucket") and s.labels.get("endpoint") == endpoint:
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
    edges = sorted(buckets)
    total = buckets.get(math.inf, 0.0)
    out: dict[str, Any] = {"count": int(total)}
    for q in qs:
        out[f"p{int(q * 100)}"] = _quantile(edges, buckets, total, q)
    return out


def _quantile(edges: list[float], buckets: dict[float, float], total: float, q: float) -> float:
    if total <= 0:
        return math.nan
    target, prev_edge, prev_count = q * total, 0.0, 0.0
    for e in edges:
        if buckets[e] >= target:
            if math.isinf(e):
                return prev_edge * 1e3
            frac = (target - prev_count) / max(buckets[e] - prev_count, 1e-12)
            return (prev_edge + frac * (e - prev_edge)) * 1e3
        prev_edge, prev_count = e, buckets[e]
    return prev_edge * 1e3


class LatencySampler:
    """Snapshots of the /recommend histogram taken when the overview is read: requests/s and p95 over time."""

    def __init__(self, keep: int = 120, min_gap_s: float = 2.0) -> None:
        self.points: deque[tuple[float, int, float]] = deque(maxlen=keep)
        self.min_gap_s = min_gap_s
        self._last: tuple[float, dict[float, float]] | None = None

    def sample(self, metrics: Any, endpoint: str = "/recommend") -> list[tuple[float, int, float]]:
        """Add a point (time, requests/s since the last, p95 ms overall) unless one was taken just now."""
        now = time.time()
        if metrics is None:
            return list(self.points)
        q = histogram_quantiles(metrics.latency, endpoint, (0.95,))
        if self._last is None or now - self._last[0] >= self.min_gap_s:
            rate = 0 if self._last is None else (q["count"] - self._last[1].get(0.0, 0.0)) / (now - self._last[0])
            self.points.append((now, max(0, round(rate)), q["p95"]))
            self._last = (now, {0.0: float(q["count"])})
        return list(self.points)
