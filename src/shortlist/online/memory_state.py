"""In-process online state held in arrays, bounded by a byte budget with least-recently-used eviction.

Each user owns a slot: its history sits in :class:`HistoryStore` slabs, its folded-in vectors
in one float32 matrix per model, its last use in an int64 clock array. The only Python
objects per user are its id string, its slot number and its dict entry (about 140 bytes
together, 176 with the arrays' per-user entries; ``benchmarks/online_memory.py`` measures it). When the bytes in use pass the
budget, the least recently used 1/64 of the users are evicted at once (one O(n) partition
per batch instead of an ordered dict). An evicted user is remembered in a 2 MiB bit filter:
if they come back, their history is reloaded from the event log by the ``loader`` the
server installs, and their vectors are folded in again on their next request.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from shortlist.errors import ConfigError
from shortlist.online.histories import GROWTH_SHIFT, HistoryStore
from shortlist.online.state_base import MAX_EXPONENT, OnlineState, decayed_now, decayed_weight

__all__ = ["USER_OVERHEAD_BYTES", "MemoryState"]

#: fixed bytes one user costs besides history rows and vectors (id string, dict entry, slot arrays)
USER_OVERHEAD_BYTES = 176
FILTER_BITS = 1 << 24
MIN_BUDGET = 1 << 20

#: (user_id, before_seq) -> the user's last events from the log, oldest first
Loader = Callable[[str, int | None], list[tuple[str, float]]]


def _grow(a: np.ndarray, n: int, fill: Any) -> np.ndarray:
    if n <= a.shape[0]:
        return a
    size = max(n, 1024, a.shape[0] + (a.shape[0] >> GROWTH_SHIFT))
    out = np.full((size, *a.shape[1:]), fill, a.dtype)
    out[: a.shape[0]] = a
    return out


class _Vectors:
    """Vectors of one model key, one matrix row per user that has one (rows reused after eviction)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.row_of = np.empty(0, np.int32)  # by user slot, -1: none
        self.data = np.empty((0, dim), np.float32)
        self.free: list[int] = []
        self.n_rows = 0

    def set(self, slot: int, vec: np.ndarray) -> bool:
        """Store; True when a new row was used."""
        self.row_of = _grow(self.row_of, slot + 1, -1)
        r = int(self.row_of[slot])
        new = r < 0
        if new:
            if self.free:
                r = self.free.pop()
            else:
                self.data = _grow(self.data, self.n_rows + 1, 0.0)
                r, self.n_rows = self.n_rows, self.n_rows + 1
            self.row_of[slot] = r
        self.data[r] = vec
        return new

    def get(self, slot: int) -> np.ndarray | None:
        if slot >= self.row_of.shape[0] or self.row_of[slot] < 0:
            return None
        return self.data[self.row_of[slot]].copy()

    def drop(self, slot: int) -> bool:
        if slot >= self.row_of.shape[0] or self.row_of[slot] < 0:
            return False
        self.free.append(int(self.row_of[slot]))
        self.row_of[slot] = -1
        return True


