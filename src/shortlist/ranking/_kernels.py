"""numba kernels of the ranking layer: scoring candidate rows (linear, tree ensembles)."""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from shortlist.retrieval._kernels import _best_first_keys

__all__ = ["linear_scores", "score_trees", "zscore", "zscore_and_rank"]

#: LightGBM's ``kZeroThreshold``: |x| <= this counts as zero for ``missing_type=Zero``.
ZERO = np.float32(1e-35)


@nb.njit(cache=True, nogil=True)
def score_trees(columns: np.ndarray, tree_nodes: np.ndarray, leaf_base: np.ndarray, feature: np.ndarray,
                threshold: np.ndarray, nan_left: np.ndarray, zero_default: np.ndarray,
                default_left: np.ndarray, node_mask: np.ndarray, leaf_value: np.ndarray) -> np.ndarray:
    """Raw score per row (the sum over trees of each row's exit leaf), QuickScorer style.

    ``columns`` is the feature matrix transposed (features x rows). Each tree keeps one
    bit per leaf, leaves ordered left to right; every node whose test sends a row right
    clears the bits of its left subtree's leaves, and the row's exit leaf is the lowest
    bit left (Lucchese et al., SIGIR 2015). Every node is tested for every row, with no
    data-dependent branch, so the inner loop over rows vectorizes; walking the trees
    instead stalls on a mispredicted branch at almost every level.

    The test is LightGBM's numerical decision on its dense input, where |x| <= 1e-35 reads
    as 0: NaN goes to ``nan_left`` (the default side
    when missing values have one, else the side of 0); with ``missing_type=Zero`` a zero
    goes to the default side; otherwise ``x <= threshold`` goes left. Thresholds arrive
    rounded down to float32, which for float32 inputs decides exactly as the float64 test.
    """
    n, n_trees = columns.shape[1], leaf_base.shape[0]
    out = np.zeros(n, np.float64)
    full = ~node_mask.dtype.type(0)
    mask = np.empty(n, node_mask.dtype)
    for t in range(n_trees):
        mask[:] = full
        for nd in range(tree_nodes[t], tree_nodes[t + 1]):
            col = columns[feature[nd]]
            th, nl, zd, dl, clear = threshold[nd], nan_left[nd], zero_default[nd], default_left[nd], node_mask[nd]
            for r in range(n):
                x = col[r]
                isnan = np.isnan(x)
                tiny = (x >= -ZERO) & (x <= ZERO)
                x = np.float32(0.0) if tiny else x
                iszero = zd & tiny
                left = (isnan & nl) | ((not isnan) & ((iszero & dl) | ((not iszero) & (x <= th))))
                mask[r] &= full if left else clear
        base = leaf_base[t]
        for r in range(n):
            out[r] += leaf_value[base + trailing_zeros(mask[r])]
    return out


@nb.njit(cache=True, nogil=True)
def linear_scores(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
                  intercept: float) -> np.ndarray:
    """``sum_j coef_j * (x_j - mean_j) / scale_j + intercept`` per row; a NaN feature adds 0.

    One pass over the rows in float64, instead of five temporary matrices in numpy.
    """
    n, d = features.shape
    out = np.empty(n, np.float32)
    for r in range(n):
        acc = intercept
        for j in range(d):
            x = np.float64(features[r, j])
            if not np.isnan(x):
                acc += coef[j] * ((x - mean[j]) / scale[j])
        out[r] = acc
    return out


@nb.njit(cache=True, nogil=True)
def zscore(values: np.ndarray) -> np.ndarray:
    """float32 z-score over the non-NaN values (NaN stays NaN; a constant column gives zeros)."""
    n = values.size
    z = np.full(n, np.nan, np.float32)
    total, count = 0.0, 0
    for i in range(n):
        if not np.isnan(values[i]):
            total += values[i]
            count += 1
    if count == 0:
        return z
    mu = total / count
    sq = 0.0
    for i in range(n):
        if not np.isnan(values[i]):
            sq += (values[i] - mu) ** 2
    sd = np.sqrt(sq / count)
    sd = sd if sd > 0 else 1.0
    for i in range(n):
        z[i] = (values[i] - mu) / sd
    return z


@nb.njit(cache=True, nogil=True)
def zscore_and_rank(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`zscore` and rank fraction (best = 0, NaN last) of each value.

    Ties rank in input order. All-NaN input gives NaN ranks.
    """
    n = values.size
    z = zscore(values)
    rank = np.full(n, np.nan, np.float32)
    if np.isnan(values).all():
        return z, rank
    order = np.argsort(_best_first_keys(values.astype(np.float32), np.arange(n)))
    denom = max(n - 1, 1)
    for r in range(n):
        rank[order[r]] = r / denom
    return z, rank
