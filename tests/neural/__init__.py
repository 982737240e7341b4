"""Tests of the PyTorch models; helpers shared by the test modules live here."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.data import FeatureTable, Interactions


def block_features(data: Interactions) -> tuple[FeatureTable, FeatureTable]:
    """User/item tables for block data: a categorical "side", a genre bag and an age/year number."""
    nu, ni = data.n_users, data.n_items
    users = FeatureTable(data.users)
    users.add_categorical("side", ["a" if u < nu // 2 else "b" for u in range(nu)])
    users.add_numeric("age", np.where(np.arange(nu) % 7 == 0, np.nan, 20 + np.arange(nu) % 30))
    items = FeatureTable(data.items)
    items.add_multi("genres", [["x", "y"] if i < ni // 2 else ["z"] for i in range(ni)])
    items.add_numeric("year", 1990 + np.arange(ni) % 10)
    return users, items


def train_auc(scores: np.ndarray, matrix: sp.csr_matrix) -> float:
    """Mean per-user AUC of the training positives against the other items."""
    m = matrix.toarray() > 0
    out = []
    for u in range(m.shape[0]):
        pos, neg = scores[u, m[u]], scores[u, ~m[u]]
        if pos.size and neg.size:
            out.append((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    return float(np.mean(out))


def random_interactions(n_users: int = 16, n_items: int = 12, density: float = 0.3, seed: int = 1) -> Interactions:
    """Unstructured data: only memorization can rank its positives first."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    return Interactions.from_matrix(sp.csr_matrix(mask.astype(np.float32)), weighting="binary")
