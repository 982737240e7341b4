"""Beyond-accuracy and corpus metrics: coverage, novelty, diversity, popularity bias."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["catalog_coverage", "novelty", "intra_list_diversity", "average_popularity"]


def _valid(top: np.ndarray) -> np.ndarray:
    return top[top >= 0]


def catalog_coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    return float(np.unique(_valid(top)).size / n_items) if n_items else 0.0


def novelty(top: np.ndarray, item_users: np.ndarray, n_users: int) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items, ``p_i`` = share of users with i.

    Items never seen in training count as seen by one user (maximal novelty, finite).
    """
    items = _valid(top)
    if items.size == 0:
        return float("nan")
    p = np.maximum(item_users[items], 1) / max(n_users, 1)
    return float(np.mean(-np.log2(p)))


def average_popularity(top: np.ndarray, item_users: np.ndarray) -> float:
    """Mean training popularity (number of users) of recommended items (ARP)."""
    items = _valid(top)
    return float(item_users[items].mean()) if items.size else float("nan")


def intra_list_diversity(top: np.ndarray, item_features: sp.spmatrix | np.ndarray) -> float:
    """Mean pairwise cosine distance ``1 - cos(f_i, f_j)`` between items of each list.

    ``item_features`` is (n_items, d), e.g. multi-hot genres. Lists with < 2 items are skipped.
    """
    feats = sp.csr_matrix(item_features, dtype=np.float64)
    norms = np.sqrt(np.asarray(feats.multiply(feats).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    feats = sp.diags(1.0 / norms) @ feats
    vals = []
    for row in top:
        items = row[row >= 0]
        m = items.size
        if m < 2:
            continue
        f = feats[items]
        sim = (f @ f.T).toarray()
        mean_sim = (sim.sum() - np.trace(sim)) / (m * (m - 1))
        vals.append(1.0 - mean_sim)
    return float(np.mean(vals)) if vals else float("nan")
