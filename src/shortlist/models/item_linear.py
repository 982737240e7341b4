"""Item x item linear models: scores are the user's row times one dense item x item matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.models.base import Recommender

__all__ = ["ItemLinearModel"]


class ItemLinearModel(Recommender):
    """Base of models that score ``x_u @ W`` with a dense float32 ``weights_`` (n_items x n_items).

    Subclasses (EASE, session EASE, graph filters) only learn ``W`` in ``_fit``; scoring,
    history scoring, item similarity and persistence are shared here. A user known only by
    a history row is scored exactly like a training user.
    """

    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        x = self.train_[user_idx]
        if item_idx is None:
            return np.asarray(x @ self.weights_, np.float32)
        # only the rows of W for items in these histories, and only the asked columns:
        # a per-request candidate scoring touches |history| x |candidates| weights
        rows = np.unique(x.indices)
        sub = self.weights_[rows][:, item_idx]
        return np.asarray(x[:, rows] @ sub, np.float32)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(sp.csr_matrix(history, dtype=np.float32) @ self.weights_, np.float32)

    def _item_similarity_block(self, item_idx: np.ndarray) -> np.ndarray:
        # column j of W says how much item j is predicted from each item; use row i -> j
        return self.weights_[np.asarray(item_idx, np.int64)]

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = np.ascontiguousarray(arrays["weights"], np.float32)
