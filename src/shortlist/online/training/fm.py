"""Online factorization machine: sparse rows in an embedding table, a dense bias, Adagrad on both.

Each example is one key per field (user, item, position, ...). The FM's score is
``b + sum_f w_f + sum_{f<g} <v_f, v_g>``; rows step per example (Adagrad, one accumulator per
weight), the bias once per mini-batch. Row 0 of the table is the shared default that every
key without its own row (not yet admitted) reads and trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.online import _kernels as K
from shortlist.online.embeddings import CollisionlessTable, HashingTable, feature_keys

__all__ = ["OnlineFM", "fm_reference_loss"]


class OnlineFM:
    """FM over a :class:`CollisionlessTable` (or a :class:`HashingTable`, for comparison)."""

    def __init__(self, table: CollisionlessTable | HashingTable, *, fields: tuple[str, ...] = ("user", "item"),
                 lr: float = 0.05, l2: float = 0.0) -> None:
        self.table = table
        self.fields = tuple(fields)
        self.lr = float(lr)
        self.l2 = float(l2)
        self.dense = np.zeros(2, np.float64)  # bias and its Adagrad accumulator

    def keys(self, columns: dict[str, Any]) -> np.ndarray:
        """Feature keys (n x fields) from one array of raw values per field."""
        return np.stack([feature_keys(f, np.asarray(columns[name])) for f, name in enumerate(self.fields)], axis=1)

    def train(self, keys: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
              now: float = 0.0) -> tuple[np.ndarray, float]:
        """One Adagrad pass over a mini-batch; returns (predictions made before each update, summed loss)."""
        n = keys.shape[0]
        rows = self.table.lookup(keys.ravel(), now).reshape(n, -1)
        w = np.ones(n, np.float64) if weights is None else np.asarray(weights, np.float64)
        out = np.empty(n, np.float64)
        loss = K.fm_train(rows, np.asarray(labels, np.float64), w, self.table.weights, self.table.accum,
                          self.table.touched, self.dense, self.lr, self.l2, out)
        return out, float(loss)

    def predict(self, keys: np.ndarray) -> np.ndarray:
        """Click probabilities (no admission, no update)."""
        n = keys.shape[0]
        rows = self.table.find(keys.ravel()).reshape(n, -1)
        out = np.empty(n, np.float64)
        K.fm_predict(rows, self.table.weights, self.dense[0], out)
        return out

    def dense_params(self) -> np.ndarray:
        """What serving needs besides the rows: the bias, then the default row's weights."""
        return np.concatenate([[self.dense[0]], self.table.weights[0].astype(np.float64)])


def fm_reference_loss(vecs: np.ndarray, bias: float, label: float) -> float:
    """Log-loss of one example in plain numpy (``vecs``: fields x (1 + d), linear weight first); for tests."""
    w, v = vecs[:, 0], vecs[:, 1:].astype(np.float64)
    s = bias + w.sum() + sum(v[i] @ v[j] for i in range(len(v)) for j in range(i + 1, len(v)))
    p = 1 / (1 + np.exp(-s))
    return float(-(label * np.log(p) + (1 - label) * np.log(1 - p)))
