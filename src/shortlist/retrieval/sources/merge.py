"""merge_candidates: one deduplicated candidate list from many sources, provenance kept.

Default rule: weighted reciprocal-rank fusion (Cormack et al. 2009),

    fused(i) = sum_s  w_s / (c + rank_s(i) + 1)        (rank from 0; c = 60)

summed over the sources that proposed item ``i``. Ranks need no calibration between
sources whose scores live on unrelated scales (inner products, counts, cosines, times),
and an item proposed by several sources rises. ``method="score"`` instead sums
``w_s * (s - min_s) / (max_s - min_s)`` (per-source min-max normalised scores; 1 for a
source whose scores are all equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from shortlist.errors import ConfigError
from shortlist.retrieval._kernels import fuse_columns
from shortlist.retrieval.types import Candidates

__all__ = ["MERGE_METHODS", "merge_candidates"]

MERGE_METHODS = ("rrf", "score")


def _columns(results: Sequence[Candidates]) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(source name, items, scores, ranks) for every source column of every result."""
    cols = []
    for res in results:
        if not isinstance(res, Candidates):
            raise ConfigError(f"merge_candidates expects Candidates, got {type(res).__name__}")
        for name, ranks in res.source_ranks.items():
            have = ranks >= 0
            scores = res.source_scores.get(name, res.scores)
            cols.append((name, res.items[have], scores[have], ranks[have]))
    return cols


def merge_candidates(results: Sequence[Candidates], weights: Mapping[str, float] | None = None,
                     k: int | None = None, *, method: str = "rrf", c: float = 60.0) -> Candidates:
    """Union of the sources' candidates, scored by the fusion rule, best first, at most ``k``.

    ``weights`` maps source name -> weight (missing names weigh 1; a weight of 0 still
    lists the source's items, with no score contribution). Every source name appearing in any
    result gets a ``source_scores`` / ``source_ranks`` column over the merged items (NaN
    / -1 where it did not propose the item), so a trace can tell who proposed what.
    """
    if method not in MERGE_METHODS:
        raise ConfigError(f"merge method {method!r} is not supported; use 'rrf' or 'score'")
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0):
        raise ConfigError(f"k must be a positive integer or None, got {k!r}; e.g. k=1000")
    weights = dict(weights or {})
    for name, w in weights.items():
        if not np.isfinite(w) or w < 0:
            raise ConfigError(f"weight of source {name!r} must be a finite number >= 0, got {w!r}")
    cols = _columns(results)
    names = list(dict.fromkeys(name for name, *_ in cols))
    if not cols or all(col[1].size == 0 for col in cols):
        out = Candidates.empty()
        for name in names:
            out.source_scores[name] = np.zeros(0, np.float32)
            out.source_ranks[name] = np.zeros(0, np.int64)
        return out
    slot = {name: i for i, name in enumerate(names)}
    bounds = np.zeros(len(cols) + 1, np.int64)
    bounds[1:] = np.cumsum([col[1].size for col in cols])
    items, fused, scores, ranks = fuse_columns(
        np.concatenate([col[1] for col in cols]),
        np.concatenate([col[2] for col in cols]).astype(np.float32, copy=False),
        np.concatenate([col[3] for col in cols]).astype(np.int64, copy=False),
        bounds, np.array([slot[col[0]] for col in cols], np.int64),
        np.array([float(weights.get(col[0], 1.0)) for col in cols], np.float64),
        len(names), method == "rrf", float(c), int(bounds[-1]) if k is None else int(k))
    return Candidates(items, fused, dict(zip(names, scores)), dict(zip(names, ranks)))
