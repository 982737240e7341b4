"""Server start-up time with a large event log: rebuilt from the whole log vs from a checkpoint plus its tail.

Usage: python benchmarks/restart_time.py [--events 1000000] [--users 100000] [--tail 10000] [--dir DIR]

Fits a small ALS pipeline on random data (users 0..U-1), writes a synthetic event log of
``--events`` clicks in batches of 100 (as ``POST /events`` would), then times
``create_app`` (model load + online state restore) in four situations. The peer is the
start without any restore (the previous behaviour: fast, but the online state is empty).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def fit_model(folder: Path, n_users: int, n_items: int) -> None:
    from shortlist.data.interactions import Interactions
    from shortlist.pipeline import Pipeline

    rng = np.random.default_rng(0)
    nnz = n_users * 5
    m = sp.csr_matrix((np.ones(nnz, np.float32), (rng.integers(0, n_users, nnz), rng.integers(0, n_items, nnz))),
                      shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    spec = {"name": "restart-bench", "k": 10, "models": {"als": {"kind": "als", "params": {"factors": 32}}},
            "sources": [{"name": "als", "kind": "model", "model": "als", "quota": 100}]}
    Pipeline(spec).fit(Interactions.from_matrix(m, weighting="binary"), progress=False).save(folder)


def write_log(db: Path, n_events: int, n_users: int, n_items: int, start: int = 0) -> None:
    from shortlist.online.event_log import EventLog, LoggedEvent

    rng = np.random.default_rng(start + 1)
    users, items = rng.integers(0, n_users, n_events), rng.integers(0, n_items, n_events)
    now = time.time()
    with EventLog(db, durability="normal") as log:
        for b in range(0, n_events, 100):
            log.append([LoggedEvent(f"e{start + j}", str(users[j]), str(items[j]), "click",
                                    now - (n_events - j) * 0.001) for j in range(b, min(b + 100, n_events))])


def start(model: Path, db: Path, **kw) -> tuple[float, object]:
    from shortlist.serving import Settings, create_app

    t0 = time.perf_counter()
    app = create_app(Settings(model_dir=model, events_db=db, online_memory_mb=4096, **kw))
    return time.perf_counter() - t0, app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=2_000)
    ap.add_argument("--tail", type=int, default=10_000, help="events logged after the checkpoint")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="shortlist-restart-"))
    model, db = work / "model", work / "events.sqlite"
    ckpt = db.with_name("events.state.npz")
    if not (model / "pipeline.json").exists():
        fit_model(model, args.users, args.items)
    if not db.exists():
        t0 = time.perf_counter()
        write_log(db, args.events, args.users, args.items)
        print(f"wrote {args.events:,} events in {time.perf_counter() - t0:.0f} s")
    ckpt.unlink(missing_ok=True)
    rows = []
    start(model, db, restore_state=False)  # warm-up: imports and compiled kernels are not what we measure
    seconds, _ = start(model, db, restore_state=False)
    rows.append(("no restore (previous behaviour: state empty)", seconds, 0))
    seconds, app = start(model, db)
    rows.append(("rebuild from the whole log, no checkpoint", seconds, args.events))
    t0 = time.perf_counter()
    size = app.state.checkpointer.checkpoint()
    write_s = time.perf_counter() - t0
    users = len(app.state.state)
    del app
    seconds, _ = start(model, db)
    rows.append(("checkpoint, nothing after it", seconds, 0))
    write_log(db, args.tail, args.users, args.items, start=args.events)
    seconds, _ = start(model, db)
    rows.append((f"checkpoint + {args.tail:,} events after it", seconds, args.tail))
    print(f"\n{args.events:,} logged events, {users:,} users in the online state; checkpoint "
          f"{size / 1e6:.0f} MB written in {write_s:.2f} s\n")
    print("| start-up | events replayed | seconds | vs whole-log rebuild |")
    print("|---|---:|---:|---:|")
    for name, s, n in rows:
        print(f"| {name} | {n:,} | {s:.2f} | {s / rows[1][1]:.2f}x |")


if __name__ == "__main__":
    main()
