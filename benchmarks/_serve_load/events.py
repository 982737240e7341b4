"""The event path: POST /events round trips, and the time from a committed event to updated state."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import numpy as np

from _serve_load.processes import API_KEY

__all__ = ["post_events_latency", "update_latency"]


def post_events_latency(url: str, users: list, items: list, n: int) -> np.ndarray:
    lat = []
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=10.0) as c:
        for i in range(n):
            body = {"events": [{"event_id": f"bench-{time.time_ns()}-{i}", "user_id": str(random.choice(users)),
                                "item_id": str(random.choice(items)), "type": "click"}]}
            t0 = time.perf_counter()
            r = c.post("/events", json=body)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise SystemExit(f"POST /events failed: {r.status_code} {r.text}")
    return np.asarray(lat) * 1e3


def update_latency(model_dir: Path, n: int) -> np.ndarray:
    """In-process: time from a committed event to updated state (history, trending, fold-in)."""
    from shortlist.online import LoggedEvent, MemoryState, ModelHolder, Updater

    holder = ModelHolder(model_dir)
    updater = Updater(MemoryState(), holder)
    p = holder.current.pipeline
    users, items = p.users_.ids, p.items_.ids
    rng = np.random.default_rng(0)
    lat = []
    for i in range(n):
        ev = LoggedEvent(event_id=str(i), user_id=str(users[rng.integers(len(users))]),
                         item_id=str(items[rng.integers(len(items))]), type="click", timestamp=time.time())
        t0 = time.perf_counter()
        updater.apply([ev])
        lat.append(time.perf_counter() - t0)
    return np.asarray(lat[min(10, n // 10):]) * 1e3  # the first updates warm caches up
