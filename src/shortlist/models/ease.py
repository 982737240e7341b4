"""EASE (Steck 2019): a closed-form item x item linear model with a zero diagonal."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from shortlist.core.parameters import Positive
from shortlist.data.interactions import Interactions
from shortlist.errors import DataError, MemoryBudgetError
from shortlist.models.item_linear import ItemLinearModel
from shortlist.models.registry import register

__all__ = ["EASE", "ease_memory_bytes"]

_GRAM_BLOCK_CELLS = 16_000_000  # gram matrix columns filled per block (bounded sparse product)
# OpenBLAS's threaded potrf crashes (SIGSEGV) on large matrices - seen from n = 16,000 with
# 2 threads in the builds bundled with numpy and scipy (cf. OpenBLAS issues #1413, #2562) -
# so bigger catalogs factorise on one BLAS thread: slower, but it finishes
_THREADED_LAPACK_MAX_N = 12_000


def ease_memory_bytes(n_items: int) -> int:
    """Peak bytes EASE needs for ``n_items``: a float64 gram/inverse plus the float32 weights."""
    return 12 * int(n_items) ** 2


@register("ease")
class EASE(ItemLinearModel):
    """Embarrassingly Shallow Autoencoder: ``B = I - P / diag(P)``, ``P = (X^T X + lambda I)^-1``.

    ``B`` is the ridge regression of every item column on all other items under the
    constraint ``diag(B) = 0`` (Steck, WWW 2019), solved exactly. The gram matrix and its
    inverse are dense float64 (Cholesky, in place) for stability; ``B`` is stored as
    float32. Memory grows with the square of the catalog: beyond ``max_memory_gb`` the fit
    raises :class:`~shortlist.errors.MemoryBudgetError` before allocating anything.
    Scores are ``x_u @ B``, so users known only by a history row are scored the same way.
    The default ``regularization`` was chosen on a validation split of MovieLens 100K.
    """

    def __init__(self, *, regularization: Positive[float] = 500.0, max_memory_gb: Positive[float] = 8.0) -> None:
        self.regularization = regularization
        self.max_memory_gb = max_memory_gb

    def _check_memory(self, n_items: int) -> None:
        need = ease_memory_bytes(n_items)
        budget = float(self.max_memory_gb) * 1e9
        if need > budget:
            raise MemoryBudgetError(
                f"EASE on {n_items:,} items needs about {need / 1e9:.1f} GB (two dense "
                f"{n_items:,} x {n_items:,} matrices), over max_memory_gb={self.max_memory_gb}; "
                "use item-knn or als for a catalog this size, filter the data to the top-N most "
                "popular items, or raise max_memory_gb if the machine has the memory"
            )

    def _gram(self) -> np.ndarray:
        """Dense ``X^T X + lambda I`` (float64), filled by column blocks of sparse products."""
        x = sp.csc_matrix(self.train_, dtype=np.float64)
        xt = x.T.tocsr()
        n = x.shape[1]
        gram = np.empty((n, n), np.float64, order="F")  # LAPACK works in place on F order
        step = max(1, _GRAM_BLOCK_CELLS // max(n, 1))
        for start in range(0, n, step):
            stop = min(start + step, n)
            gram[:, start:stop] = (xt @ x[:, start:stop]).toarray()
        gram[np.diag_indices(n)] += float(self.regularization)
        return gram

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        n = self.train_.shape[1]
        self._check_memory(n)
        gram = self._gram()
        # Cholesky + triangular inverse in place: one n x n float64 buffer, half the
        # memory and flops of a general inverse, and exact for a positive definite matrix
        with threadpool_limits(limits=1 if n > _THREADED_LAPACK_MAX_N else None, user_api="blas"):
            chol, info = lapack.dpotrf(gram, lower=False, overwrite_a=True, clean=False)
            if info == 0:
                inv, info = lapack.dpotri(chol, lower=False, overwrite_c=True)
        if info != 0:
            raise DataError(
                f"X^T X + {self.regularization} I is not positive definite (LAPACK info={info}); "
                "check the interaction weights for extreme values or raise regularization"
            )
        del gram, chol
        _symmetrize_upper(inv)
        diag = np.diag(inv).copy()
        weights = np.empty((n, n), np.float32)
        step = max(1, _GRAM_BLOCK_CELLS // max(n, 1))
        for start in range(0, n, step):
            stop = min(start + step, n)
            weights[start:stop] = -inv[start:stop] / diag[None, :]
        del inv
        weights[np.diag_indices(n)] = 0.0
        self.weights_: np.ndarray = weights


def _symmetrize_upper(m: np.ndarray) -> None:
    """Copy the upper triangle onto the lower one in place, by row blocks (no n^2 temporaries)."""
    n = m.shape[0]
    step = max(1, _GRAM_BLOCK_CELLS // max(n, 1))
    for start in range(0, n, step):
        stop = min(start + step, n)
        m[start:stop, :start] = m[:start, start:stop].T
        sub = m[start:stop, start:stop]
        sub[np.tril_indices(stop - start, -1)] = sub.T[np.tril_indices(stop - start, -1)]
