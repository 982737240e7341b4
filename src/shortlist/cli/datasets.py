"""``shortlist datasets``: list known public datasets, fetch one, inspect a dataset folder."""

from __future__ import annotations

import argparse
import json
from typing import Any

from shortlist.cli.paths import out_folder

COMMAND = "datasets"
HELP = "List, download (with sha256 check) and inspect public recommender datasets."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-actions ``list``, ``fetch`` and ``inspect``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    p = sub.add_parser("list", help="table of the datasets Shortlist knows how to fetch and load")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("fetch", help="download, verify and extract a dataset into DIR/NAME")
    p.add_argument("name", metavar="NAME", help="dataset name from 'shortlist datasets list'")
    p.add_argument("--to", required=True, metavar="DIR", type=out_folder, help="folder to put the dataset folder in")
    p.add_argument("--url", help="download from this URL instead (a mirror, or a dataset not listed)")
    p.add_argument("--sha256", metavar="HEX", help="expected sha256 of the archive (default: the known one)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser("inspect", help="detect the format of a dataset folder and print its summary")
    p.add_argument("path", metavar="PATH", help="dataset folder (e.g. an extracted ml-100k)")
    p.add_argument("--weighting", help="cell weighting (default: the dataset's own), e.g. threshold:4")
    p.add_argument("--verify", action="store_true", help="also check file sha256s against the known copies")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; no action prints help and returns 2."""
    action = getattr(args, "action", None)
    if action == "list":
        return _list(args)
    if action == "fetch":
        return _fetch(args)
    if action == "inspect":
        return _inspect(args)
    args._parser.print_help()
    return 2


def _list(args: argparse.Namespace) -> int:
    from shortlist.data.datasets import DATASETS

    rows = [
        {"name": d.name, "title": d.title, "description": d.description, "url": d.url,
         "sha256": d.sha256, "size_bytes": d.size_bytes, "licence": d.licence}
        for d in DATASETS.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["name", "size", "description", "licence"]]
    for r in rows:
        size = f"{r['size_bytes'] / 2**20:.1f} MiB" if r["size_bytes"] else "?"
        table.append([r["name"], size, r["description"], r["licence"]])
    _print_table(table)
    print("\nThe data may not be redistributed; fetch it yourself: shortlist datasets fetch NAME --to DIR")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from shortlist.data.datasets import detect_format, fetch_dataset
    from shortlist.errors import ShortlistError

    folder = fetch_dataset(args.name, args.to, url=args.url, sha256=args.sha256,
                           progress=False if args.no_progress else None)
    try:
        fmt = detect_format(folder)
    except ShortlistError:  # a custom --url may hold any layout; the download itself succeeded
        fmt = "unknown format"
    print(f"{folder} ({fmt})")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from shortlist.data.datasets import detect_format, load_dataset, verify_files

    fmt = detect_format(args.path)
    if args.verify:  # before parsing, so a damaged file is reported as such
        verify_files(args.path, fmt)
    data = load_dataset(args.path, weighting=args.weighting)
    summary: dict[str, Any] = data.summary()
    if args.verify:
        summary["files_verified"] = True
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    table = [["key", "value"]]
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} ({v})" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.6g}"
        table.append([key, str(value)])
    _print_table(table)
    return 0


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
