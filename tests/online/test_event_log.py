"""Event log: idempotent appends, order, cursors, persistence across reopen and processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from shortlist.errors import ConfigError
from shortlist.online.event_log import EventLog, LoggedEvent


def ev(i: str, user: str = "u", item: str | None = "x", **kw) -> LoggedEvent:
    return LoggedEvent(event_id=i, user_id=user, item_id=item, type=kw.pop("type", "click"),
                       timestamp=kw.pop("timestamp", 1.0), **kw)


def test_append_is_idempotent_and_ordered(tmp_path):
    with EventLog(tmp_path / "log.sqlite") as log:
        stored, dup = log.append([ev("a"), ev("b"), ev("a")])
        assert [e.event_id for e in stored] == ["a", "b"] and dup == 1
        assert [e.seq for e in stored] == [1, 2]
        stored, dup = log.append([ev("b"), ev("c", value=2.5, propensity=0.25, extra={"k": [1]})])
        assert [e.event_id for e in stored] == ["c"] and dup == 1
        # seq increases strictly (duplicates may leave gaps: readers only rely on the order)
        assert log.count() == 3 and log.last_seq() == stored[0].seq > 2
        got = log.read(after=1)
        assert [e.event_id for e in got] == ["b", "c"]
        assert (got[1].value, got[1].propensity, got[1].extra) == (2.5, 0.25, {"k": [1]})
        assert [e.event_id for e in log.read(after=0, limit=1)] == ["a"]
        assert [e.event_id for e in log.iter_all(batch=1)] == ["a", "b", "c"]


def test_wal_mode_and_durability_settings(tmp_path):
    with EventLog(tmp_path / "log.sqlite", durability="full") as log:
        assert log._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with EventLog(tmp_path / "default.sqlite") as log:  # the default fsyncs every commit
        assert log._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with EventLog(tmp_path / "normal.sqlite", durability="normal") as log:  # WAL + NORMAL, never OFF
        assert log._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with pytest.raises(ConfigError, match="durability"):
        EventLog(tmp_path / "x.sqlite", durability="sometimes")


def test_opens_in_a_new_folder_and_serves_other_threads(tmp_path):
    import threading

    with EventLog(tmp_path / "a" / "b" / "log.sqlite") as log:   # parent folders are made
        errors: list[BaseException] = []

        def write() -> None:
            try:
                log.append([ev("from-thread")])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        t = threading.Thread(target=write)
        t.start()
        t.join()
        assert not errors and [e.event_id for e in log.read()] == ["from-thread"]


def test_recent_interactions_newest_n_oldest_first(tmp_path):
    with EventLog(tmp_path / "log.sqlite") as log:
        log.append([ev("1", item="a"), ev("2", item="b", value=2.5), ev("3", item=None),
                    ev("4", item="c", type="view"), ev("5", user="other", item="z"), ev("6", item="d")])
        assert log.recent_interactions("u", 10) == [("a", 1.0), ("b", 2.5), ("c", 1.0), ("d", 1.0)]
        assert log.recent_interactions("u", 2) == [("c", 1.0), ("d", 1.0)]
        assert log.recent_interactions("u", 10, skip_types=("view",)) == [("a", 1.0), ("b", 2.5), ("d", 1.0)]
        assert log.recent_interactions("u", 10, skip_types=frozenset({"view", "click"})) == []
        # before: only events with a smaller seq (the ones the state has not applied yet stay out)
        assert log.recent_interactions("u", 10, before=3) == [("a", 1.0), ("b", 2.5)]
        assert log.recent_interactions("u", 10, before=1) == []
        assert log.recent_interactions("nobody", 10) == []


def test_read_seqs_in_chunks_and_seqs_in_a_range(tmp_path):
    with EventLog(tmp_path / "log.sqlite") as log:
        stored, _ = log.append([ev(str(i)) for i in range(1203)])
        seqs = [e.seq for e in stored]
        want = seqs[::-1][:1100]                       # more than one chunk of 500, out of order
        got = log.read_seqs(want)
        assert [e.seq for e in got] == sorted(want)
        assert [e.event_id for e in got[:2]] == [str(1203 - 1100), str(1203 - 1099)]
        assert log.read_seqs([]) == []
        assert log.seqs(seqs[9], seqs[19]) == seqs[10:20]


def test_cursors_persist(tmp_path):
    path = tmp_path / "log.sqlite"
    with EventLog(path) as log:
        log.append([ev(str(i)) for i in range(5)])
        assert log.cursor("retrain") == 0
        log.commit_cursor("retrain", 3)
        log.commit_cursor("retrain", 4)
    with EventLog(path) as log:
        assert log.cursor("retrain") == 4
        assert [e.event_id for e in log.read(after=log.cursor("retrain"))] == ["4"]


def test_committed_before_return_visible_to_other_process(tmp_path):
    path = tmp_path / "log.sqlite"
    with EventLog(path) as log:
        log.append([ev("p1"), ev("p2")])
        # another process reads the file while this connection is still open
        code = ("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                "print(c.execute('select group_concat(event_id) from events').fetchone()[0])")
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30,
                             check=True)
        assert out.stdout.strip() == "p1,p2"


def test_failed_batch_stores_nothing(tmp_path):
    with EventLog(tmp_path / "log.sqlite") as log:
        bad = ev("ok")
        worse = ev("bad")
        worse.user_id = None  # NOT NULL column: the whole transaction rolls back
        with pytest.raises(sqlite3.IntegrityError):
            log.append([bad, worse])
        assert log.count() == 0
