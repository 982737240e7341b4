"""Numba hot loops of the world generator (nothing else lives here).

Randomness inside the kernels comes from a counter-based generator (splitmix64 keyed by
the seed and the row number), so parallel loops give bit-identical output whatever the
thread count or scheduling.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import prange

# pair_dot, apply_social and apply_repeats are cheap (one pass, no candidates): serial loops
# compile much faster than parallel ones and cost < 1 s at 10M events.
__all__ = [
    "apply_repeats",
    "apply_social",
    "build_guide",
    "city_guides",
    "pair_dot",
    "sample_follows",
    "sample_organic",
    "sample_slates",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53
_LN2 = math.log(2.0)


@nb.njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@nb.njit(cache=True, inline="always")
def _start(key: np.uint64, row: int) -> np.uint64:
    return _mix(key ^ (np.uint64(row) * _GOLDEN))


@nb.njit(cache=True, inline="always")
def _unit(state: np.uint64) -> float:
    return float(state >> _S11) * _TO_UNIT


@nb.njit(cache=True, inline="always")
def _search(cum: np.ndarray, n: int, r: float) -> int:
    """Smallest i < n with cum[i + 1] > r (cum[0] = 0, cum non-decreasing)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if cum[mid + 1] > r:
            hi = mid
        else:
            lo = mid + 1
    return min(lo, n - 1)


@nb.njit(cache=True)
def build_guide(cum: np.ndarray, lo: int, hi: int, log_scale: bool, out: np.ndarray):
    """Guide table over cum[lo..hi] (cum non-decreasing); returns (first, step).

    out[j] bounds the answer for draws between targets j and j + 1, where the targets split
    (cum[lo], cum[hi]] into len(out) - 1 equal steps in value (or in log value), so a draw
    binary-searches a few entries instead of the whole array: a plain search over 100k
    prefix sums costs ~17 mispredicted branches (~150 ns).
    """
    size = out.shape[0] - 1
    if log_scale:
        first = math.log(max(cum[lo + 1], 1e-300))
        step = (math.log(cum[hi]) - first) / size
    else:
        first = cum[lo]
        step = (cum[hi] - first) / size
    if step <= 0.0:
        step = 1.0
    i = lo
    for j in range(size + 1):
        target = math.exp(first + j * step) if log_scale else first + j * step
        while i < hi - 1 and cum[i + 1] <= target:
            i += 1
        out[j] = i
    out[0] = lo
    return first, step


@nb.njit(cache=True, inline="always")
def _guided(cum, guide, g0, size, first, step, log_scale, lo, n_hi, r) -> int:
    """Smallest i in [lo, n_hi) with cum[i + 1] > r, using guide[g0 : g0 + size + 1]."""
    if log_scale:
        x = (math.log(r) - first) / step if r > 0.0 else 0.0
    else:
        x = (r - first) / step
    j = 0 if math.isnan(x) else min(max(int(x), 0), size - 1)
    a = max(guide[g0 + j], lo)
    b = min(guide[g0 + j + 1], n_hi - 1)
    while a > lo and cum[a] > r:  # rounding put r one bucket too high
        a -= 1
    while b < n_hi - 1 and cum[b + 1] <= r:  # ... or too low
        b += 1
    while a < b:
        mid = (a + b) >> 1
        if cum[mid + 1] > r:
            b = mid
        else:
            a = mid + 1
    return a


@nb.njit(cache=True, inline="always")
def _old_share(n: int, t: float, cum_old: np.ndarray, cum_new: np.ndarray, floor: float,
               t_ref: float, rate: float) -> float:
    """Probability that an exposure draw at time t comes from the floor (age-free) part."""
    a = floor * cum_old[n]
    b = (1.0 - floor) * math.exp(rate * (t_ref - t)) * cum_new[n]
    return a / (a + b)


@nb.njit(cache=True, inline="always")
def _expose(state, n, p_old, cum_old, g_old, cum_new, g_new, gp):
    """One item from the exposure distribution over the n published items (gp: guide params)."""
    state = _mix(state)
    u1 = _unit(state)
    state = _mix(state)
    u2 = _unit(state)
    if u1 < p_old:
        return _guided(cum_old, g_old, 0, g_old.shape[0] - 1, gp[0], gp[1], False, 0, n,
                       u2 * cum_old[n]), state
    return _guided(cum_new, g_new, 0, g_new.shape[0] - 1, gp[2], gp[3], True, 0, n,
                   u2 * cum_new[n]), state


