"""Top-k neighbours of sparse rows, the product and the cut fused in one pass (kNN graph building)."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["knn_rows"]


@nb.njit(cache=True, inline="always")
def _worse(vals: np.ndarray, idx: np.ndarray, a: int, b: int) -> bool:
    """Entry ``a`` ranks below ``b``: a lower value, or an equal one at a higher column."""
    return vals[a] < vals[b] or (vals[a] == vals[b] and idx[a] > idx[b])


@nb.njit(cache=True)
def _sift_down(vals: np.ndarray, idx: np.ndarray, k: int) -> None:
    """Restore the heap from the root; the root is the worst entry kept (ties: the highest column)."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        if child + 1 < k and _worse(vals, idx, child + 1, child):
            child += 1
        if not _worse(vals, idx, child, pos):
            break
        vals[pos], vals[child] = vals[child], vals[pos]
        idx[pos], idx[child] = idx[child], idx[pos]
        pos = child


@nb.njit(cache=True)
def _accumulate(q_indptr: np.ndarray, q_indices: np.ndarray, q_data: np.ndarray, t_indptr: np.ndarray,
                t_indices: np.ndarray, t_data: np.ndarray, r: int, acc: np.ndarray, seen: np.ndarray,
                touched: np.ndarray) -> tuple[bool, int]:
    """Row ``r``'s dot products into ``acc``; returns (dense, how many columns ``touched`` lists)."""
    pairs = 0
    for p in range(q_indptr[r], q_indptr[r + 1]):
        pairs += t_indptr[q_indices[p] + 1] - t_indptr[q_indices[p]]
    # a row touching many columns is scanned whole and skips the bookkeeping per pair;
    # a sparse one remembers what it touched and sorts that
    dense = pairs * 8 > acc.shape[0]
    m = 0
    for p in range(q_indptr[r], q_indptr[r + 1]):
        qv = q_data[p]
        f = q_indices[p]
        if dense:
            for s in range(t_indptr[f], t_indptr[f + 1]):
                acc[t_indices[s]] += qv * t_data[s]
            continue
        for s in range(t_indptr[f], t_indptr[f + 1]):
            t = t_indices[s]
            if not seen[t]:
                seen[t] = True
                touched[m] = t
                m += 1
            acc[t] += qv * t_data[s]
    return dense, m


@nb.njit(cache=True)
def _keep_best(acc: np.ndarray, seen: np.ndarray, touched: np.ndarray, dense: bool, m: int, den_q: float,
               t_den: np.ndarray, cosine: bool, shrink: float, skip: int, hv: np.ndarray, hi: np.ndarray) -> None:
    """The best ``len(hv)`` positive entries of the accumulated row into the heap; clears ``acc`` and ``seen``."""
    hv[:] = -np.inf
    hi[:] = -1
    if not dense:
        touched[:m].sort()  # ascending columns: ties keep the lower one
    for j in range(acc.shape[0] if dense else m):
        t = j if dense else touched[j]
        v = acc[t]
        seen[t] = False
        if v == 0:  # untouched (or an exact zero, which scipy's product does not store either)
            continue
        acc[t] = 0.0
        if cosine:
            den = den_q * t_den[t] + shrink
            # zero-norm rows touch nothing, so den > 0 wherever it is used
            v = np.float32(np.float64(v) / (den if den > 0 else 1.0))
        if t == skip or not v > 0:
            continue
        if v > hv[0]:
            hv[0] = v
            hi[0] = t
            _sift_down(hv, hi, hv.shape[0])


@nb.njit(cache=True, parallel=True)
def knn_rows(
    q_indptr: np.ndarray, q_indices: np.ndarray, q_data: np.ndarray,
    t_indptr: np.ndarray, t_indices: np.ndarray, t_data: np.ndarray, n_t: int, k: int,
    q_den: np.ndarray, t_den: np.ndarray, cosine: bool, shrink: float, first_row: int, exclude_self: bool,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest positive similarities of each query row to the targets.

    ``q_*`` is a CSR block of query rows (global rows ``first_row ...``) over features;
    ``t_*`` the targets by feature (CSR, feature x target). Each row's dot products are
    summed into a dense accumulator in the order scipy's sparse product uses (float32, the
    query's features in storage order), so the values equal ``queries @ t_cols`` to the
    bit; ``cosine`` then divides by ``q_den[row] * t_den[col] + shrink`` in float64.
    Nothing of size (rows x targets) is ever built: the work is the co-occurring pairs, the
    memory one accumulator per run of rows (``n_chunks`` runs, spread over the threads).
    With ``exclude_self`` column ``first_row + r`` is skipped. Returns ``(counts, cols,
    vals)``: row ``r`` kept ``counts[r]`` entries in ``cols[r, :counts[r]]`` /
    ``vals[r, :counts[r]]`` (unordered); on equal values the lower column is kept.
    """
    n_rows = q_indptr.shape[0] - 1
    counts = np.zeros(n_rows, np.int64)
    cols = np.full((n_rows, k), -1, np.int64)
    vals = np.zeros((n_rows, k), np.float32)
    n_chunks = min(n_rows, n_chunks)
    for c in nb.prange(n_chunks):
        acc = np.zeros(n_t, np.float32)
        seen = np.zeros(n_t, np.bool_)
        touched = np.empty(n_t, np.int64)
        hv = np.empty(k, np.float32)
        hi = np.empty(k, np.int64)
        for r in range(c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks):
            dense, m = _accumulate(q_indptr, q_indices, q_data, t_indptr, t_indices, t_data, r, acc, seen, touched)
            den_q = q_den[first_row + r] if cosine else 1.0
            _keep_best(acc, seen, touched, dense, m, den_q, t_den, cosine, shrink,
                       first_row + r if exclude_self else -1, hv, hi)
            kept = 0
            for j in range(k):
                if hi[j] >= 0:
                    cols[r, kept] = hi[j]
                    vals[r, kept] = hv[j]
                    kept += 1
            counts[r] = kept
    return counts, cols, vals
