"""Bayesian A/B/n testing with Thompson allocation over variants (Beta-Bernoulli).

``P(variant a is best) = int f_a(p) prod_{b != a} F_b(p) dp`` and the expected loss of
shipping ``a``, ``E[max_b p_b - p_a] = int_0^1 (1 - prod_b F_b(p)) dp - E[p_a]``, are
computed by quadrature on a fine grid (no sampling noise). The test stops when some
variant's expected loss is below ``loss_threshold`` (the "value remaining" rule), or
its probability of being best exceeds ``prob_threshold``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.bandits.base import POLICIES
from shortlist.bandits.context_free import ThompsonBeta
from shortlist.core.parameters import NonNegative, Positive
from shortlist.errors import ConfigError

__all__ = ["ABTest"]

_GRID = 20_001  # Simpson nodes on [0, 1]; error far below the thresholds people use


def _simpson_weights(n: int) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w / (3.0 * (n - 1))


@POLICIES.register("ab-test")
class ABTest(ThompsonBeta):
    """Thompson allocation over variants with posterior-based stopping.

    ``select(k=1)`` (or :meth:`allocate`) assigns traffic; ``update(None, variants, conversions)``
    learns; :meth:`prob_best`, :meth:`expected_loss` and :meth:`should_stop` read the posterior.
    """

    def __init__(self, *, variants: Any = 2, prior_alpha: Positive[float] = 1.0, prior_beta: Positive[float] = 1.0,
                 loss_threshold: Positive[float] = 1e-3, prob_threshold: float = 0.95,
                 propensity_draws: NonNegative[int] = 100,
                 seed: int = 0) -> None:
        self.variants, self.loss_threshold, self.prob_threshold = variants, loss_threshold, prob_threshold
        super().__init__(prior_alpha=prior_alpha, prior_beta=prior_beta, propensity_draws=propensity_draws,
                         arms=variants, seed=seed)

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given (``variants`` is restored from the saved arm ids)."""
        p = super().get_params()
        p["variants"] = None
        return p

    def record(self, variant: Any, conversions: int, trials: int) -> ABTest:
        """Add aggregated results: ``conversions`` successes out of ``trials`` for ``variant``."""
        if trials < conversions or conversions < 0:
            raise ConfigError(f"need 0 <= conversions <= trials, got conversions={conversions}, trials={trials}")
        slot = self._slots([variant], "variant")
        self._state["n"][slot] += trials
        self._state["s"][slot] += conversions
        self.t_ += int(trials)
        return self

    def allocate(self, n: int) -> np.ndarray:
        """Thompson allocation of ``n`` visitors: how many go to each variant (slot order)."""
        dec = self.select(np.zeros((n, 0)))
        return np.bincount(self._slots(dec.actions[:, 0], "actions"), minlength=self.n_arms_)

    def _grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from scipy import stats  # scipy.stats costs ~1 s to import: only when asked

        a, b = self.posterior_
        p = np.linspace(0.0, 1.0, _GRID)
        cdf = stats.beta.cdf(p[None, :], a[:, None], b[:, None])
        pdf = stats.beta.pdf(p[None, :], a[:, None], b[:, None])
        return p, cdf, np.nan_to_num(pdf, posinf=0.0), _simpson_weights(_GRID)

    def prob_best(self) -> dict[Any, float]:
        """Posterior probability that each variant has the highest conversion rate."""
        _, cdf, pdf, w = self._grid()
        logc = np.log(np.maximum(cdf, 1e-300))
        others = np.exp(logc.sum(axis=0, keepdims=True) - logc)   # prod of the other CDFs
        probs = (pdf * others) @ w
        probs = probs / probs.sum()  # removes the small quadrature error at spiky posteriors
        return {self._py(a): float(v) for a, v in zip(self.arms_, probs)}

    def expected_loss(self) -> dict[Any, float]:
        """Expected conversion rate lost by shipping each variant instead of the best."""
        a, b = self.posterior_
        _, cdf, _, w = self._grid()
        e_max = (1.0 - np.prod(cdf, axis=0)) @ w
        return {self._py(arm): float(max(e_max - m, 0.0)) for arm, m in zip(self.arms_, a / (a + b))}

    def should_stop(self) -> tuple[bool, Any]:
        """(stop?, winner): stop when a variant's loss < loss_threshold or P(best) > prob_threshold."""
        loss, pb = self.expected_loss(), self.prob_best()
        best = min(loss, key=loss.get)
        return bool(loss[best] < self.loss_threshold or pb[best] > self.prob_threshold), best

    @staticmethod
    def _py(x: Any) -> Any:
        return x.item() if isinstance(x, np.generic) else x