@nb.njit(cache=True, inline="always")
def _dot(a: np.ndarray, i: int, b: np.ndarray, j: int) -> float:
    """a[i] . b[j] by 2-D indexing (row views would cost reference counting per call)."""
    s = 0.0
    for d in range(a.shape[1]):
        s += a[i, d] * b[j, d]
    return s


@nb.njit(cache=True)
def pair_dot(left: np.ndarray, right: np.ndarray, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """left[li[j]] . right[ri[j]] for every j (float32)."""
    out = np.empty(li.shape[0], np.float32)
    for j in range(li.shape[0]):
        out[j] = _dot(left, li[j], right, ri[j])
    return out


@nb.njit(cache=True, parallel=True)
def sample_organic(indptr, users, times, n_avail, tastes, traits, cum_old, g_old, cum_new, g_new, gp,
                   floor, t_ref, rate, beta, m, key, out_item):
    """Organic choice per event: m exposure draws, pick one with weight exp(beta * u.v).

    ``indptr`` delimits the events of each user in ``users`` (events sorted by user, time).
    """
    for k in prange(users.shape[0]):
        u = users[k]
        for j in range(indptr[k], indptr[k + 1]):
            n = n_avail[j]
            t = float(times[j])
            p_old = _old_share(n, t, cum_old, cum_new, floor, t_ref, rate)
            state = _start(key, j)
            total = 0.0
            chosen = 0
            for _ in range(m):
                item, state = _expose(state, n, p_old, cum_old, g_old, cum_new, g_new, gp)
                w = math.exp(beta * _dot(tastes, u, traits, item))
                total += w
                state = _mix(state)
                if _unit(state) * total < w:  # weighted reservoir: keep with prob w / total
                    chosen = item
            out_item[j] = chosen


@nb.njit(cache=True)
def apply_social(rows, users, times, organic, flagged, user_start, user_end, f_indptr, f_indices, key,
                 out_item, out_social):
    """For the given rows, copy an item a followee consumed before the event (if any).

    Only followee events that keep their organic item (not ``flagged`` as repeat or copy)
    are copied, so every copied item is in the followee's final log; a few tries, then the
    event stays organic.
    """
    for r in range(rows.shape[0]):
        j = rows[r]
        u = users[j]
        lo, hi = f_indptr[u], f_indptr[u + 1]
        if hi == lo:
            continue
        state = _start(key, j)
        for _ in range(4):
            state = _mix(state)
            f = f_indices[lo + int(_unit(state) * (hi - lo))]
            s, e = user_start[f], user_end[f]
            t = times[j]
            while s < e:  # followee's events before t: binary search on its sorted times
                mid = (s + e) >> 1
                if times[mid] < t:
                    s = mid + 1
                else:
                    e = mid
            count = s - user_start[f]
            if count == 0:
                continue
            state = _mix(state)
            src = user_start[f] + int(_unit(state) * count)
            if not flagged[src]:
                out_item[j] = organic[src]
                out_social[j] = True
                break


@nb.njit(cache=True)
def apply_repeats(indptr, repeat, key, items):
    """Flagged events re-consume an item from the same user's earlier events (in place)."""
    for k in range(indptr.shape[0] - 1):
        start = indptr[k]
        for j in range(start + 1, indptr[k + 1]):
            if repeat[j]:
                items[j] = items[start + int(_unit(_start(key, j)) * (j - start))]


@nb.njit(cache=True)
def city_guides(cum_city: np.ndarray, city_start: np.ndarray, city_end: np.ndarray):
    """One value guide per city segment of cum_city: (tables, offsets, firsts, steps)."""
    n_city = city_start.shape[0]
    offsets = np.zeros(n_city + 1, np.int64)
    for c in range(n_city):
        offsets[c + 1] = offsets[c] + max(city_end[c] - city_start[c], 1) + 1
    tables = np.zeros(offsets[n_city], np.int64)
    firsts = np.zeros(n_city)
    steps = np.ones(n_city)
    for c in range(n_city):
        if city_end[c] > city_start[c]:
            firsts[c], steps[c] = build_guide(cum_city, city_start[c], city_end[c], False,
                                              tables[offsets[c]:offsets[c + 1]])
    return tables, offsets, firsts, steps


@nb.njit(cache=True, parallel=True)
def sample_follows(indptr, city, city_start, city_end, by_city, cum_city, city_tables, city_offsets,
                   city_firsts, city_steps, cum_fame, g_fame, fame_first, fame_step, interest,
                   similarity, homophily, local, m, key, out):
    """Followee per edge slot: m candidates by fame (same city or global), weight exp(h * sim).

    sim = similarity[interest[u], interest[v]]: a small table instead of taste rows, because
    reading a random user's taste row costs a cache miss (~200 ns) at a million users.
    """
    n_users = city.shape[0]
    for u in prange(n_users):
        c = city[u]
        cs, ce = city_start[c], city_end[c]
        g0, size = city_offsets[c], city_offsets[c + 1] - city_offsets[c] - 1
        for e in range(indptr[u], indptr[u + 1]):
            state = _start(key, e)
            state = _mix(state)
            go_local = _unit(state) < local and ce - cs > 1
            total = 0.0
            chosen = -1
            for _ in range(m):
                state = _mix(state)
                r = _unit(state)
                if go_local:
                    r = cum_city[cs] + r * (cum_city[ce] - cum_city[cs])
                    v = by_city[_guided(cum_city, city_tables, g0, size, city_firsts[c],
                                        city_steps[c], False, cs, ce, r)]
                else:
                    v = _guided(cum_fame, g_fame, 0, g_fame.shape[0] - 1, fame_first, fame_step, False,
                                0, n_users, r * cum_fame[n_users])
                w = math.exp(homophily * similarity[interest[u], interest[v]])
                total += w
                state = _mix(state)
                if _unit(state) * total < w:
                    chosen = v
            out[e] = -1 if chosen == u else chosen


@nb.njit(cache=True)
def _click_p(dot, pop_term, age, beta, floor, rate, bias):
    fresh = floor + (1.0 - floor) * math.exp(-rate * age)
    logit = beta * dot + pop_term + math.log(fresh) + bias
    return 1.0 / (1.0 + math.exp(-logit))


@nb.njit(cache=True, parallel=True)
def sample_slates(users, times, n_avail, tastes, traits, log_pop, pop_term, publish, cum_old, g_old,
                  cum_new, g_new, gp, floor, t_ref, rate, beta, pool_size, slate_size, noise,
                  temperature, epsilon, position_bias, click_bias, key, out_item, out_prop, out_click,
                  out_len):
    """Logged slates: distinct exposure pool, Plackett-Luce logging policy, position-biased clicks.

    out_prop holds P(item at position k | user, time, pool, items above k).
    """
    for s in prange(users.shape[0]):
        u = users[s]
        t = float(times[s])
        n = n_avail[s]
        p_old = _old_share(n, t, cum_old, cum_new, floor, t_ref, rate)
        state = _start(key, s)
        pool = np.empty(pool_size, np.int64)
        size = 0
        for _ in range(8 * pool_size):
            if size == pool_size:
                break
            item, state = _expose(state, n, p_old, cum_old, g_old, cum_new, g_new, gp)
            seen = False
            for q in range(size):
                if pool[q] == item:
                    seen = True
                    break
            if not seen:
                pool[size] = item
                size += 1
        score = np.empty(size)
        top = -1e300
        for q in range(size):
            state = _mix(state)
            g1 = max(_unit(state), 1e-300)
            state = _mix(state)
            g = math.sqrt(-2.0 * math.log(g1)) * math.cos(2.0 * math.pi * _unit(state))
            aff = _dot(tastes, u, traits, pool[q])
            score[q] = (beta * (aff + noise * g) + log_pop[pool[q]]) / temperature
            top = max(top, score[q])
        total = 0.0
        for q in range(size):
            score[q] = math.exp(score[q] - top)
            total += score[q]
        remaining = 0.0
        for q in range(size):
            score[q] = (1.0 - epsilon) * score[q] / total + epsilon / size
            remaining += score[q]
        k_max = min(slate_size, size)
        for k in range(k_max):
            state = _mix(state)
            r = _unit(state) * remaining
            pick = -1
            acc = 0.0
            for q in range(size):
                if score[q] > 0.0:
                    pick = q
                    acc += score[q]
                    if acc > r:
                        break
            prop = score[pick] / remaining
            item = pool[pick]
            remaining -= score[pick]
            score[pick] = 0.0
            age = max(t - publish[item], 0.0) / 86400.0
            p = _click_p(_dot(tastes, u, traits, item), pop_term[item], age,
                         beta, floor, rate * 86400.0, click_bias)
            state = _mix(state)
            seen_p = (1.0 + k) ** (-position_bias)
            out_item[s, k] = item
            out_prop[s, k] = min(prop, 1.0)
            out_click[s, k] = _unit(state) < seen_p * p
        out_len[s] = k_max
