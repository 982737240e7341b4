"""What each inspector page shows, as plain data (the routes render it; tests read it)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.pipeline.components import run_sources
from shortlist.report.svg import bar_chart, histogram, line_chart
from shortlist.serving.ui.catalog_view import catalog_view
from shortlist.serving.ui.explain import Asked, explain, why_not
from shortlist.serving.ui.live import event_series, histogram_quantiles

__all__ = ["compare_versions", "item_view", "overview_view", "pipeline_parts", "user_view"]


def pipeline_parts(p: Any) -> dict[str, Any]:
    """The spec as tables: models, sources with quotas, ranking stages with budgets, rules."""
    spec = p.spec
    return {"name": spec.name, "k": spec.k,
            "models": [{"name": n, "kind": m.kind} for n, m in spec.models.items()],
            "sources": [{"name": s.name, "kind": s.kind, "quota": s.quota} for s in spec.sources],
            "stages": [{"name": s.name, "kind": s.kind, "budget": s.budget} for s in spec.stages],
            "rules": [r.kind for r in spec.rules], "omitted": [o.line() for o in p.omitted_],
            "tuning": getattr(p, "tuning_summary_", None)}


def _time_chart(series: dict[str, list[float]], bucket: int, title: str, ylabel: str) -> str:
    xs = [(i * bucket) / 3600 for i in range(max((len(v) for v in series.values()), default=0))]
    return line_chart({k: (xs, v) for k, v in series.items()}, title=title, xlabel="hours since the first event",
                      ylabel=ylabel, points=False)


def overview_view(st: Any, events_db: Path | None, sampler: Any) -> dict[str, Any]:
    """Data sizes and distributions, the pipeline's parts, live figures from the log and the metrics."""
    mv = st.holder.current
    view = catalog_view(mv.pipeline)
    inter = mv.pipeline.dataset_.interactions
    log = event_series(events_db)
    metrics = getattr(st, "metrics", None)
    latency = histogram_quantiles(metrics.latency, "/recommend") if metrics is not None else None
    points = sampler.sample(metrics) if sampler is not None else []
    charts = {
        "per_user": histogram(view.user_counts.astype(float), title="Events per user (training)", log_x=True,
                              xlabel="events per user (log scale)", ylabel="users"),
        "per_item": histogram(view.item_counts.astype(float), title="Events per item (training)", log_x=True,
                              xlabel="events per item (log scale)", ylabel="items"),
    }
    if log["series"]:
        charts["events"] = _time_chart(log["series"], log["bucket_s"], "Logged events over time", "events")
        charts["ctr"] = _time_chart({"click-through": log["ctr"]}, log["bucket_s"], "Click-through over time",
                                    "clicks / impressions")
    if len(points) > 1:
        t0 = points[0][0]
        xs = [(t - t0) / 60 for t, _, _ in points]
        charts["rate"] = line_chart({"requests/s": (xs, [r for _, r, _ in points]),
                                     "p95 ms": (xs, [p for _, _, p in points])},
                                    title="POST /recommend while this page was open", xlabel="minutes",
                                    ylabel="req/s, ms", points=False)
    return {"version": mv.version, "path": str(mv.path), "loaded_at": mv.loaded_at,
            "data": {"users": inter.n_users, "items": inter.n_items, "events": inter.n_events,
                     "name": mv.pipeline.dataset_.name},
            "parts": pipeline_parts(mv.pipeline), "log": log, "latency": latency, "charts": charts}


def _cards(view: Any, ex: dict[str, Any]) -> list[dict[str, Any]]:
    return [view.card(it["index"], position=it["position"], score=it["score"], sources=it["sources"],
                      stages=it["stages"], propensity=it["propensity"]) for it in ex["items"]]


