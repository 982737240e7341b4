"""numba kernel of the label joiner: one ordered pass over a batch of coded events.

The joiner's state lives in arrays. Open windows form a FIFO queue (``P``/``Pt``) and closed,
still correctable examples another (``C``/``Ct``), both in the order their entries arrived; a
removal from the middle leaves a tombstone (slot -1) that the queue's head skips. Each
``(user, item)`` pair has a dense slot, and ``s_pend``/``s_closed`` point from the slot to its
entry in each queue (-1: none). The caller sizes every array before a call, so the kernel never
allocates.
"""

from __future__ import annotations

import numba as nb

__all__ = ["ACTION", "IMPRESSION", "OTHER", "SKIP", "advance", "join"]

# event codes
IMPRESSION, ACTION, OTHER, SKIP = 0, 1, -1, -2
# columns of the int64 queue entries: pair slot (-1: removed), impression seq, position, action bits,
# label emitted (-1: none yet)
SLOT, SEQ, POS, BITS, EMIT = 0, 1, 2, 3, 4
# q: pending head, tail, length; closed head, tail, length
P_HEAD, P_TAIL, P_LEN, C_HEAD, C_TAIL, C_LEN = 0, 1, 2, 3, 4, 5
# counters, in the order of joiner.COUNTS
IMPRESSIONS, JOINED, LATE, CORRECTIONS, ORPHANS, FORCED, EXAMPLES, UPDATES = 0, 1, 2, 3, 4, 5, 6, 7
# cfg: positive bits, negative bits, max_pending, max_closed, update_actions (0/1)
POS_BITS, NEG_BITS, MAX_PENDING, MAX_CLOSED, UPDATE_ACTIONS = 0, 1, 2, 3, 4


@nb.njit(cache=True, inline="always")
def _label(bits, cfg):
    return 1 if (bits & cfg[POS_BITS]) != 0 and (bits & cfg[NEG_BITS]) == 0 else 0


@nb.njit(cache=True, inline="always")
def _emit(M, T, i, label, bits, sign, oi, ot, n):
    oi[n, 0] = M[i, SLOT]
    oi[n, 1] = M[i, SEQ]
    oi[n, 2] = M[i, POS]
    oi[n, 3] = label
    oi[n, 4] = bits
    oi[n, 5] = sign
    ot[n] = T[i]
    return n + 1


@nb.njit(cache=True)
def _front(M, q, head):
    h = q[head]
    while M[h, SLOT] < 0:  # tombstones of entries removed from the middle
        h += 1
    q[head] = h
    return h


@nb.njit(cache=True)
def _close(i, P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, n):
    """Close open window ``i``: emit its negative (or nothing, when already labelled), keep it correctable."""
    s = P[i, SLOT]
    if P[i, EMIT] < 0:
        P[i, EMIT] = _label(P[i, BITS], cfg)
        n = _emit(P, Pt, i, P[i, EMIT], P[i, BITS], 1, oi, ot, n)
        cnt[EXAMPLES] += 1
    if cfg[MAX_CLOSED] > 0:
        j = s_closed[s]
        if j >= 0:  # the pair's older closed example gives way to this one
            C[j, SLOT] = -1
            q[C_LEN] -= 1
        j = q[C_TAIL]
        for col in range(C.shape[1]):
            C[j, col] = P[i, col]
        Ct[j] = Pt[i]
        s_closed[s] = j
        q[C_TAIL] += 1
        q[C_LEN] += 1
    P[i, SLOT] = -1
    s_pend[s] = -1
    q[P_LEN] -= 1
    return n


@nb.njit(cache=True)
def _update(M, T, i, bit, cnt, cfg, oi, ot, n):
    """An action on entry ``i``: the first positive emits at once; a changed label (or, with
    ``update_actions``, a new action bit) takes the emitted example back and emits the new one."""
    before = M[i, BITS]
    bits = before | bit
    M[i, BITS] = bits
    y = _label(bits, cfg)
    old = M[i, EMIT]
    if old < 0:
        if y == 1:
            n = _emit(M, T, i, 1, bits, 1, oi, ot, n)
            cnt[EXAMPLES] += 1
            M[i, EMIT] = 1
    elif y != old or (cfg[UPDATE_ACTIONS] != 0 and bits != before):
        # the take-back carries the bits before this action: with update_actions, the ones emitted
        n = _emit(M, T, i, old, before, -1, oi, ot, n)
        n = _emit(M, T, i, y, bits, 1, oi, ot, n)
        M[i, EMIT] = y
        if y != old:
            cnt[CORRECTIONS] += 1
        else:
            cnt[UPDATES] += 1
    return n


@nb.njit(cache=True)
def _advance(wm, window, correction, P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, n):
    """Close the windows due by ``wm`` (queue order) and drop what is too old, or too many, to correct."""
    while q[P_LEN] > 0:
        h = _front(P, q, P_HEAD)
        if Pt[h] + window > wm:
            break
        n = _close(h, P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, n)
    while q[C_LEN] > 0:
        h = _front(C, q, C_HEAD)
        if q[C_LEN] <= cfg[MAX_CLOSED] and Ct[h] + window + correction > wm:
            break
        s_closed[C[h, SLOT]] = -1
        C[h, SLOT] = -1
        q[C_LEN] -= 1
    return n


@nb.njit(cache=True)
def join(ev_slot, ev_code, ev_bit, ev_seq, ev_ts, ev_pos, window, correction, wm_box,
         P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot):
    """Feed a batch of coded events in order; returns how many example rows were written to ``oi``/``ot``."""
    n = 0
    wm = wm_box[0]
    for e in range(ev_slot.size):
        code = ev_code[e]
        if code == SKIP:
            continue
        wm = max(wm, ev_ts[e])
        s = ev_slot[e]
        if code == IMPRESSION:
            cnt[IMPRESSIONS] += 1
            if s_pend[s] >= 0:  # shown again while still open: the earlier showing closes now
                n = _close(s_pend[s], P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, n)
            j = q[P_TAIL]
            P[j, SLOT] = s
            P[j, SEQ] = ev_seq[e]
            P[j, POS] = ev_pos[e]
            P[j, BITS] = 0
            P[j, EMIT] = -1
            Pt[j] = ev_ts[e]
            s_pend[s] = j
            q[P_TAIL] += 1
            q[P_LEN] += 1
            if q[P_LEN] > cfg[MAX_PENDING]:
                cnt[FORCED] += 1
                n = _close(_front(P, q, P_HEAD), P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, n)
        elif code == ACTION:
            if s_pend[s] >= 0:
                cnt[JOINED] += 1
                n = _update(P, Pt, s_pend[s], ev_bit[e], cnt, cfg, oi, ot, n)
            elif s_closed[s] >= 0:
                cnt[LATE] += 1
                n = _update(C, Ct, s_closed[s], ev_bit[e], cnt, cfg, oi, ot, n)
            else:
                cnt[ORPHANS] += 1
        n = _advance(wm, window, correction, P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, n)
    wm_box[0] = wm
    return n


@nb.njit(cache=True)
def advance(now, window, correction, wm_box, P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot):
    """Raise the watermark to ``now`` and close what is due; returns the example rows written."""
    wm_box[0] = max(wm_box[0], now)
    return _advance(wm_box[0], window, correction, P, Pt, C, Ct, s_pend, s_closed, q, cnt, cfg, oi, ot, 0)
