"""``shortlist train-online``: learn the ranker's FM from live events, beside ``shortlist serve``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shortlist.cli.paths import event_log_file

COMMAND = "train-online"
HELP = ("Train an FM from the event log as events arrive (label joiner, collisionless embeddings) and publish "
        "it to serving every few seconds; resumes from its snapshot after a crash.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, metavar="DIR", type=Path,
                        help="served folder: reads DIR/events.sqlite, writes DIR/online/ (snapshot and sync/)")
    parser.add_argument("--events-db", metavar="DB", type=event_log_file, help="event log (default: DIR/events.sqlite)")
    parser.add_argument("--out", metavar="DIR", type=Path, help="where the trainer writes (default: DIR/online)")
    parser.add_argument("--config", metavar="JSON", default="{}",
                        help='trainer settings as JSON, e.g. \'{"lr": 0.05, "table": {"dim": 16, "admit_after": 2}}\'')
    parser.add_argument("--sync-every", type=float, metavar="S", help="seconds between row syncs (default 5)")
    parser.add_argument("--window", type=float, metavar="S", help="label window in event seconds (default 300)")
    parser.add_argument("--progress-every", type=float, default=10.0, metavar="S",
                        help="print a progress line every S seconds (0: never)")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds (default: run until killed)")
    parser.add_argument("--until-idle", action="store_true", help="stop when the log has no new events")


def _config(args: argparse.Namespace):
    from shortlist.core.validation import validate_config
    from shortlist.errors import ConfigError
    from shortlist.online.training import TrainerConfig

    try:
        params = json.loads(args.config)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config={args.config!r} is not JSON ({exc.msg}); pass an object like "
                          "'{\"lr\": 0.05}'") from None
    if not isinstance(params, dict):
        raise ConfigError(f"--config={args.config!r} must be a JSON object like '{{\"lr\": 0.05}}'")
    if args.sync_every is not None:
        params["sync_every_s"] = args.sync_every
    if args.window is not None:
        params.setdefault("joiner", {})["window_s"] = args.window
    return validate_config("train-online --config", TrainerConfig, params)


def run(args: argparse.Namespace) -> int:
    from shortlist.errors import ConfigError
    from shortlist.online.training import OnlineTrainer, SqliteStream

    config = _config(args)
    db = Path(args.events_db) if args.events_db else args.model_dir / "events.sqlite"
    if not db.exists():
        raise ConfigError(f"--events-db: {str(db)!r} does not exist; start `shortlist serve --model-dir "
                          f"{args.model_dir}` first (it creates the log) or pass --events-db")
    try:
        event_log_file(str(db))  # the default path is checked as --events-db is: an SQLite file
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--events-db: {exc}") from None
    stream = SqliteStream(db)
    trainer = OnlineTrainer(stream, args.out or args.model_dir / "online", config)
    print(f"train-online: resuming at log offset {trainer.offset} ({trainer.ledger['examples']} examples trained)",
          file=sys.stderr)
    state = {"last": time.monotonic(), "examples": trainer.ledger["examples"]}

    def report(tr: OnlineTrainer, n: int) -> None:
        now = time.monotonic()
        if not args.progress_every or now - state["last"] < args.progress_every:
            return
        p = tr.progress()
        rate = (p["examples"] - state["examples"]) / (now - state["last"])
        heads = "".join(f"  {name} logloss {m['logloss']:.4f} auc {m['auc']:.4f}"
                        for name, m in p.get("heads", {}).items())  # a value model: each head's own
        print(f"offset {p['offset']}  lag {p['lag_events']} events  {rate:,.0f} examples/s  "
              f"logloss {p['logloss']:.4f}  auc {p['auc']:.4f}{heads}  rows {p['rows']}  version {p['version']}",
              file=sys.stderr, flush=True)
        state.update(last=now, examples=p["examples"])

    try:
        try:
            trainer.run(max_seconds=args.max_seconds, until_idle=args.until_idle, on_step=report)
        except KeyboardInterrupt:  # run() has written its snapshot on the way out
            pass
        p = trainer.progress()  # before the log closes: the lag reads its head
    finally:
        stream.close()
    print(json.dumps({k: p[k] for k in ("offset", "examples", "logloss", "auc", "version", "rows")}))
    return 0