def user_view(pipeline: Any, asked: Asked, online: list[str]) -> dict[str, Any]:
    """History, final list as cards with provenance, the funnel and per-source counts for one request."""
    view = catalog_view(pipeline)
    ex = explain(pipeline, asked, online)
    req = ex["request"]
    drops = [dict(d, cards=[view.card(i) for i in d["items"][:12]]) for f in ex["funnel"] for d in f["drops"]]
    chart = bar_chart(list(ex["per_source"]), [float(v) for v in ex["per_source"].values()],
                      title="Candidates per source", xlabel="candidates (before merge)")
    return {"user_id": asked.user_id, "known": ex["known"], "fallback": ex["fallback"], "k": req.k,
            "history": view.history(req.user_index) if req.known_user else [], "online": online,
            "items": _cards(view, ex), "funnel": ex["funnel"], "drops": drops, "per_source": ex["per_source"],
            "scored_stages": ex["scored_stages"], "omitted": ex["omitted"], "source_chart": chart}


def compare_versions(a: Any, b: Any, asked: Asked, online: list[str]) -> dict[str, Any]:
    """The same request under two versions: both lists, overlap, and how each item moved."""
    la, lb = explain(a, asked, online)["response"].item_ids, explain(b, asked, online)["response"].item_ids
    pos_b = {i: n for n, i in enumerate(lb)}
    rows = [{"item_id": i, "a": n + 1, "b": pos_b[i] + 1 if i in pos_b else None} for n, i in enumerate(la)]
    rows += [{"item_id": i, "a": None, "b": n + 1} for n, i in enumerate(lb) if i not in set(la)]
    return {"a": la, "b": lb, "overlap": len(set(la) & set(lb)), "rows": rows}


def _similar(pipeline: Any, item: int, k: int = 10) -> tuple[str, list[tuple[int, float]]]:
    """(model, [(item index, score)]) from the first model that defines item similarity (factor models first)."""
    models = pipeline.models_
    for name in sorted(models, key=lambda n: not hasattr(models[n], "item_factors_")):
        try:
            rec = models[name].similar_items([pipeline.items_.ids[item]], k)
        except (NotImplementedError, ValueError, KeyError):
            continue
        ok = rec.item_indices[0] >= 0
        return name, list(zip(rec.item_indices[0][ok].tolist(), rec.scores[0][ok].tolist()))
    return "", []


def _surfacing(pipeline: Any, item: int, n_users: int = 12) -> tuple[dict[str, int], int]:
    """Per source: how many of a seeded sample of users it proposes ``item`` to (the sources run as served)."""
    from shortlist.retrieval.types import Request

    users = np.random.default_rng(0).choice(len(pipeline.users_), min(n_users, len(pipeline.users_)), replace=False)
    counts = {s.name: 0 for s in pipeline.spec.sources}
    for u in users:
        for s, res in zip(pipeline.spec.sources, run_sources(pipeline.sources_, Request(user_index=int(u), k=10))):
            counts[s.name] += int(bool((res.items == item).any()))
    return counts, int(users.size)


def item_view(pipeline: Any, item: int, events_db: Path | None, asked: Asked | None,
              online: list[str]) -> dict[str, Any]:
    """An item's card, similar items, which sources surface it, exposure over time, and why-not for one user."""
    view = catalog_view(pipeline)
    model, similar = _similar(pipeline, item)
    counts, sample = _surfacing(pipeline, item)
    item_id = str(pipeline.items_.ids[item])
    log = event_series(events_db, item_id=item_id)
    out = {"card": view.card(item), "similar_model": model,
           "similar": [view.card(i, score=s) for i, s in similar], "surfacing": counts, "sample": sample,
           "surfacing_chart": bar_chart(list(counts), [float(c) for c in counts.values()],
                                        title=f"Sources proposing this item, of {sample} sampled users",
                                        xlabel="users"),
           "log": log, "why": None}
    if log["series"]:
        out["exposure_chart"] = _time_chart(log["series"], log["bucket_s"], "Exposure and clicks over time",
                                            "events")
    if asked is not None:
        w = why_not(pipeline, asked, online, item)
        out["why"] = {"user_id": asked.user_id, "shown": w["shown"], "verdict": w["verdict"], "path": w["path"]}
    return out


def finite(v: float) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
