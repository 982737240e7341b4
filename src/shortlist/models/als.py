"""ALS: weighted matrix factorization for implicit feedback by alternating least squares.

The objective (Hu, Koren & Volinsky 2008, with the unobserved weight ``w0`` of Rendle's
iALS and the frequency-scaled regularization of Rendle et al. 2021) is

    L(X, Y) = sum_{(u,i) observed} c_ui (1 - x_u . y_i)^2 + w0 * sum_{(u,i) unobserved} (x_u . y_i)^2
              + sum_u lam_u |x_u|^2 + sum_i lam_i |y_i|^2

with confidence ``c_ui = 1 + alpha * s(w_ui) * (n_i / mean n)^(-frequency_weighting)``,
``s(w) = w`` or ``log(1 + w / eps)`` and ``lam_u = regularization * (n_u + w0 * n_items)^nu``
(``reg_counts="observed"``: ``regularization * n_u^nu``, the ALS-WR penalty of Spark MLlib).
Each half-step solves every user (then every item) exactly or by a few warm-started
conjugate-gradient steps; see ``docs/als.md``. Fold-in and ``partial_fit`` solve the same
per-row problem with the same kernel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numba
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from shortlist.core.parameters import NonNegative, Positive
from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab
from shortlist.errors import NotFittedError
from shortlist.models._kernels.als import solve_rows
from shortlist.models.blas import one_blas_thread
from shortlist.models.factor import FactorModel
from shortlist.models.registry import register

#: solves of fewer rows than this (fold-ins of a request's or an event's user) run on one thread
SERIAL_ROWS = 64

__all__ = ["ALS"]

@register("als")
class ALS(FactorModel):
    """Implicit-feedback matrix factorization (iALS) fitted by alternating least squares.

    Parameters
    ----------
    factors : int
        Length of the user and item vectors.
    iterations : int
        Number of alternations (one user step + one item step each).
    regularization : float
        L2 penalty ``lambda`` (>= 0), scaled per row by ``(n + w0 * n_other)^nu``.
    alpha : float
        Confidence slope: an observed cell weighs ``1 + alpha * s(w)`` (>= 0).
    w0 : float
        Weight of every unobserved cell (>= 0); ``1`` is the Hu-Koren-Volinsky model,
        smaller values trust "not seen" less (Rendle's iALS weight alpha_0).
    solver : str
        ``"cg"`` (conjugate gradient, warm-started, fast) or ``"cholesky"`` (exact).
    cg_steps : int
        Conjugate-gradient steps per row and half-step (``solver="cg"`` only).
    log_scaling : bool
        Use ``s(w) = log(1 + w / eps)`` instead of ``s(w) = w`` (tames play counts).
    eps : float
        Scale of the log scaling (> 0).
    frequency_weighting : float
        Exponent ``beta >= 0`` dividing the confidence boost of item ``i`` by
        ``(n_i / mean n)^beta``; 0 (default) treats popular and rare items alike.
    nu : float
        Frequency exponent of the regularization (>= 0; 0 = plain L2, 1 = proportional
        to the row's observed count plus ``w0`` times the other side's size).
    reg_counts : str
        What ``nu`` scales: ``"all"`` (default) the observed count plus ``w0`` times the other
        side's size (Rendle et al. 2021); ``"observed"`` the observed count alone (ALS-WR, as
        Spark MLlib's implicit ALS with ``nu=1``).
    random_state : int or None
        Seed of the item-factor initialisation.
    num_threads : int
        numba threads for the solves; 0 uses all of numba's threads.
    progress : bool or None
        Progress bar over iterations; ``None`` shows it only on a terminal.
    """

    def __init__(
        self,
        *,
        factors: Positive[int] = 64,
        iterations: Positive[int] = 15,
        regularization: NonNegative[float] = 10.0,
        alpha: NonNegative[float] = 0.3,
        w0: NonNegative[float] = 0.3,
        solver: Literal["cg", "cholesky"] = "cg",
        cg_steps: Positive[int] = 3,
        log_scaling: bool = False,
        eps: Positive[float] = 1.0,
        frequency_weighting: NonNegative[float] = 0.0,
        nu: NonNegative[float] = 0.0,
        reg_counts: Literal["all", "observed"] = "all",
        random_state: int | None = 42,
        num_threads: NonNegative[int] = 0,
        progress: bool | None = None,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.w0 = w0
        self.solver = solver
        self.cg_steps = cg_steps
        self.log_scaling = log_scaling
        self.eps = eps
        self.frequency_weighting = frequency_weighting
        self.nu = nu
        self.reg_counts = reg_counts
        self.random_state = random_state
        self.num_threads = num_threads
        self.progress = progress

    # -- the objective's pieces ----------------------------------------------------------
    def _boost(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, np.float32)
        return np.log1p(w / np.float32(self.eps)) if self.log_scaling else w

    def _item_discount(self, counts: np.ndarray) -> np.ndarray:
        """Per-item factor ``(n_i / mean n)^(-frequency_weighting)`` (1 when disabled)."""
        counts = np.asarray(counts, np.float64)
        if self.frequency_weighting == 0:
            return np.ones(counts.shape, np.float32)
        mean = self.mean_item_count_
        return (np.maximum(counts, 1.0) / mean) ** (-float(self.frequency_weighting))

    def _confidence(self, rows: sp.csr_matrix, axis: str) -> sp.csr_matrix:
        """Same sparsity as ``rows`` with cell weights replaced by confidences ``c``."""
        if axis == "user":  # columns are known items: their training counts
            disc = self._item_discount(self.item_counts_)[rows.indices]
        else:  # each row is an item: its own count
            disc = np.repeat(self._item_discount(np.diff(rows.indptr)), np.diff(rows.indptr))
        conf = 1.0 + float(self.alpha) * self._boost(rows.data) * disc
        out = sp.csr_matrix((conf.astype(np.float32), rows.indices, rows.indptr), shape=rows.shape)
        return out

    def _row_regularization(self, rows: sp.csr_matrix) -> np.ndarray:
        n = np.diff(rows.indptr).astype(np.float64)
        if self.reg_counts == "all":
            n = n + float(self.w0) * rows.shape[1]
        reg = float(self.regularization) * n ** float(self.nu)
        return reg.astype(np.float32)

    def _prepare(self, rows: sp.csr_matrix, axis: str) -> tuple:
        """Kernel inputs for rows: (indptr int64, indices int32, confidences, regularization)."""
        conf = self._confidence(rows, axis)
        return (conf.indptr.astype(np.int64), conf.indices.astype(np.int32, copy=False),
                conf.data, self._row_regularization(rows))

    def _item_gram(self) -> np.ndarray:
        """``Y^T Y`` of the current item factors, cached for user fold-ins.

        A fold-in of one user would otherwise spend ~10 ms of its time re-multiplying a
        100k x 64 item matrix that has not changed. The cache is keyed by the array itself:
        fitting, ``partial_fit`` and loading all install a new item array, which invalidates
        it (edit ``item_factors_`` in place only by assigning a new array).
        """
        fixed = self.item_factors_
        cached = getattr(self, "_gram_cache", None)
        if cached is None or cached[0] is not fixed:
            cached = (fixed, np.ascontiguousarray(fixed.T @ fixed, np.float32))
            self._gram_cache = cached
        return cached[1]

    def _solve(self, rows: sp.csr_matrix | tuple, axis: str, out: np.ndarray | None = None,
               exact: bool = True, gram: np.ndarray | None = None) -> np.ndarray:
        """Minimise the objective over the rows' vectors with the other side fixed.

        ``axis="user"``: rows are users over the model's items (the user step / user
        fold-in); ``axis="item"``: rows are items over the model's users. ``rows`` may be
        the output of :meth:`_prepare` (training reuses it across iterations).
        """
        fixed = self.item_factors_ if axis == "user" else self.user_factors_
        indptr, indices, conf, reg = rows if isinstance(rows, tuple) else self._prepare(rows, axis)
        if out is None:
            out = np.zeros((indptr.shape[0] - 1, fixed.shape[1]), np.float32)
        if gram is None:
            gram = np.ascontiguousarray(fixed.T @ fixed, np.float32)  # BLAS sgemm
        threads = numba.get_num_threads()
        # a fold-in of a few rows on one thread: waking and joining a thread team costs more
        # than the solve (0.3 ms alone vs ~7 ms for one row on a busy 2-core machine)
        serial = out.shape[0] < SERIAL_ROWS and threads > 1
        if serial:
            numba.set_num_threads(1)
        try:
            n_blocks = max(1, min(out.shape[0], 8 * numba.get_num_threads()))
            solve_rows(indptr, indices, conf, fixed, gram, float(self.w0), reg, out, bool(exact),
                       int(self.cg_steps), n_blocks)
        finally:
            if serial:
                numba.set_num_threads(threads)
        return out

    @contextmanager
    def _threads(self) -> Iterator[None]:
        """numba threads as asked; BLAS held to one thread so it never spins against numba."""
        before = numba.get_num_threads()
        if self.num_threads:
            numba.set_num_threads(min(int(self.num_threads), numba.config.NUMBA_NUM_THREADS))
        try:
            with one_blas_thread():
                yield
        finally:
            numba.set_num_threads(before)

    def _set_counts(self) -> None:
        self.item_counts_ = np.bincount(self.train_.indices, minlength=self.train_.shape[1])
        seen = self.item_counts_[self.item_counts_ > 0]
        self.mean_item_count_ = float(seen.mean()) if seen.size else 1.0

    # -- fitting -----------------------------------------------------------------------
    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        self._set_counts()
        m = self.train_.astype(np.float32)
        m.sort_indices()
        mt = m.T.tocsr()
        mt.sort_indices()
        n_users, n_items = m.shape
        f = int(self.factors)
        rng = np.random.default_rng(self.random_state)
        self.item_factors_ = (rng.standard_normal((n_items, f), dtype=np.float32)
                              * np.float32(0.1 / math.sqrt(f)))
        self.user_factors_ = np.zeros((n_users, f), np.float32)
        exact = self.solver == "cholesky"
        show = self.progress if progress is None else progress
        bar = tqdm(range(int(self.iterations)), desc="als", unit="it",
                   disable=None if show is None else not show)
        users, items = self._prepare(m, "user"), self._prepare(mt, "item")
        with self._threads():
            for _ in bar:
                self._solve(users, "user", self.user_factors_, exact)
                self._solve(items, "item", self.item_factors_, exact)

    def partial_fit(self, data: Interactions, *, progress: bool | None = None) -> ALS:
        """Add interactions without a refit: touched users re-solved, new items solved."""
        self._check_fitted()
        # Recommender.partial_fit rebuilds the old matrix from its indptr at the *new*
        # shape, which breaks when new users arrive; padding the rows first keeps it valid.
        n_users = len(self.users_.extend(data.users.ids))
        n_items = len(self.items_.extend(data.items.ids))
        t = self.train_
        pad = np.full(n_users - t.shape[0], t.indptr[-1], t.indptr.dtype)
        self.train_ = sp.csr_matrix((t.data, t.indices, np.concatenate([t.indptr, pad])),
                                    shape=(n_users, n_items))
        super().partial_fit(data, progress=progress)
        return self

    def _partial_fit(self, merged: sp.csr_matrix, users: Vocab, items: Vocab,
                     touched_users: np.ndarray, *, progress: bool | None) -> None:
        """Re-solve touched users with items fixed, solve new items with users fixed."""
        n_old_users, n_old_items = self.user_factors_.shape[0], self.item_factors_.shape[0]
        f = self.user_factors_.shape[1]
        self.users_, self.items_, self.train_ = users, items, merged
        self._set_counts()
        self.user_factors_ = np.vstack(
            [self.user_factors_, np.zeros((len(users) - n_old_users, f), np.float32)])
        self.item_factors_ = np.vstack(
            [self.item_factors_, np.zeros((len(items) - n_old_items, f), np.float32)])
        touched = np.asarray(touched_users, np.int64)
        new_items = np.arange(n_old_items, len(items))
        with self._threads():
            self.user_factors_[touched] = self._solve(merged[touched], "user")
            if new_items.size:
                cols = merged[:, new_items].T.tocsr()
                cols.sort_indices()
                self.item_factors_[new_items] = self._solve(cols, "item")
                # the touched users saw the new items as zero vectors: solve them once more
                self.user_factors_[touched] = self._solve(merged[touched], "user")

    # -- fold-in (the exact per-row solve, the same one as training) ---------------------
    def fold_in_users(self, rows: sp.csr_matrix | Interactions) -> np.ndarray:
        """User vectors minimising the ALS objective for given rows (n, n_items), items fixed."""
        self._check_fitted()
        with self._threads():
            return self._solve(self._as_rows(rows, axis="user"), "user", gram=self._item_gram())

    def fold_in_items(self, cols: sp.csr_matrix | Interactions) -> np.ndarray:
        """Item vectors minimising the ALS objective for given rows (n, n_users), users fixed."""
        self._check_fitted()
        with self._threads():
            return self._solve(self._as_rows(cols, axis="item"), "item")

    # -- diagnostics -------------------------------------------------------------------
    def objective(self) -> float:
        """Value of the training objective ``L(X, Y)`` (see module docstring) on ``train_``."""
        self._check_fitted()
        x, y = self.user_factors_.astype(np.float64), self.item_factors_.astype(np.float64)
        m = self.train_.tocsr()
        conf = self._confidence(m, "user")
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        total = 0.0
        step = 1 << 20
        for s in range(0, m.nnz, step):
            r, c = rows[s:s + step], m.indices[s:s + step]
            pred = np.einsum("ij,ij->i", x[r], y[c])
            cc = conf.data[s:s + step].astype(np.float64)
            total += float(np.sum(cc * (1 - pred) ** 2 - self.w0 * pred ** 2))
        total += float(self.w0) * float(np.sum((x.T @ x) * (y.T @ y)))
        total += float(self._row_regularization(m) @ np.sum(x * x, axis=1))
        mt = m.T.tocsr()
        total += float(self._row_regularization(mt) @ np.sum(y * y, axis=1))
        return total

    # -- persistence -------------------------------------------------------------------
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self._set_counts()

    def _check_fitted(self) -> None:
        super()._check_fitted()
        if not hasattr(self, "item_factors_"):
            raise NotFittedError("this ALS has no factors yet; call .fit(interactions) first")
