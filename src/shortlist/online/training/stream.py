"""Where the online trainer reads events: an ordered, offset-addressed stream of columnar batches.

:class:`EventStream` is the whole contract: ``read(after, limit)`` returns the events whose
``seq`` is greater than ``after``, in ``seq`` order, as one :class:`EventBatch` (an array per
field), and ``head()`` the newest ``seq``. A Redis stream (``XRANGE key (after +``, ids as
offsets) or a Kafka partition (offsets) fits it as well as the SQLite log does: a client that
delivers event objects wraps them with :meth:`EventBatch.from_events`. The trainer stores the
offset in its snapshot, so any of them can be replayed from it after a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.training.batch import EventBatch

__all__ = ["EventStream", "ListStream", "SqliteStream"]


@runtime_checkable
class EventStream(Protocol):
    """An append-only stream of events ordered by an increasing integer offset (``seq``)."""

    def read(self, after: int, limit: int) -> EventBatch:
        """Up to ``limit`` events with ``seq > after``, in order."""
        ...

    def head(self) -> int:
        """The highest offset written so far (0 when empty)."""
        ...


class SqliteStream:
    """The SQLite event log (``events.sqlite``) as a stream; opens it read-mostly beside ``serve``."""

    def __init__(self, path: str | Path, *, log: EventLog | None = None) -> None:
        self.path = Path(path)
        self.log = log or EventLog(self.path, durability="normal")

    def read(self, after: int, limit: int) -> EventBatch:
        """Events after ``after`` from the log (SQLite ``seq`` is the offset), read column-wise."""
        return EventBatch.from_columns(**self.log.read_columns(after, limit))

    def head(self) -> int:
        """The log's last ``seq``."""
        return self.log.last_seq()

    def close(self) -> None:
        """Close the log connection."""
        self.log.close()


class ListStream:
    """An in-memory stream (tests, simulations): events get ``seq`` 1, 2, ... as they are appended."""

    def __init__(self, events: list[LoggedEvent] | None = None) -> None:
        self.events: list[LoggedEvent] = []
        self.extend(events or [])

    def extend(self, events: list[LoggedEvent]) -> None:
        """Append events, numbering them."""
        for ev in events:
            ev.seq = len(self.events) + 1
            self.events.append(ev)

    def read(self, after: int, limit: int) -> EventBatch:
        """Events ``after+1 .. after+limit``."""
        return EventBatch.from_events(self.events[max(0, after):max(0, after) + limit])

    def head(self) -> int:
        """The number of events appended."""
        return len(self.events)
