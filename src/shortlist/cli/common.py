"""Arguments and helpers shared by several commands (data loading, --param parsing, output)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shortlist.data.dataset import Dataset
from shortlist.errors import ConfigError

__all__ = ["add_data_arguments", "load_dataset_from_args", "parse_params", "print_json"]


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--data``, ``--columns``, ``--weighting``, ``--drop-duplicates``."""
    parser.add_argument("--data", required=required, metavar="PATH",
                        help="dataset folder (format detected), CSV/TSV/Parquet file, or synthetic:PRESET[,seed=N]")
    parser.add_argument("--columns", metavar="ROLE=COL,...",
                        help="for table files: user=...,item=...[,weight=...,time=...,event=...]")
    parser.add_argument("--weighting", metavar="SCHEME",
                        help="binary | count | value | log | threshold:T | time-decay:HALF_LIFE_S "
                             "(default: the dataset's own)")
    parser.add_argument("--no-header", action="store_true",
                        help="the table file has no header row; name columns column_1, column_2, ...")
    parser.add_argument("--drop-duplicates", action="store_true",
                        help="keep one of each exact duplicate row instead of failing")


def load_dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Load the dataset named by the data arguments."""
    from shortlist.data.loading import load_data

    return load_data(args.data, columns=args.columns, weighting=args.weighting,
                     drop_duplicates=args.drop_duplicates, has_header=not args.no_header)


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
