"""``shortlist models``: list the registered models and their hyperparameters."""

from __future__ import annotations

import argparse
import inspect

COMMAND = "models"
HELP = "List the available models and their hyperparameters."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show one model's parameters")


def run(args: argparse.Namespace) -> int:
    from shortlist.models.registry import available_models, model_class

    names = [args.name] if args.name else available_models()
    for name in names:
        cls = model_class(name)
        summary = (inspect.getdoc(cls) or "").splitlines()[0] if cls.__doc__ else ""
        print(f"{name:14s} {cls.__name__:14s} {summary}")
        if args.name:
            sig = inspect.signature(cls.__init__)
            for p in sig.parameters.values():
                if p.kind == p.KEYWORD_ONLY:
                    print(f"    --param {p.name}={p.default!r}")
    return 0
