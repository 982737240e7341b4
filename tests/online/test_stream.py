"""Event streams return columnar batches: the SQLite log's column read equals its object read."""

import numpy as np

from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.training import EventBatch, ListStream, SqliteStream


def logged(n: int) -> list[LoggedEvent]:
    rng = np.random.default_rng(0)
    kinds = ["impression", "click", "hide", "search"]
    return [LoggedEvent(f"e{k}", f"u{rng.integers(9)}", None if k % 11 == 5 else str(rng.integers(30)),
                        kinds[k % 4], 1e9 + k + rng.random(), value=0.5, position=None if k % 3 else k % 5,
                        extra={"k": k} if k % 7 == 0 else {})
            for k in range(n)]


def as_rows(batch: EventBatch) -> list[tuple]:
    return list(zip(batch.seq.tolist(), batch.user_id.tolist(), batch.item_id.tolist(), batch.type.tolist(),
                    batch.timestamp.tolist(), batch.position.tolist(), batch.received_at.tolist(), strict=True))


def want_rows(events: list[LoggedEvent]) -> list[tuple]:
    return [(e.seq, e.user_id, e.item_id, e.type, e.timestamp, -1 if e.position is None else e.position,
             e.received_at) for e in events]


def test_sqlite_column_reads_equal_the_log_s_event_objects(tmp_path):
    with EventLog(tmp_path / "events.sqlite") as log:
        log.append(logged(500))
        log.append(logged(3))  # duplicates by event id: not stored, so nothing changes
    stream = SqliteStream(tmp_path / "events.sqlite")
    try:
        assert stream.head() == 500
        for after, limit in ((0, 1000), (0, 1), (17, 200), (499, 10), (500, 10)):
            batch = stream.read(after, limit)
            want = stream.log.read(after, limit)
            assert as_rows(batch) == want_rows(want) and len(batch) == min(limit, max(0, 500 - after))
            assert batch.seq.dtype == np.int64 and batch.timestamp.dtype == np.float64
        assert stream.read(0, 10).last_seq == 10
    finally:
        stream.close()


def test_list_stream_numbers_events_and_adapts_them_to_batches():
    events = logged(40)
    stream = ListStream(events[:25])
    stream.extend(events[25:])
    batch = stream.read(10, 20)
    assert batch.seq.tolist() == list(range(11, 31)) and as_rows(batch) == want_rows(events[10:30])
    assert len(stream.read(40, 5)) == 0 and stream.head() == 40
    assert len(EventBatch.empty()) == 0
