"""``shortlist train``: fit a pipeline from a TOML spec on a dataset and save it."""

from __future__ import annotations

import argparse
import time

from shortlist.cli.common import add_data_arguments, load_dataset_from_args

COMMAND = "train"
HELP = "Train a pipeline (sources, rankers, rules) from a TOML config and save it to a folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="pipeline TOML (e.g. configs/world.toml)")
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the trained pipeline to")


def run(args: argparse.Namespace) -> int:
    from shortlist.pipeline import Pipeline

    pipeline = Pipeline.from_toml(args.config)  # validate the spec before loading data
    dataset = load_dataset_from_args(args)
    t0 = time.perf_counter()
    pipeline.fit(dataset)
    seconds = time.perf_counter() - t0
    path = pipeline.save(args.out)
    it = dataset.interactions
    print(f"trained pipeline {pipeline.spec.name!r} on {dataset.name}: {it.n_users} users, {it.n_items} items, "
          f"{it.n_events} events in {seconds:.1f} s -> {path}")
    return 0
