"""Label joiner: impressions joined with the actions that follow them within a label window.

An impression of item *i* to user *u* waits ``window_s`` (event time) for actions on the same
``(u, i)``. Its label is positive when a positive action (click, long view, like) came and no
negative one (hide) did. A positive is emitted as soon as its first positive action arrives,
so a click reaches the model within seconds; an impression still without one when its window
closes becomes a negative. An action that changes an emitted label (a hide after a click, or
a click after the window closed, within ``correction_s``) corrects it: the joiner emits the
old label again, with the action bits it had before that action, and weight -1 (an SGD step
that takes the first one back), then the new label with weight +1. With ``update_actions``
(the trainer sets it for value-model heads), an action that adds a new action bit to an
emitted example is handled the same way, so a like after a click reaches the like head. The
take-back then carries exactly the bits that were emitted. The state is bounded (``max_pending`` open windows,
``max_closed`` correctable examples; the oldest leave first) and saved with the trainer's
snapshot, so a restart neither loses a window nor emits one twice.

The joiner is columnar: :meth:`LabelJoiner.join` takes an :class:`EventBatch` and returns an
:class:`ExampleBatch`. Python maps each ``(user, item)`` to a dense slot with one dict lookup
per event; one numba pass (``_join_kernel``) then applies the rules above in offset order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shortlist.online.training import _join_kernel as K
from shortlist.online.training.batch import EventBatch, ExampleBatch

__all__ = ["COUNTS", "JoinerConfig", "LabelJoiner"]

#: the joiner's counters, in the kernel's order
COUNTS = ("impressions", "joined", "late", "corrections", "orphans", "forced", "examples", "updates")
_WIDTH = 5  # int64 columns of a queue entry: slot, seq, position, action bits, label emitted


class JoinerConfig(BaseModel):
    """Which events are impressions and actions, and how long the joiner waits."""

    model_config = ConfigDict(extra="forbid")
    impression_type: str = "impression"
    #: action type -> bit in ``Example.actions``
    actions: dict[str, int] = Field(default_factory=lambda: {"click": 1, "long_view": 2, "like": 4, "hide": 8})
    positive: tuple[str, ...] = ("click", "long_view", "like")
    negative: tuple[str, ...] = ("hide",)
    window_s: float = Field(300.0, gt=0, description="event-time seconds an impression waits for actions")
    correction_s: float = Field(3600.0, ge=0, description="how long after its window a late action still counts")
    max_pending: int = Field(1_000_000, ge=1, description="open windows kept; the oldest closes early beyond it")
    max_closed: int = Field(1_000_000, ge=0, description="closed examples kept for late corrections")
    #: Re-emit an emitted example whenever an action adds a new bit to it, not only when its label changes:
    #: the old example (its bits, weight -1), then the new one (weight +1). Value-model heads need it, since
    #: each head trains on one bit. It is off by default because a single label does not read the bits: a
    #: take-back and re-emit with the same label is an SGD step and its reverse, work that only adds noise.
    update_actions: bool = Field(False, description="re-emit an emitted example when an action adds a new bit")


class LabelJoiner:
    """Turns an ordered event stream into labelled examples; deterministic in the events it is fed."""

    #: pairs without an entry that may stay in the slot dict before it is rebuilt (beyond twice the live ones)
    gc_slack = 65_536

    def __init__(self, config: JoinerConfig | None = None, **params: Any) -> None:
        self.config = c = config or JoinerConfig(**params)
        for t in (*c.positive, *c.negative):
            if t not in c.actions:
                raise ValueError(f"joiner: {t!r} is in positive/negative but not in actions {sorted(c.actions)}; "
                                 "add it to actions with its own bit")
        self._cfg = np.array([sum(c.actions[t] for t in c.positive), sum(c.actions[t] for t in c.negative),
                              c.max_pending, c.max_closed, int(c.update_actions)], np.int64)
        # event type -> row of the code and bit tables; the impression type wins over an action of its name
        names = [*c.actions, c.impression_type]
        self._type_row = {name: k for k, name in enumerate(names)}
        self._codes = np.array([K.ACTION] * len(c.actions) + [K.IMPRESSION, K.OTHER], np.int8)
        self._bits = np.array([*c.actions.values(), 0, 0], np.int64)
        self._pairs: dict[tuple[Any, Any], int] = {}  # (user, item) -> slot, for pairs with an entry
        self._users = np.empty(0, object)
        self._items = np.empty(0, object)
        self._s_pend = np.empty(0, np.int64)  # slot -> open entry (-1: none)
        self._s_closed = np.empty(0, np.int64)  # slot -> closed entry (-1: none)
        self._P, self._Pt = np.empty((0, _WIDTH), np.int64), np.empty(0, np.float64)
        self._C, self._Ct = np.empty((0, _WIDTH), np.int64), np.empty(0, np.float64)
        self._q = np.zeros(6, np.int64)
        self._cnt = np.zeros(len(COUNTS), np.int64)
        self._wm = np.array([-np.inf])

    # -- what it holds -------------------------------------------------------------------
    @property
    def watermark(self) -> float:
        """The newest event time seen (or the ``now`` of the last :meth:`advance`)."""
        return float(self._wm[0])

    @property
    def counts(self) -> dict[str, int]:
        """Impressions, joined and late actions, corrections, orphans, forced closes, examples emitted, updates
        (re-emits for a new action bit, ``update_actions``)."""
        return dict(zip(COUNTS, self._cnt.tolist(), strict=True))

    @property
    def n_pending(self) -> int:
        """Open windows."""
        return int(self._q[K.P_LEN])

    @property
    def n_closed(self) -> int:
        """Closed examples kept for corrections."""
        return int(self._q[K.C_LEN])

    # -- joining -------------------------------------------------------------------------
    def join(self, batch: EventBatch) -> ExampleBatch:
        """Feed a batch of events in offset order; returns the examples they close or correct."""
        n = len(batch)
        if n == 0:
            return self._examples(np.empty((0, 6), np.int64), np.empty(0), 0)
        self._collect()
        slots = self._assign(batch.user_id, batch.item_id)
        rows = np.fromiter(map(self._type_row.get, batch.type.tolist(), [-1] * n), np.int64, n)
        codes, bits = self._codes[rows], self._bits[rows]
        codes[np.equal(batch.item_id, None)] = K.SKIP
        self._reserve(n)
        oi, ot = np.empty((self.n_pending + 2 * n, 6), np.int64), np.empty(self.n_pending + 2 * n)
        m = K.join(slots, codes, bits, batch.seq, batch.timestamp, batch.position, self.config.window_s,
                   self.config.correction_s, self._wm, *self._state_arrays(), oi, ot)
        return self._examples(oi, ot, m)

    def advance(self, now: float) -> ExampleBatch:
        """Close every window that ended by ``now`` and forget examples too old to correct."""
        self._reserve(0)
        oi, ot = np.empty((self.n_pending, 6), np.int64), np.empty(self.n_pending)
        m = K.advance(float(now), self.config.window_s, self.config.correction_s, self._wm,
                      *self._state_arrays(), oi, ot)
        return self._examples(oi, ot, m)

    def _state_arrays(self) -> tuple:
        return (self._P, self._Pt, self._C, self._Ct, self._s_pend, self._s_closed, self._q, self._cnt, self._cfg)

    def _examples(self, oi: np.ndarray, ot: np.ndarray, m: int) -> ExampleBatch:
        oi = oi[:m]
        slot = oi[:, 0]
        return ExampleBatch(oi[:, 1].copy(), ot[:m].copy(), self._users[slot], self._items[slot], oi[:, 2].copy(),
                            oi[:, 3].copy(), oi[:, 4].copy(), oi[:, 5].astype(np.float64))

    # -- pair slots and queue room ---------------------------------------------------------
    def _assign(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The slot of each ``(user, item)``; a new pair gets the next one (one dict lookup per event)."""
        pairs, old = self._pairs, len(self._pairs)
        put = pairs.setdefault
        slots = np.array([put(k, len(pairs)) for k in zip(users.tolist(), items.tolist())], np.int64)
        if len(pairs) > old:
            fresh = np.flatnonzero(slots >= old)
            new, first = np.unique(slots[fresh], return_index=True)  # new == old, old + 1, ..., len(pairs) - 1
            if len(pairs) > self._s_pend.size:
                grow = max(len(pairs), 2 * self._s_pend.size) - self._s_pend.size
                self._s_pend = np.concatenate([self._s_pend, np.full(grow, -1, np.int64)])
                self._s_closed = np.concatenate([self._s_closed, np.full(grow, -1, np.int64)])
                self._users = np.concatenate([self._users, np.empty(grow, object)])
                self._items = np.concatenate([self._items, np.empty(grow, object)])
            self._users[new], self._items[new] = users[fresh[first]], items[fresh[first]]
        return slots

    def _collect(self) -> None:
        """Renumber the slots of live pairs densely once the dict holds twice as many (amortised O(1))."""
        n = len(self._pairs)
        if n <= 2 * (self.n_pending + self.n_closed) + self.gc_slack:
            return
        alive = (self._s_pend[:n] >= 0) | (self._s_closed[:n] >= 0)
        new_id = np.cumsum(alive) - 1
        for M, head, tail in ((self._P, K.P_HEAD, K.P_TAIL), (self._C, K.C_HEAD, K.C_TAIL)):
            seg = M[self._q[head]:self._q[tail], K.SLOT]  # a view: entries are renumbered in place
            live = seg >= 0
            seg[live] = new_id[seg[live]]
        keep = np.flatnonzero(alive)
        self._s_pend, self._s_closed = self._s_pend[keep], self._s_closed[keep]
        self._users, self._items = self._users[keep], self._items[keep]
        self._pairs = dict(zip(zip(self._users.tolist(), self._items.tolist()), range(keep.size)))

    def _reserve(self, n: int) -> None:
        """Room for ``n`` new windows, and for every open window to close, at the queues' tails."""
        q = self._q
        if q[K.P_TAIL] + n > self._Pt.size:
            self._P, self._Pt = self._compact(self._P, self._Pt, K.P_HEAD, K.P_TAIL, self._s_pend, n)
        if q[K.C_TAIL] + q[K.P_LEN] + n > self._Ct.size:
            self._C, self._Ct = self._compact(self._C, self._Ct, K.C_HEAD, K.C_TAIL, self._s_closed,
                                              int(q[K.P_LEN]) + n)

    def _compact(self, M: np.ndarray, T: np.ndarray, head: int, tail: int, pointer: np.ndarray,
                 room: int) -> tuple[np.ndarray, np.ndarray]:
        """The queue's live entries moved to the front of arrays with ``room`` free entries and as many again."""
        span = np.arange(self._q[head], self._q[tail])
        live = span[M[span, K.SLOT] >= 0]
        k = live.size
        cap = max(2 * (k + room), 1024)
        M2, T2 = np.empty((cap, _WIDTH), np.int64), np.empty(cap)
        M2[:k], T2[:k] = M[live], T[live]
        pointer[M2[:k, K.SLOT]] = np.arange(k)
        self._q[head], self._q[tail] = 0, k
        return M2, T2

    # -- state ---------------------------------------------------------------------------
    def _queue(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        M, T, head, tail = ((self._P, self._Pt, K.P_HEAD, K.P_TAIL) if name == "pending"
                            else (self._C, self._Ct, K.C_HEAD, K.C_TAIL))
        span = np.arange(self._q[head], self._q[tail])
        live = span[M[span, K.SLOT] >= 0]
        return M[live], T[live]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Open windows and correctable examples (queue order) as arrays, counters and watermark as JSON."""
        arrays: dict[str, np.ndarray] = {}
        for name in ("pending", "closed"):
            M, T = self._queue(name)
            arrays[f"{name}_user"] = self._users[M[:, K.SLOT]].astype(str)
            arrays[f"{name}_item"] = self._items[M[:, K.SLOT]].astype(str)
            arrays[f"{name}_seq"] = M[:, K.SEQ].copy()
            arrays[f"{name}_ts"] = T.copy()
            arrays[f"{name}_ints"] = M[:, K.POS:].copy()  # position, action bits, label emitted
        return arrays, {"config": self.config.model_dump(), "watermark": self.watermark, "counts": self.counts}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> LabelJoiner:
        """The joiner :meth:`state` described."""
        j = cls(JoinerConfig(**meta["config"]))
        j._wm[0] = float(meta["watermark"])
        j._cnt[:] = [int(meta["counts"].get(k, 0)) for k in COUNTS]  # "updates" is newer than some states
        for name, pointer_of, head, tail, length in (("pending", "_s_pend", K.P_HEAD, K.P_TAIL, K.P_LEN),
                                                     ("closed", "_s_closed", K.C_HEAD, K.C_TAIL, K.C_LEN)):
            users, items = arrays[f"{name}_user"].astype(object), arrays[f"{name}_item"].astype(object)
            slots = j._assign(users, items)
            k = slots.size
            M = np.empty((max(k, 1024), _WIDTH), np.int64)
            M[:k, K.SLOT], M[:k, K.SEQ] = slots, arrays[f"{name}_seq"]
            M[:k, K.POS:] = np.asarray(arrays[f"{name}_ints"], np.int64).reshape(k, _WIDTH - 2)
            T = np.empty(M.shape[0])
            T[:k] = arrays[f"{name}_ts"]
            getattr(j, pointer_of)[slots] = np.arange(k)
            j._q[head], j._q[tail], j._q[length] = 0, k, k
            if name == "pending":
                j._P, j._Pt = M, T
            else:
                j._C, j._Ct = M, T
        return j
