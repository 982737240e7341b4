"""Crash safety: every event acknowledged with a 2xx survives a SIGKILL of the server, exactly once."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.serving.helpers import API_KEY, ServerProcess, event, train_tiny

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("durability, synchronous", [(None, 2), ("full", 2), ("normal", 1)])
def test_served_event_log_fsyncs_each_commit_by_default(model_dir, tmp_path, durability, synchronous):
    """The app's own event log: PRAGMA synchronous is FULL (2) unless "normal" (1) is asked for."""
    from tests.serving.helpers import make_app

    extra = {} if durability is None else {"durability": durability}
    app = make_app(model_dir, tmp_path, **extra)
    try:
        db = app.state.event_log._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == synchronous
    finally:
        app.state.event_log.close()
        app.state.state.close()


def test_acknowledged_events_survive_sigkill(tmp_path):
    from shortlist.online.event_log import EventLog

    model_dir = train_tiny(tmp_path / "v1")
    db = tmp_path / "events.sqlite"
    acked: list[str] = []
    sent_batches = [0]
    stop = threading.Event()
    server = ServerProcess(model_dir, db).wait_ready()

    def post_forever() -> None:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=5.0) as c:
            b = 0
            while not stop.is_set():
                ids = [f"b{b}-{j}" for j in range(5)]
                # every other batch resends the previous one: duplicates must not be stored twice
                batch = [event(i, str(b % 40), (b + j) % 30) for j, i in enumerate(ids)]
                if b and b % 2 == 0:
                    batch += [event(f"b{b - 1}-{j}", str((b - 1) % 40), (b - 1 + j) % 30) for j in range(5)]
                try:
                    r = c.post("/events", json={"events": batch})
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 200:
                    acked.extend(e["event_id"] for e in batch)
                b += 1
                sent_batches[0] = b

    t = threading.Thread(target=post_forever)
    t.start()
    try:
        deadline = time.monotonic() + 20
        while sent_batches[0] < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()  # SIGKILL while the client is still posting
    finally:
        stop.set()
        t.join(timeout=30)
        server.stop()
    assert sent_batches[0] >= 40, "the server acknowledged too few batches before the kill"
    acked_set = set(acked)

    # restart on the same log: it opens cleanly, keeps serving and accepts more events
    with ServerProcess(model_dir, db) as again:
        r = httpx.post(again.url + "/events", headers={"X-API-Key": API_KEY},
                       json={"events": [event("after-restart", "1", 1), event(acked[0], "1", 1)]})
        assert r.status_code == 200 and r.json() == {**r.json(), "accepted": 1, "duplicates": 1}
    with EventLog(db) as log:
        ids = log.event_ids()
    assert len(ids) == len(set(ids)), "an event id is stored twice"
    missing = acked_set - set(ids)
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:3]}"
    assert "after-restart" in ids
