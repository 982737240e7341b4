"""Weighted least-squares row solves for ALS: conjugate gradient and Cholesky.

One row ``u`` (a user in the user step, an item in the item step, a folded-in row) solves

    (w0 * G + lam_u * I + sum_{i in u} (c_ui - w0) y_i y_i^T) x_u = sum_{i in u} c_ui y_i

where ``G = Y^T Y`` is the Gramian of the fixed side (computed once per half-step with
BLAS) and the sum runs over the row's observed cells only. Neither solver ever forms
``Y^T C_u Y`` over all columns: the unobserved cells enter only through ``w0 * G``.

Rows are spread over threads in an interleaved order (row ``r`` goes to block
``r % n_blocks``), so heavy users that happen to sit next to each other in the index do
not all land on one thread. Scratch space is allocated once per block, not per row. CG
runs tiles of rows in lock step so the Gramian products of a tile are one sgemm; callers
must hold BLAS to one thread (threadpoolctl) while this runs inside numba's threads.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["cg_flops", "solve_rows"]


@nb.njit(cache=True, fastmath=True, inline="always")
def _sparse_dot_axpy(ys, idx, cs, lo, hi, w0, v, acc, with_rhs):
    """acc += sum_n (c_n - w0)(y_n . v) y_n over cells lo..hi (and + c_n y_n if with_rhs)."""
    f = v.shape[0]
    for n in range(lo, hi):
        y = ys[idx[n]]
        c = cs[n]
        d = np.float32(0.0)
        for j in range(f):
            d += y[j] * v[j]
        g = (c - w0) * d
        if with_rhs:
            g = c - g  # the residual b - A v: the cell's right-hand side minus its product
        for j in range(f):
            acc[j] += g * y[j]


@nb.njit(cache=True, fastmath=True)
def _cg_core(ys, idx, cs, lo, hi, gram, w0, reg, out, rows, m, cg_steps, x, r, p, gp, rs):
    """``cg_steps`` CG steps for ``m`` rows in lock step, warm-started from ``out``.

    Row ``a``'s cells are ``ys[idx[lo[a]:hi[a]]]`` with confidences ``cs[lo[a]:hi[a]]``.
    The Gramian products of all rows are one small matrix product (BLAS sgemm), several
    times faster than ``m`` separate matrix-vector loops.
    """
    f = x.shape[1]
    for a in range(m):
        for j in range(f):
            x[a, j] = out[rows[a], j]
    np.dot(x[:m], gram, gp[:m])
    for a in range(m):
        lam = reg[rows[a]]
        for j in range(f):
            r[a, j] = -(w0 * gp[a, j] + lam * x[a, j])
        _sparse_dot_axpy(ys, idx, cs, lo[a], hi[a], w0, x[a], r[a], True)
        s = np.float32(0.0)
        for j in range(f):
            p[a, j] = r[a, j]
            s += r[a, j] * r[a, j]
        rs[a] = s
    for _ in range(cg_steps):
        np.dot(p[:m], gram, gp[:m])
        for a in range(m):
            if rs[a] < 1e-20:  # converged (or singular): leave the row alone
                continue
            lam = reg[rows[a]]
            ap = gp[a]
            for j in range(f):
                ap[j] = w0 * ap[j] + lam * p[a, j]
            _sparse_dot_axpy(ys, idx, cs, lo[a], hi[a], w0, p[a], ap, False)
            pap = np.float32(0.0)
            for j in range(f):
                pap += p[a, j] * ap[j]
            if not pap > 0.0:  # singular direction (no regularisation, tiny data): stop, no NaN
                rs[a] = 0.0
                continue
            step = rs[a] / pap
            rs_new = np.float32(0.0)
            for j in range(f):
                x[a, j] += step * p[a, j]
                r[a, j] -= step * ap[j]
                rs_new += r[a, j] * r[a, j]
            beta = rs_new / rs[a]
            for j in range(f):
                p[a, j] = r[a, j] + beta * p[a, j]
            rs[a] = rs_new
    for a in range(m):
        for j in range(f):
            out[rows[a], j] = x[a, j]


@nb.njit(cache=True, fastmath=True)
def _cg_tile(indptr, indices, conf, fixed, gram, w0, reg, out, rows, m, cg_steps, packed,
             pk, cpk, ident, lo, hi, x, r, p, gp, rs):
    """CG on a tile of rows; ``packed`` first copies their cells' vectors into ``pk``.

    Every CG product reads each cell's vector again; gathered once into a small
    contiguous buffer, the later reads hit cache instead of scattered memory.
    """
    if packed:
        pos = 0
        f = pk.shape[1]
        for a in range(m):
            lo[a] = pos
            for n in range(indptr[rows[a]], indptr[rows[a] + 1]):
                y = fixed[indices[n]]
                for j in range(f):
                    pk[pos, j] = y[j]
                cpk[pos] = conf[n]
                pos += 1
            hi[a] = pos
        _cg_core(pk, ident, cpk, lo, hi, gram, w0, reg, out, rows, m, cg_steps, x, r, p, gp, rs)
    else:
        for a in range(m):
            lo[a] = indptr[rows[a]]
            hi[a] = indptr[rows[a] + 1]
        _cg_core(fixed, indices, conf, lo, hi, gram, w0, reg, out, rows, m, cg_steps, x, r, p, gp, rs)


@nb.njit(cache=True, fastmath=True)
def _cholesky_solve(indptr, indices, conf, fixed, gram, w0, lam, x, a, b, row):
    """Exact solve of one row's normal equations (float64 Cholesky on the lower triangle)."""
    f = x.shape[0]
    for i in range(f):
        b[i] = 0.0
        for j in range(i + 1):
            a[i, j] = w0 * gram[i, j]
        a[i, i] += lam
    for n in range(indptr[row], indptr[row + 1]):
        y = fixed[indices[n]]
        c = np.float64(conf[n])
        cw = c - w0
        for i in range(f):
            yi = np.float64(y[i])
            b[i] += c * yi
            s = cw * yi
            for j in range(i + 1):
                a[i, j] += s * y[j]
    # in-place Cholesky A = L L^T; a non-positive pivot (singular system: no regularisation
    # and fewer observed columns than factors) is clamped so the row gets a finite answer
    for j in range(f):
        d = a[j, j]
        for k in range(j):
            d -= a[j, k] * a[j, k]
        floor = 1e-10 * (1.0 + abs(a[j, j]))
        d = np.sqrt(d) if d > floor else np.sqrt(floor)
        a[j, j] = d
        for i in range(j + 1, f):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(f):  # forward: L z = b
        s = b[i]
        for k in range(i):
            s -= a[i, k] * b[k]
        b[i] = s / a[i, i]
    for i in range(f - 1, -1, -1):  # backward: L^T x = z
        s = b[i]
        for k in range(i + 1, f):
            s -= a[k, i] * b[k]
        b[i] = s / a[i, i]
    for i in range(f):
        x[i] = np.float32(b[i])


