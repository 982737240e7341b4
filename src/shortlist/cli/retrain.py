"""``shortlist retrain``: a new model version from the event log plus the served version's training data."""

from __future__ import annotations

import argparse

from shortlist.cli.paths import event_log_file, existing_file, model_folder, out_folder

COMMAND = "retrain"
HELP = "Retrain a pipeline on its training data plus the logged events and save it as a new version."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", required=True, metavar="DB", type=event_log_file, help="event log written by `shortlist serve`")
    parser.add_argument("--model-dir", required=True, metavar="DIR", type=model_folder,
                        help="served version whose data/ folder holds the original training data")
    parser.add_argument("--config", metavar="FILE", type=existing_file("a pipeline TOML file"), help="pipeline TOML (default: the spec of --model-dir)")
    parser.add_argument("--out", required=True, metavar="DIR", type=out_folder, help="new folder for the new version")
    parser.add_argument("--skip-types", default="impression,reward,feedback", metavar="T,T",
                        help="event types that are not interactions (default: impression,reward,feedback)")


def run(args: argparse.Namespace) -> int:
    from shortlist.online.retrain import retrain_from_log

    skip = tuple(t.strip() for t in args.skip_types.split(",") if t.strip())
    report = retrain_from_log(args.events, args.model_dir, args.out, config=args.config, skip_types=skip)
    print(f"retrained on {report.base_events} base + {report.log_events} logged events "
          f"({report.new_users} new users; skipped: {report.skipped_unknown_items} on unknown items, "
          f"{report.skipped_invalid} with ids or values the data cannot hold) "
          f"in {report.seconds:.1f} s -> {report.out}")
    print(f"swap with: curl -X POST -H 'X-API-Key: ...' -H 'content-type: application/json' "
          f"-d '{{\"model_dir\": \"{report.out}\"}}' http://HOST:PORT/admin/reload")
    return 0
