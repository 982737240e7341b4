"""``shortlist models``: list the registered models and their hyperparameters."""

from __future__ import annotations

import argparse

COMMAND = "models"
HELP = "List the available models and their hyperparameters (see also: shortlist components)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show one model's parameters")


def run(args: argparse.Namespace) -> int:
    from shortlist.cli.components import print_listing

    print_listing("models", args.name)
    return 0
