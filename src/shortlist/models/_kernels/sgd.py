"""Hogwild SGD epochs for matrix factorization with BPR, WARP, weighted MSE and logistic losses.

Positives are processed in a shuffled order, cut into chunks; ``prange`` runs chunks on
threads that update the shared factor arrays without locks (Hogwild: rare collisions on
sparse data cost less than locking). Each chunk draws negatives from its own xorshift
stream seeded by the caller, so a run with one thread is exactly reproducible.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "LOSS_BPR",
    "LOSS_LOGISTIC",
    "LOSS_MSE",
    "LOSS_WARP",
    "sgd_epoch",
    "update_cell",
    "update_pair",
]

LOSS_BPR, LOSS_WARP, LOSS_MSE, LOSS_LOGISTIC = 0, 1, 2, 3
_MAX_WARP_WEIGHT = 10.0  # LightFM's MAX_LOSS: one huge rank estimate must not blow up a step
_NEG_TRIES = 20  # rejection tries to find an unobserved item before giving up on a sample


@nb.njit(cache=True, inline="always")
def _next(state: np.uint64) -> np.uint64:
    """One xorshift64 step (never returns 0 for a non-zero state)."""
    state ^= state << np.uint64(13)
    state ^= state >> np.uint64(7)
    state ^= state << np.uint64(17)
    return state


@nb.njit(cache=True, inline="always")
def _mix(seed: np.uint64) -> np.uint64:
    """splitmix64 finalizer: turns any seed (even 1, 2, 3...) into a well-spread state."""
    z = seed + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z if z != np.uint64(0) else np.uint64(1)


@nb.njit(cache=True, inline="always")
def _below(state: np.uint64, n: int) -> int:
    """Map a random state to an integer in [0, n) (upper bits; bias ~ n / 2**40)."""
    return np.int64((state >> np.uint64(24)) % np.uint64(n))


@nb.njit(cache=True, inline="always")
def _is_positive(indptr: np.ndarray, indices: np.ndarray, u: int, j: int) -> bool:
    """Whether item ``j`` is in user ``u``'s sorted CSR row."""
    lo, hi = indptr[u], indptr[u + 1]
    if lo == hi:
        return False
    pos = lo + np.searchsorted(indices[lo:hi], j)
    return pos < hi and indices[pos] == j


@nb.njit(cache=True, inline="always")
def _score(U: np.ndarray, V: np.ndarray, b: np.ndarray, u: int, i: int) -> float:
    s = b[i]
    for f in range(U.shape[1]):
        s += U[u, f] * V[i, f]
    return s


@nb.njit(cache=True, inline="always")
def _step(param: float, grad: float, acc: np.ndarray, r: int, c: int, lr: float, adagrad: bool) -> float:
    """New value of one parameter after a plain or AdaGrad step (accumulator updated)."""
    if adagrad:
        acc[r, c] += grad * grad
        return param - lr * grad / np.sqrt(acc[r, c])
    return param - lr * grad


@nb.njit(cache=True)
def update_pair(U, V, b, gU, gV, gb, u, i, j, g_i, g_j, lr, reg_u, reg_i, use_bias, adagrad):
    """SGD step for a loss on scores x_ui, x_uj with derivatives ``g_i``, ``g_j``.

    Gradients: d/dU_u = g_i V_i + g_j V_j + reg_u U_u, d/dV_i = g_i U_u + reg_i V_i,
    d/dV_j = g_j U_u + reg_i V_j, d/db_i = g_i + reg_i b_i (all from the old values).
    """
    for f in range(U.shape[1]):
        uf, vi, vj = U[u, f], V[i, f], V[j, f]
        U[u, f] = _step(uf, g_i * vi + g_j * vj + reg_u * uf, gU, u, f, lr, adagrad)
        V[i, f] = _step(vi, g_i * uf + reg_i * vi, gV, i, f, lr, adagrad)
        V[j, f] = _step(vj, g_j * uf + reg_i * vj, gV, j, f, lr, adagrad)
    if use_bias:
        b[i] = _step(b[i], g_i + reg_i * b[i], gb, i, 0, lr, adagrad)
        b[j] = _step(b[j], g_j + reg_i * b[j], gb, j, 0, lr, adagrad)


@nb.njit(cache=True)
def update_cell(U, V, b, gU, gV, gb, u, i, g, lr, reg_u, reg_i, use_bias, adagrad):
    """SGD step for a loss on the single score x_ui with derivative ``g``."""
    for f in range(U.shape[1]):
        uf, vi = U[u, f], V[i, f]
        U[u, f] = _step(uf, g * vi + reg_u * uf, gU, u, f, lr, adagrad)
        V[i, f] = _step(vi, g * uf + reg_i * vi, gV, i, f, lr, adagrad)
    if use_bias:
        b[i] = _step(b[i], g + reg_i * b[i], gb, i, 0, lr, adagrad)


