"""Sparse top-K similarity between rows of two sparse matrices, shared by the kNN models.

The neighbourhood models compare *entities* (items for item-kNN, users for user-kNN),
each given by a sparse row of *features* (the users who touched the item, or the items a
user touched). Rows are first re-weighted (none / TF-IDF / BM25), then compared by cosine
(optionally asymmetric, with a shrinkage term) or raw dot product, and only the K best
neighbours per row are kept. A numba kernel (``_kernels/knn.py``) sums each row's products
into a per-thread dense accumulator (only pairs that share a feature are ever touched) and
cuts it to its top K at once: the row x target product is never stored, so memory is the
K neighbours per row whatever the density, and catalogs whose items nearly all co-occur
(MovieLens-20M: 26,744 items) cost the pairs' arithmetic, not a sparse matrix of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from shortlist.models._kernels.knn import knn_rows

__all__ = [
    "SIMILARITIES",
    "WEIGHTINGS",
    "RowWeights",
    "fit_row_weights",
    "knn_similarity",
    "sparse_rows_dense",
]

WEIGHTINGS = ("none", "tfidf", "bm25")
SIMILARITIES = ("cosine", "dot")
_BLOCK_CELLS = 50_000_000  # pairs of one kernel call: enough work for every thread, a few calls for the bar


@dataclass
class RowWeights:
    """Statistics of a fitted weighting, so new rows (anonymous histories) get the same one.

    ``idf`` has one entry per feature column; ``avg_length`` is the mean row sum of the
    training rows (BM25 length normalisation).
    """

    kind: str
    idf: np.ndarray
    avg_length: float
    k1: float
    b: float

    def apply(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """Weighted copy of ``rows`` (CSR, float32), same pattern."""
        rows = sp.csr_matrix(rows, dtype=np.float32, copy=True)
        if self.kind == "none" or rows.nnz == 0:
            return rows
        data = rows.data.astype(np.float64)
        idf = self.idf[rows.indices]
        if self.kind == "tfidf":
            rows.data = (np.sqrt(data) * idf).astype(np.float32)
            return rows
        # BM25 as in implicit's bm25_weight: saturating term frequency, long rows damped
        lengths = np.asarray(rows.sum(axis=1), np.float64).ravel()
        avg = self.avg_length if self.avg_length > 0 else 1.0
        norm = (1.0 - self.b) + self.b * lengths / avg
        row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        rows.data = (data * (self.k1 + 1.0) / (self.k1 * norm[row_of] + data) * idf).astype(np.float32)
        return rows

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays for a model file."""
        return {f"{prefix}_idf": self.idf, f"{prefix}_avg_length": np.asarray([self.avg_length])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, *, kind: str, k1: float,
                    b: float) -> RowWeights:
        """Inverse of :meth:`to_arrays` (the kind and constants come from the hyperparameters)."""
        return cls(kind, np.asarray(arrays[f"{prefix}_idf"], np.float64),
                   float(arrays[f"{prefix}_avg_length"][0]), float(k1), float(b))


def fit_row_weights(rows: sp.csr_matrix, kind: str, *, k1: float = 1.2, b: float = 0.75) -> RowWeights:
    """Weighting statistics of ``rows`` (documents) over their columns (terms).

    ``idf = log(n_rows) - log1p(document frequency)``, the formula of implicit's
    ``tfidf_weight`` / ``bm25_weight`` so results can be compared one to one.
    """
    n_rows, n_cols = rows.shape
    df = np.bincount(rows.indices, minlength=n_cols).astype(np.float64)
    idf = np.log(max(n_rows, 1)) - np.log1p(df)
    avg = float(np.asarray(rows.sum(axis=1)).mean()) if n_rows else 0.0
    return RowWeights(kind, idf, avg, float(k1), float(b))


def _squared_norms(m: sp.csr_matrix) -> np.ndarray:
    return np.asarray(m.multiply(m).sum(axis=1), np.float64).ravel()


