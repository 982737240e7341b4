"""Arguments and helpers shared by several commands (data loading, --param parsing, output)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shortlist.data.dataset import Dataset
from shortlist.errors import ConfigError

__all__ = [
    "add_data_arguments", "add_tuning_arguments", "load_dataset_from_args", "parse_params", "pipeline_budget",
    "print_json", "print_notes", "stderr_line",
]


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add the data options: ``--data``, ``--columns``, ``--weighting`` and the row filters.

    The filters are ``--no-header``, ``--drop-duplicates``, ``--min-rating`` and ``--k-core``.
    """
    parser.add_argument("--data", required=required, metavar="PATH",
                        help="dataset folder (format detected), CSV/TSV/Parquet file, a 'user "
                             "item item ...' line-per-user .txt file, or synthetic:PRESET[,seed=N]")
    parser.add_argument("--columns", metavar="ROLE=COL,...",
                        help="for table files: user=...,item=...[,rating=... (explicit ratings) or "
                             "weight=... (counts), time=...,event=...]")
    parser.add_argument("--weighting", metavar="SCHEME",
                        help="binary | count | value | log | threshold:T | time-decay:HALF_LIFE_S "
                             "| auto (default: the dataset's own, repeated rows counting; when the "
                             "pipeline tunes, it picks the weighting that scores best on validation "
                             "unless one is named here)")
    parser.add_argument("--no-header", action="store_true",
                        help="the table file has no header row; name columns by position in --columns "
                             "(user=1,item=2) or as column_1, column_2, ... (a first row of numbers only is "
                             "taken as data without this flag too)")
    parser.add_argument("--drop-duplicates", action="store_true",
                        help="keep one of each exact duplicate row (default: repeats count as "
                             "repeated interactions; a repeated rating keeps the latest)")
    parser.add_argument("--min-rating", type=float, metavar="X",
                        help="drop rows rated below X before anything else (needs a rating column)")
    parser.add_argument("--k-core", type=int, metavar="N",
                        help="repeatedly drop users and items with fewer than N distinct "
                             "interactions (default: off)")


def load_dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Load the dataset named by the data arguments and print its notes on stderr."""
    from shortlist.data.loading import load_data

    dataset = load_data(args.data, columns=args.columns, weighting=args.weighting,
                        drop_duplicates=args.drop_duplicates, has_header=not args.no_header,
                        min_rating=getattr(args, "min_rating", None),
                        k_core=getattr(args, "k_core", None))
    print_notes(dataset)
    return dataset


def print_notes(dataset: Dataset) -> None:
    """Print each line of ``dataset.info["notes"]`` on stderr (stdout stays clean for --json)."""
    for line in dataset.info.get("notes", []):
        print(line, file=sys.stderr)


def stderr_line(line: str) -> None:
    """Print one progress or decision line on stderr (stdout stays clean for --json)."""
    print(line, file=sys.stderr, flush=True)


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tune`` and ``--budget``: how long a pipeline tunes itself on validation folds."""
    parser.add_argument("--tune", action="store_true",
                        help="tune on validation folds of the training part first "
                             "(the default pipeline always does, within --budget)")
    parser.add_argument("--budget", metavar="DURATION", default=None,
                        help="pipeline tuning budget: 90s, 10m, 1h, seconds, 0 (no tuning) or auto "
                             "(default: the spec's [tuning] budget; auto grows with the data)")


def pipeline_budget(args: argparse.Namespace, pipeline: Any) -> float | str | None:
    """The tuning budget ``--budget`` / ``--tune`` ask for: seconds, "auto", or None (the spec's own)."""
    from shortlist.pipeline.spec import parse_budget

    if args.budget is not None:
        try:
            seconds = parse_budget(args.budget)
        except ValueError as exc:
            raise ConfigError(f"--budget: {exc}") from None
        return "auto" if seconds is None else seconds
    spec = pipeline.declared_spec
    if getattr(args, "tune", False) and ("tuning" not in spec.model_fields_set or spec.tuning.budget_seconds == 0):
        return "auto"
    return None


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["factors=64", "alpha=2"]`` -> ``{"factors": "64", "alpha": "2"}`` (typed later)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r} must look like name=value, e.g. --param factors=64")
        out[key.strip()] = val.strip()
    return out


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    json.dump(obj, sys.stdout, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    sys.stdout.write("\n")
