"""Offline evaluation report: per-stage lists of a fitted model or pipeline, drawn as one HTML file."""

from shortlist.report.collect import EvalRun, collect_run, gini
from shortlist.report.page import render_report, write_report

__all__ = ["EvalRun", "collect_run", "gini", "render_report", "write_report"]
