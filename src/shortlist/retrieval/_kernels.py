"""numba kernels of the retrieval layer: exact re-scoring of approximate search results."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["rescore_rows"]


@nb.njit(cache=True, fastmath={"reassoc", "nsz", "arcp", "contract"})
def rescore_rows(vectors: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact inner products ``queries[r] . vectors[labels[r, j]]``; -inf where a label is -1.

    Reads the candidate rows in place: a fancy-indexed gather would copy ``f x dim`` floats
    per query first, which costs more than the dot products themselves.
    """
    n_q, f = labels.shape
    dim = vectors.shape[1]
    out = np.empty((n_q, f), np.float32)
    for r in range(n_q):
        q = queries[r]
        for j in range(f):
            row = labels[r, j]
            if row < 0:
                out[r, j] = -np.inf
                continue
            v = vectors[row]
            acc = np.float32(0.0)
            for d in range(dim):
                acc += q[d] * v[d]
            out[r, j] = acc
    return out
