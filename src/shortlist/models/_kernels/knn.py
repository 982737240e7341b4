"""Row-wise top-k over the stored entries of a sparse similarity block (kNN graph building)."""

from __future__ import annotations

import numba as nb
import numpy as np

from shortlist.models._kernels.topk import _sift_down

__all__ = ["topk_sparse_rows"]


@nb.njit(cache=True, parallel=True)
def topk_sparse_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, k: int, self_offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest positive stored entries of each CSR row.

    Returns ``(counts, cols, vals)``: row ``r`` kept ``counts[r]`` entries, in
    ``cols[r, :counts[r]]`` / ``vals[r, :counts[r]]`` (unordered). With ``self_offset >= 0``
    column ``r + self_offset`` is skipped (the entity itself). Work is O(nnz log k): only
    stored entries are visited, which is what makes sparse catalogs cheap. On equal values
    the entry seen first (the lower column in a sorted row) is kept.
    """
    n_rows = indptr.shape[0] - 1
    counts = np.zeros(n_rows, np.int64)
    cols = np.full((n_rows, k), -1, np.int64)
    vals = np.zeros((n_rows, k), np.float32)
    for r in nb.prange(n_rows):
        hv = np.full(k, -np.inf, dtype=np.float32)
        hi = np.full(k, -1, dtype=np.int64)
        skip = r + self_offset if self_offset >= 0 else -1
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            v = data[p]
            if c == skip or not v > 0:
                continue
            if v > hv[0]:
                hv[0] = v
                hi[0] = c
                _sift_down(hv, hi, k)
        m = 0
        for j in range(k):
            if hi[j] >= 0:
                cols[r, m] = hi[j]
                vals[r, m] = hv[j]
                m += 1
        counts[r] = m
    return counts, cols, vals
