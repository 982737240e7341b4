"""``shortlist batch-recommend``: top-k for every known user of a trained pipeline, as Parquet parts."""

from __future__ import annotations

import argparse
import os
import sys
import time

from shortlist.cli.paths import model_folder, out_folder

COMMAND = "batch-recommend"
HELP = "Write the top-k of every known user of a trained pipeline to Parquet (resumable; on Ray with --ray)."


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, metavar="DIR", type=model_folder,
                        help="folder written by `shortlist train` (every Ray node must read it)")
    parser.add_argument("--out", required=True, metavar="DIR", type=out_folder,
                        help="folder for part-NNNNNN.parquet (user_id, rank, item_id, score); run the same command "
                             "again to finish an interrupted job")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run on a Ray cluster ('auto', host:port, or 'local' to start one on this machine); "
                             "needs shortlist[ray]. Without it: this process alone")
    parser.add_argument("--k", type=_positive, default=100, help="items per user (default 100)")
    parser.add_argument("--batch-size", type=_positive, default=1000, help="users per part (default 1000)")
    parser.add_argument("--actors", type=_positive,
                        help="pipeline replicas on Ray (default: the cluster's CPUs)")


def run(args: argparse.Namespace) -> int:
    k = args.k
    progress = None if sys.stderr.isatty() else False
    t0 = time.perf_counter()
    if args.ray is None:
        from shortlist.distributed.batch import recommend_here

        report = recommend_here(args.model_dir, args.out, k=k, batch_size=args.batch_size, progress=progress)
        where = "in this process"
    else:
        from shortlist.distributed.batch import recommend_all
        from shortlist.distributed.cluster import connected

        with connected(None if args.ray == "local" else args.ray) as ray:
            actors = args.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
            report = recommend_all(args.model_dir, args.out, k=k, batch_size=args.batch_size, actors=actors,
                                   progress=progress)
        where = f"on Ray ({actors} actors)"
    seconds = time.perf_counter() - t0
    skipped = report.batches - report.computed
    print(f"wrote {report.computed} of {report.batches} batches ({report.rows} rows) {where} in {seconds:.1f} s"
          + (f"; {skipped} were already done" if skipped else "") + f" -> {os.fspath(args.out)}")
    return 0
