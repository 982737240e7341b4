"""Context-free policies: epsilon-greedy, softmax (Boltzmann), UCB1, Thompson sampling.

They keep two numbers per arm: the (discounted) number of pulls ``n`` and the
(discounted) sum of rewards ``s``. Contexts passed to ``select``/``update`` are ignored
except for their number of rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.bandits._choice import epsilon_greedy, greedy, plackett_luce, sampled_topk
from shortlist.bandits.base import POLICIES, Policy
from shortlist.core.parameters import NonNegative, Positive, UnitInterval, UnitOpen
from shortlist.errors import ConfigError, DataError

__all__ = ["UCB1", "EpsilonGreedy", "Softmax", "ThompsonBeta", "ThompsonGaussian"]


class _CountPolicy(Policy):
    """Shared state of the context-free policies: pulls ``n`` and reward sums ``s`` per arm."""

    _arm_fields = ("n", "s")

    def _new_arm_state(self, n: int, **features: Any) -> dict[str, np.ndarray]:
        if features:
            raise ConfigError(f"{type(self).__name__} takes no arm features, got {sorted(features)}")
        return {"n": np.zeros(n), "s": np.zeros(n)}

    def _accumulate(self, x, slots, rewards, weights) -> None:
        m = self.n_arms_
        self._state["n"] += np.bincount(slots, weights=weights, minlength=m)
        self._state["s"] += np.bincount(slots, weights=weights * rewards, minlength=m)

    def _decay(self, factor: float) -> None:
        self._state["n"] *= factor
        self._state["s"] *= factor

    @property
    def counts_(self) -> np.ndarray:
        """(Discounted) number of pulls per arm, in slot order."""
        return self._state["n"].copy()

    @property
    def means_(self) -> np.ndarray:
        """Empirical mean reward per arm (``initial_value`` for arms never pulled)."""
        n, s = self._state["n"], self._state["s"]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 1e-12, s / np.maximum(n, 1e-300), getattr(self, "initial_value", 0.0))


@POLICIES.register("egreedy")
class EpsilonGreedy(_CountPolicy):
    """Best empirical mean with probability ``1 - eps_t``, a uniform arm otherwise.

    ``eps_t = epsilon / (1 + decay * t)`` where ``t`` counts rows learned from; each slot
    of a slate applies the rule to the arms not yet placed.
    """

    def __init__(self, *, epsilon: UnitInterval[float] = 0.1, decay: NonNegative[float] = 0.0,
                 initial_value: float = 0.0,
                 arms: Any = None, gamma: UnitOpen[float] = 1.0, window: Positive[int] | None = None,
                 seed: int = 0) -> None:
        self.epsilon, self.decay, self.initial_value = epsilon, decay, initial_value
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    @property
    def epsilon_(self) -> float:
        """Exploration rate used by the next decision."""
        return float(self.epsilon / (1.0 + self.decay * self.t_))

    def _choose(self, x, slots, k):
        scores = np.broadcast_to(self.means_[slots], (len(x), len(slots)))
        return epsilon_greedy(scores, k, self.epsilon_, self.rng_)


@POLICIES.register("softmax")
class Softmax(_CountPolicy):
    """Boltzmann exploration: P(a) proportional to ``exp(mean_a / temperature)``."""

    def __init__(self, *, temperature: Positive[float] = 0.1, initial_value: float = 0.0, arms: Any = None,
                 gamma: UnitOpen[float] = 1.0, window: Positive[int] | None = None, seed: int = 0) -> None:
        self.temperature, self.initial_value = temperature, initial_value
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    def _choose(self, x, slots, k):
        means = np.broadcast_to(self.means_[slots], (len(x), len(slots)))
        return plackett_luce(means / self.temperature, k, self.rng_, scores=means)


@POLICIES.register("ucb1")
class UCB1(_CountPolicy):
    """Upper confidence bound ``mean_a + alpha * sqrt(2 ln N / n_a)`` (Auer et al. 2002).

    Arms never pulled score ``+inf`` (each is tried once first, in slot order).
    Decisions are deterministic, so propensities are exactly 1.
    """

    def __init__(self, *, alpha: NonNegative[float] = 1.0, arms: Any = None, gamma: UnitOpen[float] = 1.0,
                 window: Positive[int] | None = None, seed: int = 0) -> None:
        self.alpha = alpha
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    def scores(self) -> np.ndarray:
        """UCB score per arm, in slot order."""
        n = self._state["n"]
        total = max(float(n.sum()), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.alpha * np.sqrt(2.0 * np.log(total) / n)
        return np.where(n > 1e-12, self.means_ + bonus, np.inf)

    def _choose(self, x, slots, k):
        return greedy(np.broadcast_to(self.scores()[slots], (len(x), len(slots))), k)


@POLICIES.register("ts-beta")
class ThompsonBeta(_CountPolicy):
    """Beta-Bernoulli Thompson sampling: posterior ``Beta(a0 + successes, b0 + failures)``.

    Rewards must lie in [0, 1] (a fractional reward r counts r successes and 1 - r
    failures). Propensities are Monte-Carlo estimates from ``propensity_draws`` extra
    posterior draws (see :func:`shortlist.bandits._choice.sampled_topk`).
    """

    def __init__(self, *, prior_alpha: Positive[float] = 1.0, prior_beta: Positive[float] = 1.0,
                 propensity_draws: NonNegative[int] = 100,
                 arms: Any = None, gamma: UnitOpen[float] = 1.0, window: Positive[int] | None = None,
                 seed: int = 0) -> None:
        self.prior_alpha, self.prior_beta, self.propensity_draws = prior_alpha, prior_beta, propensity_draws
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    def _check_rewards(self, rewards: np.ndarray) -> None:
        if rewards.size and (rewards.min() < 0 or rewards.max() > 1):
            raise DataError(f"{type(self).__name__} needs rewards in [0, 1], got values in "
                            f"[{rewards.min()}, {rewards.max()}]; rescale them or use ThompsonGaussian")

    @property
    def posterior_(self) -> tuple[np.ndarray, np.ndarray]:
        """Beta posterior parameters (alpha, beta) per arm, in slot order."""
        n, s = self._state["n"], self._state["s"]
        return self.prior_alpha + s, self.prior_beta + (n - s)

    def _choose(self, x, slots, k):
        a, b = (p[slots] for p in self.posterior_)
        n = len(x)
        return sampled_topk(lambda d: self.rng_.beta(a, b, size=(d, n, len(slots))), k, self.propensity_draws)


@POLICIES.register("ts-gaussian")
class ThompsonGaussian(_CountPolicy):
    """Gaussian Thompson sampling with a conjugate normal prior on each arm's mean.

    Posterior precision ``1/prior_var + n/noise_var``; posterior mean
    ``(prior_mean/prior_var + s/noise_var) / precision``.
    """

    def __init__(self, *, prior_mean: float = 0.0, prior_var: Positive[float] = 1.0, noise_var: Positive[float] = 1.0,
                 propensity_draws: NonNegative[int] = 100, arms: Any = None, gamma: UnitOpen[float] = 1.0,
                 window: Positive[int] | None = None, seed: int = 0) -> None:
        self.prior_mean, self.prior_var, self.noise_var = prior_mean, prior_var, noise_var
        self.propensity_draws = propensity_draws
        self.arms, self.gamma, self.window, self.seed = arms, gamma, window, seed
        self._setup()

    @property
    def posterior_(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, variance) of each arm's mean reward, in slot order."""
        n, s = self._state["n"], self._state["s"]
        prec = 1.0 / self.prior_var + n / self.noise_var
        return (self.prior_mean / self.prior_var + s / self.noise_var) / prec, 1.0 / prec

    def _choose(self, x, slots, k):
        mu, var = (p[slots] for p in self.posterior_)
        sd, n = np.sqrt(var), len(x)
        return sampled_topk(lambda d: mu + sd * self.rng_.standard_normal((d, n, len(slots))), k,
                            self.propensity_draws)
