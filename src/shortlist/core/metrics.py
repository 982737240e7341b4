"""Metric kernels shared by every layer: ranking metrics at k and per-query NDCG.

Models (validation early stopping), neural rankers, the pipeline's tuner and the evaluator
all score with these same functions, so they live in the ground floor; see docs/metrics.md
for the formulas. ``shortlist.evaluation`` re-exports ``ranking_metrics``, ``hit_matrix``
and ``RANKING_METRICS`` as part of its public API.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["RANKING_METRICS", "hit_matrix", "query_ndcg", "ranking_metrics"]

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def hit_matrix(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_users, k): is the item at each rank relevant for that user?

    ``top`` holds item indices (-1 = empty slot); ``relevant`` is a CSR whose row r holds
    the relevant items of the user in row r of ``top``.
    """
    relevant = sp.csr_matrix(relevant)
    relevant.sort_indices()
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = rows * n_items + relevant.indices
    q = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + np.maximum(top, 0)
    if rel_keys.size == 0:
        return np.zeros(top.shape, bool)
    pos = np.minimum(np.searchsorted(rel_keys, q), rel_keys.size - 1)
    return (rel_keys[pos] == q) & (top >= 0)


def ranking_metrics(top: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG, MAP, MRR and hit rate at ``k``.

    Rows of ``relevant`` with no relevant item give NaN (the caller drops those users).
    """
    top = top[:, :k]
    hits = hit_matrix(top, relevant).astype(np.float64)
    n_rel = np.diff(sp.csr_matrix(relevant).indptr).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_hits = hits.sum(axis=1)
        ranks = np.arange(1, k + 1, dtype=np.float64)
        discounts = 1.0 / np.log2(ranks + 1.0)
        dcg = hits @ discounts[: hits.shape[1]]
        ideal_len = np.minimum(n_rel, k).astype(np.int64)
        idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_len]
        prec_at = np.cumsum(hits, axis=1) / ranks[: hits.shape[1]]
        ap = (prec_at * hits).sum(axis=1) / np.minimum(n_rel, k)
        first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1.0, np.inf)
        out = {
            "precision": n_hits / k,
            "recall": n_hits / n_rel,
            "ndcg": dcg / idcg,
            "map": ap,
            "mrr": 1.0 / first,
            "hit_rate": (n_hits > 0).astype(np.float64),
        }
    empty = n_rel == 0
    for v in out.values():
        v[empty] = np.nan
    return out


def query_ndcg(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of each query that has a relevant row (graded gains ``2**y - 1``), torch-free.

    Per-query ranking metric on candidate rows grouped by request: ``groups`` holds the row
    count of each query, in row order (LightGBM's convention); queries without a relevant
    row are skipped, so the result may be shorter than ``groups``.
    """
    out, start = [], 0
    for n in np.asarray(groups, np.int64):
        sc, lab = scores[start:start + n], labels[start:start + n]
        start += n
        if lab.max(initial=0) <= 0:
            continue
        order = np.argsort(-sc, kind="stable")[:k]
        disc = 1.0 / np.log2(np.arange(2, order.size + 2))
        ideal = np.sort(lab)[::-1][:k]
        out.append(float(((2 ** lab[order] - 1) * disc).sum() / ((2 ** ideal - 1) * disc[: ideal.size]).sum()))
    return np.asarray(out, np.float64)
