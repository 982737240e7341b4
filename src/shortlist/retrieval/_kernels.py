"""numba kernels of the retrieval layer: exact re-scoring of approximate search results, fusion."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["best_first", "fuse_columns", "rescore_rows", "select_candidates", "sum_neighbours"]


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


@nb.njit(cache=True, nogil=True)
def _best_first_keys(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """uint64 keys that sort ascending as (score descending, item ascending); NaN last.

    One unstable sort of these keys replaces a stable two-key sort (items must be in
    [0, 2**32)).
    """
    neg = np.empty(scores.size, np.float32)
    for e in range(scores.size):
        neg[e] = -(scores[e] + np.float32(0.0))  # + 0 turns -0.0 into 0.0
    bits = neg.view(np.int32)
    keys = np.empty(scores.size, np.uint64)
    for e in range(scores.size):
        if neg[e] != neg[e]:
            high = np.uint64(0xFFFFFFFF)
        else:
            b = np.int64(bits[e])
            # flip the magnitude bits of negatives so signed integer order is float order
            if b < 0:
                b = b ^ 0x7FFFFFFF
            high = np.uint64(b + 0x80000000)
        keys[e] = (high << np.uint64(32)) | (np.uint64(items[e]) & np.uint64(0xFFFFFFFF))
    return keys


@nb.njit(cache=True, nogil=True)
def fuse_columns(items: np.ndarray, scores: np.ndarray, ranks: np.ndarray, bounds: np.ndarray,
                 column_name: np.ndarray, weights: np.ndarray, n_names: int, rrf: bool, c: float,
                 k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fuse source columns into one best-first list with a score and rank column per name.

    Column ``j`` holds entries ``bounds[j]:bounds[j+1]`` of the concatenated ``items`` /
    ``scores`` / ``ranks``, under name ``column_name[j]`` with weight ``weights[j]``. An
    item's fused score sums ``w / (c + rank + 1)`` (``rrf``) or ``w`` times the column's
    min-max normalised score (1 when the column's scores are all equal) over the names that
    list it; a name listing an item twice counts its first listing. Returns the (at most
    ``k``) items ordered by float32 fused score, ties to the lower item, their fused scores,
    and (n_names x n) score and rank matrices (NaN / -1 where a name did not list the item).
    """
    n_cols = bounds.size - 1
    contrib = np.empty(items.size, np.float64)
    for j in range(n_cols):
        lo, hi = bounds[j], bounds[j + 1]
        if rrf:
            for e in range(lo, hi):
                contrib[e] = weights[j] / (c + ranks[e] + 1.0)
        elif hi > lo:
            s_min, s_max = np.inf, -np.inf
            for e in range(lo, hi):
                s_min = min(s_min, np.float64(scores[e]))
                s_max = max(s_max, np.float64(scores[e]))
            span = s_max - s_min
            for e in range(lo, hi):
                contrib[e] = weights[j] * ((np.float64(scores[e]) - s_min) / span if span > 0 else 1.0)
    # distinct items (ascending) and each entry's slot among them
    order = np.argsort(items)
    slot = np.empty(items.size, np.int64)
    n = 0
    for e in range(order.size):
        if e == 0 or items[order[e]] != items[order[e - 1]]:
            n += 1
        slot[order[e]] = n - 1
    uniq = np.empty(n, np.int64)
    for e in range(items.size):
        uniq[slot[e]] = items[e]
    fused = np.zeros(n, np.float64)
    src_scores = np.full((n_names, n), np.nan, np.float32)
    src_ranks = np.full((n_names, n), -1, np.int64)
    for j in range(n_cols):
        name = column_name[j]
        for e in range(bounds[j], bounds[j + 1]):
            s = slot[e]
            if src_ranks[name, s] < 0:
                fused[s] += contrib[e]
                src_scores[name, s] = scores[e]
                src_ranks[name, s] = ranks[e]
    # best first on the float32 score, ties in ascending item order
    f32 = fused.astype(np.float32)
    best = np.argsort(_best_first_keys(f32, uniq))[:k]
    return uniq[best], f32[best], src_scores[:, best], src_ranks[:, best]


@nb.njit(cache=True, nogil=True)
def select_candidates(items: np.ndarray, scores: np.ndarray, excluded: np.ndarray, n_items: int,
                      k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best valid entries, best first (ties: lower item first).

    Drops items outside ``[0, n_items)``, non-finite scores and items in ``excluded`` (sorted,
    unique; a binary search per item). Items are expected unique, in [0, 2**32). Input that
    is already strictly decreasing (an ANN result) is only filtered, anything else sorted.
    """
    keep = np.empty(items.size, np.int64)
    m = 0
    decreasing = True
    for e in range(items.size):
        it, s = items[e], scores[e]
        if it < 0 or it >= n_items or not np.isfinite(s):
            continue
        if excluded.size:
            p = np.searchsorted(excluded, it)
            if p < excluded.size and excluded[p] == it:
                continue
        if m:
            prev = keep[m - 1]
            decreasing = decreasing and s < scores[prev]
        keep[m] = e
        m += 1
    keep = keep[:m]
    if not decreasing:
        keep = keep[np.argsort(_best_first_keys(scores[keep], items[keep]))]
    keep = keep[:k]
    return items[keep], scores[keep]


def best_first(scores: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best entries by (score descending, item ascending); NaN last.

    The keys are unique (items are), so a partition then a sort of the ``k`` kept is exact
    and, for ``k`` well below the length, several times cheaper than sorting everything.
    """
    keys = _best_first_keys(scores, items)
    if k <= 0:
        return np.zeros(0, np.int64)
    if k < keys.size:
        part = np.argpartition(keys, k - 1)[:k]
        return part[np.argsort(keys[part])]
    return np.argsort(keys)


@nb.njit(cache=True, nogil=True)
def sum_neighbours(rows: np.ndarray, row_weights: np.ndarray, neighbor_ids: np.ndarray,
                   neighbor_sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``score_i = sum_r row_weights[r] * sim(rows[r], i)`` over the rows' neighbour lists.

    ``neighbor_ids`` / ``neighbor_sims`` are (n, n_neighbors) tables (id -1 = none). Returns
    the distinct neighbour ids, ascending, and their float32 sums, added in input order
    (as ``np.bincount`` does, so the result is bit-identical to it).
    """
    width = neighbor_ids.shape[1]
    ids = np.empty(rows.size * width, np.int64)
    vals = np.empty(rows.size * width, np.float64)
    m = 0
    for r in range(rows.size):
        row = rows[r]
        for j in range(width):
            i = neighbor_ids[row, j]
            if i >= 0:
                ids[m] = i
                vals[m] = row_weights[r] * neighbor_sims[row, j]
                m += 1
    order = np.argsort(ids[:m], kind="mergesort")
    out_ids = np.empty(m, np.int64)
    out_vals = np.empty(m, np.float64)
    n = -1
    for e in range(m):
        i = ids[order[e]]
        if n < 0 or out_ids[n] != i:
            n += 1
            out_ids[n] = i
            out_vals[n] = 0.0
        out_vals[n] += vals[order[e]]
    return out_ids[:n + 1], out_vals[:n + 1].astype(np.float32)
