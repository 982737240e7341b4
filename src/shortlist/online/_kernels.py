"""numba kernels of online training: the open-addressing id table and the FM's per-example Adagrad step."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["fm_predict", "fm_train", "mix64", "table_expire", "table_find", "table_lookup"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(cache=True, inline="always")
def mix64(x: np.uint64) -> np.uint64:
    """splitmix64's finalizer: a bijection on 64 bits, so distinct inputs never collide."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def _home(key: np.int64, mask: np.int64) -> np.int64:
    # keys are already mixed when they come from ids; mixing again spreads hand-made keys (tests) too
    return np.int64(mix64(np.uint64(key) ^ _GOLD) & np.uint64(mask))


@nb.njit(cache=True)
def _find_slot(slot_keys, slot_rows, key):
    mask = slot_keys.shape[0] - 1
    i = _home(key, mask)
    while slot_rows[i] >= 0:
        if slot_keys[i] == key:
            return i
        i = (i + 1) & mask
    return -(i + 1)  # the empty slot where the key would go


@nb.njit(cache=True)
def table_find(slot_keys, slot_rows, keys, out):
    """Row of each key, 0 (the shared default row) for a key that has none; read-only."""
    for n in range(keys.shape[0]):
        s = _find_slot(slot_keys, slot_rows, keys[n])
        out[n] = slot_rows[s] if s >= 0 else 0


@nb.njit(cache=True)
def _init_row(weights, row, key, scale):
    # seeded by the key, not by arrival order: a replay after a restart draws the same vector
    x = np.uint64(key)
    weights[row, 0] = 0.0
    for k in range(1, weights.shape[1]):
        x = mix64(x + _GOLD)
        u = (np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)) - 0.5
        weights[row, k] = np.float32(u * 2.0 * scale)


@nb.njit(cache=True)
def _sketch_count(sketch, key):
    """Count-min sketch with conservative update: the estimate after counting ``key`` once more."""
    depth, width = sketch.shape
    est = np.int64(1 << 30)
    for d in range(depth):
        j = np.int64(mix64(np.uint64(key) + np.uint64(d + 1) * _GOLD) % np.uint64(width))
        est = min(est, np.int64(sketch[d, j]))
    new = est + 1
    for d in range(depth):
        j = np.int64(mix64(np.uint64(key) + np.uint64(d + 1) * _GOLD) % np.uint64(width))
        if sketch[d, j] < new:
            sketch[d, j] = min(new, 65535)
    return new


@nb.njit(cache=True)
def table_lookup(slot_keys, slot_rows, row_keys, last_seen, in_use, weights, accum, free, counters, sketch,
                 keys, now, admit_after, init_scale, out):
    """Row of each key; a key seen ``admit_after`` times gets its own row (if one is free), else row 0.

    ``counters``: [free rows on the stack, admitted, refused for lack of rows, sketch increments].
    """
    for n in range(keys.shape[0]):
        key = keys[n]
        s = _find_slot(slot_keys, slot_rows, key)
        if s >= 0:
            r = slot_rows[s]
            last_seen[r] = now
            out[n] = r
            continue
        out[n] = 0
        if admit_after > 1:
            counters[3] += 1
            if _sketch_count(sketch, key) < admit_after:
                continue
        if counters[0] == 0:
            counters[2] += 1
            continue
        counters[0] -= 1
        r = free[counters[0]]
        counters[1] += 1
        slot_keys[-s - 1] = key
        slot_rows[-s - 1] = r
        row_keys[r] = key
        in_use[r] = True
        last_seen[r] = now
        _init_row(weights, r, key, init_scale)
        accum[r, :] = 0.0
        out[n] = r


@nb.njit(cache=True)
def _delete_slot(slot_keys, slot_rows, i):
    """Linear-probing deletion by backward shift: no tombstones, so probe chains never grow stale."""
    mask = slot_keys.shape[0] - 1
    j = i
    while True:
        slot_rows[i] = -1
        while True:
            j = (j + 1) & mask
            if slot_rows[j] < 0:
                return
            k = _home(slot_keys[j], mask)
            # the entry at j stays put when its home lies cyclically in (i, j]
            if (i <= j and i < k <= j) or (i > j and (k > i or k <= j)):
                continue
            break
        slot_keys[i] = slot_keys[j]
        slot_rows[i] = slot_rows[j]
        i = j


@nb.njit(cache=True)
def table_expire(slot_keys, slot_rows, row_keys, last_seen, free, counters, in_use, before, expired_keys):
    """Free every row last seen before ``before``; returns how many (their keys go to ``expired_keys``)."""
    n = 0
    for r in range(1, row_keys.shape[0]):
        if in_use[r] and last_seen[r] < before:
            s = _find_slot(slot_keys, slot_rows, row_keys[r])
            if s >= 0:
                _delete_slot(slot_keys, slot_rows, s)
            if n < expired_keys.shape[0]:
                expired_keys[n] = row_keys[r]
            n += 1
            in_use[r] = False
            free[counters[0]] = r
            counters[0] += 1
    return n


@nb.njit(cache=True)
def _score(rows, e, weights, bias, sumv):
    s = bias
    sq = 0.0
    sumv[:] = 0.0
    for f in range(rows.shape[1]):
        r = rows[e, f]
        s += weights[r, 0]
        for k in range(sumv.shape[0]):
            v = weights[r, k + 1]
            sumv[k] += v
            sq += v * v
    for k in range(sumv.shape[0]):
        s += 0.5 * sumv[k] * sumv[k]
    return s - 0.5 * sq


@nb.njit(cache=True)
def fm_predict(rows, weights, bias, out):
    """Click probability of each row of field rows under the FM (no update)."""
    sumv = np.zeros(weights.shape[1] - 1)
    for e in range(rows.shape[0]):
        s = _score(rows, e, weights, bias, sumv)
        out[e] = 1.0 / (1.0 + np.exp(-max(min(s, 35.0), -35.0)))


@nb.njit(cache=True)
def fm_train(rows, labels, sample_weight, weights, accum, touched, dense, lr, l2, out):
    """One pass of per-example Adagrad over a mini-batch; ``out`` gets each prediction made *before* its update.

    Sparse rows step per example; the dense bias (``dense[0]``, its accumulator ``dense[1]``) gets
    the mini-batch's summed gradient once, after the batch: the two are updated separately.
    Returns the batch's summed weighted log-loss.
    """
    d = weights.shape[1] - 1
    sumv = np.zeros(d)
    grad = np.zeros(weights.shape[1])
    bias = dense[0]
    gbias = 0.0
    loss = 0.0
    for e in range(rows.shape[0]):
        s = _score(rows, e, weights, bias, sumv)
        s = max(min(s, 35.0), -35.0)
        p = 1.0 / (1.0 + np.exp(-s))
        out[e] = p
        y = labels[e]
        w = sample_weight[e]
        loss -= w * (y * np.log(max(p, 1e-12)) + (1.0 - y) * np.log(max(1.0 - p, 1e-12)))
        g = (p - y) * w
        gbias += g
        for f in range(rows.shape[1]):
            r = rows[e, f]
            grad[0] = g + l2 * weights[r, 0]
            for k in range(d):
                grad[k + 1] = g * (sumv[k] - weights[r, k + 1]) + l2 * weights[r, k + 1]
            for k in range(d + 1):
                accum[r, k] += grad[k] * grad[k]
                weights[r, k] -= lr * grad[k] / np.sqrt(accum[r, k] + 1e-8)
            touched[r] = True
    dense[1] += gbias * gbias
    dense[0] -= lr * gbias / np.sqrt(dense[1] + 1e-8)
    return loss
