"""Batched top-k over score blocks: memory-bounded blocks, shared out to a pool of scoring threads.

:func:`blocked_topk` asks a score function for one block of query rows at a time, drops the
excluded entries and keeps the best ``k`` per row. Large batches go to a process-wide pool of
worker threads (each running BLAS on one thread and the GIL-free serial top-k kernel).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.sparse as sp

from shortlist.models._kernels.topk import topk, topk_rows_serial
from shortlist.models.blas import one_blas_thread

__all__ = ["blocked_topk"]

_BLOCK_CELLS = 8_000_000  # scores computed per block: bounds memory at ~32 MB of float32
#: block of the threaded path: ~5 MB of scores stays in cache between the product and the top-k
_THREAD_BLOCK_CELLS = 1_300_000
_POOL: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool)
#: one threaded batch at a time: the BLAS thread limit is process-wide, and two batches
#: would only compete for the same cores
_BATCH_LOCK = threading.Lock()


def _worker_count() -> int:
    """Threads for batched scoring: numba's thread setting (which honours NUMBA_NUM_THREADS)."""
    return max(1, int(numba.get_num_threads()))


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of scoring threads, created on first use (and again after a fork)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] != workers:
        _POOL = (os.getpid(), workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shortlist-topk"))
    return _POOL[2]


def blocked_topk(score: Callable[[int, int], np.ndarray], n: int, n_cols: int, k: int, exclude: sp.csr_matrix,
                 items: np.ndarray | None = None, *, threads: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Top-k column indices and scores (n, k) of ``n`` query rows, -1 / -inf where fewer than k.

    ``score(start, stop)`` returns the (stop - start, n_cols) scores of those rows; ``exclude``
    is a sorted CSR (n, n_cols) of entries to skip. ``items`` maps candidate columns back to
    item indices. ``threads`` allows the worker-thread path for large batches.
    """
    out_i = np.full((n, k), -1, np.int64)
    out_s = np.full((n, k), -np.inf, np.float32)
    indptr, indices = exclude.indptr.astype(np.int64), exclude.indices.astype(np.int64)
    kk = min(k, n_cols)

    def block(start: int, stop: int, kernel: Callable) -> None:
        scores = np.ascontiguousarray(score(start, stop), np.float32)
        idx, val = kernel(scores, kk, indptr[start:stop + 1] - indptr[start], indices[indptr[start]:indptr[stop]])
        if items is not None:
            idx = np.where(idx >= 0, np.asarray(items, np.int64)[np.maximum(idx, 0)], -1)
        out_i[start:stop, :kk] = idx
        out_s[start:stop, :kk] = val

    workers = _worker_count()
    if threads and workers > 1 and n * n_cols >= 2 * _THREAD_BLOCK_CELLS:
        # cache-sized blocks shared out to worker threads, each running BLAS on one thread
        # and the GIL-free serial top-k: one pool of busy threads instead of BLAS' and
        # numba's pools spinning against each other (2x faster on 2 cores)
        step = max(1, _THREAD_BLOCK_CELLS // max(n_cols, 1))
        with _BATCH_LOCK, one_blas_thread():
            list(_pool(workers).map(lambda s: block(s, min(s + step, n), topk_rows_serial), range(0, n, step)))
        return out_i, out_s
    step = max(1, _BLOCK_CELLS // max(n_cols, 1))
    for start in range(0, n, step):
        block(start, min(start + step, n), topk)
    return out_i, out_s
