"""Row-wise top-k selection over a dense score block, skipping excluded (seen) items."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["topk_rows", "topk_rows_serial", "topk"]


@nb.njit(cache=True, inline="always")
def _sift_down(vals: np.ndarray, idx: np.ndarray, k: int) -> None:
    """Restore the min-heap property from the root (heap of size k)."""
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= k:
            break
        child = left
        right = left + 1
        if right < k and vals[right] < vals[left]:
            child = right
        if vals[child] < vals[pos]:
            vals[pos], vals[child] = vals[child], vals[pos]
            idx[pos], idx[child] = idx[child], idx[pos]
            pos = child
        else:
            break


def _topk_rows(
    scores: np.ndarray, k: int, excl_indptr: np.ndarray, excl_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row of ``scores``, best first.

    Row ``r`` skips columns ``excl_indices[excl_indptr[r]:excl_indptr[r+1]]`` (seen items).
    Slots that cannot be filled get index -1 and score -inf. A min-heap per row makes this
    O(n log k) and single pass, which beats argpartition on wide rows.
    """
    n_rows, n_cols = scores.shape
    out_idx = np.full((n_rows, k), -1, dtype=np.int64)
    out_val = np.full((n_rows, k), -np.inf, dtype=np.float32)
    for r in nb.prange(n_rows):  # prange is a plain range in the serial build
        row = scores[r]
        hv = np.full(k, -np.inf, dtype=np.float32)
        hi = np.full(k, -1, dtype=np.int64)
        # scan the runs of columns between excluded ones (excl_indices are sorted per row),
        # so the hot loop is one compare per column; NaN never passes ``v > threshold``
        threshold = hv[0]
        start = 0
        for e in range(excl_indptr[r], excl_indptr[r + 1] + 1):
            stop = excl_indices[e] if e < excl_indptr[r + 1] else n_cols
            # chunks of 32: a vectorizable max decides whether a chunk needs a look at all;
            # once the heap is warm almost every chunk is skipped (2x faster on wide rows)
            for c0 in range(start, stop, 32):
                c1 = min(c0 + 32, stop)
                m = row[c0]
                for c in range(c0 + 1, c1):
                    m = max(m, row[c])
                if m > threshold or m != m:  # noqa: PLR0124 - m != m: a leading NaN (numba), scan to be safe
                    for c in range(c0, c1):
                        v = row[c]
                        if v > threshold:
                            hv[0] = v
                            hi[0] = c
                            _sift_down(hv, hi, k)
                            threshold = hv[0]
            start = max(start, stop + 1)
        # heap -> descending order
        order = np.argsort(-hv, kind="mergesort")
        m = 0
        for j in range(k):
            if hi[order[j]] >= 0:
                out_idx[r, m] = hi[order[j]]
                out_val[r, m] = hv[order[j]]
                m += 1
        # equal scores: lower column first, so results do not depend on heap history
        for j in range(1, m):
            a = j
            while a > 0 and out_val[r, a] == out_val[r, a - 1] and out_idx[r, a] < out_idx[r, a - 1]:
                out_idx[r, a], out_idx[r, a - 1] = out_idx[r, a - 1], out_idx[r, a]
                a -= 1
    return out_idx, out_val


# reassociation lets LLVM vectorize the chunk max; no "nnan": NaN scores keep IEEE semantics
_FASTMATH = {"reassoc", "nsz", "arcp", "contract"}
topk_rows = nb.njit(cache=True, parallel=True, fastmath=_FASTMATH)(_topk_rows)
#: single-threaded build: thread start-up costs more than a few rows of work; releases the
#: GIL so Python worker threads can each run it on their own block of rows
topk_rows_serial = nb.njit(cache=True, nogil=True, fastmath=_FASTMATH)(_topk_rows)


def topk(scores: np.ndarray, k: int, excl_indptr: np.ndarray, excl_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch to the parallel kernel only when there are enough rows to share out."""
    kernel = topk_rows if scores.shape[0] >= 64 else topk_rows_serial
    return kernel(scores, k, excl_indptr, excl_indices)
