"""A page of rows (carousels): a bandit orders the rows, the pipeline ranks each row's items."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shortlist.bandits.slates import RowsCascade
from shortlist.errors import ConfigError
from shortlist.pipeline.pipeline import Pipeline
from shortlist.retrieval.types import Request

__all__ = ["RowPage", "recommend_rows"]


@dataclass
class RowPage:
    """Rows top first, each with its items (external ids), and each row's propensity."""

    rows: list[Any]
    items: dict[Any, list[Any]]
    propensities: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [{"row": r, "items": self.items[r], "propensity": float(p)}
                         for r, p in zip(self.rows, self.propensities)]}


def recommend_rows(
    pipeline: Pipeline,
    request: Request,
    rows: Mapping[Any, np.ndarray],
    cascade: RowsCascade,
    *,
    context: Any = None,
    n_rows: int = 5,
    per_row: int = 10,
) -> RowPage:
    """Order ``n_rows`` of ``rows`` (row id -> item indices) with the bandit, fill each by the pipeline.

    The pipeline ranks the request once (through its ranking stages); each row then shows its
    own best ``per_row`` items in that order, so a genre row is the user's personal ranking
    restricted to the genre. Feed the user's clicks back with ``cascade.update`` (rows below the
    last examined one get no update).
    """
    if not rows:
        raise ConfigError("rows is empty: give at least one row id -> item indices")
    decision = cascade.select(context, list(rows), k=min(n_rows, len(rows)))
    order = list(np.asarray(decision.actions)[0])
    budget = pipeline.spec.stages[-1].budget if pipeline.spec.stages else sum(s.quota for s in pipeline.spec.sources)
    ranked = pipeline.recommend(Request(user_index=request.user_index, user_id=request.user_id, k=budget,
                                        history=request.history, context=request.context,
                                        exclude=request.exclude), upto="ranking")
    items: dict[Any, list[Any]] = {}
    for row in order:
        members = np.isin(ranked.item_indices, np.asarray(rows[row], np.int64))
        items[row] = [ranked.item_ids[i] for i in np.flatnonzero(members)[:per_row]]
    return RowPage(order, items, np.asarray(decision.propensities, np.float64)[0])
