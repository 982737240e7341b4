"""A/B allocation: posterior probabilities and expected loss against Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import ABTest


def mc_reference(a, b, n=400_000, seed=0):
    s = np.random.default_rng(seed).beta(a, b, size=(n, len(a)))
    best = np.bincount(s.argmax(axis=1), minlength=len(a)) / n
    loss = (s.max(axis=1, keepdims=True) - s).mean(axis=0)
    return best, loss


def test_prob_best_and_expected_loss_match_monte_carlo():
    t = ABTest(variants=["A", "B", "C"])
    t.record("A", 40, 1000).record("B", 52, 1000).record("C", 45, 980)
    a, b = t.posterior_
    np.testing.assert_array_equal(a, [41, 53, 46])
    best, loss = mc_reference(a, b)
    pb, el = t.prob_best(), t.expected_loss()
    np.testing.assert_allclose([pb[v] for v in "ABC"], best, atol=3e-3)
    np.testing.assert_allclose([el[v] for v in "ABC"], loss, atol=2e-4)
    assert sum(pb.values()) == pytest.approx(1.0)


def test_allocation_follows_prob_best_and_stopping_rule():
    t = ABTest(variants=2, seed=0, loss_threshold=1e-4)
    t.record(0, 100, 1000).record(1, 130, 1000)
    pb = t.prob_best()
    alloc = t.allocate(20_000)
    assert alloc.sum() == 20_000
    assert alloc[1] / 20_000 == pytest.approx(pb[1], abs=0.01)
    stop, winner = t.should_stop()
    assert winner == 1 and stop  # P(best) ~ 0.98 > 0.95
    early = ABTest(variants=2).record(0, 1, 10).record(1, 2, 10)
    assert early.should_stop()[0] is False
