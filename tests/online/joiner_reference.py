"""The label joiner's rules, one event object at a time: the reference the columnar joiner must equal.

This is the plain, per-event formulation (ordered dicts keyed by ``(user, item)``); the product's
:class:`~shortlist.online.training.joiner.LabelJoiner` computes the same with one numba pass over
arrays. Tests feed both the same stream and compare every emitted example, in order.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from shortlist.online.event_log import LoggedEvent
from shortlist.online.training import Example, JoinerConfig


class ReferenceJoiner:
    """One event object at a time, with ordered dicts: the rules written as plainly as possible."""

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
                       "examples": 0, "updates": 0}

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
        before = rec[3]
        rec[3] |= bit
        y = self.label(rec[3])
        seq, ts, pos, bits, old = rec
        if old < 0 and y == 1:  # the first positive action: train on it now, not at the window's end
            out.append(Example(seq, ts, key[0], key[1], pos, 1, bits, 1.0))
            self.counts["examples"] += 1
            rec[4] = 1
        elif old >= 0 and (y != old or (self.config.update_actions and bits != before)):
            # take back the example as it was before this action, then emit it with the action
            out.append(Example(seq, ts, key[0], key[1], pos, old, before, -1.0))
            out.append(Example(seq, ts, key[0], key[1], pos, y, bits, 1.0))
            rec[4] = y
            self.counts["corrections" if y != old else "updates"] += 1
