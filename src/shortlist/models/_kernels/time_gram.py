"""Item x item gram matrix whose pairs are weighted by how close in time one user touched them."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["add_time_gram"]


@nb.njit(cache=True)
def add_time_gram(indptr: np.ndarray, items: np.ndarray, times: np.ndarray, weights: np.ndarray,
                  time_scale: float, cutoff: float, gram: np.ndarray) -> int:
    """Add ``sum_u sum_(a,b) w_a w_b exp(-|t_a - t_b| / time_scale) e_a e_b^T`` to ``gram``.

    Row ``u`` of the CSR-like (``indptr``, ``items``, ``times``, ``weights``) holds one
    user's cells sorted by time. Only pairs at most ``cutoff`` seconds apart are visited
    (the caller picks a cutoff where the kernel is negligible), so the work follows the
    number of close pairs, not the square of each history. ``gram`` (float64, square,
    symmetric on return) is updated in place; serial on purpose: threads would race on
    the same cells of one dense matrix. Returns the number of pairs added.
    """
    n_pairs = 0
    inv_scale = 1.0 / time_scale
    for u in range(indptr.shape[0] - 1):
        start, stop = indptr[u], indptr[u + 1]
        for a in range(start, stop):
            ia = items[a]
            wa = weights[a]
            gram[ia, ia] += wa * wa
            ta = times[a]
            for b in range(a + 1, stop):
                dt = float(times[b] - ta)
                if dt > cutoff:
                    break
                v = wa * weights[b] * np.exp(-dt * inv_scale)
                ib = items[b]
                gram[ia, ib] += v
                gram[ib, ia] += v
                n_pairs += 1
    return n_pairs
