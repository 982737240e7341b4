"""Bounded per-user histories in numpy slabs: (int32 item code, float32 weight) pairs, no per-user objects.

A user's history lives in one row of the slab of its size class (capacities grow by about
1.5x up to ``history_length``), so a user with 3 events costs one 4-wide row, not 200 slots.
Rows freed by a user that grew or was evicted are reused before a slab grows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HistoryStore", "size_classes"]

EVENT_BYTES = 8  # int32 item code + float32 weight
#: arrays grow by 1/8: an eighth of reserve at most (doubling would leave half of them unused), and the
#: copies still add up to a constant per element
GROWTH_SHIFT = 3


def size_classes(history_length: int) -> list[int]:
    """Row capacities 4, 5, 6, 7, 8, 10, 12, 15, ... (1.25x apart: at most a fifth of a row unused), then ``history_length``."""
    caps, c = [], 4
    while c < history_length:
        caps.append(c)
        c = max(c + 1, c * 5 // 4)
    caps.append(history_length)
    return caps


class _Slab:
    """Rows of one capacity, with a stack of free rows."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items = np.empty((0, cap), np.int32)
        self.weights = np.empty((0, cap), np.float32)
        self.free = np.empty(0, np.int32)
        self.n_free = 0
        self.n_rows = 0  # rows ever handed out (the rest of the arrays is unused reserve)

    def take(self) -> int:
        if self.n_free:
            self.n_free -= 1
            return int(self.free[self.n_free])
        if self.n_rows == self.items.shape[0]:
            rows = max(16, self.n_rows + (self.n_rows >> GROWTH_SHIFT))
            self.items = _resize(self.items, rows)
            self.weights = _resize(self.weights, rows)
        self.n_rows += 1
        return self.n_rows - 1

    def take_many(self, k: int) -> np.ndarray:
        reused = self.free[max(0, self.n_free - k):self.n_free].copy()
        self.n_free -= len(reused)
        new = k - len(reused)
        if self.n_rows + new > self.items.shape[0]:
            rows = max(16, self.n_rows + new, self.n_rows + (self.n_rows >> GROWTH_SHIFT))
            self.items = _resize(self.items, rows)
            self.weights = _resize(self.weights, rows)
        fresh = np.arange(self.n_rows, self.n_rows + new, dtype=np.int32)
        self.n_rows += new
        return np.concatenate([reused.astype(np.int32), fresh])

    def give(self, row: int) -> None:
        if self.n_free == self.free.shape[0]:
            self.free = _resize(self.free, max(16, self.n_free * 2))
        self.free[self.n_free] = row
        self.n_free += 1

    def nbytes(self) -> int:
        return self.items.nbytes + self.weights.nbytes + self.free.nbytes


def _resize(a: np.ndarray, n: int, fill: int | None = None) -> np.ndarray:
    out = np.empty((n, *a.shape[1:]), a.dtype)
    out[: a.shape[0]] = a
    if fill is not None:
        out[a.shape[0]:] = fill
    return out


