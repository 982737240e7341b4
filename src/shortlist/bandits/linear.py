"""Linear contextual bandits: LinUCB (disjoint and hybrid, Li et al. 2010) and linear Thompson sampling.

State per arm ``a``: ``A_a = sum w x x^T`` and ``b_a = sum w r x`` over the rows where
``a`` was shown (``w`` is 1, or a discount weight). The ridge estimate is
``theta_a = (l2 I + A_a)^-1 b_a``. The inverses ``(l2 I + A_a)^-1`` and ``theta_a`` are kept
up to date by Sherman-Morrison rank-one updates in one compiled pass over the rows (a
few microseconds per row, no per-call numpy overhead); discounting and sliding windows
re-invert the touched arms with one batched LAPACK call instead, since downdates and
rescaling are not rank-one additions. State is float64: ``A`` accumulates
many rank-one terms and float32 loses the small eigenvalues that drive exploration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.bandits._choice import greedy, sampled_topk
from shortlist.bandits._kernels import accumulate_outer, linear_scores, sherman_morrison
from shortlist.bandits.base import Policy, check_positive
from shortlist.errors import ConfigError, DataError

__all__ = ["LinTS", "LinUCB", "LinUCBHybrid"]

_KERNEL_ROWS = 64  # below this many rows the numba kernel beats BLAS (no temporaries)


class LinUCB(Policy):
    """Disjoint LinUCB: score ``x.theta_a + alpha * sqrt(x^T (l2 I + A_a)^-1 x)``.

    Deterministic (ties go to the earliest arm), so propensities are exactly 1.
    The context dimension is fixed by the first ``select``/``update`` call.
    """

    uses_context = True
    # Ainv and theta are saved too: they are updated incrementally (Sherman-Morrison), and
    # a restored policy must hold bit-identical values to make identical decisions
    _arm_fields = ("A", "b", "Ainv", "theta")

    def __init__(self, *, alpha: float = 1.0, l2: float = 1.0, arms: Any = None, gamma: float = 1.0,
                 window: int | None = None, seed: int = 0) -> None:
        self.alpha, self.l2 = alpha, l2
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    def _validate_params(self) -> None:
        check_positive("alpha", self.alpha, allow_zero=True)
        check_positive("l2", self.l2)

    # -- state -------------------------------------------------------------------------
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

    def _accumulate(self, x, slots, rewards, weights) -> None:
        st = self._state
        x = np.ascontiguousarray(x)
        w = np.ascontiguousarray(weights, np.float64)
        r = np.ascontiguousarray(rewards, np.float64)
        if w.min() > 0:
            sherman_morrison(st["A"], st["b"], st["Ainv"], st["theta"], x, slots, w, r)
        else:  # forgetting rows (sliding window): re-invert the touched arms, downdates are unstable
            accumulate_outer(st["A"], st["b"], x, slots, w, r)
            self._reinvert(np.unique(slots))

    def _decay(self, factor: float) -> None:
        self._state["A"] *= factor
        self._state["b"] *= factor
        self._reinvert(np.arange(self.n_arms_))

    def _reinvert(self, idx: np.ndarray) -> None:
        st = self._state
        inv = np.linalg.inv(st["A"][idx] + self.l2 * np.eye(self._d()))
        st["Ainv"][idx] = inv
        st["theta"][idx] = np.einsum("aij,aj->ai", inv, st["b"][idx])

    @property
    def theta_(self) -> np.ndarray:
        """Ridge coefficients per arm (n_arms, d), in slot order."""
        return self._state["theta"].copy()

    # -- scoring -----------------------------------------------------------------------
    def mean_and_width(self, x: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted reward ``x.theta_a`` and width ``sqrt(x^T A_a^-1 x)`` for (rows, slots)."""
        n, m = len(x), len(slots)
        if n <= _KERNEL_ROWS:
            mean, sd = np.empty((n, m)), np.empty((n, m))
            linear_scores(np.ascontiguousarray(x), self._state["theta"], self._state["Ainv"], slots, mean, sd)
            return mean, sd
        mean = x @ self._state["theta"][slots].T
        d = x.shape[1]
        # (n, d) @ (d, m*d): one GEMM instead of m small ones (Ainv is symmetric)
        xa = (x @ self._state["Ainv"][slots].transpose(1, 0, 2).reshape(d, m * d)).reshape(n, m, d)
        q = np.einsum("nmd,nd->nm", xa, x)
        return mean, np.sqrt(np.maximum(q, 0.0))

    def _choose(self, x, slots, k):
        mean, sd = self.mean_and_width(x, slots)
        return greedy(mean + self.alpha * sd, k)


