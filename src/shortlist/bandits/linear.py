"""Linear contextual bandits: LinUCB (disjoint and hybrid, Li et al. 2010) and linear Thompson sampling.

State per arm ``a``: ``A_a = sum w x x^T`` and ``b_a = sum w r x`` over the rows where
``a`` was shown (``w`` is 1, or a discount weight). The ridge estimate is
``theta_a = (l2 I + A_a)^-1 b_a``. Small updates (the serving pattern) keep the inverses
and ``theta`` up to date by Sherman-Morrison rank-one updates in one compiled pass over
the rows (a few microseconds per row). Large batches, discounting and sliding windows
only add to ``A`` and ``b`` and mark the touched arms dirty: their inverses are rebuilt
(Cholesky, compiled) by the next call that reads them - a decision, ``theta_``, saving -
so a stream of batched updates costs ``d^2`` per row and the ``d^3`` inversion is paid
once per arm per decision, not per row. State is float64: ``A`` accumulates many
rank-one terms and float32 loses the small eigenvalues that drive exploration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.bandits._choice import greedy, sampled_topk
from shortlist.bandits._kernels import (
    linear_scores,
    pack_all,
    packed_outer,
    refresh_inverse,
    ucb_best,
    update_checked,
    update_rows,
)
from shortlist.bandits.base import POLICIES, Decision, Policy
from shortlist.core.parameters import NonNegative, Positive, UnitOpen
from shortlist.errors import ConfigError, DataError

__all__ = ["LinTS", "LinUCB", "LinUCBHybrid"]

_KERNEL_ROWS = 16  # up to here one compiled loop scores rows (measured: even with the GEMM at 16)
_REINVERT_COST = 6  # one Cholesky re-inversion costs about d^3/2, a rank-one update 3 d^2
_ONE_THREAD_ROWS = 4096  # scoring GEMMs up to this many rows run on one BLAS thread
_BLAS: Any = None


def _blas_for(n_rows: int) -> Any:
    """Context limiting BLAS to one thread for request-sized GEMMs: they are too small to
    gain from threads, which stall when the cores are busy (measured 4x slower at 1,000
    rows on a loaded 2-core machine); larger scoring jobs keep the library's threads."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1 if n_rows <= _ONE_THREAD_ROWS else None, user_api="blas")


