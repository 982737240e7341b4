"""Online state: per-user recent history, folded-in user vectors, trending counters, bandit counts.

:class:`MemoryState` lives in one process (the default). :class:`RedisState` keeps the same
data in Redis so several replicas share it; it needs the ``redis`` client (``pip install
shortlist[serve]``) and a reachable server.

Trending scores decay exponentially without a sweeper: an event at time ``t`` adds
``2 ** ((t - t0) / half_life)``, so comparing scores at any moment is the same as comparing
decayed counts (the common factor ``2 ** (-(now - t0) / half_life)`` cancels).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Any

import numpy as np

from shortlist.errors import ConfigError

__all__ = ["MemoryState", "OnlineState", "RedisState", "make_state"]

# scores would overflow float64 after ~1000 half-lives past t0; rebase well before that
_MAX_EXPONENT = 900.0


class OnlineState:
    """Interface of the online state stores (ids are strings; vectors float32)."""

    #: True when other processes see writes (then readers must fetch vectors, not trust local models)
    shared = False

    def add_history(self, user_id: str, items: list[tuple[str, float]]) -> None:
        """Append ``(item_id, weight)`` pairs, newest last, to a user's bounded recent history."""
        raise NotImplementedError

    def history(self, user_id: str) -> list[tuple[str, float]]:
        """The user's recent ``(item_id, weight)``, oldest first."""
        raise NotImplementedError

    def set_vector(self, key: str, user_id: str, vector: np.ndarray) -> None:
        """Store a folded-in user vector under ``key`` (model version + model name)."""
        raise NotImplementedError

    def get_vector(self, key: str, user_id: str) -> np.ndarray | None:
        """The vector stored by :meth:`set_vector`, or None."""
        raise NotImplementedError

    def bump_trending(self, item_ids: list[str], timestamp: float) -> None:
        """Count one event for each item at ``timestamp`` (epoch seconds)."""
        raise NotImplementedError

    def trending(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` items with the highest decayed event counts, as (item_id, count now)."""
        raise NotImplementedError

    def bump_bandit(self, item_id: str, *, impressions: float = 0.0, reward: float = 0.0) -> None:
        """Add impressions and reward to an item's bandit counters."""
        raise NotImplementedError

    def bandit(self, item_id: str) -> tuple[float, float]:
        """(impressions, total reward) of an item."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class MemoryState(OnlineState):
    """In-process state; least recently active users are forgotten beyond ``max_users``."""

    def __init__(self, *, history_length: int = 200, max_users: int = 1_000_000,
                 half_life_s: float = 3600.0, t0: float | None = None) -> None:
        self.history_length, self.max_users, self.half_life_s = history_length, max_users, half_life_s
        self._lock = threading.Lock()
        self._hist: OrderedDict[str, deque] = OrderedDict()
        self._vectors: dict[str, dict[str, np.ndarray]] = {}
        self._trend: dict[str, float] = {}
        self._t0 = time.time() if t0 is None else t0
        self._bandit: dict[str, list[float]] = {}

    def add_history(self, user_id: str, items: list[tuple[str, float]]) -> None:
        with self._lock:
            dq = self._hist.get(user_id)
            if dq is None:
                dq = self._hist[user_id] = deque(maxlen=self.history_length)
                while len(self._hist) > self.max_users:
                    old, _ = self._hist.popitem(last=False)
                    for vecs in self._vectors.values():
                        vecs.pop(old, None)
            else:
                self._hist.move_to_end(user_id)
            dq.extend(items)

    def history(self, user_id: str) -> list[tuple[str, float]]:
        dq = self._hist.get(user_id)
        return list(dq) if dq else []

    def set_vector(self, key: str, user_id: str, vector: np.ndarray) -> None:
        with self._lock:
            # one model version at a time: vectors of older versions are useless after a swap
            if key not in self._vectors:
                version = key.split("/", 1)[0]
                for other in [k for k in self._vectors if k.split("/", 1)[0] != version]:
                    del self._vectors[other]
            self._vectors.setdefault(key, {})[user_id] = np.asarray(vector, np.float32)

    def get_vector(self, key: str, user_id: str) -> np.ndarray | None:
        return self._vectors.get(key, {}).get(user_id)

    def _weight(self, timestamp: float) -> float:
        exponent = (timestamp - self._t0) / self.half_life_s
        if exponent > _MAX_EXPONENT:  # rebase every score to a new t0
            shift = 2.0 ** (-(exponent - 1.0))
            self._trend = {k: v * shift for k, v in self._trend.items()}
            self._t0 = timestamp - self.half_life_s
            exponent = 1.0
        return 2.0 ** max(exponent, -_MAX_EXPONENT)

    def bump_trending(self, item_ids: list[str], timestamp: float) -> None:
        with self._lock:
            w = self._weight(timestamp)
            for it in item_ids:
                self._trend[it] = self._trend.get(it, 0.0) + w

    def trending(self, n: int) -> list[tuple[str, float]]:
        now_factor = 2.0 ** (-(time.time() - self._t0) / self.half_life_s)
        with self._lock:
            items = sorted(self._trend.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(k, v * now_factor) for k, v in items]

    def bump_bandit(self, item_id: str, *, impressions: float = 0.0, reward: float = 0.0) -> None:
        with self._lock:
            c = self._bandit.setdefault(item_id, [0.0, 0.0])
            c[0] += impressions
            c[1] += reward

    def bandit(self, item_id: str) -> tuple[float, float]:
        c = self._bandit.get(item_id, (0.0, 0.0))
        return float(c[0]), float(c[1])


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
        exponent = min((timestamp - self._t0) / self.half_life_s, _MAX_EXPONENT)
        w = 2.0 ** max(exponent, -_MAX_EXPONENT)
        pipe = self.r.pipeline()
        for it in item_ids:
            pipe.zincrby(f"{self.p}:trend", w, it)
        pipe.execute()

    def trending(self, n: int) -> list[tuple[str, float]]:
        factor = 2.0 ** (-(time.time() - self._t0) / self.half_life_s)
        rows = self.r.zrevrange(f"{self.p}:trend", 0, n - 1, withscores=True)
        return [(k.decode(), float(v) * factor) for k, v in rows]

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


def make_state(settings: Any) -> OnlineState:
    """The state store named by ``settings.state``."""
    if settings.state == "redis":
        return RedisState(settings.redis_url, prefix=settings.redis_prefix, history_length=settings.history_length,
                          half_life_s=settings.trending_half_life_s)
    return MemoryState(history_length=settings.history_length, max_users=settings.max_online_users,
                       half_life_s=settings.trending_half_life_s)

