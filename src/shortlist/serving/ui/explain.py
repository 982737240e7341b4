"""Why a user gets what they get: the served request rebuilt, run, and its trace turned into a funnel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shortlist.online.updater import usable_ids
from shortlist.pipeline.components import run_sources

__all__ = ["Asked", "explain", "ranks_of", "why_not"]


@dataclass
class Asked:
    """A what-if request as the user page's controls and ``POST /recommend`` both express it."""

    user_id: str
    k: int | None = None
    context: dict[str, Any] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)


def build_request(pipeline: Any, asked: Asked, online: list[str]) -> Any:
    """The pipeline request ``POST /recommend`` builds for the same body (online history first)."""
    p = pipeline
    history = usable_ids(p.items_, [str(i) for i in online])
    user = (usable_ids(p.users_, [asked.user_id]) or [None])[0]
    req = p.make_request(user, k=asked.k if asked.k is not None else p.spec.k, history=history,
                         context=dict(asked.context))
    exclude = usable_ids(p.items_, [str(i) for i in asked.exclude])
    if exclude:
        ex = p.items_.index(np.asarray(exclude), missing="ignore")
        req.exclude = ex[ex >= 0].astype(np.int64)
    return req


def ranks_of(items: np.ndarray, scores: np.ndarray) -> dict[int, tuple[int, float]]:
    """item index -> (1-based rank, score) in a stage's output (best first, ties by lower item)."""
    order = np.lexsort((items, -scores))
    return {int(items[j]): (r + 1, float(scores[j])) for r, j in enumerate(order)}


def _per_source(pipeline: Any, req: Any) -> tuple[dict[str, int], dict[int, list[str]]]:
    """Candidates per source and, per item, the sources that proposed it (the sources run again, as served)."""
    names = [s.name for s in pipeline.spec.sources]
    results = run_sources(pipeline.sources_, req)
    by_item: dict[int, list[str]] = {}
    for name, res in zip(names, results):
        for i in res.items.tolist():
            by_item.setdefault(int(i), []).append(name)
    return {n: len(r) for n, r in zip(names, results)}, by_item


def explain(pipeline: Any, asked: Asked, online: list[str]) -> dict[str, Any]:
    """Run the request and describe it: final items with provenance and per-stage rank/score, and the funnel."""
    req = build_request(pipeline, asked, online)
    resp = pipeline.recommend(req)
    counts, sources = _per_source(pipeline, req)
    stages = [s for s in resp.trace.stages if s.kind != "assemble"]
    ranked = {s.stage: ranks_of(s.items, s.scores) for s in stages if s.items.size}
    funnel = []
    for s in resp.trace.stages:
        funnel.append({"stage": s.stage, "kind": s.kind, "in": s.n_in, "out": s.n_out, "ms": round(s.ms, 3),
                       "drops": [{"rule": d.stage, "reason": d.reason, "count": int(d.items.size),
                                  "items": d.items[:30].tolist()} for d in s.drops]})
    final = []
    props = resp.propensities
    for pos, (idx, score) in enumerate(zip(resp.item_indices.tolist(), resp.scores.tolist())):
        explored = props is not None and pos < len(props) and float(props[pos]) < 1.0
        final.append({"index": int(idx), "position": pos + 1, "score": float(score),
                      "propensity": float(props[pos]) if explored else None,
                      "sources": sources.get(int(idx), []),
                      "stages": {name: r.get(int(idx)) for name, r in ranked.items()}})
    return {"request": req, "response": resp, "items": final, "funnel": funnel, "per_source": counts,
            "scored_stages": list(ranked), "known": req.known_user, "fallback": resp.fallback,
            "omitted": list(resp.trace.omitted), "sources_by_item": sources}


def why_not(pipeline: Any, asked: Asked, online: list[str], item: int) -> dict[str, Any]:
    """Where ``item`` fell out of the user's request: not proposed, cut by a budget, dropped by a rule, or beyond k."""
    ex = explain(pipeline, asked, online)
    req, resp = ex["request"], ex["response"]
    path: list[dict[str, Any]] = []
    if int(item) in set(resp.item_indices.tolist()):
        pos = resp.item_indices.tolist().index(int(item)) + 1
        return {"shown": True, "verdict": f"shown at position {pos}", "path": path, "explained": ex}
    excluded = _exclusion_reason(pipeline, req, int(item))
    if excluded:
        return {"shown": False, "verdict": excluded, "path": path, "explained": ex}
    proposed = ex["sources_by_item"].get(int(item), [])
    if not proposed:
        return {"shown": False, "path": path, "explained": ex,
                "verdict": "no candidate source proposed it (each source keeps only its quota of best items)"}
    verdict = f"proposed by {', '.join(proposed)}"
    for s in resp.trace.stages:
        if s.kind == "assemble":
            continue
        ranks = ranks_of(s.items, s.scores) if s.items.size else {}
        dropped = [d for d in s.drops if int(item) in set(d.items.tolist())]
        if dropped:
            d = dropped[0]
            return {"shown": False, "path": path, "explained": ex,
                    "verdict": f"{verdict}; dropped by rule {d.stage}: {d.reason}"}
        if s.kind != "rule" and s.items.size:
            if int(item) not in ranks:
                return {"shown": False, "path": path, "explained": ex,
                        "verdict": f"{verdict}; cut by stage {s.stage} ({s.kind}), which keeps {s.n_out} of {s.n_in}"}
            path.append({"stage": s.stage, "rank": ranks[int(item)][0], "score": ranks[int(item)][1], "of": s.n_out})
    return {"shown": False, "path": path, "explained": ex,
            "verdict": f"{verdict}; survived every stage and rule but ranked below the {req.k} shown"}


def _exclusion_reason(pipeline: Any, req: Any, item: int) -> str:
    """Why the request excludes ``item`` before any source runs ('' when it does not)."""
    if item in set(np.asarray(req.exclude).tolist()):
        return "excluded by the request (exclude list)"
    if item in set(np.asarray(req.history).tolist()):
        return "in the user's recent history (already seen)"
    m = pipeline.train_
    if req.known_user and item in set(m.indices[m.indptr[req.user_index]:m.indptr[req.user_index + 1]].tolist()):
        return "already in the user's training history (seen items are excluded)"
    return ""