@nb.njit(cache=True, inline="always")
def _sample_negative(state, indptr, indices, u, n_items):
    """(state, item) with an item user ``u`` has not seen, or -1 after ``_NEG_TRIES`` misses."""
    for _ in range(_NEG_TRIES):
        state = _next(state)
        j = _below(state, n_items)
        if not _is_positive(indptr, indices, u, j):
            return state, j
    return state, -1


@nb.njit(cache=True, inline="always")
def _log1pexp(x: float) -> float:
    """log(1 + exp(x)) without overflow."""
    if x > 0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@nb.njit(cache=True, inline="always")
def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@nb.njit(cache=True, parallel=True)
def sgd_epoch(loss, order, pos_user, pos_item, pos_weight, indptr, indices,
              U, V, b, gU, gV, gb, lr, reg_u, reg_i, use_bias, adagrad,
              n_neg, max_sampled, neg_weight, seeds, chunk):
    """One pass over the positives in ``order``; returns the summed sampled loss per chunk.

    ``loss`` is one of the ``LOSS_*`` codes. ``seeds`` holds one non-zero uint64 per chunk
    of ``chunk`` positives. ``n_neg`` negatives per positive (logistic, MSE), ``max_sampled``
    draws to find a WARP violator, ``neg_weight`` the weight of a sampled unobserved cell
    (MSE).
    """
    n = order.shape[0]
    n_users, n_items = U.shape[0], V.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    losses = np.zeros(n_chunks)
    for c in nb.prange(n_chunks):
        state = _mix(seeds[c])
        total = 0.0
        for t in range(c * chunk, min(n, (c + 1) * chunk)):
            p = order[t]
            u, i, w = pos_user[p], pos_item[p], pos_weight[p]
            if loss == LOSS_BPR:
                state, j = _sample_negative(state, indptr, indices, u, n_items)
                if j < 0:
                    continue
                x = _score(U, V, b, u, i) - _score(U, V, b, u, j)
                total += w * _log1pexp(-x)
                g = w * _sigmoid(-x)
                update_pair(U, V, b, gU, gV, gb, u, i, j, -g, g, lr, reg_u, reg_i, use_bias, adagrad)
            elif loss == LOSS_WARP:
                s_i = _score(U, V, b, u, i)
                for sampled in range(1, max_sampled + 1):
                    state = _next(state)
                    j = _below(state, n_items)
                    s_j = _score(U, V, b, u, j)
                    if s_j > s_i - 1.0:
                        if _is_positive(indptr, indices, u, j):
                            continue
                        weight = w * np.log(max(1.0, np.floor((n_items - 1) / sampled)))
                        weight = min(weight, _MAX_WARP_WEIGHT)
                        total += weight * (1.0 - s_i + s_j)
                        update_pair(U, V, b, gU, gV, gb, u, i, j, -weight, weight,
                                    lr, reg_u, reg_i, use_bias, adagrad)
                        break
            elif loss == LOSS_MSE:
                e = _score(U, V, b, u, i) - 1.0
                total += w * e * e
                update_cell(U, V, b, gU, gV, gb, u, i, 2.0 * w * e, lr, reg_u, reg_i, use_bias, adagrad)
                for _ in range(n_neg):
                    # unobserved cells are drawn uniformly over the whole matrix, so one
                    # constant weight makes the sampled sum unbiased for w0 * sum x^2
                    state = _next(state)
                    v = _below(state, n_users)
                    state, j = _sample_negative(state, indptr, indices, v, n_items)
                    if j < 0:
                        continue
                    x = _score(U, V, b, v, j)
                    total += neg_weight * x * x
                    update_cell(U, V, b, gU, gV, gb, v, j, 2.0 * neg_weight * x,
                                lr, reg_u, reg_i, use_bias, adagrad)
            else:
                x = _score(U, V, b, u, i)
                total += w * _log1pexp(-x)
                update_cell(U, V, b, gU, gV, gb, u, i, -w * _sigmoid(-x), lr, reg_u, reg_i, use_bias, adagrad)
                for _ in range(n_neg):
                    state, j = _sample_negative(state, indptr, indices, u, n_items)
                    if j < 0:
                        continue
                    x = _score(U, V, b, u, j)
                    total += _log1pexp(x)
                    update_cell(U, V, b, gU, gV, gb, u, j, _sigmoid(x), lr, reg_u, reg_i, use_bias, adagrad)
        losses[c] = total
    return losses
