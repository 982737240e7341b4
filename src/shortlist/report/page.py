"""The evaluation report: one self-contained HTML file (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

import os
import time
from html import escape
from pathlib import Path

import numpy as np

from shortlist.report.collect import KS, EvalRun, gini
from shortlist.report.svg import bar_chart, histogram, line_chart

__all__ = ["CSS", "render_report", "write_report"]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1180px;padding:16px;
color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}th,td{border:1px solid #ddd;padding:3px 8px;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid>figure{margin:0;background:#fff;border:1px solid #e3e3e3;
border-radius:6px;padding:6px}.muted{color:#666}figcaption{font-size:12px;color:#555;max-width:540px}
svg.chart{display:block;max-width:100%;height:auto}
"""


def _table(header: list[str], rows: list[list[object]], cls: str = "") -> str:
    def cell(v: object) -> str:
        return f"{v:.4f}" if isinstance(v, float) else escape(str(v))

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _ks(run: EvalRun) -> list[int]:
    kmax = run.final.shape[1]
    return sorted({k for k in KS if k <= kmax} | {run.k})


def _stage_rows(run: EvalRun) -> list[list[object]]:
    """Per stage: ndcg, recall, coverage and Gini of exposure at the run's k."""
    rows = []
    for stage in run.stages:
        per = run.per_user(stage, run.k)
        exp = run.exposure(stage)
        rows.append([stage, float(np.nanmean(per["ndcg"])), float(np.nanmean(per["recall"])),
                     float((exp > 0).mean()), gini(exp)])
    return rows


def _run_section(run: EvalRun) -> str:
    """Every chart of one model or pipeline."""
    k, stages = run.k, list(run.stages)
    rows = _stage_rows(run)
    figs = [
        _figure(bar_chart(stages, [r[1] for r in rows], title=f"NDCG@{k} after each stage", xlabel=f"ndcg@{k}"),
                "Mean NDCG of the top-k after each part of the pipeline: what each stage adds."),
        _figure(bar_chart(stages, [r[2] for r in rows], title=f"Recall@{k} after each stage", xlabel=f"recall@{k}"),
                "Mean recall of the top-k after each stage."),
        _figure(line_chart({s: (_ks(run), [run.metric_at(s, "ndcg", kk) for kk in _ks(run)]) for s in stages},
                           title="NDCG against k", xlabel="k", ylabel="ndcg@k"),
                "How the ranking quality changes with the list length, per stage."),
        _figure(line_chart({s: (_ks(run), [run.metric_at(s, "recall", kk) for kk in _ks(run)]) for s in stages},
                           title="Recall against k", xlabel="k", ylabel="recall@k"),
                "Share of each user's held-out items found in the top-k."),
        _figure(histogram(run.per_user(stages[-1], k)["ndcg"], title=f"Per-user NDCG@{k} (final list)",
                          xlabel=f"ndcg@{k}", bins=20),
                "Distribution over users: a mean hides users the list fails entirely (the bar at 0)."),
        _figure(_long_tail(run), "Items ordered from most to least popular in training: the share of training "
                                 "interactions and of recommendation slots they take. The further the exposure "
                                 "curve sits below the training curve, the more the list reaches the long tail."),
    ]
    figs += [_figure(_calibration_chart(name, bins), f"Calibration of value-model head {name}: predicted "
                     "probability against the held-out rate (diagonal = calibrated); label: the candidate is among "
                     "the user's held-out interactions.") for name, bins in run.calibration.items()]
    table = _table(["stage", f"ndcg@{k}", f"recall@{k}", "coverage", "Gini of exposure"], rows, "stages")
    metrics = _table(["metric", "value"], [[m, v] for m, v in run.metrics.items()], "metrics") if run.metrics else ""
    return (f'<section class="run"><h2>{escape(run.name)}</h2><p class="muted">{run.relevant.shape[0]} evaluated '
            f"users, lists of up to {run.final.shape[1]} items, metrics at k = {k}.</p>{metrics}"
            f"<h3>Stages: quality, coverage and exposure concentration</h3>{table}"
            f'<div class="grid">{"".join(figs)}</div></section>')


def _long_tail(run: EvalRun) -> str:
    order = np.argsort(-run.item_popularity, kind="stable")
    n = order.size
    xs = np.linspace(0, 1, min(n, 100) + 1)
    cut = np.minimum((xs * n).astype(np.int64), n)

    def curve(counts: np.ndarray) -> list[float]:
        c = np.concatenate([[0.0], np.cumsum(counts[order], dtype=np.float64)])
        return list(c[cut] / max(c[-1], 1.0))

    series = {"training interactions": (list(xs), curve(run.item_popularity))}
    series.update({f"exposure: {s}": (list(xs), curve(run.exposure(s))) for s in (next(iter(run.stages)), "final")
                   if s in run.stages})
    return line_chart(series, title="Popularity and the long tail", xlabel="share of items, most popular first",
                      ylabel="cumulative share", points=False)


def _calibration_chart(name: str, bins: tuple[np.ndarray, np.ndarray, np.ndarray]) -> str:
    pred, observed, _ = bins
    top = float(max(pred.max(), observed.max(), 0.05))
    return line_chart({"observed": (list(pred), list(observed)), "calibrated": ([0.0, top], [0.0, top])},
                      title=f"Calibration: {name}", xlabel="mean predicted probability", ylabel="held-out rate")


def _comparison(runs: list[EvalRun]) -> str:
    """One row per run: final-list metrics side by side."""
    k = runs[0].k
    rows = []
    for run in runs:
        per = run.per_user("final", k) if "final" in run.stages else run.per_user(list(run.stages)[-1], k)
        exp = run.exposure(list(run.stages)[-1])
        rows.append([run.name, float(np.nanmean(per["ndcg"])), float(np.nanmean(per["recall"])),
                     float(np.nanmean(per["hit_rate"])), float((exp > 0).mean()), gini(exp)])
    chart = line_chart({r.name: (_ks(r), [r.metric_at(list(r.stages)[-1], "ndcg", kk) for kk in _ks(r)]) for r in runs},
                       title="NDCG against k, final lists", xlabel="k", ylabel="ndcg@k")
    return ("<h2>Comparison</h2>" + _table(["model", f"ndcg@{k}", f"recall@{k}", f"hit rate@{k}", "coverage",
                                            "Gini of exposure"], rows, "comparison")
            + f'<div class="grid">{_figure(chart, "Every evaluated model on the same users and split.")}</div>')


def render_report(runs: list[EvalRun], *, title: str = "Shortlist evaluation", subtitle: str = "") -> str:
    """The report as one HTML string."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    parts = [f"<h1>{escape(title)}</h1><p class='muted'>{escape(subtitle)} &middot; generated {when}</p>"]
    if len(runs) > 1:
        parts.append(_comparison(runs))
    parts += [_run_section(r) for r in runs]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            "content='width=device-width,initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_report(runs: list[EvalRun], path: str | Path, **kw: str) -> int:
    """Write the report to ``path`` atomically; returns its size in bytes."""
    data = render_report(runs, **kw).encode("utf-8")
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a reader never sees half a report
    return len(data)