class LinTS(LinUCB):
    """Linear Thompson sampling (Agrawal & Goyal 2013): ``theta~_a ~ N(theta_a, v^2 A_a^-1)``.

    For one context the sampled score ``x.theta~_a`` is exactly ``N(x.theta_a, v^2 x^T A_a^-1 x)``
    and arms are independent, so scores are sampled directly in one dimension per arm
    (same decision distribution, no d-dimensional draws). Propensities are Monte-Carlo
    estimates from ``propensity_draws`` extra draws.
    """

    def __init__(self, *, v: float = 1.0, l2: float = 1.0, propensity_draws: int = 100, arms: Any = None,
                 gamma: float = 1.0, window: int | None = None, seed: int = 0) -> None:
        self.v, self.l2, self.propensity_draws = v, l2, propensity_draws
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    def _validate_params(self) -> None:
        check_positive("v", self.v, allow_zero=True)
        check_positive("l2", self.l2)
        if not isinstance(self.propensity_draws, int) or self.propensity_draws < 0:
            raise ConfigError(f"propensity_draws must be an integer >= 0, got {self.propensity_draws!r}")

    def _choose(self, x, slots, k):
        mean, sd = self.mean_and_width(x, slots)
        sd = self.v * sd
        return sampled_topk(lambda d: mean + sd * self.rng_.standard_normal((d,) + mean.shape), k,
                            self.propensity_draws)


class LinUCBHybrid(Policy):
    """Hybrid LinUCB (Li et al. 2010, Algorithm 2): shared ``beta`` plus per-arm ``theta_a``.

    Context ``x`` (n, d) holds user features; each arm has a feature vector ``f_a``
    (``add_arms(ids, features=...)``) and the shared features are ``z = vec(x f_a^T)``.
    The state is kept as sums, and ``A_0 = l2 I + sum z z^T - sum_a B_a^T A_a^-1 B_a``,
    ``b_0 = sum r z - sum_a B_a^T A_a^-1 b_a`` are rebuilt from them - the same values
    Algorithm 2 reaches by its sequential updates, so batched updates are exact.
    """

    uses_context = True
    _arm_fields = ("A", "B", "b", "f")
    _global_fields = ("A0", "b0")

    def __init__(self, *, alpha: float = 1.0, l2: float = 1.0, arms: Any = None, arm_features: Any = None,
                 gamma: float = 1.0, window: int | None = None, seed: int = 0) -> None:
        self.alpha, self.l2, self.arm_features = alpha, l2, arm_features
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._pending_features = arm_features
        self._setup()

    def _validate_params(self) -> None:
        check_positive("alpha", self.alpha, allow_zero=True)
        check_positive("l2", self.l2)

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

    def _z_rows(self, x: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Shared features of row t with arm slots[t]: (n, d*q)."""
        return np.einsum("nd,nq->ndq", x, self._state["f"][slots]).reshape(len(x), -1)

    def _z_all(self, x: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Shared features of every row with every arm in slots: (n, m, d*q)."""
        return np.einsum("nd,mq->nmdq", x, self._state["f"][slots]).reshape(len(x), len(slots), -1)

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
