"""Item-kNN: recommend the items most similar to those a user already interacted with."""

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

__all__ = ["ItemKNN"]


@register("item-knn")
class ItemKNN(Recommender):
    """Item-based nearest neighbours over a sparse top-K item x item similarity.

    Each item is the column of the interaction matrix (the users who touched it),
    re-weighted by ``weighting`` ("none", "tfidf" or "bm25" with ``bm25_k1`` / ``bm25_b``;
    items are the documents and users the terms, as in implicit's ``BM25Recommender``).
    Item pairs are compared by ``similarity`` ("cosine" - asymmetric when ``alpha`` != 0.5,
    damped by ``shrink`` - or raw "dot"), and each item keeps its ``n_neighbors`` most
    similar other items. A user's score for item j is ``sum_i x_ui * sim(i, j)`` over the
    items i in the user's history. Defaults were chosen on a validation split of
    MovieLens 100K (see docs/neighbourhood.md).
    """

    def __init__(
        self,
        *,
        n_neighbors: Positive[int] = 20,
        similarity: Literal["cosine", "dot"] = "cosine",
        alpha: UnitInterval[float] = 0.5,
        shrink: NonNegative[float] = 10.0,
        weighting: Literal["none", "tfidf", "bm25"] = "tfidf",
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

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        item_rows = self.train_.T.tocsr()
        weights = fit_row_weights(item_rows, self.weighting, k1=self.bm25_k1, b=self.bm25_b)
        weighted = weights.apply(item_rows)
        self.item_weights_: RowWeights = weights
        self.similarity_: sp.csr_matrix = knn_similarity(
            weighted, weighted, n_neighbors=self.n_neighbors, similarity=self.similarity,
            alpha=float(self.alpha), shrink=float(self.shrink), exclude_self=True,
            progress=progress, desc="item-knn",
        )

    # -- scoring -----------------------------------------------------------------------
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        sim = self.similarity_ if item_idx is None else self.similarity_[:, item_idx]
        return (self.train_[user_idx] @ sim).toarray()

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return (sp.csr_matrix(history, dtype=np.float32) @ self.similarity_).toarray()

    def _item_similarity_block(self, item_idx: np.ndarray) -> np.ndarray:
        return sparse_rows_dense(self.similarity_, item_idx)

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        out = {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr}
        out.update(self.item_weights_.to_arrays("item_weights"))
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.items_)
        self.similarity_ = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n))
        self.item_weights_ = RowWeights.from_arrays(
            arrays, "item_weights", kind=self.weighting, k1=self.bm25_k1, b=self.bm25_b)
