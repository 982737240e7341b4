"""The factor-model contract: user and item factor matrices, scores as dot products, fold-in."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.data.interactions import Interactions
from shortlist.errors import DataError
from shortlist.models.base import Recommender

__all__ = ["FactorModel"]


class FactorModel(Recommender):
    """A model that scores by the dot product of user and item factor vectors.

    Subclasses set ``user_factors_`` (n_users, f) and ``item_factors_`` (n_items, f) in
    ``_fit``. Fold-in solves a regularised least-squares problem with the other side fixed
    (subclasses may override with their exact objective).
    """

    #: ridge penalty used by the generic fold-in
    fold_in_regularization: float = 0.1

    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        u = self.user_factors_[user_idx]
        v = self.item_factors_ if item_idx is None else self.item_factors_[item_idx]
        return u @ v.T

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return self.fold_in_users(history) @ self.item_factors_.T

    def _item_similarity_block(self, item_idx: np.ndarray) -> np.ndarray:
        v = self.item_factors_
        norms = np.linalg.norm(v, axis=1)
        norms[norms == 0] = 1.0
        return (v[item_idx] / norms[item_idx, None]) @ (v / norms[:, None]).T

    def _user_similarity_block(self, user_idx: np.ndarray) -> np.ndarray:
        u = self.user_factors_
        norms = np.linalg.norm(u, axis=1)
        norms[norms == 0] = 1.0
        return (u[user_idx] / norms[user_idx, None]) @ (u / norms[:, None]).T

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = np.ascontiguousarray(arrays["user_factors"], np.float32)
        self.item_factors_ = np.ascontiguousarray(arrays["item_factors"], np.float32)

    # -- cold start --------------------------------------------------------------------
    def _solve_rows(self, rows: sp.csr_matrix, fixed: np.ndarray) -> np.ndarray:
        """Least squares ``min_x sum_j w_j (1 - x.y_j)^2 + reg |x|^2`` per row (override)."""
        reg = self.fold_in_regularization
        f = fixed.shape[1]
        out = np.zeros((rows.shape[0], f), np.float32)
        for r in range(rows.shape[0]):
            s, e = rows.indptr[r], rows.indptr[r + 1]
            if s == e:
                continue
            y = fixed[rows.indices[s:e]].astype(np.float64)
            w = rows.data[s:e].astype(np.float64)
            a = (y * w[:, None]).T @ y + reg * np.eye(f)
            b = (y * w[:, None]).sum(axis=0)
            out[r] = np.linalg.solve(a, b)
        return out

    def fold_in_users(self, rows: sp.csr_matrix | Interactions) -> np.ndarray:
        """User vectors for interaction rows (n, n_items) with item factors fixed."""
        self._check_fitted()
        rows = self._as_rows(rows, axis="user")
        return self._solve_rows(rows, self.item_factors_)

    def fold_in_items(self, cols: sp.csr_matrix | Interactions) -> np.ndarray:
        """Item vectors for interaction rows (n, n_users) with user factors fixed."""
        self._check_fitted()
        cols = self._as_rows(cols, axis="item")
        return self._solve_rows(cols, self.user_factors_)

    def _as_rows(self, rows: sp.csr_matrix | Interactions, *, axis: str) -> sp.csr_matrix:
        other = len(self.items_) if axis == "user" else len(self.users_)
        if isinstance(rows, Interactions):
            if axis == "user":
                m = Interactions(rows.users, self.items_, rows.user_index,
                                 self.items_.index(rows.items.lookup(rows.item_index), what="item"),
                                 rows.value, weighting=rows.weighting, validate=False).matrix
            else:
                m = Interactions(rows.items, self.users_, rows.item_index,
                                 self.users_.index(rows.users.lookup(rows.user_index), what="user"),
                                 rows.value, weighting=rows.weighting, validate=False).matrix
            return m
        rows = sp.csr_matrix(rows, dtype=np.float32)
        if rows.shape[1] != other:
            raise DataError(
                f"fold-in rows must have {other} columns (one per known {'item' if axis == 'user' else 'user'}), "
                f"got {rows.shape[1]}"
            )
        rows.sort_indices()
        return rows

    def fill_cold_items(self, groups: np.ndarray) -> np.ndarray:
        """Give items with no interactions the mean vector of trained items in their group.

        ``groups`` holds one integer group per item (category, creator...; -1 = none).
        Returns the indices of items that were filled. Items whose group has no trained
        member get the global mean.
        """
        self._check_fitted()
        groups = np.asarray(groups)
        if groups.shape != (len(self.items_),):
            raise DataError(f"groups must have one entry per item ({len(self.items_)}), got {groups.shape}")
        counts = np.bincount(self.train_.indices, minlength=len(self.items_))
        cold = np.flatnonzero(counts == 0)
        warm = counts > 0
        factors = self.item_factors_.copy()  # a new array: models may cache what they derive from the old one
        global_mean = factors[warm].mean(axis=0) if warm.any() else 0.0
        for g in np.unique(groups[cold]):
            members = warm & (groups == g) & (g >= 0)
            vec = factors[members].mean(axis=0) if members.any() else global_mean
            factors[cold[groups[cold] == g]] = vec
        self.item_factors_ = factors
        return cold