@POLICIES.register("linucb")
class LinUCB(Policy):
    """Disjoint LinUCB: score ``x.theta_a + alpha * sqrt(x^T (l2 I + A_a)^-1 x)``.

    Deterministic (ties go to the earliest arm), so propensities are exactly 1.
    The context dimension is fixed by the first ``select``/``update`` call.
    """

    uses_context = True
    # Ainv and theta are saved too: they are updated incrementally (Sherman-Morrison), and
    # a restored policy must hold bit-identical values to make identical decisions
    _arm_fields = ("A", "b", "Ainv", "theta")

    def __init__(self, *, alpha: NonNegative[float] = 1.0, l2: Positive[float] = 1.0, arms: Any = None,
                 gamma: UnitOpen[float] = 1.0,
                 window: Positive[int] | None = None, seed: int = 0) -> None:
        self.alpha, self.l2 = alpha, l2
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    # -- state -------------------------------------------------------------------------
    def _init_global(self) -> None:
        self._dirty = np.zeros(0, bool)  # arms whose Ainv/theta wait for a re-inversion
        self._any_dirty = False
        self._ones = np.ones(1)          # unit weights, reused across calls

    def _d(self) -> int:
        return 0 if self.n_features_ is None else int(self.n_features_)

    def _new_arm_state(self, n: int, **features: Any) -> dict[str, np.ndarray]:
        if features:
            raise ConfigError(f"{type(self).__name__} takes no arm features, got {sorted(features)}")
        d = self._d()
        return {"A": np.zeros((n, d, d)), "b": np.zeros((n, d)),
                "Ainv": np.broadcast_to(np.eye(d) / self.l2, (n, d, d)).copy(), "theta": np.zeros((n, d))}

    def _init_features(self, d: int) -> None:
        self._state.update(self._new_arm_state(self.n_arms_))
        self._after_arm_change()

    def _after_arm_change(self) -> None:
        # add/remove flush first, so every arm's inverse is current here; the packed
        # inverses are a cache (not saved), rebuilt from Ainv
        self._dirty = np.zeros(self.n_arms_, bool)
        self._any_dirty = False
        self._every = np.arange(self.n_arms_)
        d = self._d()
        if "Ainv" in self._state and d:
            self._P = np.empty((self.n_arms_, d * (d + 1) // 2))
            pack_all(self._state["Ainv"], self._P)
        else:
            self._P = np.zeros((self.n_arms_, 0))

    def add_arms(self, arms: Any, **features: Any) -> LinUCB:
        """Add new arms (ids unseen so far) with the prior ``A = 0``, ``b = 0``; returns ``self``."""
        self._flush()
        return super().add_arms(arms, **features)  # type: ignore[return-value]

    def remove_arms(self, arms: Any) -> LinUCB:
        """Remove arms and their statistics; returns ``self``."""
        self._flush()
        return super().remove_arms(arms)  # type: ignore[return-value]

    def _flush(self) -> None:
        """Re-invert the arms whose inverse is out of date (after batched updates)."""
        if self._any_dirty:
            st = self._state
            refresh_inverse(st["A"], st["b"], st["Ainv"], st["theta"], self._P, self._dirty, float(self.l2))
            self._any_dirty = False

    def update(self, context: Any, actions: Any, rewards: Any) -> LinUCB:
        """Learn from ``n`` rows at once: the arms shown and the rewards they got."""
        # the serving call - one float64 row, integer arm ids 0..n-1, no gamma/window -
        # is checked and learned in one compiled call; anything else takes the general path
        x, a, r = context, actions, rewards
        if (type(x) is np.ndarray and type(a) is np.ndarray and type(r) is np.ndarray and x.ndim == 2
                and x.shape[0] == 1 and a.shape == (1,) and r.shape == (1,) and x.shape[1] == self.n_features_
                and x.dtype == np.float64 and r.dtype == np.float64 and a.dtype == np.int64
                and x.flags.c_contiguous and self.window is None and self.gamma == 1.0 and self._dense):
            st = self._state
            if update_checked(st["A"], st["b"], st["Ainv"], st["theta"], self._P, self._dirty, x, a,
                              self._ones, r):
                self.t_ += 1
                return self
        return super().update(context, actions, rewards)  # type: ignore[return-value]

    def _learn(self, x: np.ndarray, slots: np.ndarray, rewards: np.ndarray) -> None:
        # stationary case: straight to the compiled pass (the serving path, no weights array)
        if self.window is not None or self.gamma != 1.0 or len(slots) == 0:
            super()._learn(x, slots, rewards)
            return
        n = len(slots)
        if len(self._ones) < n:
            self._ones = np.ones(max(n, 2 * len(self._ones)))
        self._accumulate(x, slots, rewards, self._ones[:n], positive=True)
        self.t_ += n

    def _accumulate(self, x, slots, rewards, weights, positive: bool | None = None) -> None:
        st = self._state
        n = len(slots)
        # forgetting rows (negative weights) cannot use rank-one downdates stably; large
        # batches are cheaper to re-invert once per touched arm than to update row by row
        defer = n > 1 and n * _REINVERT_COST >= st["b"].shape[1] * min(n, len(st["b"]))
        if not defer and not positive:
            defer = weights.min() <= 0
        update_rows(st["A"], st["b"], st["Ainv"], st["theta"], self._P, self._dirty, np.ascontiguousarray(x), slots,
                    weights, np.ascontiguousarray(rewards, np.float64), defer)
        if defer:
            self._any_dirty = True

    def _decay(self, factor: float) -> None:
        self._state["A"] *= factor
        self._state["b"] *= factor
        self._dirty[:] = True
        self._any_dirty = True

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The learned state as (arrays, JSON-able meta); pending re-inversions are done first."""
        self._flush()
        return super().state_dict()

    @property
    def theta_(self) -> np.ndarray:
        """Ridge coefficients per arm (n_arms, d), in slot order."""
        self._flush()
        return self._state["theta"].copy()

    # -- scoring -----------------------------------------------------------------------
    def mean_and_width(self, x: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted reward ``x.theta_a`` and width ``sqrt(x^T A_a^-1 x)`` for (rows, slots)."""
        self._flush()
        st = self._state
        n, m = len(x), len(slots)
        x = np.ascontiguousarray(x)
        if n <= _KERNEL_ROWS:
            mean, sd = np.empty((n, m)), np.empty((n, m))
            linear_scores(x, st["theta"], self._P, slots, mean, sd)
            return mean, sd
        # x^T M x = packed(x x^T) . packed(M): one (n, d(d+1)/2) x (d(d+1)/2, m) GEMM for
        # all arms, half the multiply-adds of the full form and no (n, m, d) temporary
        phi = np.empty((n, self._P.shape[1]))
        packed_outer(x, phi)
        every = slots is getattr(self, "_all_slots", None)  # select(arms=None): no gather
        with _blas_for(n):
            q = phi @ (self._P if every else self._P[slots]).T
            mean = x @ (st["theta"] if every else st["theta"][slots]).T
        return mean, np.sqrt(np.maximum(q, 0.0, out=q), out=q)

    def select(self, context: Any = None, arms: Any = None, k: int = 1) -> Decision:
        """Choose ``k`` arms (best first) for each context row among ``arms`` (all when None)."""
        # the serving call - a few float64 rows, all arms, k=1 - goes straight to one compiled
        # call (scores, argmax and the finiteness check); anything else takes the general path
        x = context
        if (arms is None and type(k) is int and k == 1 and type(x) is np.ndarray and x.ndim == 2
                and x.dtype == np.float64 and 0 < x.shape[0] <= _KERNEL_ROWS and x.shape[1] == self.n_features_
                and x.flags.c_contiguous and self._P.shape[0] > 0 and self._P.shape[1] > 0):
            if self._any_dirty:
                self._flush()
            n = x.shape[0]
            best, score = np.empty((n, 1), np.int64), np.empty((n, 1))
            if ucb_best(x, self._state["theta"], self._P, self._every, float(self.alpha), best, score):
                return Decision(best if self._dense else self.arm_vocab_.ids[best], np.ones((n, 1)), score)
        return super().select(context, arms, k)

    def _choose(self, x, slots, k):
        n = len(x)
        if k == 1 and n <= _KERNEL_ROWS:  # score and pick in one compiled call
            if self._any_dirty:
                self._flush()
            best, score = np.empty((n, 1), np.int64), np.empty((n, 1))
            ucb_best(np.ascontiguousarray(x), self._state["theta"], self._P, slots, float(self.alpha), best, score)
            return best, np.ones((n, 1)), score
        mean, sd = self.mean_and_width(x, slots)
        if self.alpha != 1.0:
            sd *= self.alpha
        mean += sd
        return greedy(mean, k)


@POLICIES.register("lints")
class LinTS(LinUCB):
    """Linear Thompson sampling (Agrawal & Goyal 2013): ``theta~_a ~ N(theta_a, v^2 A_a^-1)``.

    For one context the sampled score ``x.theta~_a`` is exactly ``N(x.theta_a, v^2 x^T A_a^-1 x)``
    and arms are independent, so scores are sampled directly in one dimension per arm
    (same decision distribution, no d-dimensional draws). Propensities are Monte-Carlo
    estimates from ``propensity_draws`` extra draws.
    """

    select = Policy.select  # sampling needs the general path

    def __init__(self, *, v: NonNegative[float] = 1.0, l2: Positive[float] = 1.0,
                 propensity_draws: NonNegative[int] = 100, arms: Any = None,
                 gamma: UnitOpen[float] = 1.0, window: Positive[int] | None = None, seed: int = 0) -> None:
        self.v, self.l2, self.propensity_draws = v, l2, propensity_draws
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    def _choose(self, x, slots, k):
        mean, sd = self.mean_and_width(x, slots)
        sd = self.v * sd
        return sampled_topk(lambda d: mean + sd * self.rng_.standard_normal((d,) + mean.shape), k,
                            self.propensity_draws)


@POLICIES.register("linucb-hybrid")
class LinUCBHybrid(Policy):
    """Hybrid LinUCB (Li et al. 2010, Algorithm 2): shared ``beta`` plus per-arm ``theta_a``.

    Context ``x`` (n, d) holds user features; each arm has a feature vector ``f_a``
    (``add_arms(ids, features=...)``) and the shared features are ``z = vec(x f_a^T)``.
    The state is kept as sums, and ``A_0 = l2 I + sum z z^T - sum_a B_a^T A_a^-1 B_a``,
    ``b_0 = sum r z - sum_a B_a^T A_a^-1 b_a`` are rebuilt from them - the same values
    Algorithm 2 reaches by its sequential updates, so batched updates are exact.

    Arm features may change per request (a story's age, the score an earlier stage gave it):
    pass ``arm_features`` to ``select`` (one row per entry of ``arms``) and to ``update`` (one
    row per action, the features the arm had when shown); they replace the stored ``f_a``
    for that call, so ``beta`` learns what those features are worth across arms.
    """

    uses_context = True
    _row_f: np.ndarray | None = None  # this call's per-request arm features (rows of z), else the stored f
    _arm_fields = ("A", "B", "b", "f")
    _global_fields = ("A0", "b0")

    def __init__(self, *, alpha: NonNegative[float] = 1.0, l2: Positive[float] = 1.0, arms: Any = None,
                 arm_features: Any = None,
                 gamma: UnitOpen[float] = 1.0, window: Positive[int] | None = None, seed: int = 0) -> None:
        self.alpha, self.l2, self.arm_features = alpha, l2, arm_features
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._pending_features = arm_features
        self._setup()

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given (arm features are saved with the state, not here)."""
        p = super().get_params()
        p["arm_features"] = None
        return p

    def add_arms(self, arms: Any, features: Any = None) -> LinUCBHybrid:
        """Add arms with their feature vectors ``features`` (n_new, q)."""
        if features is None and self._pending_features is not None:
            features, self._pending_features = self._pending_features, None
        if features is None:
            raise DataError("LinUCBHybrid.add_arms needs features=array of shape (n_new_arms, q)")
        return super().add_arms(arms, features=features)  # type: ignore[return-value]

    def _new_arm_state(self, n: int, features: Any = None) -> dict[str, np.ndarray]:
        f = np.asarray(features, np.float64)
        if f.ndim != 2 or f.shape[0] != n or not np.all(np.isfinite(f)):
            raise DataError(f"arm features must be a finite array of shape ({n}, q), got shape {f.shape}")
        if "f" in self._state and self.n_arms_ - n > 0 and f.shape[1] != self._state["f"].shape[1]:
            raise DataError(f"arm features must have {self._state['f'].shape[1]} columns, got {f.shape[1]}")
        d = 0 if self.n_features_ is None else self.n_features_
        kz = d * f.shape[1]
        return {"A": np.zeros((n, d, d)), "B": np.zeros((n, d, kz)), "b": np.zeros((n, d)), "f": f}

    def _init_features(self, d: int) -> None:
        m, q = self._state["f"].shape if "f" in self._state else (0, 0)
        self._state.update(A=np.zeros((m, d, d)), B=np.zeros((m, d, d * q)), b=np.zeros((m, d)),
                           A0=np.zeros((d * q, d * q)), b0=np.zeros(d * q))

    def _request_features(self, features: Any, n: int) -> np.ndarray:
        f = np.asarray(features, np.float64)
        q = self._state["f"].shape[1]
        if f.shape != (n, q) or not np.all(np.isfinite(f)):
            raise DataError(f"arm_features must be a finite array of shape ({n}, {q}) (one row per arm "
                            f"given, the columns of add_arms' features), got shape {f.shape}")
        return f

    def select(self, context: Any = None, arms: Any = None, k: int = 1, arm_features: Any = None) -> Decision:
        """As :meth:`Policy.select`; ``arm_features`` (len(arms), q): this request's features of ``arms``."""
        if arm_features is None:
            return super().select(context, arms, k)
        if arms is None or self.n_arms_ == 0:
            raise ConfigError("select(arm_features=...) needs arms=... naming the rows of arm_features")
        slots = self._slots(arms, "arms")
        f = self._request_features(arm_features, len(slots))
        _, first = np.unique(slots, return_index=True)  # the base class scores np.unique(slots)
        self._row_f = f[first]
        try:
            return super().select(context, arms, k)
        finally:
            self._row_f = None

    def update(self, context: Any, actions: Any, rewards: Any, arm_features: Any = None) -> LinUCBHybrid:
        """As :meth:`Policy.update`; ``arm_features`` (n_actions, q): each shown arm's features then."""
        if arm_features is None:
            return super().update(context, actions, rewards)  # type: ignore[return-value]
        if self.window is not None:
            raise ConfigError("LinUCBHybrid: per-request arm_features with window= are not supported; "
                              "fix: use gamma= to forget old rows")
        self._row_f = self._request_features(arm_features, int(np.asarray(actions).size))
        try:
            return super().update(context, actions, rewards)  # type: ignore[return-value]
        finally:
            self._row_f = None

    def _z_rows(self, x: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Shared features of row t with arm slots[t]: (n, d*q)."""
        f = self._state["f"][slots] if self._row_f is None else self._row_f
        return np.einsum("nd,nq->ndq", x, f).reshape(len(x), -1)

    def _z_all(self, x: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Shared features of every row with every arm in slots: (n, m, d*q)."""
        f = self._state["f"][slots] if self._row_f is None else self._row_f
        return np.einsum("nd,mq->nmdq", x, f).reshape(len(x), len(slots), -1)

    def _accumulate(self, x, slots, rewards, weights) -> None:
        z = self._z_rows(x, slots)
        wx = x * weights[:, None]
        np.add.at(self._state["A"], slots, np.einsum("ni,nj->nij", wx, x))
        np.add.at(self._state["B"], slots, np.einsum("ni,nj->nij", wx, z))
        np.add.at(self._state["b"], slots, wx * rewards[:, None])
        self._state["A0"] += (z * weights[:, None]).T @ z
        self._state["b0"] += z.T @ (weights * rewards)

    def _decay(self, factor: float) -> None:
        for key in ("A", "B", "b", "A0", "b0"):
            self._state[key] *= factor

    def _parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self.n_features_
        Ainv = np.linalg.inv(self._state["A"] + self.l2 * np.eye(d))
        B, b = self._state["B"], self._state["b"]
        BtAinv = np.einsum("aik,aij->akj", B, Ainv)
        A0 = self.l2 * np.eye(B.shape[2]) + self._state["A0"] - np.einsum("akj,ajl->kl", BtAinv, B)
        b0 = self._state["b0"] - np.einsum("akj,aj->k", BtAinv, b)
        A0inv = np.linalg.inv(A0)
        return Ainv, A0inv, A0inv @ b0, BtAinv

    def _choose(self, x, slots, k):
        Ainv, A0inv, beta, _ = self._parts()
        Ainv, B, b = Ainv[slots], self._state["B"][slots], self._state["b"][slots]
        theta = np.einsum("aij,aj->ai", Ainv, b - B @ beta)
        z = self._z_all(x, slots)                                # (n, m, kz)
        u = np.einsum("aij,nj->nai", Ainv, x)                    # A_a^-1 x
        v = np.einsum("aik,nai->nak", B, u)                      # B_a^T A_a^-1 x
        w = z - v
        s = np.einsum("nak,kl,nal->na", w, A0inv, w) + np.einsum("nai,ni->na", u, x)
        scores = z @ beta + x @ theta.T + self.alpha * np.sqrt(np.maximum(s, 0.0))
        return greedy(scores, k)
