"""Online training's full path: SQLite event log -> label joiner -> keys -> FM, in examples/s, next to VW.

The events are the drifting world of ``online_training.py``: one impression per row and, for a
clicked one, a click ``--label-delay`` seconds later, written to an ``events.sqlite`` first
(not timed). The timed run is :meth:`OnlineTrainer.run` until the log is drained, as
``shortlist train-online`` runs it (column reads of ``read_limit`` events, the joiner over
those arrays, mini-batches of 1,024; publishing and snapshots pushed past the run). Then each
part is timed alone on the same events: the SQLite read, the joiner, the feature keys and the
FM's kernel. VW reads the
same joined examples from its text file (``-q ui``).

    .venv/bin/python benchmarks/online_full_path.py --days 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import write_figures
from online_training import vw_run, world

from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.training import EventBatch, ExampleBatch, LabelJoiner, OnlineTrainer, SqliteStream, TrainerConfig

ROOT = Path(__file__).resolve().parents[1]


def write_log(w: dict[str, np.ndarray], db: Path, delay: float) -> int:
    """The world's impressions and clicks as logged events, in time order; returns how many."""
    t0 = 1.7e9
    rows = [(t0 + t, "impression", n) for n, t in enumerate(w["t"])]
    rows += [(t0 + w["t"][n] + delay, "click", n) for n in np.flatnonzero(w["y"])]
    rows.sort()
    events = [LoggedEvent(f"{kind[0]}{n}", str(w["user"][n]), str(w["item"][n]), kind, t, received_at=t)
              for t, kind, n in rows]
    with EventLog(db, durability="normal") as log:
        for lo in range(0, len(events), 50_000):
            log.append(events[lo:lo + 50_000])
    return len(events)


def config(args: argparse.Namespace) -> TrainerConfig:
    never = 1e9  # publishing and snapshots are not what is timed here
    return TrainerConfig(lr=args.lr, batch_size=1024, read_limit=args.read_limit, sync_every_s=never,
                         dense_every_s=never, base_every_s=never, snapshot_every_s=never, idle_close=False,
                         table={"dim": args.dim, "max_rows": args.max_rows, "admit_after": 2, "ttl_s": 2 * 86400.0,
                                "sketch_width": 1 << 16},
                         joiner={"window_s": 300.0})


def end_to_end(db: Path, folder: Path, args: argparse.Namespace) -> tuple[float, int, float]:
    """Seconds, examples and progressive log-loss of one trainer run from offset 0 to the log's head."""
    stream = SqliteStream(db)
    trainer = OnlineTrainer(stream, folder, config(args))
    t0 = time.perf_counter()
    trainer.run(until_idle=True)
    seconds = time.perf_counter() - t0
    progress = trainer.progress()
    stream.close()
    return seconds, progress["examples"], progress["logloss"]


def parts(db: Path, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    """Seconds of each part alone: SQLite read, joiner, feature keys, FM kernel."""
    stream, out = SqliteStream(db), {}
    t0, batches, after = time.perf_counter(), [], 0
    while len(chunk := stream.read(after, args.read_limit)):
        batches.append(chunk)
        after = chunk.last_seq
    out["sqlite_read"] = time.perf_counter() - t0
    stream.close()
    joiner, t0 = LabelJoiner(config(args).joiner), time.perf_counter()
    examples = ExampleBatch.concat([joiner.join(batch) for batch in batches])
    out["joiner"] = time.perf_counter() - t0
    trainer = OnlineTrainer(ListStreamStub(), folder, config(args))
    t0 = time.perf_counter()
    keys = trainer.model.keys({"user": examples.user_id, "item": examples.item_id})
    out["keys"] = time.perf_counter() - t0
    labels = examples.label.astype(np.float64)
    t0 = time.perf_counter()
    for lo in range(0, len(keys), 1024):
        trainer.model.train(keys[lo:lo + 1024], labels[lo:lo + 1024], None, examples.timestamp[lo])
    out["fm_kernel"] = time.perf_counter() - t0
    out["examples"] = len(examples)
    return out


class ListStreamStub:
    """An empty stream: the parts' trainer only needs its model."""

    def read(self, after: int, limit: int) -> EventBatch:
        return EventBatch.empty()

    def head(self) -> int:
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--per-hour", type=int, default=6000)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--max-rows", type=int, default=20_000)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--read-limit", type=int, default=20_000)
    ap.add_argument("--label-delay", type=float, default=60.0)
    ap.add_argument("--vw-opts", default="-q ui")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    w = world(0, args.days, args.per_hour)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.sqlite"
        n_events = write_log(w, db, args.label_delay)
        # warm the numba kernels outside the clock
        end_to_end(db, Path(tmp) / "warm", argparse.Namespace(**{**vars(args), "read_limit": 2048}))
        seconds, n, loss = end_to_end(db, Path(tmp) / "run", args)
        split = parts(db, Path(tmp) / "parts", args)
    vw_loss, vw_rate = vw_run(w, args)
    fig = {"events": n_events, "examples": n, "seconds": seconds, "examples_per_s": n / seconds,
           "events_per_s": n_events / seconds, "progressive_logloss": loss,
           "parts_s": split, "vw_examples_per_s": vw_rate, "vw_logloss": vw_loss, "vw_opts": args.vw_opts}
    print(f"{n_events:,} events -> {n:,} examples in {seconds:.2f} s: {n / seconds:,.0f} examples/s "
          f"({n_events / seconds:,.0f} events/s), progressive log-loss {fig['progressive_logloss']:.4f}")
    total = sum(v for k, v in split.items() if k != "examples")
    for k, v in split.items():
        if k != "examples":
            print(f"  {k:12s} {v:6.2f} s  {100 * v / total:4.0f} %   {split['examples'] / v:>12,.0f} examples/s")
    print(f"VW {args.vw_opts}: {vw_rate:,.0f} examples/s, log-loss {vw_loss:.4f}")
    write_figures(args.out, "online_full_path", fig)


if __name__ == "__main__":
    main()
