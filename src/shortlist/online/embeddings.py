"""Collisionless embedding table for online training (Monolith, Liu et al. 2022).

A hash map from a 64-bit feature key to its own row: two keys never share a row. A key gets
a row only once it has been seen ``admit_after`` times (a count-min sketch counts them in
fixed memory); until then it reads and trains the shared default row 0. Rows not seen for
``ttl_s`` are freed, and the table never holds more than ``max_rows``, so memory stays flat
over an endless stream of new ids. Each row carries its Adagrad accumulators.

Keys come from :func:`feature_keys`: for integer ids below 2**56, ``(field, id)`` goes through
a 64-bit bijection, so distinct features never collide at all; other ids are hashed with
BLAKE2b to 64 bits (a collision is a 2**-64 event per pair).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shortlist.core.persistence import read_model_dir, write_model_dir
from shortlist.online import _kernels as K

__all__ = ["CollisionlessTable", "HashingTable", "TableConfig", "feature_key", "feature_keys"]

_INT_LIMIT = 1 << 56


class TableConfig(BaseModel):
    """Size and policy of a :class:`CollisionlessTable`."""

    model_config = ConfigDict(extra="forbid")
    dim: int = Field(16, ge=1, le=1024, description="embedding size d (each row also holds a linear weight)")
    max_rows: int = Field(1_000_000, ge=1, description="most rows held at once; memory is fixed by it")
    admit_after: int = Field(1, ge=1, le=65535, description="a key gets its own row on its n-th sighting")
    ttl_s: float = Field(7 * 86400.0, gt=0, description="rows unseen this long (event time) are freed")
    expire_every_s: float = Field(600.0, gt=0, description="how often (event time) expiry sweeps run")
    sketch_width: int = Field(1 << 20, ge=64, description="columns of the admission count-min sketch")
    init_scale: float = Field(0.01, ge=0, description="new rows draw uniform(-scale, scale)")


def feature_key(field: int, value: str | int) -> int:
    """The 64-bit key of one feature value (as a signed int64)."""
    return int(feature_keys(field, [value])[0])


def feature_keys(field: int, values: Any) -> np.ndarray:
    """Keys of many values of one field: a bijection for integer ids, BLAKE2b for the rest."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        ids = arr.astype(np.uint64)
        if arr.size and (arr.min() < 0 or arr.max() >= _INT_LIMIT):
            raise ValueError(f"field {field}: integer ids must lie in [0, 2**56); hash them as strings instead")
        x = ids ^ (np.uint64(field) << np.uint64(56))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (x ^ (x >> np.uint64(31))).view(np.int64)
    # ids repeat within a batch: key each distinct value once, then spread by the inverse index
    uniq, inverse = np.unique(arr.ravel().astype(str), return_inverse=True)
    digits = np.char.isdigit(uniq) & (np.char.str_len(uniq) < 17)
    out = np.empty(uniq.size, np.int64)
    if digits.any():  # an id written as digits keys as that integer, parsed by numpy, not per value
        out[digits] = feature_keys(field, uniq[digits].astype(np.int64))
    for n in np.flatnonzero(~digits).tolist():
        out[n] = int.from_bytes(hashlib.blake2b(f"{field}\x1f{uniq[n]}".encode(), digest_size=8).digest(),
                                "little", signed=True)
    return out[inverse.ravel()]