_TILE = 32  # rows per lock-step CG tile: big enough for sgemm, small enough for L1/L2
_PACK = 4096  # cells per packed tile (1 MiB of float32 vectors at f=64): stays in L2


@nb.njit(cache=True, parallel=True, fastmath=True)
def solve_rows(indptr, indices, conf, fixed, gram, w0, reg, out, exact, cg_steps, n_blocks):
    """Solve every row of the CSR ``(indptr, indices, conf)`` into ``out`` (in place).

    ``fixed`` (n_cols, f) holds the other side's factors, ``gram`` its Gramian, ``reg``
    one regularisation value per row. ``exact`` picks Cholesky, otherwise ``cg_steps``
    conjugate-gradient steps warm-started from the current ``out``. Empty rows get zero
    vectors (the exact minimiser: no observed cell pulls them anywhere). ``indices``
    must be int32.
    """
    n_rows, f = out.shape
    w0 = np.float32(w0)
    for blk in nb.prange(n_blocks):
        a = np.empty((f, f), np.float64)
        b = np.empty(f, np.float64)
        rows = np.empty(_TILE, np.int64)
        one = np.empty(1, np.int64)
        lo = np.empty(_TILE, np.int64)
        hi = np.empty(_TILE, np.int64)
        x = np.empty((_TILE, f), np.float32)
        r = np.empty((_TILE, f), np.float32)
        p = np.empty((_TILE, f), np.float32)
        gp = np.empty((_TILE, f), np.float32)
        rs = np.empty(_TILE, np.float32)
        pk = np.empty((0 if exact else _PACK, f), np.float32)
        cpk = np.empty(0 if exact else _PACK, np.float32)
        ident = np.arange(0 if exact else _PACK).astype(np.int32)
        m = 0
        cells = 0
        for row in range(blk, n_rows, n_blocks):
            n = indptr[row + 1] - indptr[row]
            if n == 0:
                for j in range(f):
                    out[row, j] = 0.0
            elif exact:
                _cholesky_solve(indptr, indices, conf, fixed, gram, w0, reg[row], out[row], a, b, row)
            elif n > _PACK:  # too long to pack: solve it alone, reading the vectors in place
                one[0] = row
                _cg_tile(indptr, indices, conf, fixed, gram, w0, reg, out, one, 1, cg_steps,
                         False, pk, cpk, ident, lo, hi, x, r, p, gp, rs)
            else:
                if m == _TILE or cells + n > _PACK:
                    _cg_tile(indptr, indices, conf, fixed, gram, w0, reg, out, rows, m, cg_steps,
                             True, pk, cpk, ident, lo, hi, x, r, p, gp, rs)
                    m = 0
                    cells = 0
                rows[m] = row
                m += 1
                cells += n
        if m > 0:
            _cg_tile(indptr, indices, conf, fixed, gram, w0, reg, out, rows, m, cg_steps,
                     True, pk, cpk, ident, lo, hi, x, r, p, gp, rs)


def cg_flops(nnz: int, n_rows: int, factors: int, cg_steps: int) -> float:
    """Nominal floating-point operations of one CG half-step (for GFLOP/s reports).

    Per row and matrix-vector product: ``2 f^2`` for the Gramian, ``4 f`` per observed
    cell (dot + axpy); ``cg_steps + 1`` products (the residual needs one).
    """
    products = cg_steps + 1
    return float(products * (2 * factors * factors * n_rows + 4 * factors * nnz))

