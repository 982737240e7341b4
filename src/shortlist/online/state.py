"""Online state: per-user recent history, folded-in user vectors, trending counters, bandit counts.

:class:`MemoryState` (``memory_state.py``) lives in one process (the default). :class:`RedisState` keeps the same
data in Redis so several replicas share it; it needs the ``redis`` client (``pip install
shortlist[serve]``) and a reachable server.

Trending scores decay exponentially without a sweeper: an event at time ``t`` adds
``2 ** ((t - t0) / half_life)``, so comparing scores at any moment is the same as comparing
decayed counts (the common factor ``2 ** (-(now - t0) / half_life)`` cancels).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from shortlist.errors import ConfigError
from shortlist.online.memory_state import MemoryState
from shortlist.online.state_base import MAX_EXPONENT, OnlineState, decayed_now, decayed_weight

__all__ = ["MAX_EXPONENT", "MemoryState", "OnlineState", "RedisState", "decayed_now", "decayed_weight", "make_state"]


class RedisState(OnlineState):
    """State shared by replicas through Redis (lists, strings, one sorted set, hashes)."""

    shared = True

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "shortlist",
                 history_length: int = 200, half_life_s: float = 3600.0, vector_ttl_s: int = 7 * 86400,
                 client: Any = None) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError("state='redis' needs the redis client; pip install 'shortlist[serve]'") from exc
        self.r = client if client is not None else redis.Redis.from_url(url)
        try:
            self.r.ping()
        except redis.RedisError as exc:
            raise ConfigError(f"cannot reach Redis at redis_url={url!r} ({exc}); start it or use state='memory'") \
                from None
        self.p, self.history_length, self.half_life_s, self.vector_ttl_s = prefix, history_length, half_life_s, \
            vector_ttl_s
        # every replica must decay from the same origin: the first one to start sets it
        self.r.setnx(f"{self.p}:trend_t0", repr(time.time()))
        self._t0 = float(self.r.get(f"{self.p}:trend_t0"))

    def add_history(self, user_id: str, items: list[tuple[str, float]]) -> None:
        key = f"{self.p}:hist:{user_id}"
        pipe = self.r.pipeline()
        pipe.rpush(key, *[f"{w!r}\t{i}" for i, w in items])
        pipe.ltrim(key, -self.history_length, -1)
        pipe.execute()

    def history(self, user_id: str) -> list[tuple[str, float]]:
        out = []
        for raw in self.r.lrange(f"{self.p}:hist:{user_id}", 0, -1):
            w, _, item = raw.decode().partition("\t")
            out.append((item, float(w)))
        return out

    def set_vector(self, key: str, user_id: str, vector: np.ndarray) -> None:
        self.r.set(f"{self.p}:vec:{key}:{user_id}", np.asarray(vector, "<f4").tobytes(), ex=self.vector_ttl_s)

    def get_vector(self, key: str, user_id: str) -> np.ndarray | None:
        raw = self.r.get(f"{self.p}:vec:{key}:{user_id}")
        return None if raw is None else np.frombuffer(raw, "<f4").copy()

    def bump_trending(self, item_ids: list[str], timestamp: float) -> None:
        w = decayed_weight(timestamp, self._t0, self.half_life_s)
        pipe = self.r.pipeline()
        for it in item_ids:
            pipe.zincrby(f"{self.p}:trend", w, it)
        pipe.execute()

    def trending(self, n: int) -> list[tuple[str, float]]:
        rows = self.r.zrevrange(f"{self.p}:trend", 0, n - 1, withscores=True)
        now = time.time()
        return [(k.decode(), decayed_now(float(v), self._t0, self.half_life_s, now)) for k, v in rows]

    def bump_bandit(self, item_id: str, *, impressions: float = 0.0, reward: float = 0.0) -> None:
        pipe = self.r.pipeline()
        pipe.hincrbyfloat(f"{self.p}:bandit:{item_id}", "impressions", impressions)
        pipe.hincrbyfloat(f"{self.p}:bandit:{item_id}", "reward", reward)
        pipe.execute()

    def bandit(self, item_id: str) -> tuple[float, float]:
        h = self.r.hgetall(f"{self.p}:bandit:{item_id}")
        return float(h.get(b"impressions", 0.0)), float(h.get(b"reward", 0.0))

    def close(self) -> None:
        self.r.close()

    def applied_seq(self) -> int | None:
        raw = self.r.get(f"{self.p}:applied_seq")
        return None if raw is None else int(raw)

    def mark_applied(self, seq: int) -> None:
        # a high watermark: the largest seq wins even when batches finish out of order
        self.r.eval("local v = tonumber(redis.call('GET', KEYS[1]) or '0') "
                    "if tonumber(ARGV[1]) > v then redis.call('SET', KEYS[1], ARGV[1]) end", 1,
                    f"{self.p}:applied_seq", int(seq))

    def rebuild_lock(self, timeout_s: float = 600.0) -> Any:
        """A lock held by the one replica that replays the log into Redis at start-up."""
        return self.r.lock(f"{self.p}:rebuild_lock", timeout=timeout_s, blocking_timeout=timeout_s)


def make_state(settings: Any) -> OnlineState:
    """The state store named by ``settings.state``."""
    if settings.state == "redis":
        return RedisState(settings.redis_url, prefix=settings.redis_prefix, history_length=settings.history_length,
                          half_life_s=settings.trending_half_life_s)
    return MemoryState(history_length=settings.history_length, max_users=settings.max_online_users,
                       memory_bytes=int(settings.online_memory_mb * (1 << 20)),
                       half_life_s=settings.trending_half_life_s)
