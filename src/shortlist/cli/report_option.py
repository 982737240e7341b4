"""``evaluate --report FILE [--compare X ...]``: the HTML report of what was evaluated (shared by both paths)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shortlist.cli.common import stderr_line

__all__ = ["add_report_arguments", "write_evaluation_report"]


def _html_path(text: str) -> str:
    parent = Path(text).expanduser().resolve().parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {parent} does not exist; create it or write the report elsewhere")
    return text


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", metavar="FILE.html", type=_html_path,
                        help="also write one self-contained HTML report (plots per stage, metric against k, "
                             "per-user ndcg, long tail, coverage and Gini, calibration); opens offline")
    parser.add_argument("--compare", action="append", metavar="MODEL|SPEC.toml", default=[],
                        help="with --report: also fit this model name or pipeline TOML on the same split and "
                             "add it to the report's comparison table (repeatable)")
    parser.add_argument("--report-users", type=int, default=1000, metavar="N",
                        help="users sampled (seeded) for the report's curves (default 1000)")


def _fit_other(name: str, dataset: Any, split: Any, k: int) -> tuple[str, Any, dict[str, float]]:
    """Fit a model name or a pipeline TOML on the split's training part; returns (label, fitted, metrics)."""
    from shortlist.evaluation.runner import evaluate
    from shortlist.models.registry import create_model
    from shortlist.pipeline import Pipeline

    if name.endswith(".toml"):
        pipe = Pipeline.from_toml(name).fit(dataset.with_interactions(split.train), progress=False)
        return f"pipeline {pipe.spec.name} ({Path(name).name})", pipe, {}
    model = create_model(name).fit(split.train, progress=False)
    return name, model, evaluate(model, split, k=k).metrics


def write_evaluation_report(args: argparse.Namespace, first: tuple[str, Any, dict[str, float]], dataset: Any,
                            k: int) -> None:
    """Collect the evaluated model (and ``--compare`` ones) on one split and write ``args.report``."""
    from shortlist.data.splits import split_by_protocol
    from shortlist.report import collect_run, write_report

    split = split_by_protocol(dataset.interactions, args.protocol, seed=args.seed)
    entries = [first] + [_fit_other(name, dataset, split, k) for name in args.compare]
    runs = [collect_run(label, model, split, k=k, metrics=metrics, max_users=args.report_users, seed=args.seed)
            for label, model, metrics in entries]
    size = write_report(runs, args.report, title=f"Shortlist evaluation: {dataset.name}",
                        subtitle=f"protocol {args.protocol}, seed {args.seed}, k = {k}")
    stderr_line(f"report -> {args.report} ({size / 1024:.1f} KiB, self-contained)")
