"""Top-K neighbour tables (items x K, users x K) from a model's similarity or from factors.

A table is two dense arrays: ``ids[r]`` the K nearest rows of row ``r`` (-1 padded, itself
excluded) and ``sims[r]`` their similarities, so a request gathers neighbours by plain
indexing. Built once in ``fit``:

* a model with a sparse top-K ``similarity_`` of the right shape (ItemKNN, UserKNN): its rows;
* a :class:`~shortlist.models.FactorModel`: cosine ANN over the factor vectors;
* another model exposing ``_item_similarity_block`` / ``_user_similarity_block`` (EASE ...):
  dense blocks, top-K per row;
* no model: cosine of co-occurrence (``X^T X`` for items, ``X X^T`` for users) in blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.models._kernels.topk import topk_rows
from shortlist.retrieval.ann import ANNIndex

__all__ = ["cooccurrence_block", "neighbour_table"]

_BLOCK_CELLS = 4_000_000


def _from_sparse(sim: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    sim = sp.csr_matrix(sim, dtype=np.float32)
    sim.setdiag(0)
    sim.eliminate_zeros()
    n = sim.shape[0]
    lengths = np.diff(sim.indptr)
    rows = np.repeat(np.arange(n), lengths)
    # best first within each row, then keep the first k of each row
    order = np.lexsort((sim.indices, -sim.data, rows))
    rows_s, cols_s, vals_s = rows[order], sim.indices[order], sim.data[order]
    rank = np.arange(rows_s.size) - np.repeat(sim.indptr[:-1], lengths)
    keep = rank < k
    ids = np.full((n, k), -1, np.int64)
    sims = np.zeros((n, k), np.float32)
    ids[rows_s[keep], rank[keep]] = cols_s[keep]
    sims[rows_s[keep], rank[keep]] = vals_s[keep]
    return ids, sims


def _from_blocks(block_fn: Any, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((n, k), -1, np.int64)
    sims = np.zeros((n, k), np.float32)
    step = max(1, _BLOCK_CELLS // max(n, 1))
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        block = np.ascontiguousarray(block_fn(rows), np.float32)
        # exclude each row itself
        excl = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=block.shape)
        kk = min(k, n)
        idx, val = topk_rows(block, kk, excl.indptr.astype(np.int64), excl.indices.astype(np.int64))
        ids[rows, :kk] = idx
        sims[rows, :kk] = np.where(idx >= 0, val, 0.0)
    # non-positive similarities are not neighbours (co-occurrence zero means unrelated)
    bad = sims <= 0
    ids[bad], sims[bad] = -1, 0.0
    return ids, sims


def _from_factors(vectors: np.ndarray, k: int, index: str, index_params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ann = ANNIndex(index, "cosine", **index_params).build(vectors)
    idx, val = ann.search(vectors, min(k + 1, len(ann)))
    n = vectors.shape[0]
    self_hit = idx == np.arange(n)[:, None]
    # drop the row itself (or the last one when the ANN missed it) so k remain
    drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), idx.shape[1] - 1)
    keep = np.ones(idx.shape, bool)
    keep[np.arange(n), drop] = False
    idx = idx[keep].reshape(n, -1)[:, :k]
    val = val[keep].reshape(n, -1)[:, :k]
    ids = np.full((n, k), -1, np.int64)
    sims = np.zeros((n, k), np.float32)
    ids[:, : idx.shape[1]] = idx
    sims[:, : val.shape[1]] = np.where(idx >= 0, val, 0.0)
    return ids, sims


def cooccurrence_block(rows: sp.csr_matrix, others_t: sp.csr_matrix, other_norms: np.ndarray) -> np.ndarray:
    """Cosine of binary rows against binary others, given as ``others_t`` = others.T in CSR."""
    a = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    a.data[:] = 1.0
    overlap = (a @ others_t).toarray()
    norms = np.sqrt(np.diff(a.indptr).astype(np.float32))
    denom = norms[:, None] * other_norms[None, :]
    return np.divide(overlap, denom, out=np.zeros_like(overlap), where=denom > 0)


def neighbour_table(model: Any, train: sp.csr_matrix, axis: str, k: int, *, index: str = "exact",
                    index_params: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, sims) arrays of shape (n, k) for ``axis="item"`` or ``"user"`` (see module doc)."""
    from shortlist.models.factor import FactorModel

    n = train.shape[1] if axis == "item" else train.shape[0]
    sim = getattr(model, "similarity_", None)
    if sim is not None and sp.issparse(sim) and sim.shape == (n, n):
        return _from_sparse(sim, k)
    if isinstance(model, FactorModel):
        vectors = model.item_factors_ if axis == "item" else model.user_factors_
        return _from_factors(np.asarray(vectors, np.float32), k, index, dict(index_params or {}))
    if model is not None:
        fn = model._item_similarity_block if axis == "item" else model._user_similarity_block
        return _from_blocks(fn, n, k)
    binary = sp.csr_matrix(train, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    mat = binary.T.tocsr() if axis == "item" else binary
    mat_t = binary if axis == "item" else binary.T.tocsr()
    norms = np.sqrt(np.diff(mat.indptr).astype(np.float32))
    return _from_blocks(lambda r: cooccurrence_block(mat[r], mat_t, norms), n, k)
