"""Numba hot loops of the linear bandits (nothing else lives here).

One pass over the rows without sorting or temporaries: it is what makes one-row calls
(the serving pattern) cost microseconds instead of the overhead of many numpy calls.
Inverses ``Ainv`` are symmetric, so quadratic forms ``x^T Ainv x`` are computed as one
dot product of packed upper triangles (``pack_upper``), half the work of the full form.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# fastmath without the no-NaN/no-inf assumptions, so a kernel can still test for them
_NAN_SAFE = {"nsz", "arcp", "contract", "afn", "reassoc"}

__all__ = ["linear_scores", "pack_all", "packed_outer", "refresh_inverse", "ucb_best", "update_checked", "update_rows"]


@nb.njit(cache=True, fastmath=True)
def linear_scores(X: np.ndarray, theta: np.ndarray, P: np.ndarray, slots: np.ndarray,
                  mean: np.ndarray, sd: np.ndarray) -> None:  # pragma: no cover - jitted
    """``mean[t, j] = x_t . theta_s`` and ``sd[t, j] = sqrt(x_t^T Ainv_s x_t)`` for ``s = slots[j]``.

    ``P[s]`` is ``Ainv_s`` packed by :func:`pack_upper`, so each arm costs one contiguous
    dot product of length ``d (d + 1) / 2`` with the packed ``x x^T``.
    """
    phi = np.empty(P.shape[1])
    for t in range(X.shape[0]):
        packed_outer_row(X, t, phi)
        for j in range(slots.shape[0]):
            mu, q = mean_and_form(X, t, theta, P, slots[j], phi)
            mean[t, j] = mu
            sd[t, j] = np.sqrt(max(q, 0.0))


@nb.njit(cache=True, fastmath=_NAN_SAFE)
def ucb_best(X: np.ndarray, theta: np.ndarray, P: np.ndarray, slots: np.ndarray, alpha: float,
             best: np.ndarray, score: np.ndarray) -> bool:  # pragma: no cover - jitted
    """Top-1 UCB: ``best[t, 0]`` = position in ``slots`` of the highest
    ``x_t . theta_s + alpha sqrt(x_t^T Ainv_s x_t)`` (earliest on ties), ``score[t, 0]`` its score.

    Returns False (and computes nothing) when ``X`` holds NaN or infinite values.
    """
    d = X.shape[1]
    for t in range(X.shape[0]):
        for i in range(d):
            if not np.isfinite(X[t, i]):
                return False
    phi = np.empty(P.shape[1])
    for t in range(X.shape[0]):
        packed_outer_row(X, t, phi)
        top = -np.inf
        arg = 0
        for j in range(slots.shape[0]):
            mu, q = mean_and_form(X, t, theta, P, slots[j], phi)
            v = mu + alpha * np.sqrt(max(q, 0.0))
            if v > top:
                top = v
                arg = j
        best[t, 0] = arg
        score[t, 0] = top
    return True


@nb.njit(cache=True, inline="always")
def mean_and_form(X: np.ndarray, t: int, theta: np.ndarray, P: np.ndarray, s: int,
                  phi: np.ndarray) -> tuple[float, float]:  # pragma: no cover - jitted
    """``x_t . theta_s`` and ``x_t^T Ainv_s x_t`` (``phi`` = packed ``x_t x_t^T``, ``P[s]`` = packed ``Ainv_s``)."""
    mu = 0.0
    for i in range(X.shape[1]):
        mu += X[t, i] * theta[s, i]
    q = 0.0
    for i in range(phi.shape[0]):
        q += phi[i] * P[s, i]
    return mu, q


@nb.njit(cache=True, inline="always")
def packed_outer_row(X: np.ndarray, t: int, out: np.ndarray) -> None:  # pragma: no cover - jitted
    """Upper triangle (row by row, diagonal included) of ``x_t x_t^T`` into ``out``."""
    d = X.shape[1]
    p = 0
    for i in range(d):
        xi = X[t, i]
        for j in range(i, d):
            out[p + j - i] = xi * X[t, j]
        p += d - i


@nb.njit(cache=True, fastmath=True)
def packed_outer(X: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - jitted
    """``out[t]`` = upper triangle (row by row, diagonal included) of ``x_t x_t^T``."""
    for t in range(X.shape[0]):
        packed_outer_row(X, t, out[t])


@nb.njit(cache=True, inline="always")
def pack_upper(M: np.ndarray, s: int, P: np.ndarray) -> None:  # pragma: no cover - jitted
    """``P[s]`` = upper triangle of symmetric ``M[s]``, off-diagonal entries doubled, so that
    ``x^T M x = packed(x x^T) . P[s]``."""
    d = M.shape[1]
    p = 0
    for i in range(d):
        P[s, p] = M[s, i, i]
        for j in range(i + 1, d):
            P[s, p + j - i] = 2.0 * M[s, i, j]
        p += d - i


@nb.njit(cache=True)
def pack_all(M: np.ndarray, P: np.ndarray) -> None:  # pragma: no cover - jitted
    """:func:`pack_upper` for every arm."""
    for s in range(M.shape[0]):
        pack_upper(M, s, P)


@nb.njit(cache=True, fastmath=True)
def update_rows(A: np.ndarray, b: np.ndarray, Ainv: np.ndarray, theta: np.ndarray, P: np.ndarray,
                dirty: np.ndarray,
                X: np.ndarray, slots: np.ndarray, weights: np.ndarray, rewards: np.ndarray,
                defer: bool) -> None:  # pragma: no cover - jitted
    """Row by row: add ``w x x^T`` to ``A[s]`` and ``w r x`` to ``b[s]``.

    With ``defer`` (or when arm ``s`` is already marked dirty) the arm is only marked
    ``dirty[s] = True`` and :func:`refresh_inverse` re-inverts it later. Otherwise
    ``Ainv[s]`` and ``theta[s] = Ainv[s] b[s]`` are updated by Sherman-Morrison:
    ``u = Ainv x``, ``Ainv -= w u u^T / (1 + w x.u)``, ``theta += w (r - x.theta) u / (1 + w x.u)``
    (weights must then be > 0).
    """
    d = X.shape[1]
    u = np.empty(d)
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
        if defer or dirty[s]:
            dirty[s] = True
            continue
        q = 0.0
        pred = 0.0
        for i in range(d):
            acc = 0.0
            for k in range(d):
                acc += Ainv[s, i, k] * X[t, k]
            u[i] = acc
            q += X[t, i] * acc
            pred += X[t, i] * theta[s, i]
        c = w / (1.0 + w * q)
        g = c * (rewards[t] - pred)
        for i in range(d):
            ci = c * u[i]
            theta[s, i] += g * u[i]
            for j in range(d):
                Ainv[s, i, j] -= ci * u[j]
        pack_upper(Ainv, s, P)


@nb.njit(cache=True, fastmath=True)
def refresh_inverse(A: np.ndarray, b: np.ndarray, Ainv: np.ndarray, theta: np.ndarray, P: np.ndarray,
                    dirty: np.ndarray, l2: float) -> None:  # pragma: no cover - jitted
    """For every arm with ``dirty[s]``: ``Ainv[s] = (l2 I + A[s])^-1`` by Cholesky, ``theta[s] = Ainv[s] b[s]``."""
    d = A.shape[1]
    L = np.zeros((d, d))
    Li = np.zeros((d, d))
    M = np.zeros((d, d))
    for s in range(A.shape[0]):
        if not dirty[s]:
            continue
        for i in range(d):  # l2 I + A = L L^T, row by row (contiguous dot products)
            for j in range(i + 1):
                acc = A[s, i, j] + (l2 if i == j else 0.0)
                for k in range(j):
                    acc -= L[i, k] * L[j, k]
                if i == j:
                    L[i, i] = np.sqrt(max(acc, 1e-300))
                else:
                    L[i, j] = acc / L[j, j]
        for i in range(d):  # Li = L^-1: row i = -(sum_{k<i} L_ik Li[k, :]) / L_ii
            for j in range(d):
                Li[i, j] = 0.0
            for k in range(i):
                lik = L[i, k]
                for j in range(k + 1):
                    Li[i, j] -= lik * Li[k, j]
            inv = 1.0 / L[i, i]
            for j in range(i):
                Li[i, j] *= inv
            Li[i, i] = inv
        for i in range(d):
            for j in range(d):
                M[i, j] = 0.0
        for k in range(d):  # (L L^T)^-1 = Li^T Li = sum_k Li[k, :]^T Li[k, :]
            for i in range(k + 1):
                lki = Li[k, i]
                for j in range(k + 1):
                    M[i, j] += lki * Li[k, j]
        for i in range(d):
            acc = 0.0
            for j in range(d):
                Ainv[s, i, j] = M[i, j]
                acc += M[i, j] * b[s, j]
            theta[s, i] = acc
        pack_upper(Ainv, s, P)
        dirty[s] = False


@nb.njit(cache=True, fastmath=_NAN_SAFE)
def update_checked(A: np.ndarray, b: np.ndarray, Ainv: np.ndarray, theta: np.ndarray, P: np.ndarray,
                   dirty: np.ndarray, X: np.ndarray, slots: np.ndarray, weights: np.ndarray,
                   rewards: np.ndarray) -> bool:  # pragma: no cover - jitted
    """:func:`update_rows` (not deferred) after checking that slots are in range and contexts
    and rewards finite; returns False (and changes nothing) otherwise."""
    for t in range(X.shape[0]):
        if slots[t] < 0 or slots[t] >= A.shape[0] or not np.isfinite(rewards[t]):
            return False
        for i in range(X.shape[1]):
            if not np.isfinite(X[t, i]):
                return False
    update_rows(A, b, Ainv, theta, P, dirty, X, slots, weights, rewards, False)
    return True