class HistoryStore:
    """The last ``history_length`` events of each user slot; not thread-safe (the state's lock guards it)."""

    def __init__(self, history_length: int) -> None:
        self.history_length = history_length
        self.caps = size_classes(history_length)
        self.slabs = [_Slab(c) for c in self.caps]
        self.cls = np.empty(0, np.int8)  # size class of each user slot, -1: no history
        self.row = np.empty(0, np.int32)
        self.length = np.empty(0, np.int16 if history_length < 1 << 15 else np.int32)
        self.used_bytes = 0  # bytes of the rows handed out (what the memory budget counts)

    def ensure_slots(self, n: int) -> None:
        """Room for user slots ``0 .. n-1``."""
        if n > self.cls.shape[0]:
            size = max(n, 1024, self.cls.shape[0] + (self.cls.shape[0] >> GROWTH_SHIFT))
            self.cls = _resize(self.cls, size, -1)
            self.row = _resize(self.row, size, 0)
            self.length = _resize(self.length, size, 0)

    def _class_for(self, n: int) -> int:
        return next(c for c, cap in enumerate(self.caps) if cap >= n)

    def append(self, slot: int, items: np.ndarray, weights: np.ndarray) -> None:
        """Add events (oldest first) to a slot, keeping its last ``history_length``."""
        h = self.history_length
        items, weights = items[-h:], weights[-h:]
        c, n_old = int(self.cls[slot]), int(self.length[slot])
        n = min(n_old + len(items), h)
        if c >= 0 and self.caps[c] >= n:
            slab, r = self.slabs[c], int(self.row[slot])
            if n_old + len(items) > h:  # full: drop the oldest, keep order
                keep = n - len(items)
                slab.items[r, :keep] = slab.items[r, n_old - keep:n_old]
                slab.weights[r, :keep] = slab.weights[r, n_old - keep:n_old]
                n_old = keep
            slab.items[r, n_old:n] = items
            slab.weights[r, n_old:n] = weights
            self.length[slot] = n
            return
        old_items, old_weights = self.get(slot)
        self.free(slot)
        keep = n - len(items)
        c = self._class_for(n)
        slab = self.slabs[c]
        r = slab.take()
        slab.items[r, :keep] = old_items[len(old_items) - keep:]
        slab.weights[r, :keep] = old_weights[len(old_weights) - keep:]
        slab.items[r, keep:n] = items
        slab.weights[r, keep:n] = weights
        self.cls[slot], self.row[slot], self.length[slot] = c, r, n
        self.used_bytes += slab.cap * EVENT_BYTES

    def get(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the slot's (item codes, weights), oldest first."""
        c = int(self.cls[slot])
        if c < 0:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        slab, r, n = self.slabs[c], int(self.row[slot]), int(self.length[slot])
        return slab.items[r, :n].copy(), slab.weights[r, :n].copy()

    def free(self, slot: int) -> None:
        """Forget the slot's history (its row goes back to the slab)."""
        c = int(self.cls[slot])
        if c >= 0:
            self.slabs[c].give(int(self.row[slot]))
            self.used_bytes -= self.caps[c] * EVENT_BYTES
        self.cls[slot], self.length[slot] = -1, 0

    def dump(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lengths, item codes, weights) of ``slots``, concatenated in that order (one gather per class)."""
        slots = np.asarray(slots, np.int64)
        lengths = self.length[slots].astype(np.int64)
        starts = np.cumsum(lengths) - lengths
        items = np.empty(int(lengths.sum()), np.int32)
        weights = np.empty(items.shape[0], np.float32)
        cls = self.cls[slots]
        for c, slab in enumerate(self.slabs):
            pick = np.flatnonzero(cls == c)
            if not len(pick):
                continue
            rows = self.row[slots[pick]]
            mask = np.arange(slab.cap)[None, :] < lengths[pick][:, None]
            where = (starts[pick][:, None] + np.arange(slab.cap)[None, :])[mask]
            items[where] = slab.items[rows][mask]
            weights[where] = slab.weights[rows][mask]
        return lengths.astype(np.int32), items, weights

    def load(self, slots: np.ndarray, lengths: np.ndarray, items: np.ndarray, weights: np.ndarray) -> None:
        """Fill empty ``slots`` from :meth:`dump` output (one scatter per class; keeps the last events)."""
        slots = np.asarray(slots, np.int64)
        lengths = np.asarray(lengths, np.int64)
        starts = np.cumsum(lengths) - lengths
        keep = np.minimum(lengths, self.history_length)
        starts, lengths = starts + lengths - keep, keep
        self.ensure_slots(int(slots.max()) + 1 if len(slots) else 0)
        cls = np.searchsorted(np.asarray(self.caps), lengths)  # smallest class that holds each history
        for c, slab in enumerate(self.slabs):
            pick = np.flatnonzero((cls == c) & (lengths > 0))
            if not len(pick):
                continue
            rows = slab.take_many(len(pick))
            mask = np.arange(slab.cap)[None, :] < lengths[pick][:, None]
            where = (starts[pick][:, None] + np.arange(slab.cap)[None, :])[mask]
            block_i = slab.items[rows]
            block_w = slab.weights[rows]
            block_i[mask], block_w[mask] = items[where], weights[where]
            slab.items[rows], slab.weights[rows] = block_i, block_w
            self.cls[slots[pick]], self.row[slots[pick]], self.length[slots[pick]] = c, rows, lengths[pick]
            self.used_bytes += len(pick) * slab.cap * EVENT_BYTES

    def nbytes(self) -> int:
        """Bytes allocated (slabs with their reserve plus the per-slot arrays)."""
        return sum(s.nbytes() for s in self.slabs) + self.cls.nbytes + self.row.nbytes + self.length.nbytes
