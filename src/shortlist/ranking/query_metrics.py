"""Per-query ranking metrics on candidate rows grouped by request (torch-free)."""

from __future__ import annotations

import numpy as np

__all__ = ["query_ndcg"]


def query_ndcg(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of each query that has a relevant row (graded gains ``2**y - 1``).

    ``groups`` holds the row count of each query, in row order (LightGBM's convention);
    queries without a relevant row are skipped, so the result may be shorter than ``groups``.
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
