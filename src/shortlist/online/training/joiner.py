"""Label joiner: impressions joined with the actions that follow them within a label window.

An impression of item *i* to user *u* waits ``window_s`` (event time) for actions on the same
``(u, i)``. Its label is positive when a positive action (click, long view, like) came and no
negative one (hide) did. A positive is emitted as soon as its first positive action arrives,
so a click reaches the model within seconds; an impression still without one when its window
closes becomes a negative. An action that changes an emitted label (a hide after a click, or
a click after the window closed, within ``correction_s``) corrects it: the joiner emits the
old label again with weight -1 (an SGD step that takes the first one back) and the new
label with weight +1. The state is bounded (``max_pending`` open windows,
``max_closed`` correctable examples; the oldest leave first) and saved with the trainer's
snapshot, so a restart neither loses a window nor emits one twice.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shortlist.online.event_log import LoggedEvent

__all__ = ["Example", "JoinerConfig", "LabelJoiner"]


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


class Example(NamedTuple):
    """One labelled impression (``weight`` -1 takes back an earlier label)."""

    seq: int
    timestamp: float
    user_id: str
    item_id: str
    position: int
    label: int
    actions: int
    weight: float


class LabelJoiner:
    """Turns an ordered event stream into labelled examples; deterministic in the events it is fed."""

    def __init__(self, config: JoinerConfig | None = None, **params: Any) -> None:
        self.config = config or JoinerConfig(**params)
        c = self.config
        for t in (*c.positive, *c.negative):
            if t not in c.actions:
                raise ValueError(f"joiner: {t!r} is in positive/negative but not in actions {sorted(c.actions)}; "
                                 "add it to actions with its own bit")
        self._pos = sum(c.actions[t] for t in c.positive)
        self._neg = sum(c.actions[t] for t in c.negative)
        # (user, item) -> [seq, timestamp, position, action bits, label emitted or -1]; in ~ time order
        self.pending: OrderedDict[tuple[str, str], list] = OrderedDict()
        # (user, item) -> [seq, timestamp, position, action bits, label emitted]
        self.closed: OrderedDict[tuple[str, str], list] = OrderedDict()
        self.watermark = -np.inf
        #: the watermark at which :meth:`advance` next has work (-inf: recompute); push skips it before
        self._due = -np.inf
        self.counts = {"impressions": 0, "joined": 0, "late": 0, "corrections": 0, "orphans": 0, "forced": 0,
                       "examples": 0}

    def label(self, bits: int) -> int:
        """1 when a positive action and no negative one happened."""
        return int(bool(bits & self._pos) and not bits & self._neg)

    def push(self, ev: LoggedEvent) -> list[Example]:
        """Feed one event; returns the examples it closes or corrects."""
        out: list[Example] = []
        if ev.item_id is None:
            return out
        self.watermark = max(self.watermark, ev.timestamp)
        key = (ev.user_id, ev.item_id)
        if ev.type == self.config.impression_type:
            self.counts["impressions"] += 1
            if key in self.pending:  # shown again while still open: the earlier showing closes now
                self._close(key, out)
            self.pending[key] = [ev.seq, ev.timestamp, -1 if ev.position is None else int(ev.position), 0, -1]
            if len(self.pending) == 1:  # a new first window
                self._due = min(self._due, ev.timestamp + self.config.window_s)
            if len(self.pending) > self.config.max_pending:
                self.counts["forced"] += 1
                self._close(next(iter(self.pending)), out)
        elif ev.type in self.config.actions:
            bit = self.config.actions[ev.type]
            if key in self.pending:
                self.counts["joined"] += 1
                self._update(key, self.pending[key], bit, out)
            elif key in self.closed:
                self.counts["late"] += 1
                self._update(key, self.closed[key], bit, out)
            else:
                self.counts["orphans"] += 1
        if self.watermark >= self._due:
            out += self.advance(self.watermark)
        return out

    def advance(self, now: float) -> list[Example]:
        """Close every window that ended by ``now`` and forget examples too old to correct."""
        out: list[Example] = []
        c = self.config
        self.watermark = max(self.watermark, now)
        while self.pending:
            key, rec = next(iter(self.pending.items()))
            if rec[1] + c.window_s > self.watermark:
                break
            self._close(key, out)
        while self.closed:
            key, rec = next(iter(self.closed.items()))
            if len(self.closed) <= c.max_closed and rec[1] + c.window_s + c.correction_s > self.watermark:
                break
            del self.closed[key]
        first_open = next(iter(self.pending.values()), None)
        first_closed = next(iter(self.closed.values()), None)
        self._due = min(np.inf if first_open is None else first_open[1] + c.window_s,
                        np.inf if first_closed is None else first_closed[1] + c.window_s + c.correction_s)
        return out

    def _close(self, key: tuple[str, str], out: list[Example]) -> None:
        rec = self.pending.pop(key)
        self._due = -np.inf  # the first open or closed entry may have changed: advance looks again
        seq, ts, pos, bits, emitted = rec
        if emitted < 0:
            rec[4] = self.label(bits)
            out.append(Example(seq, ts, key[0], key[1], pos, rec[4], bits, 1.0))
            self.counts["examples"] += 1
        if self.config.max_closed:
            self.closed.pop(key, None)
            self.closed[key] = rec

    def _update(self, key: tuple[str, str], rec: list, bit: int, out: list[Example]) -> None:
        rec[3] |= bit
        y = self.label(rec[3])
        seq, ts, pos, bits, old = rec
        if old < 0 and y == 1:  # the first positive action: train on it now, not at the window's end
            out.append(Example(seq, ts, key[0], key[1], pos, 1, bits, 1.0))
            self.counts["examples"] += 1
            rec[4] = 1
        elif old >= 0 and y != old:
            out.append(Example(seq, ts, key[0], key[1], pos, old, bits, -1.0))
            out.append(Example(seq, ts, key[0], key[1], pos, y, bits, 1.0))
            rec[4] = y
            self.counts["corrections"] += 1

    # -- state ---------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Open windows and correctable examples as arrays, counters and watermark as JSON."""
        arrays: dict[str, np.ndarray] = {}
        for name, table, width in (("pending", self.pending, 5), ("closed", self.closed, 5)):
            keys = list(table.keys())
            arrays[f"{name}_user"] = np.array([k[0] for k in keys], dtype=str)
            arrays[f"{name}_item"] = np.array([k[1] for k in keys], dtype=str)
            arrays[f"{name}_seq"] = np.array([r[0] for r in table.values()], np.int64)
            arrays[f"{name}_ts"] = np.array([r[1] for r in table.values()], np.float64)
            arrays[f"{name}_ints"] = np.array([r[2:width] for r in table.values()], np.int64).reshape(-1, width - 2)
        return arrays, {"config": self.config.model_dump(), "watermark": float(self.watermark),
                        "counts": dict(self.counts)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> LabelJoiner:
        """The joiner :meth:`state` described."""
        j = cls(JoinerConfig(**meta["config"]))
        j.watermark, j.counts = float(meta["watermark"]), dict(meta["counts"])
        for name, table in (("pending", j.pending), ("closed", j.closed)):
            for u, i, s, t, ints in zip(arrays[f"{name}_user"].tolist(), arrays[f"{name}_item"].tolist(),
                                        arrays[f"{name}_seq"].tolist(), arrays[f"{name}_ts"].tolist(),
                                        arrays[f"{name}_ints"].tolist()):
                table[(u, i)] = [s, t, *ints]
        return j