def _block_bounds(queries: sp.csr_matrix, t_cols: sp.csr_matrix, n_t: int) -> list[tuple[int, int]]:
    """Row ranges of at most ~``_BLOCK_CELLS`` candidate pairs each (the progress bar's steps).

    The pairs of query row r are bounded by ``sum over its features f of |targets with f|``
    (capped at ``n_t``). Few, large blocks matter because every block starts a parallel kernel.
    """
    pattern = sp.csr_matrix((np.ones(queries.nnz), queries.indices, queries.indptr), shape=queries.shape)
    per_row = np.minimum(pattern @ np.diff(t_cols.indptr).astype(np.float64), n_t)
    ends = np.cumsum(per_row)
    out, start = [], 0
    while start < queries.shape[0]:
        base = ends[start - 1] if start else 0.0
        stop = int(np.searchsorted(ends, base + _BLOCK_CELLS, side="right"))
        stop = min(max(stop, start + 1), queries.shape[0])
        out.append((start, stop))
        start = stop
    return out


def knn_similarity(
    queries: sp.csr_matrix,
    targets: sp.csr_matrix,
    *,
    n_neighbors: int,
    similarity: str = "cosine",
    alpha: float = 0.5,
    shrink: float = 0.0,
    exclude_self: bool = False,
    progress: bool | None = None,
    desc: str = "similarity",
) -> sp.csr_matrix:
    """Top-``n_neighbors`` similarities of each query row to the target rows (CSR float32).

    ``cosine``: ``dot(a, b) / (|a|^(2 alpha) * |b|^(2 (1 - alpha)) + shrink)`` - alpha=0.5
    is the plain cosine, other values the asymmetric cosine; ``dot``: raw dot product.
    ``exclude_self`` drops the diagonal (queries and targets are the same rows). Only
    positive similarities are stored; rows keep their columns sorted.
    """
    queries = sp.csr_matrix(queries, dtype=np.float32)
    targets = sp.csr_matrix(targets, dtype=np.float32)
    n_q, n_t = queries.shape[0], targets.shape[0]
    k = int(min(n_neighbors, n_t))
    t_cols = targets.T.tocsr()
    if similarity == "cosine":
        q_den = _squared_norms(queries) ** alpha
        t_den = _squared_norms(targets) ** (1.0 - alpha)
    else:
        q_den = t_den = np.zeros(0, np.float64)
    counts = np.zeros(n_q, np.int64)
    parts_i: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    bounds = _block_bounds(queries, t_cols, n_t)
    t_indptr = t_cols.indptr.astype(np.int64)
    for start, stop in tqdm(bounds, desc=desc, unit="block", leave=False,
                            disable=(len(bounds) < 4) if progress is None else not progress):
        q = queries[start:stop]
        cnt, cols, vals = knn_rows(q.indptr.astype(np.int64), q.indices, q.data, t_indptr, t_cols.indices,
                                   t_cols.data, n_t, k, q_den, t_den, similarity == "cosine", float(shrink),
                                   start, exclude_self, 4 * numba.get_num_threads())
        keep = np.arange(k)[None, :] < cnt[:, None]
        counts[start:stop] = cnt
        parts_i.append(cols[keep])
        parts_v.append(vals[keep])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate(parts_i).astype(np.int32) if parts_i else np.zeros(0, np.int32)
    data = np.concatenate(parts_v).astype(np.float32) if parts_v else np.zeros(0, np.float32)
    out = sp.csr_matrix((data, indices, indptr), shape=(n_q, n_t))
    out.sort_indices()
    return out


def sparse_rows_dense(m: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Rows of a sparse neighbour graph as a dense block, -inf where no neighbour is stored.

    -inf (not 0) keeps non-neighbours out of ``similar_items`` / ``similar_users`` lists.
    """
    sub = sp.csr_matrix(m[np.asarray(rows, np.int64)])
    out = np.full(sub.shape, -np.inf, np.float32)
    r = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
    out[r, sub.indices] = sub.data
    return out