class MemoryState(OnlineState):
    """In-process state; least recently used users are evicted beyond ``memory_bytes`` or ``max_users``."""

    def __init__(self, *, history_length: int = 200, max_users: int = 1_000_000, memory_bytes: int = 512 << 20,
                 half_life_s: float = 3600.0, t0: float | None = None) -> None:
        if memory_bytes < MIN_BUDGET:
            raise ConfigError(f"memory_bytes={memory_bytes}: the online state needs at least {MIN_BUDGET} bytes "
                              "(online_memory_mb >= 1); raise it")
        self.history_length, self.max_users, self.half_life_s = history_length, max_users, half_life_s
        self.memory_bytes = int(memory_bytes)
        self._lock = threading.RLock()
        self._slot: dict[str, int] = {}  # the only per-user Python objects (no slot -> id list: eviction
        self._n_slots = 0                # and snapshots walk this dict, which they do in O(n) anyway)
        self._free_slots: list[int] = []
        self._last = np.empty(0, np.int64)
        self._clock = 0
        self._hist = HistoryStore(history_length)
        self._vectors: dict[str, _Vectors] = {}
        self._item_code: dict[str, int] = {}
        self._item_ids: list[str] = []
        self._trend: dict[str, float] = {}
        self._t0 = time.time() if t0 is None else t0
        self._bandit: dict[str, list[float]] = {}
        self._evicted = np.zeros(FILTER_BITS // 8, np.uint8)
        self.evictions = 0
        self.loader: Loader | None = None

    # -- users -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._slot)

    def used_bytes(self) -> int:
        """Bytes the budget counts: per-user overhead, history rows in use, vector rows in use."""
        vec = sum((v.n_rows - len(v.free)) * v.dim * 4 for v in self._vectors.values())
        return len(self._slot) * USER_OVERHEAD_BYTES + self._hist.used_bytes + vec

    def _filter_bit(self, user_id: str) -> tuple[int, int]:
        h = zlib.crc32(user_id.encode()) % FILTER_BITS  # stable across processes: saved in checkpoints
        return h >> 3, 1 << (h & 7)

    def maybe_evicted(self, user_id: str) -> bool:
        """Whether ``user_id`` may have been evicted (false positives possible, no false negatives)."""
        byte, bit = self._filter_bit(user_id)
        return bool(self._evicted[byte] & bit) and user_id not in self._slot

    def _touch(self, slot: int) -> None:
        self._clock += 1
        self._last[slot] = self._clock

    def _new_slot(self, user_id: str) -> int:
        if self._free_slots:
            slot = self._free_slots.pop()
        else:
            slot, self._n_slots = self._n_slots, self._n_slots + 1
            self._last = _grow(self._last, slot + 1, 0)
            self._hist.ensure_slots(slot + 1)
        self._slot[user_id] = slot
        return slot

    def _evict_if_needed(self, protect: int) -> None:
        while len(self._slot) > 1 and (len(self._slot) > self.max_users or self.used_bytes() > self.memory_bytes):
            users = list(self._slot)
            live = np.fromiter(self._slot.values(), np.int64, len(self._slot))
            last = np.where(live == protect, np.iinfo(np.int64).max, self._last[live])
            n = min(len(live) - 1, max(1, len(self._slot) // 64))
            for j in np.argpartition(last, n - 1)[:n].tolist():
                self._drop(users[j], int(live[j]))

    def _drop(self, user_id: str, slot: int) -> None:
        del self._slot[user_id]
        self._hist.free(slot)
        for v in self._vectors.values():
            v.drop(slot)
        self._free_slots.append(slot)
        byte, bit = self._filter_bit(user_id)
        self._evicted[byte] |= bit
        self.evictions += 1

    def _codes(self, item_ids: list[str]) -> np.ndarray:
        code = self._item_code
        out = np.empty(len(item_ids), np.int32)
        for j, it in enumerate(item_ids):
            c = code.get(it)
            if c is None:
                c = code[it] = len(self._item_ids)
                self._item_ids.append(it)
            out[j] = c
        return out

    # -- history -----------------------------------------------------------------------
    def add_history(self, user_id: str, items: list[tuple[str, float]]) -> None:
        with self._lock:
            slot = self._slot.get(user_id)
            if slot is None:
                slot = self._new_slot(user_id)
            self._hist.append(slot, self._codes([i for i, _ in items]), np.asarray([w for _, w in items], np.float32))
            self._touch(slot)
            self._evict_if_needed(slot)

    def restore_user(self, user_id: str, before_seq: int | None = None) -> bool:
        """Reload an evicted user's history from the log (events before ``before_seq``); True if any."""
        if self.loader is None or not self.maybe_evicted(user_id):
            return False
        events = self.loader(user_id, before_seq)
        with self._lock:
            if user_id in self._slot or not events:
                return False
            self.add_history(user_id, events)
        return True

    def history(self, user_id: str) -> list[tuple[str, float]]:
        with self._lock:
            slot = self._slot.get(user_id)
            if slot is None:
                if not self.restore_user(user_id):
                    return []
                slot = self._slot[user_id]
            self._touch(slot)
            codes, weights = self._hist.get(slot)
            ids = self._item_ids
            return [(ids[c], w) for c, w in zip(codes.tolist(), weights.tolist())]

    # -- vectors -----------------------------------------------------------------------
    def set_vector(self, key: str, user_id: str, vector: np.ndarray) -> None:
        vector = np.asarray(vector, np.float32)
        with self._lock:
            # one model version at a time: vectors of older versions are useless after a swap
            if key not in self._vectors:
                version = key.split("/", 1)[0]
                for other in [k for k in self._vectors if k.split("/", 1)[0] != version]:
                    del self._vectors[other]
                self._vectors[key] = _Vectors(vector.shape[0])
            table = self._vectors[key]
            if table.dim != vector.shape[0]:
                raise ValueError(f"vector of length {vector.shape[0]} for {key!r}, whose vectors have {table.dim}")
            slot = self._slot.get(user_id)
            if slot is None:
                slot = self._new_slot(user_id)
            table.set(slot, vector)
            self._touch(slot)
            self._evict_if_needed(slot)

    def get_vector(self, key: str, user_id: str) -> np.ndarray | None:
        with self._lock:
            table, slot = self._vectors.get(key), self._slot.get(user_id)
            return None if table is None or slot is None else table.get(slot)

    # -- trending and bandit counters (per item, not per user: not evicted) ------------
    def bump_trending(self, item_ids: list[str], timestamp: float) -> None:
        with self._lock:
            exponent = (timestamp - self._t0) / self.half_life_s
            if exponent > MAX_EXPONENT:  # rebase every score to a new t0
                shift = 2.0 ** (-(exponent - 1.0))
                self._trend = {k: v * shift for k, v in self._trend.items()}
                self._t0 = timestamp - self.half_life_s
            w = decayed_weight(timestamp, self._t0, self.half_life_s)
            for it in item_ids:
                self._trend[it] = self._trend.get(it, 0.0) + w

    def trending(self, n: int) -> list[tuple[str, float]]:
        now = time.time()
        with self._lock:
            items = sorted(self._trend.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(k, decayed_now(v, self._t0, self.half_life_s, now)) for k, v in items]

    def bump_bandit(self, item_id: str, *, impressions: float = 0.0, reward: float = 0.0) -> None:
        with self._lock:
            c = self._bandit.setdefault(item_id, [0.0, 0.0])
            c[0] += impressions
            c[1] += reward

    def bandit(self, item_id: str) -> tuple[float, float]:
        c = self._bandit.get(item_id, (0.0, 0.0))
        return float(c[0]), float(c[1])

    # -- snapshots (see online/checkpoint.py) ------------------------------------------
    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of everything as plain arrays (users least recently used first)."""
        with self._lock:
            ids = list(self._slot)
            slots = np.fromiter(self._slot.values(), np.int64, len(self._slot))
            order = np.argsort(self._last[slots], kind="stable")
            slots = slots[order]
            lengths, items, weights = self._hist.dump(slots)
            out: dict[str, np.ndarray] = {
                "user_ids": _strings(ids[j] for j in order.tolist()),
                "hist_lengths": lengths, "hist_items": items, "hist_weights": weights,
                "item_ids": _strings(self._item_ids),
                "trend_items": _strings(self._trend),
                "trend_scores": np.fromiter(self._trend.values(), np.float64, len(self._trend)),
                "trend_t0": np.float64(self._t0),
                "bandit_items": _strings(self._bandit),
                "bandit_counts": np.asarray(list(self._bandit.values()), np.float64).reshape(-1, 2),
                "evicted_filter": self._evicted.copy(),
                "vector_keys": _strings(self._vectors),
            }
            for j, table in enumerate(self._vectors.values()):
                rows = np.full(len(slots), -1, np.int64)
                has = slots < table.row_of.shape[0]
                rows[has] = table.row_of[slots[has]]
                keep = np.flatnonzero(rows >= 0)
                out[f"vector_users_{j}"] = keep.astype(np.int32)
                out[f"vector_data_{j}"] = table.data[rows[keep]]
            return out

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        """Replace the contents by a :meth:`snapshot` (the budget still applies)."""
        with self._lock:
            self.__init__(history_length=self.history_length, max_users=self.max_users,  # type: ignore[misc]
                          memory_bytes=self.memory_bytes, half_life_s=self.half_life_s,
                          t0=float(snap["trend_t0"]))
            self._codes(_unstrings(snap["item_ids"]))
            users = _unstrings(snap["user_ids"])
            n = len(users)
            self._slot = dict(zip(users, range(n)))
            self._n_slots = n
            self._last = np.arange(1, max(n, 1) + 1, dtype=np.int64)
            self._clock = n
            self._hist.ensure_slots(n)
            self._hist.load(np.arange(n), snap["hist_lengths"], snap["hist_items"], snap["hist_weights"])
            for j, key in enumerate(_unstrings(snap["vector_keys"])):
                data = np.asarray(snap[f"vector_data_{j}"], np.float32)
                table = self._vectors[key] = _Vectors(data.shape[1])
                table.row_of = np.full(max(n, 1), -1, np.int32)
                table.row_of[snap[f"vector_users_{j}"]] = np.arange(data.shape[0], dtype=np.int32)
                table.data, table.n_rows = data.copy(), data.shape[0]
            self._trend = dict(zip(_unstrings(snap["trend_items"]), snap["trend_scores"].tolist()))
            self._bandit = {k: list(v) for k, v in zip(_unstrings(snap["bandit_items"]),
                                                        snap["bandit_counts"].tolist())}
            self._evicted[:] = snap["evicted_filter"]
            if n:
                self._evict_if_needed(-1)

    def vectors(self, key: str) -> tuple[list[str], np.ndarray]:
        """(user ids, vectors) stored under ``key``."""
        with self._lock:
            table = self._vectors.get(key)
            if table is None:
                return [], np.empty((0, 0), np.float32)
            users = [(u, s) for u, s in self._slot.items() if s < table.row_of.shape[0] and table.row_of[s] >= 0]
            rows = np.asarray([table.row_of[s] for _, s in users], np.int64)
            return [u for u, _ in users], table.data[rows] if len(rows) else np.empty((0, table.dim), np.float32)


def _strings(values: Any) -> np.ndarray:
    """Strings as one uint8 array: count, offsets, UTF-8 bytes (a '<U' array costs 4 bytes x the longest id each)."""
    encoded = [str(v).encode() for v in values]
    head = np.zeros(len(encoded) + 2, np.int64)
    head[0] = len(encoded)
    head[2:] = np.cumsum([len(b) for b in encoded])
    return np.concatenate([head.view(np.uint8), np.frombuffer(b"".join(encoded), np.uint8)])


def _unstrings(packed: np.ndarray) -> list[str]:
    """Inverse of :func:`_strings`."""
    packed = np.asarray(packed, np.uint8)
    n = int(packed[:8].view(np.int64)[0])
    offsets = packed[8: 8 * (n + 2)].view(np.int64).tolist()
    blob = packed[8 * (n + 2):].tobytes()
    return [blob[offsets[i]:offsets[i + 1]].decode() for i in range(n)]
