"""``shortlist train``: fit a pipeline (tuning it first when asked) on a dataset and save it."""

from __future__ import annotations

import argparse
import sys
import time

from shortlist.cli.common import (
    add_data_arguments,
    add_tuning_arguments,
    load_dataset_from_args,
    pipeline_budget,
    stderr_line,
)
from shortlist.cli.paths import existing_file, out_folder, refuse_model_overwrite

COMMAND = "train"
HELP = "Train a pipeline (tuned on validation folds by default) and save it to a folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", type=existing_file("a pipeline TOML file"),
                        help="pipeline TOML (default: configs/default.toml, which adapts to the data and tunes "
                             "itself; configs/world.toml for the synthetic world)")
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", type=out_folder,
                        help="folder to write the trained pipeline to (a new one, or see --force)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite --out even if it holds a trained pipeline (one a server may be serving)")
    add_tuning_arguments(parser)
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="fit the ALS models on a Ray cluster ('auto', host:port, or 'local' to start one on this "
                             "machine), as [cluster] engine = \"ray\" in the spec does; needs shortlist[ray]")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shortlist.errors import ConfigError
    from shortlist.pipeline import Pipeline
    from shortlist.pipeline.defaults import default_config_path
    from shortlist.pipeline.resources import peak_memory_bytes
    from shortlist.pipeline.tuning import fit_tuned

    refusal = None if args.force else refuse_model_overwrite(args.out)
    if refusal:  # before any work: a served folder must not change under the server
        raise ConfigError(refusal)
    pipeline = Pipeline.from_toml(args.config or default_config_path())  # validate the spec before loading data
    budget = pipeline_budget(args, pipeline)
    dataset = load_dataset_from_args(args)
    t0 = time.perf_counter()
    with _engine(pipeline, args.ray):
        fit_tuned(pipeline, dataset, budget=budget, log=stderr_line, storage_dir=Path(args.out) / "tuning",
                  progress=None if sys.stderr.isatty() else False)
    seconds = time.perf_counter() - t0
    path = pipeline.save(args.out)
    it = dataset.interactions
    if getattr(pipeline, "tuning_", None) is not None:
        print(pipeline.tuning_.to_text())
        print(f"tuning report: {Path(args.out) / 'tuning' / 'report.txt'} (every trial in report.json)")
    print(f"trained pipeline {pipeline.spec.name!r} on {dataset.name}: {it.n_users} users, {it.n_items} items, "
          f"{it.n_events} events in {seconds:.1f} s (peak memory {peak_memory_bytes() / 2**30:.2f} GiB) -> {path}")
    return 0


def _engine(pipeline, address: str | None):
    """Where the models are fitted: here, or on Ray (``--ray`` or the spec's ``[cluster]``)."""
    from contextlib import nullcontext

    if address is None and pipeline.spec.cluster.engine != "ray":
        return nullcontext()
    from shortlist.distributed import on_ray

    return on_ray(pipeline, None if address == "local" else address)
