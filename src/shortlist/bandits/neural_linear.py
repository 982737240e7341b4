"""Neural-linear bandit: a Bayesian linear head on the embeddings of a Shortlist model.

As in Riquelme et al. (2018, "Deep Bayesian bandits showdown"), the representation comes
from a trained model - here any object with ``user_factors_`` / ``item_factors_`` (e.g. a
:class:`~shortlist.models.base.FactorModel`) - and only a linear layer on top is learned
online. The feature of (user u, item i) is ``phi = u * v_i`` (element-wise), and the
reward model is ``phi . theta`` with a ridge prior centred on ``theta_0 = 1``, so before
any feedback the policy ranks exactly like the model (``u . v_i``). The head is shared by
all items, so a new item added with its embedding benefits from what was learned.

Score: ``phi . theta + alpha * sqrt(phi^T (l2 I + A)^-1 phi)`` with
``theta = (l2 I + A)^-1 (l2 theta_0 + b)``, ``A = sum w phi phi^T``, ``b = sum w r phi``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.bandits._choice import greedy
from shortlist.bandits.base import POLICIES, Policy
from shortlist.core.parameters import NonNegative, Positive, UnitOpen
from shortlist.errors import ConfigError, DataError, UnknownIdError

__all__ = ["NeuralLinear"]


@POLICIES.register("neural-linear")
class NeuralLinear(Policy):
    """UCB on a linear head over a model's user x item embeddings (see module docstring).

    Contexts are user indices of ``model`` (1-D ints) or user embeddings (n, f) - e.g.
    folded-in vectors for new users. Arms default to all item indices of ``model``.
    """

    uses_context = True
    _arm_fields = ("v",)
    _global_fields = ("A", "b")

    def __init__(self, *, model: Any = None, alpha: NonNegative[float] = 1.0, l2: Positive[float] = 1.0,
                 arms: Any = None,
                 gamma: UnitOpen[float] = 1.0, window: Positive[int] | None = None, seed: int = 0) -> None:
        self.model, self.alpha, self.l2 = model, alpha, l2
        self.gamma, self.window, self.seed = gamma, window, seed
        if model is not None and not (hasattr(model, "user_factors_") and hasattr(model, "item_factors_")):
            raise ConfigError(f"model must have user_factors_ and item_factors_ (a fitted FactorModel), "
                              f"got {type(model).__name__}")
        if arms is None and model is not None:
            arms = int(model.item_factors_.shape[0])
        self.arms = arms
        self._setup()

    def add_arms(self, arms: Any, features: Any = None) -> NeuralLinear:
        """Add arms; ``features`` are their embeddings (default: the model's item factors)."""
        if features is None:
            ids = np.atleast_1d(np.asarray(list(arms) if not isinstance(arms, np.ndarray) else arms))
            if self.model is None or ids.dtype.kind not in "iu":
                raise DataError("NeuralLinear.add_arms needs features=embeddings (n_new, f) "
                                "when the arms are not item indices of the model")
            items = self.model.item_factors_
            if ids.size and (ids.min() < 0 or ids.max() >= items.shape[0]):
                raise UnknownIdError(f"arms must be item indices 0..{items.shape[0] - 1} of the model, "
                                     f"got {ids.min()}..{ids.max()}", ids=ids[:5].tolist())
            features = items[ids]
        return super().add_arms(arms, features=features)  # type: ignore[return-value]

    def _new_arm_state(self, n: int, features: Any = None) -> dict[str, np.ndarray]:
        v = np.asarray(features, np.float64)
        if v.ndim != 2 or v.shape[0] != n or not np.all(np.isfinite(v)):
            raise DataError(f"arm embeddings must be a finite array of shape ({n}, f), got shape {v.shape}")
        if self.n_features_ is None:
            self.n_features_ = v.shape[1]
            self._init_features(v.shape[1])
        elif v.shape[1] != self.n_features_:
            raise DataError(f"arm embeddings must have {self.n_features_} columns, got {v.shape[1]}")
        return {"v": v}

    def _init_features(self, d: int) -> None:
        self._state.setdefault("A", np.zeros((d, d)))
        self._state.setdefault("b", np.zeros(d))

    def _context(self, context: Any, n_rows: int | None = None) -> np.ndarray:
        arr = np.asarray(context) if context is not None else None
        if arr is not None and arr.ndim <= 1 and arr.dtype.kind in "iu":
            if self.model is None:
                raise DataError("user indices need the model; pass NeuralLinear(model=...) or "
                                "NeuralLinear.load(path, model=...), or pass user embeddings")
            users = self.model.user_factors_
            idx = np.atleast_1d(arr).astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= users.shape[0]):
                raise UnknownIdError(f"user indices must be in 0..{users.shape[0] - 1}, got "
                                     f"{idx.min()}..{idx.max()}; pass embeddings for new users",
                                     ids=idx[(idx < 0) | (idx >= users.shape[0])][:5].tolist())
            return np.asarray(users[idx], np.float64)
        return super()._context(context, n_rows)

    def _accumulate(self, x, slots, rewards, weights) -> None:
        phi = x * self._state["v"][slots]
        self._state["A"] += (phi * weights[:, None]).T @ phi
        self._state["b"] += phi.T @ (weights * rewards)

    def _decay(self, factor: float) -> None:
        self._state["A"] *= factor
        self._state["b"] *= factor

    def _refresh(self) -> None:
        if "A" not in self._state:
            return
        d = self._state["A"].shape[0]
        self._Ainv = np.linalg.inv(self._state["A"] + self.l2 * np.eye(d))
        self.theta_ = self._Ainv @ (self.l2 * np.ones(d) + self._state["b"])

    def _after_arm_change(self) -> None:
        self._refresh()

    def _choose(self, x, slots, k):
        phi = x[:, None, :] * self._state["v"][slots][None, :, :]
        mean = phi @ self.theta_
        q = np.einsum("nmf,fg,nmg->nm", phi, self._Ainv, phi)
        return greedy(mean + self.alpha * np.sqrt(np.maximum(q, 0.0)), k)
