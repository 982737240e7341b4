"""Columnar batches: what one stream read returns, and what one join step emits.

The trainer moves arrays, not one object per event: :class:`EventBatch` holds a read's events
as one array per field, :class:`ExampleBatch` the labelled examples the joiner emits for them.
An adapter builds an :class:`EventBatch` from :class:`LoggedEvent` objects, so a stream that
produces objects (a Redis or Kafka client, tests) fits as well as the SQLite log's column reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from shortlist.online.event_log import LoggedEvent

__all__ = ["EventBatch", "Example", "ExampleBatch"]


def _objects(values: Sequence) -> np.ndarray:
    out = np.empty(len(values), object)  # never a 2-d array, even when every id has the same length
    out[:] = values
    return out


@dataclass(frozen=True)
class EventBatch:
    """Events in offset order, one array per field (``position`` -1 and ``item_id`` None when absent)."""

    seq: np.ndarray  # int64, strictly increasing
    user_id: np.ndarray  # object (str)
    item_id: np.ndarray  # object (str or None)
    type: np.ndarray  # object (str)
    timestamp: np.ndarray  # float64, event time
    position: np.ndarray  # int64
    received_at: np.ndarray  # float64, when the log stored it

    def __len__(self) -> int:
        return int(self.seq.size)

    @property
    def last_seq(self) -> int:
        """The offset of the batch's last event (the stream position after it)."""
        return int(self.seq[-1])

    @classmethod
    def from_columns(cls, seq: Sequence[int], user_id: Sequence, item_id: Sequence, type: Sequence,
                     timestamp: Sequence[float], position: Sequence[int | None],
                     received_at: Sequence[float]) -> EventBatch:
        """A batch from one sequence per field (``None`` positions become -1)."""
        pos = [-1 if p is None else p for p in position] if None in position else position
        return cls(np.asarray(seq, np.int64), _objects(user_id), _objects(item_id), _objects(type),
                   np.asarray(timestamp, np.float64), np.asarray(pos, np.int64), np.asarray(received_at, np.float64))

    @classmethod
    def from_events(cls, events: Sequence[LoggedEvent]) -> EventBatch:
        """The adapter from event objects (streams that deliver one object per event)."""
        return cls.from_columns([e.seq for e in events], [e.user_id for e in events], [e.item_id for e in events],
                                [e.type for e in events], [e.timestamp for e in events],
                                [e.position for e in events], [e.received_at for e in events])

    @classmethod
    def empty(cls) -> EventBatch:
        """A batch of no events."""
        return cls.from_columns([], [], [], [], [], [], [])


class Example(NamedTuple):
    """One labelled impression (``weight`` -1 takes back an earlier label); a row of :class:`ExampleBatch`."""

    seq: int
    timestamp: float
    user_id: str
    item_id: str
    position: int
    label: int
    actions: int
    weight: float


@dataclass(frozen=True)
class ExampleBatch:
    """Labelled examples in the order they were emitted, one array per :class:`Example` field."""

    seq: np.ndarray  # int64: the impression's offset
    timestamp: np.ndarray  # float64: the impression's event time
    user_id: np.ndarray  # object
    item_id: np.ndarray  # object
    position: np.ndarray  # int64
    label: np.ndarray  # int64, 0 or 1
    actions: np.ndarray  # int64, action bits seen so far
    weight: np.ndarray  # float64, +1 or -1 (a take-back)

    def __len__(self) -> int:
        return int(self.seq.size)

    def rows(self) -> list[Example]:
        """The examples as tuples (tests, audits; the trainer keeps the arrays)."""
        cols = [getattr(self, f.name).tolist() for f in fields(self)]
        return [Example(*r) for r in zip(*cols, strict=True)]

    @classmethod
    def concat(cls, batches: Sequence[ExampleBatch]) -> ExampleBatch:
        """One batch holding ``batches`` in order."""
        return cls(*(np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)))
