"""Streaming trainer: exactly-once resume after kill -9, parameter sync to serving, /health."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shortlist.online.checkpoint import load_checkpoint
from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.training import (
    ListStream,
    OnlineModelReader,
    OnlineTrainer,
    SqliteStream,
    TrainerConfig,
)
from tests.online.joiner_reference import ReferenceJoiner

CONFIG = {"read_limit": 200, "batch_size": 64, "snapshot_every_s": 0.01, "sync_every_s": 0.05,
          "table": {"dim": 4, "max_rows": 3000, "admit_after": 2, "sketch_width": 4096, "ttl_s": 3000.0,
                    "expire_every_s": 100.0},
          "joiner": {"window_s": 30.0, "correction_s": 60.0}}
ROOT = Path(__file__).resolve().parents[2]


def make_events(n: int, seed: int = 0) -> list[LoggedEvent]:
    """Impressions with clicks and hides that depend on (user + item) mod 3; ids drift upward over time."""
    rng = np.random.default_rng(seed)
    out, t = [], 1e9
    for k in range(n):
        t += rng.exponential(0.5)
        u, i = int(rng.integers(k // 50, k // 50 + 400)), int(rng.integers(k // 100, k // 100 + 200))
        out.append(LoggedEvent(f"i{k}", str(u), str(i), "impression", t))
        if (u + i) % 3 == 0 and rng.random() < 0.7:
            out.append(LoggedEvent(f"c{k}", str(u), str(i), "click", t + rng.exponential(10)))
        elif rng.random() < 0.05:
            out.append(LoggedEvent(f"h{k}", str(u), str(i), "hide", t + rng.exponential(10)))
    out.sort(key=lambda e: e.timestamp)
    return out


def expected_ledger(events: list[LoggedEvent]) -> dict[str, int]:
    j = ReferenceJoiner(**CONFIG["joiner"])  # the per-event rules, independent of the trainer's joiner
    out = [x for e in events for x in j.push(e)] + j.advance(1e12)
    return {"examples": len(out), "seq_sum": sum(x.seq * (1 if x.weight > 0 else -1) for x in out)}


@pytest.fixture(scope="module")
def log_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("log") / "events.sqlite"
    events = make_events(20_000)
    with EventLog(db, durability="normal") as log:
        for start in range(0, len(events), 5000):
            log.append(events[start:start + 5000])
    return db, events


def train_all(db: Path, folder: Path) -> OnlineTrainer:
    stream = SqliteStream(db)
    trainer = OnlineTrainer(stream, folder, TrainerConfig(**CONFIG))
    trainer.run(until_idle=True)
    stream.close()
    return trainer


@pytest.mark.slow
def test_kill_9_resumes_without_training_an_event_twice_or_skipping_one(log_db, tmp_path):
    db, events = log_db
    whole = train_all(db, tmp_path / "whole")
    assert whole.ledger == expected_ledger(events)  # the trainer trains exactly what the joiner emits

    out = tmp_path / "crashed"
    cmd = [sys.executable, "-m", "shortlist", "train-online", "--model-dir", str(tmp_path), "--events-db", str(db),
           "--out", str(out), "--config", json.dumps(CONFIG), "--progress-every", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    head, offset, deadline = EventLog(db).last_seq(), 0, time.monotonic() + 120
    while time.monotonic() < deadline and not 0 < offset:
        time.sleep(0.01)
        try:
            got = load_checkpoint(out / "trainer.npz")
        except ValueError:
            got = None
        offset = got[1]["offset"] if got else 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < offset < head, f"the kill came too late to test a resume (offset {offset} of {head})"

    resumed = train_all(db, out)
    assert resumed.ledger == whole.ledger
    np.testing.assert_array_equal(resumed.model.dense, whole.model.dense)
    for name in ("weights", "accum", "row_keys", "in_use"):
        np.testing.assert_array_equal(getattr(resumed.model.table, name), getattr(whole.model.table, name))


def test_serving_holds_whole_versions_equal_to_the_trainer(tmp_path):
    events = make_events(6000, seed=3)
    stream = ListStream(events)
    trainer = OnlineTrainer(stream, tmp_path, TrainerConfig(**{**CONFIG, "idle_close": False}))
    reader = OnlineModelReader(tmp_path / "sync")
    probe = trainer.model.keys({"user": [str(u) for u in range(0, 400, 7)], "item": [str(i) for i in range(58)]})
    seen = []
    while trainer.step():
        version = trainer.publish(dense=True)
        if version % 3:  # the reader misses some versions and catches up over several deltas
            continue
        reader.refresh()
        assert reader.current.version == version
        np.testing.assert_allclose(reader.current.predict(probe), trainer.model.predict(probe), rtol=1e-6)
        seen.append(version)
    assert len(seen) > 5 and reader.current.keys.size == trainer.model.table.n_rows
    # a restarted trainer begins with a base; a reader that fell behind the pruned deltas starts again from it
    trainer2 = OnlineTrainer(stream, tmp_path, TrainerConfig(**{**CONFIG, "idle_close": False}))
    assert reader.refresh() and reader.current.version == trainer2.publisher.version
    np.testing.assert_allclose(reader.current.predict(probe), trainer2.model.predict(probe), rtol=1e-6)


@pytest.mark.slow
def test_health_shows_the_online_model_over_http(tmp_path):
    from fastapi.testclient import TestClient

    from tests.serving.helpers import API_KEY, make_app, train_tiny

    model_dir = train_tiny(tmp_path / "v1")
    with TestClient(make_app(model_dir, tmp_path)) as client:
        assert client.get("/health").json()["online"] is None
        body = {"events": [{"event_id": f"e{n}", "user_id": "1", "item_id": str(n % 5), "type": "impression"}
                           for n in range(20)] + [{"event_id": "c", "user_id": "1", "item_id": "2", "type": "click"}]}
        last = client.post("/events", json=body, headers={"X-API-Key": API_KEY}).json()["last_seq"]
        stream = SqliteStream(tmp_path / "events.sqlite")
        trainer = OnlineTrainer(stream, model_dir / "online", TrainerConfig(**CONFIG))
        trainer.step()
        version = trainer.publish()
        stream.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            online = client.get("/health").json()["online"]
            if online and online["version"] == version:
                break
            time.sleep(0.1)
        assert online["version"] == version and online["trained_seq"] == last and online["lag_events"] == 0
        assert online["rows"] >= 1 and online["lag_s"] >= 0
