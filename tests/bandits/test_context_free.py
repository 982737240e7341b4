"""Context-free policies: learning, exact posteriors/propensities, non-stationarity, batching."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import UCB1, EpsilonGreedy, Softmax, ThompsonBeta, ThompsonGaussian
from shortlist.errors import ConfigError, DataError, UnknownIdError

P = np.array([0.2, 0.35, 0.8, 0.5])


def run(policy, probs, steps, seed=1):
    """Play ``steps`` rounds of a Bernoulli problem; returns the chosen arms."""
    rng = np.random.default_rng(seed)
    chosen = np.empty(steps, np.int64)
    for t in range(steps):
        a = int(policy.select().actions[0, 0])
        policy.update(None, [a], [float(rng.random() < probs[t][a] if probs.ndim == 2 else rng.random() < probs[a])])
        chosen[t] = a
    return chosen


@pytest.mark.parametrize("policy", [
    EpsilonGreedy(epsilon=0.1, arms=4, seed=0),
    EpsilonGreedy(epsilon=0.5, decay=0.01, arms=4, seed=0),
    Softmax(temperature=0.05, initial_value=1.0, arms=4, seed=0),
    UCB1(alpha=0.5, arms=4),
    ThompsonBeta(arms=4, propensity_draws=0, seed=0),
    ThompsonGaussian(arms=4, noise_var=0.25, propensity_draws=0, seed=0),
], ids=lambda p: type(p).__name__)
def test_learns_best_arm_with_sublinear_regret(policy):
    chosen = run(policy, P, 1500)
    late = chosen[750:]
    assert np.bincount(late, minlength=4).argmax() == 2
    assert np.mean(late == 2) > 0.6
    regret = np.cumsum(P.max() - P[chosen])
    # sublinear: the second half adds clearly less regret than the first
    assert regret[-1] - regret[749] < 0.7 * regret[749]


def test_thompson_beta_posterior_is_exact():
    p = ThompsonBeta(prior_alpha=2.0, prior_beta=3.0, arms=["a", "b", "c"])
    p.update(None, ["a", "a", "b", "a", "c"], [1, 0, 1, 1, 0.25])
    a, b = p.posterior_
    np.testing.assert_array_equal(a, [2 + 2, 2 + 1, 2 + 0.25])
    np.testing.assert_array_equal(b, [3 + 1, 3 + 0, 3 + 0.75])
    with pytest.raises(DataError, match="rewards in"):
        p.update(None, ["a"], [2.0])


def test_gaussian_posterior_closed_form():
    p = ThompsonGaussian(prior_mean=1.0, prior_var=4.0, noise_var=2.0, arms=2)
    p.update(None, [0, 0, 0], [3.0, 5.0, 4.0])
    mean, var = p.posterior_
    prec = 1 / 4 + 3 / 2
    assert var[0] == pytest.approx(1 / prec) and mean[0] == pytest.approx((1 / 4 + 12 / 2) / prec)
    assert mean[1] == 1.0 and var[1] == 4.0


def test_epsilon_greedy_propensities_exact_and_match_frequencies():
    p = EpsilonGreedy(epsilon=0.3, arms=4, seed=3)
    p.update(None, [0, 1, 2, 3], [0.1, 0.9, 0.5, 0.2])
    d = p.select(np.zeros((20000, 0)), k=2)
    # slot 0: best arm 1 has 0.7 + 0.3/4, others 0.3/4
    first = d.actions[:, 0]
    np.testing.assert_allclose(d.propensities[first == 1, 0], 0.7 + 0.075)
    np.testing.assert_allclose(d.propensities[first == 0, 0], 0.075)
    assert np.mean(first == 1) == pytest.approx(0.775, abs=0.01)
    # slot 1 given slot 0 = arm 1: best remaining is arm 2 -> 0.7 + 0.3/3
    rows = (first == 1) & (d.actions[:, 1] == 2)
    np.testing.assert_allclose(d.propensities[rows, 1], 0.8)
    assert rows.sum() / (first == 1).sum() == pytest.approx(0.8, abs=0.015)


def test_softmax_propensities_are_plackett_luce():
    p = Softmax(temperature=0.5, arms=3, seed=0)
    p.update(None, [0, 1, 2], [0.0, 1.0, 0.5])
    w = np.exp(np.array([0.0, 1.0, 0.5]) / 0.5)
    d = p.select(np.zeros((5000, 0)), k=2)
    a0, a1 = d.actions[:, 0], d.actions[:, 1]
    np.testing.assert_allclose(d.propensities[:, 0], w[a0] / w.sum())
    np.testing.assert_allclose(d.propensities[:, 1], w[a1] / (w.sum() - w[a0]))
    assert np.mean(a0 == 1) == pytest.approx(w[1] / w.sum(), abs=0.02)


def test_ucb1_scores_formula_and_unplayed_first():
    p = UCB1(alpha=1.0, arms=3)
    assert p.select().actions[0, 0] == 0
    p.update(None, [0, 0, 1], [1.0, 0.0, 1.0])
    assert p.select().actions[0, 0] == 2  # never played -> +inf
    s = p.scores()
    np.testing.assert_allclose(s[:2], [0.5 + np.sqrt(2 * np.log(3) / 2), 1.0 + np.sqrt(2 * np.log(3) / 1)])
    assert np.isinf(s[2])
    assert p.select().propensities[0, 0] == 1.0


def test_thompson_propensity_estimate_matches_frequency():
    p = ThompsonBeta(arms=3, propensity_draws=400, seed=0)
    p.update(None, [0] * 10 + [1] * 10, [1] * 6 + [0] * 4 + [1] * 4 + [0] * 6)
    d = p.select(np.zeros((3000, 0)))
    freq = np.bincount(d.actions[:, 0], minlength=3) / 3000
    for a in range(3):
        assert d.propensities[d.actions[:, 0] == a, 0].mean() == pytest.approx(freq[a], abs=0.03)


@pytest.mark.parametrize("make", [
    lambda: ThompsonBeta(arms=2, gamma=0.98, propensity_draws=0, seed=0),
    lambda: ThompsonBeta(arms=2, window=100, propensity_draws=0, seed=0),
    lambda: UCB1(alpha=0.3, arms=2, gamma=0.98),
    lambda: EpsilonGreedy(epsilon=0.1, arms=2, window=100, seed=0),
], ids=["beta-discount", "beta-window", "ucb-discount", "egreedy-window"])
def test_non_stationary_policies_adapt_after_change_point(make):
    T = 1200
    probs = np.tile([0.8, 0.2], (T, 1))
    probs[600:] = [0.2, 0.8]
    chosen = run(make(), probs, T)
    assert np.mean(chosen[450:600] == 0) > 0.7
    assert np.mean(chosen[900:] == 1) > 0.7
    # a stationary policy with the same history stays much longer on the old best arm
    stationary = run(ThompsonBeta(arms=2, propensity_draws=0, seed=0), probs, T)
    assert np.mean(chosen[650:800] == 1) > np.mean(stationary[650:800] == 1) + 0.3


@pytest.mark.parametrize("kw", [{"gamma": 0.9}, {"window": 7}, {}])
def test_batched_update_equals_sequential(kw):
    rng = np.random.default_rng(0)
    arms, rewards = rng.integers(0, 4, 50), rng.random(50)
    one, batch = ThompsonBeta(arms=4, **kw), ThompsonBeta(arms=4, **kw)
    for a, r in zip(arms, rewards):
        one.update(None, [a], [r])
    batch.update(None, arms[:20], rewards[:20]).update(None, arms[20:], rewards[20:])
    for x, y in zip(one.posterior_, batch.posterior_):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    if "window" in kw:  # only the last 7 rows count
        ref = ThompsonBeta(arms=4).update(None, arms[-7:], rewards[-7:])
        np.testing.assert_allclose(batch.posterior_[0], ref.posterior_[0], rtol=1e-12)


def test_bad_inputs_raise_clear_errors():
    p = ThompsonBeta(arms=3)
    with pytest.raises(DataError, match="NaN"):
        p.update(None, [0], [np.nan])
    with pytest.raises(UnknownIdError, match="unknown arm"):
        p.update(None, [7], [1.0])
    with pytest.raises(UnknownIdError):
        p.select(arms=[0, 9])
    with pytest.raises(ConfigError, match="gamma"):
        ThompsonBeta(gamma=0.0)
    with pytest.raises(ConfigError, match="either gamma"):
        UCB1(gamma=0.9, window=10)
    with pytest.raises(ConfigError, match="k="):
        p.select(k=4)
    with pytest.raises(ConfigError, match="no arms"):
        UCB1().select()
    with pytest.raises(ConfigError, match="epsilon"):
        EpsilonGreedy(epsilon=1.5)


def test_select_restricted_to_eligible_arms():
    p = UCB1(arms=["x", "y", "z"])
    p.update(None, ["x", "y", "z"], [1.0, 0.0, 0.5])
    d = p.select(arms=["y", "z"], k=2)
    assert list(d.actions[0]) == ["z", "y"]
