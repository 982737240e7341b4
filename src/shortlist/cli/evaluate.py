"""``shortlist evaluate``: split a dataset, (tune,) fit a model, print metrics."""

from __future__ import annotations

import argparse
import sys
import time

from shortlist.cli.common import (
    add_data_arguments,
    add_tuning_arguments,
    load_dataset_from_args,
    parse_params,
    pipeline_budget,
    print_json,
    stderr_line,
)
from shortlist.cli.paths import existing_file
from shortlist.cli.report_option import add_report_arguments, write_evaluation_report
from shortlist.data.splits import PROTOCOLS
from shortlist.errors import ConfigError

COMMAND = "evaluate"
HELP = "Evaluate a model offline on a dataset with a leakage-free protocol."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--model", default=None,
                        help="evaluate one model (see `shortlist models`) instead of a pipeline")
    parser.add_argument("--config", metavar="FILE", type=existing_file("a pipeline TOML file"),
                        help="pipeline TOML spec (default: configs/default.toml, which adapts to the data)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="model hyperparameter (repeatable)")
    parser.add_argument("--protocol", default="random-holdout:0.25", help=f"one of {', '.join(PROTOCOLS)}")
    parser.add_argument("--seed", type=int, default=42, help="seed of the split")
    parser.add_argument("--k", type=int, default=10, help="list length for the metrics")
    add_tuning_arguments(parser)  # with --model, --tune searches that model's space (--space, --trials)
    parser.add_argument("--space", action="append", metavar="KEY=V1,V2",
                        help="search space entry for --tune (repeatable; default: the model's own)")
    parser.add_argument("--trials", type=int, default=12, help="random-search trials for --tune")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_report_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from shortlist.data.splits import split_by_protocol
    from shortlist.evaluation.runner import evaluate
    from shortlist.evaluation.tuning import parse_space, tune
    from shortlist.models.base import check_k
    from shortlist.models.registry import create_model

    k = check_k(args.k)
    if args.model is None:
        if args.param or args.space:
            raise ConfigError("--param and --space set one model's hyperparameters; name it with --model, "
                              "e.g. --model als --param factors=64")
        return _run_pipeline(args, k)
    if args.budget is not None:
        raise ConfigError("--budget tunes a pipeline; with --model use --tune and --trials")
    params = parse_params(args.param)
    create_model(args.model, params)  # fail fast on bad names/params before loading data
    t0 = time.perf_counter()
    dataset = load_dataset_from_args(args)
    load_seconds = time.perf_counter() - t0
    data = dataset.interactions
    split = split_by_protocol(data, args.protocol, seed=args.seed)
    tuned = None
    if args.tune:
        space = parse_space(args.space) if args.space else None
        tuned = tune(args.model, split.train, space=space, fixed=params, n_trials=args.trials, k=k,
                     seed=args.seed, progress=None if sys.stderr.isatty() else False)
        params = {**params, **tuned.best_params}
    model = create_model(args.model, params)
    t0 = time.perf_counter()
    # feature-aware models (two-tower, softmax DNN, ...) also get the dataset's feature tables
    fit_kw = ({"user_features": dataset.user_features, "item_features": dataset.item_features}
              if getattr(model, "uses_features", False) else {})
    model.fit(split.train, **fit_kw)
    fit_seconds = time.perf_counter() - t0
    item_features = None
    if dataset.item_features is not None:
        mat = dataset.item_features.matrix([n for n, kind in dataset.item_features.kinds.items()
                                            if kind in ("categorical", "multi")][:1])
        item_features = mat if mat.shape[1] else None
    result = evaluate(model, split, k=k, item_features=item_features)
    result.info.update(
        model=args.model, params={kk: getattr(model, kk) for kk in model.get_params()},
        fit_seconds=round(fit_seconds, 4), load_seconds=round(load_seconds, 4),
        dataset=dataset.name, n_users=data.n_users, n_items=data.n_items,
        n_interactions=data.n_events, seed=args.seed,
    )
    if tuned is not None:
        result.info["tuning"] = tuned.to_dict()
    if args.report:
        write_evaluation_report(args, (args.model, model, result.metrics), dataset, k)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.to_table())
    return 0


def _run_pipeline(args: argparse.Namespace, k: int) -> int:
    """Evaluate a pipeline after candidates, ranking and rules (the per-stage contribution)."""
    from shortlist.pipeline import Pipeline, evaluate_pipeline
    from shortlist.pipeline.defaults import default_config_path
    from shortlist.pipeline.resources import peak_memory_bytes

    pipeline = Pipeline.from_toml(args.config or default_config_path())  # validate before loading data
    budget = pipeline_budget(args, pipeline)
    dataset = load_dataset_from_args(args)
    results = evaluate_pipeline(pipeline, dataset, args.protocol, seed=args.seed, k=k, budget=budget,
                                log=stderr_line, progress=None if sys.stderr.isatty() else False)
    peak = peak_memory_bytes()
    stderr_line(f"peak memory {peak / 2**30:.2f} GiB")
    final = results["rules"].to_dict()
    final["peak_memory_mb"] = round(peak / 2**20, 1)
    final["stages"] = {name: {m: r.metrics[m] for m in (f"ndcg@{k}", f"recall@{k}", "coverage")}
                       for name, r in results.items()}
    if args.report:
        write_evaluation_report(args, (f"pipeline {pipeline.spec.name}", pipeline, results["rules"].metrics),
                                dataset, k)
    if args.json:
        print_json(final)
        return 0
    print(f"pipeline {pipeline.spec.name!r} on {dataset.name} ({args.protocol}, seed {args.seed})")
    if getattr(pipeline, "tuning_", None) is not None:
        print(pipeline.tuning_.to_text())
        print()
    print(f"{'after':<12} {'ndcg@' + str(k):>9} {'recall@' + str(k):>10} {'coverage':>9}")
    for name, r in results.items():
        m = r.metrics
        print(f"{name:<12} {m[f'ndcg@{k}']:>9.4f} {m[f'recall@{k}']:>10.4f} {m['coverage']:>9.4f}")
    print()
    print(results["rules"].to_table())
    return 0
