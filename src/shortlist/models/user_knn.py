"""User-kNN: recommend what the most similar users interacted with."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from shortlist.core.parameters import NonNegative, Positive, UnitInterval
from shortlist.data.interactions import Interactions
from shortlist.models.base import Recommender
from shortlist.models.registry import register
from shortlist.models.similarity import (
    RowWeights,
    fit_row_weights,
    knn_similarity,
    sparse_rows_dense,
)

__all__ = ["UserKNN"]


@register("user-knn")
class UserKNN(Recommender):
    """User-based nearest neighbours over a sparse top-K user x user similarity.

    Each user is a row of the interaction matrix, re-weighted by ``weighting`` ("none",
    "tfidf" or "bm25": users are the documents and items the terms), compared to the other
    users by ``similarity`` ("cosine" - asymmetric when ``alpha`` != 0.5, damped by
    ``shrink`` - or raw "dot"); each user keeps ``n_neighbors`` neighbours. The score of
    item i for user u is ``sum_v sim(u, v) * x_vi`` over u's neighbours v. Users known only
    by a history row get neighbours among the training users with the same weighting.
    Defaults were chosen on a validation split of MovieLens 100K (docs/neighbourhood.md).
    """

    def __init__(
        self,
        *,
        n_neighbors: Positive[int] = 100,
        similarity: Literal["cosine", "dot"] = "cosine",
        alpha: UnitInterval[float] = 0.5,
        shrink: NonNegative[float] = 0.0,
        weighting: Literal["none", "tfidf", "bm25"] = "bm25",
        bm25_k1: NonNegative[float] = 1.2,
        bm25_b: UnitInterval[float] = 0.75,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.similarity = similarity
        self.alpha = alpha
        self.shrink = shrink
        self.weighting = weighting
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _similarity(self, rows: sp.csr_matrix, *, exclude_self: bool,
                    progress: bool | None = None) -> sp.csr_matrix:
        return knn_similarity(
            self.user_weights_.apply(rows), self._weighted_users, n_neighbors=self.n_neighbors,
            similarity=self.similarity, alpha=float(self.alpha), shrink=float(self.shrink),
            exclude_self=exclude_self, progress=progress, desc="user-knn",
        )

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        self.user_weights_: RowWeights = fit_row_weights(
            self.train_, self.weighting, k1=self.bm25_k1, b=self.bm25_b)
        self._weighted_users = self.user_weights_.apply(self.train_)
        self.similarity_: sp.csr_matrix = self._similarity(self.train_, exclude_self=True,
                                                           progress=progress)

    # -- scoring -----------------------------------------------------------------------
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        train = self.train_ if item_idx is None else self.train_[:, item_idx]
        return (self.similarity_[user_idx] @ train).toarray()

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        sim = self._similarity(sp.csr_matrix(history, dtype=np.float32), exclude_self=False)
        return (sim @ self.train_).toarray()

    def _user_similarity_block(self, user_idx: np.ndarray) -> np.ndarray:
        return sparse_rows_dense(self.similarity_, user_idx)

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        out = {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr}
        out.update(self.user_weights_.to_arrays("user_weights"))
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.users_)
        self.similarity_ = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n))
        self.user_weights_ = RowWeights.from_arrays(
            arrays, "user_weights", kind=self.weighting, k1=self.bm25_k1, b=self.bm25_b)
        # the weighted training rows are a pure function of train_ and the saved statistics
        self._weighted_users = self.user_weights_.apply(self.train_)
