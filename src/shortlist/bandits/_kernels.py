"""Numba hot loops of the linear bandits (nothing else lives here).

One pass over the rows without sorting or temporaries: it is what makes one-row calls
(the serving pattern) cost microseconds instead of the overhead of many numpy calls.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["accumulate_outer", "linear_scores", "sherman_morrison"]


@nb.njit(cache=True, fastmath=True)
def accumulate_outer(A: np.ndarray, b: np.ndarray, X: np.ndarray, slots: np.ndarray,
                     weights: np.ndarray, rewards: np.ndarray) -> None:  # pragma: no cover - jitted
    """``A[s] += w x x^T`` and ``b[s] += w r x`` for every row (in place)."""
    d = X.shape[1]
    for t in range(X.shape[0]):
        s = slots[t]
        w = weights[t]
        wr = w * rewards[t]
        for i in range(d):
            xi = X[t, i]
            wxi = w * xi
            b[s, i] += wr * xi
            for j in range(d):
                A[s, i, j] += wxi * X[t, j]


@nb.njit(cache=True, fastmath=True)
def linear_scores(X: np.ndarray, theta: np.ndarray, Ainv: np.ndarray, slots: np.ndarray,
                  mean: np.ndarray, sd: np.ndarray) -> None:  # pragma: no cover - jitted
    """``mean[t, j] = x_t . theta_s`` and ``sd[t, j] = sqrt(x_t^T Ainv_s x_t)`` for ``s = slots[j]``."""
    d = X.shape[1]
    for t in range(X.shape[0]):
        for j in range(slots.shape[0]):
            s = slots[j]
            mu = 0.0
            q = 0.0
            for i in range(d):
                xi = X[t, i]
                mu += xi * theta[s, i]
                acc = 0.0
                for k in range(d):
                    acc += Ainv[s, i, k] * X[t, k]
                q += xi * acc
            mean[t, j] = mu
            sd[t, j] = np.sqrt(max(q, 0.0))


@nb.njit(cache=True, fastmath=False)
def sherman_morrison(A: np.ndarray, b: np.ndarray, Ainv: np.ndarray, theta: np.ndarray, X: np.ndarray,
                     slots: np.ndarray, weights: np.ndarray, rewards: np.ndarray) -> None:  # pragma: no cover
    """Row by row: add ``w x x^T`` to ``A[s]``, ``w r x`` to ``b[s]``, and update ``Ainv[s]``,
    ``theta[s] = Ainv[s] b[s]`` by the Sherman-Morrison rank-one formula (weights > 0)."""
    d = X.shape[1]
    u = np.empty(d)
    for t in range(X.shape[0]):
        s = slots[t]
        w = weights[t]
        wr = w * rewards[t]
        q = 0.0
        for i in range(d):
            acc = 0.0
            for k in range(d):
                acc += Ainv[s, i, k] * X[t, k]
            u[i] = acc
            q += X[t, i] * acc
            b[s, i] += wr * X[t, i]
            for j in range(d):
                A[s, i, j] += w * X[t, i] * X[t, j]
        c = w / (1.0 + w * q)
        for i in range(d):
            ci = c * u[i]
            for j in range(d):
                Ainv[s, i, j] -= ci * u[j]
        for i in range(d):
            acc = 0.0
            for k in range(d):
                acc += Ainv[s, i, k] * b[s, k]
            theta[s, i] = acc