class CollisionlessTable:
    """Key -> own row, frequency admission, TTL expiry, per-row Adagrad state; fixed memory."""

    def __init__(self, config: TableConfig | None = None, **params: Any) -> None:
        self.config = config or TableConfig(**params)
        c = self.config
        cap = 1 << int(np.ceil(np.log2(2 * (c.max_rows + 1))))  # load factor <= 1/2 keeps probes short
        self.slot_keys = np.zeros(cap, np.int64)
        self.slot_rows = np.full(cap, -1, np.int32)
        n = c.max_rows + 1  # row 0 is the shared default row
        self.weights = np.zeros((n, c.dim + 1), np.float32)
        self.accum = np.zeros((n, c.dim + 1), np.float32)
        self.row_keys = np.zeros(n, np.int64)
        self.last_seen = np.zeros(n, np.int64)
        self.in_use = np.zeros(n, np.bool_)
        self.touched = np.zeros(n, np.bool_)
        self.free = np.arange(c.max_rows, 0, -1, dtype=np.int32)  # stack: pops row 1 first
        # free rows on the stack, admitted, refused (table full), sketch increments, expired
        self.counters = np.array([c.max_rows, 0, 0, 0, 0], np.int64)
        self.sketch = np.zeros((4 if c.admit_after > 1 else 1, c.sketch_width if c.admit_after > 1 else 1), np.uint16)
        self.next_expiry = -1
        self.expired: list[np.ndarray] = []  # keys freed since the last sync took them
        self.weights[0, 1:] = 0.0

    # -- lookups -------------------------------------------------------------------------
    def lookup(self, keys: np.ndarray, now: float) -> np.ndarray:
        """Rows for training (admits keys, refreshes last-seen, runs expiry when due)."""
        keys = np.ascontiguousarray(keys, np.int64).ravel()
        now_i = int(now)
        self._maybe_expire(now_i)
        out = np.empty(keys.size, np.int32)
        c = self.config
        K.table_lookup(self.slot_keys, self.slot_rows, self.row_keys, self.last_seen, self.in_use, self.weights,
                       self.accum, self.free, self.counters, self.sketch, keys, now_i, c.admit_after,
                       c.init_scale, out)
        if self.counters[3] >= 4 * self.sketch.shape[1]:
            self.sketch >>= 1  # age the sketch so that counts from long ago stop admitting keys
            self.counters[3] = 0
        return out

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Rows without side effects (0 for keys without a row)."""
        keys = np.ascontiguousarray(keys, np.int64).ravel()
        out = np.empty(keys.size, np.int32)
        K.table_find(self.slot_keys, self.slot_rows, keys, out)
        return out

    def _maybe_expire(self, now: int) -> None:
        every = int(self.config.expire_every_s)
        if self.next_expiry < 0:
            self.next_expiry = now + every
        if now >= self.next_expiry:
            self.expire(now)
            self.next_expiry = now + every

    def expire(self, now: float) -> int:
        """Free rows unseen for ``ttl_s`` before ``now``; returns how many."""
        buf = np.empty(self.n_rows, np.int64)
        n = K.table_expire(self.slot_keys, self.slot_rows, self.row_keys, self.last_seen, self.free, self.counters,
                           self.in_use, int(now - self.config.ttl_s), buf)
        if n:
            self.expired.append(buf[:n].copy())
            self.touched[~self.in_use] = False
            self.counters[4] += n
        return int(n)

    # -- introspection -------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Rows held by admitted keys."""
        return int(self.config.max_rows - self.counters[0])

    def keys(self) -> np.ndarray:
        """The keys that hold a row."""
        return self.row_keys[self.in_use]

    def nbytes(self) -> int:
        """Bytes held by the table's arrays (fixed at construction)."""
        return sum(a.nbytes for a in (self.slot_keys, self.slot_rows, self.weights, self.accum, self.row_keys,
                                      self.last_seen, self.in_use, self.touched, self.free, self.sketch))

    def stats(self) -> dict[str, int]:
        """Rows held, admitted, refused for lack of space, expired."""
        return {"rows": self.n_rows, "admitted": int(self.counters[1]), "refused_full": int(self.counters[2]),
                "expired": int(self.counters[4])}

    # -- sync ----------------------------------------------------------------------------
    def take_changes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, rows of weights) touched since the last call, and keys expired since; clears both."""
        rows = np.flatnonzero(self.touched & self.in_use)
        rows = rows[rows > 0]
        self.touched[:] = False
        expired = np.concatenate(self.expired) if self.expired else np.zeros(0, np.int64)
        self.expired = []
        return self.row_keys[rows].copy(), self.weights[rows].copy(), expired

    # -- state ---------------------------------------------------------------------------
    _ARRAYS = ("slot_keys", "slot_rows", "weights", "accum", "row_keys", "last_seen", "in_use", "touched", "free",
               "counters", "sketch")

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON meta that rebuild this table exactly."""
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays["expired"] = np.concatenate(self.expired) if self.expired else np.zeros(0, np.int64)
        return arrays, {"config": self.config.model_dump(), "next_expiry": self.next_expiry}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str = "") -> CollisionlessTable:
        """The table :meth:`state` described."""
        table = cls(TableConfig(**meta["config"]))
        for name in cls._ARRAYS:
            setattr(table, name, np.array(arrays[prefix + name], dtype=getattr(table, name).dtype))
        expired = arrays[prefix + "expired"]
        table.expired = [expired.astype(np.int64)] if expired.size else []
        table.next_expiry = int(meta["next_expiry"])
        return table

    def save(self, path: str | Path) -> Path:
        """Write the table as a model folder (``model.json`` + ``arrays.npz``, no pickle)."""
        arrays, meta = self.state()
        return write_model_dir(path, {"kind": "collisionless-table", **meta}, arrays)

    @classmethod
    def load(cls, path: str | Path) -> CollisionlessTable:
        """Read a table written by :meth:`save`."""
        meta, arrays = read_model_dir(path)
        return cls.from_state(arrays, meta)


class HashingTable:
    """The hashing trick with the same interface: key -> row ``hash mod n_rows``, rows shared on collision."""

    def __init__(self, *, n_rows: int, dim: int = 16, init_scale: float = 0.01) -> None:
        self.n_rows = int(n_rows)
        self.weights = np.zeros((self.n_rows + 1, dim + 1), np.float32)
        rng = np.random.default_rng(0)
        self.weights[1:, 1:] = rng.uniform(-init_scale, init_scale, (self.n_rows, dim))
        self.accum = np.zeros_like(self.weights)
        self.touched = np.zeros(self.n_rows + 1, np.bool_)

    def lookup(self, keys: np.ndarray, now: float = 0.0) -> np.ndarray:
        """Row ``1 + key mod n_rows`` of each key."""
        return (1 + (np.asarray(keys, np.int64).view(np.uint64) % np.uint64(self.n_rows))).astype(np.int32)

    find = lookup

    def nbytes(self) -> int:
        """Bytes held by the weights and accumulators."""
        return self.weights.nbytes + self.accum.nbytes + self.touched.nbytes
