"""Append-only event log in SQLite (WAL mode): durable, idempotent by event id, read by cursor.

Every batch is written in one transaction and committed before :meth:`EventLog.append`
returns, so an HTTP 2xx means the events are on disk (``durability="full"`` fsyncs the
write-ahead log on each commit and survives power loss; ``"normal"`` survives a killed
process). ``event_id`` is unique: re-sending a batch after a timeout never duplicates an
event. Readers (the retrainer, other replicas) follow the strictly increasing ``seq``
column (duplicates may leave gaps in it) and may store named cursors in the log itself.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Self

from shortlist.errors import ConfigError

__all__ = ["EventLog", "LoggedEvent"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    item_id TEXT,
    type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    value REAL,
    propensity REAL,
    position INTEGER,
    request_id TEXT,
    extra TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id, seq);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_at REAL NOT NULL);
"""

_COLUMNS = ("seq", "event_id", "user_id", "item_id", "type", "timestamp", "value", "propensity", "position",
            "request_id", "extra", "received_at")
_TRAINER_COLUMNS = ("seq", "user_id", "item_id", "type", "timestamp", "position", "received_at")


@dataclass
class LoggedEvent:
    """One event as stored (ids as strings; ``seq`` is its position in the log)."""

    event_id: str
    user_id: str
    item_id: str | None
    type: str
    timestamp: float
    value: float | None = None
    propensity: float | None = None
    position: int | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    received_at: float = 0.0

    @classmethod
    def _from_row(cls, row: tuple) -> LoggedEvent:
        # positional, in _COLUMNS order: the trainer builds one per event, a dict per row cost a third
        seq, event_id, user_id, item_id, type_, ts, value, propensity, position, request_id, extra, received = row
        return cls(event_id, user_id, item_id, type_, ts, value, propensity, position, request_id,
                   json.loads(extra) if extra else {}, seq, received)


class EventLog:
    """SQLite event log; safe to share between threads and between processes on one host."""

    def __init__(self, path: str | Path, *, durability: str = "full") -> None:
        if durability not in ("full", "normal"):
            raise ConfigError(f"durability={durability!r}; use 'full' (fsync each commit) or 'normal'")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={durability.upper()}")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection (the log stays on disk)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------
    def append(self, events: list[LoggedEvent]) -> tuple[list[LoggedEvent], int]:
        """Store new events in one committed transaction; return (stored events with seq, duplicates).

        An event whose ``event_id`` is already in the log (or earlier in the same batch) is
        a duplicate: it is not stored again and the first copy wins.
        """
        now = time.time()
        stored: list[LoggedEvent] = []
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for ev in events:
                    cur.execute(
                        "INSERT INTO events (event_id, user_id, item_id, type, timestamp, value, propensity, "
                        "position, request_id, extra, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT(event_id) DO NOTHING",
                        (ev.event_id, ev.user_id, ev.item_id, ev.type, ev.timestamp, ev.value, ev.propensity,
                         ev.position, ev.request_id, json.dumps(ev.extra) if ev.extra else None, now))
                    if cur.rowcount == 1:
                        ev.seq, ev.received_at = int(cur.lastrowid), now
                        stored.append(ev)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return stored, len(events) - len(stored)

    # -- reading -----------------------------------------------------------------------
    def read(self, after: int = 0, limit: int = 10_000, *, user_id: str | None = None) -> list[LoggedEvent]:
        """Events with ``seq > after`` in log order (at most ``limit``; optionally one user's)."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE seq > ?"
        args: list[Any] = [int(after)]
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(str(user_id))
        sql += " ORDER BY seq LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [LoggedEvent._from_row(r) for r in rows]

    def read_columns(self, after: int = 0, limit: int = 10_000) -> dict[str, list]:
        """The fields a trainer needs of the events with ``seq > after``, one list per column, in log order.

        No object per event: one query, whose rows ``itemgetter`` splits into columns (``position``
        is -1 where absent). Keys: seq, user_id, item_id, type, timestamp, position, received_at.
        """
        sql = ("SELECT seq, user_id, item_id, type, timestamp, COALESCE(position, -1), received_at FROM events "
               "WHERE seq > ? ORDER BY seq LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, (int(after), int(limit))).fetchall()
        # one C-level pass per column; zip(*rows) would step one iterator per row instead
        return {name: list(map(itemgetter(k), rows)) for k, name in enumerate(_TRAINER_COLUMNS)}

    def iter_all(self, after: int = 0, batch: int = 50_000) -> Iterator[LoggedEvent]:
        """Every event after ``after``, in order, read in batches."""
        while True:
            chunk = self.read(after, batch)
            if not chunk:
                return
            yield from chunk
            after = chunk[-1].seq

    def recent_interactions(self, user_id: str, n: int, *, skip_types: tuple[str, ...] | frozenset[str] = (),
                            before: int | None = None) -> list[tuple[str, float]]:
        """A user's last ``n`` events with an item and a type not in ``skip_types``, as (item, weight), oldest first.

        The weight is the event's value, 1.0 without one (as the online updater counts it).
        """
        skip = sorted(skip_types)
        sql = (f"SELECT item_id, value FROM events WHERE user_id = ? AND item_id IS NOT NULL AND seq < ? "
               f"AND type NOT IN ({','.join('?' * len(skip))}) ORDER BY seq DESC LIMIT ?")
        args = [str(user_id), (1 << 62) if before is None else int(before), *skip, int(n)]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [(item, 1.0 if value is None else float(value)) for item, value in reversed(rows)]

    def read_seqs(self, seqs: list[int]) -> list[LoggedEvent]:
        """The events with these ``seq`` values, in log order."""
        out: list[LoggedEvent] = []
        seqs = sorted(int(s) for s in seqs)
        for start in range(0, len(seqs), 500):  # SQLite caps the number of bound parameters
            part = seqs[start:start + 500]
            sql = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE seq IN ({','.join('?' * len(part))}) ORDER BY seq"
            with self._lock:
                out += [LoggedEvent._from_row(r) for r in self._db.execute(sql, part).fetchall()]
        return out

    def seqs(self, after: int, upto: int) -> list[int]:
        """The ``seq`` of every event in ``(after, upto]``."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT seq FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
                                                   (int(after), int(upto)))]

    def count(self) -> int:
        """Number of events stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def last_seq(self) -> int:
        """The highest ``seq`` written so far (0 for an empty log)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def event_ids(self) -> list[str]:
        """All stored event ids, in log order (for audits and tests)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT event_id FROM events ORDER BY seq")]

    # -- named reader cursors ----------------------------------------------------------
    def cursor(self, name: str) -> int:
        """The ``seq`` a reader called ``name`` has processed up to (0 if never committed)."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM cursors WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def commit_cursor(self, name: str, seq: int) -> None:
        """Durably record that reader ``name`` has processed every event up to ``seq``."""
        with self._lock:
            self._db.execute("INSERT INTO cursors (name, seq, updated_at) VALUES (?, ?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
                             (name, int(seq), time.time()))
