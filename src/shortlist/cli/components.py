"""``shortlist components``: list the registered components of one kind, or one's parameters.

Every kind of component (models, candidate sources, ranking stages, rules, bandit policies)
is registered in one :class:`~shortlist.core.registry.Registry`; this command prints any of
them the same way (``shortlist models`` is the same listing for models).
"""

from __future__ import annotations

import argparse
from typing import Any

COMMAND = "components"
HELP = "List the registered models, sources, stages, rules or policies, or one's parameters."

KINDS = ("models", "sources", "stages", "rules", "policies")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=KINDS, default=None,
                        help="which registry to list (default: every one)")
    parser.add_argument("name", nargs="?", help="show one component's parameters")


def registry(kind: str) -> Any:
    """The registry holding components of ``kind`` (one of :data:`KINDS`)."""
    if kind == "models":
        from shortlist.models.registry import MODELS as reg
    elif kind == "sources":
        from shortlist.retrieval.sources import SOURCES as reg
    elif kind == "stages":
        from shortlist.pipeline.stage_kinds import STAGES as reg
    elif kind == "rules":
        from shortlist.rules.registry import RULES as reg
    else:
        from shortlist.bandits.base import POLICIES as reg
    return reg


def parameters(cls: Any) -> list[tuple[str, str, Any]]:
    """(name, declared type, default) of a component's parameters, from their one declaration."""
    from shortlist.core.parameters import describe_params

    return describe_params(cls)


def print_listing(kind: str, name: str | None = None) -> None:
    """Print one line per registered component (with ``name``: that one and its parameters)."""
    reg = registry(kind)
    if name is not None:
        cls = reg.get_class(name)  # unknown: one line with "did you mean"
        rows = [r for r in reg.describe() if r[0] == name]
    else:
        rows = reg.describe()
    for key, cls_name, summary in rows:
        print(f"{key:16s} {cls_name:20s} {summary}")
    if name is not None:
        for key, declared, default in parameters(cls):
            shown = "required" if default == "required" else f"{default!r}"
            print(f"    {key}: {declared} = {shown}")
    else:
        for key, extra in reg.missing().items():
            print(f"{key:16s} {'-':20s} needs: pip install 'shortlist[{extra}]'")


def run(args: argparse.Namespace) -> int:
    for i, kind in enumerate([args.kind] if args.kind else KINDS):
        if not args.kind:
            print(("\n" if i else "") + f"[{kind}]")
        print_listing(kind, args.name)
    return 0
