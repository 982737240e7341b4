"""LinUCB (disjoint, hybrid) and LinTS against brute-force computations."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import LinTS, LinUCB, LinUCBHybrid
from shortlist.errors import DataError


def _data(n=300, d=5, m=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, m, n), rng.random(n)


def brute_linucb(X, arms, rewards, m, alpha, l2, Q):
    """theta = A^-1 b, ucb = x.theta + alpha sqrt(x A^-1 x), from scratch."""
    d = X.shape[1]
    out = np.empty((len(Q), m))
    for a in range(m):
        Xa = X[arms == a]
        A = l2 * np.eye(d) + Xa.T @ Xa
        b = Xa.T @ rewards[arms == a]
        Ainv = np.linalg.inv(A)
        theta = Ainv @ b
        out[:, a] = Q @ theta + alpha * np.sqrt(np.einsum("ni,ij,nj->n", Q, Ainv, Q))
    return out


@pytest.mark.parametrize("n_query", [3, 200])  # numba kernel path and BLAS path
def test_linucb_scores_equal_brute_force(n_query):
    X, arms, r = _data()
    p = LinUCB(alpha=0.7, l2=2.0, arms=6)
    p.update(X[:100], arms[:100], r[:100])
    for i in range(100, 300):  # online updates too
        p.update(X[i], arms[i:i + 1], r[i:i + 1])
    Q = np.random.default_rng(1).normal(size=(n_query, 5))
    mean, sd = p.mean_and_width(Q, np.arange(6))
    ref = brute_linucb(X, arms, r, 6, 0.7, 2.0, Q)
    np.testing.assert_allclose(mean + 0.7 * sd, ref, rtol=1e-9, atol=1e-10)
    d = p.select(Q, k=3)
    np.testing.assert_array_equal(d.actions, np.argsort(-ref, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(d.scores, np.sort(ref, axis=1)[:, ::-1][:, :3], rtol=1e-9)
    assert np.all(d.propensities == 1.0)


def test_linucb_discount_and_window_equal_brute_force():
    X, arms, r = _data(n=120)
    g = LinUCB(alpha=1.0, arms=6, gamma=0.95)
    w = LinUCB(alpha=1.0, arms=6, window=40)
    g.update(X[:70], arms[:70], r[:70]).update(X[70:], arms[70:], r[70:])
    for i in range(120):
        w.update(X[i:i + 1], arms[i:i + 1], r[i:i + 1])
    Q = X[:10]
    wts = 0.95 ** np.arange(119, -1, -1)
    for a in range(6):
        sel = arms == a
        A = np.eye(5) + (X[sel] * wts[sel, None]).T @ X[sel]
        np.testing.assert_allclose(g.theta_[a], np.linalg.solve(A, X[sel].T @ (wts[sel] * r[sel])), rtol=1e-9)
    ref = brute_linucb(X[-40:], arms[-40:], r[-40:], 6, 1.0, 1.0, Q)
    mean, sd = w.mean_and_width(Q, np.arange(6))
    np.testing.assert_allclose(mean + sd, ref, rtol=1e-8)


def test_linucb_learns_linear_rewards():
    rng = np.random.default_rng(0)
    d, m, T = 4, 5, 1500
    true = rng.normal(size=(m, d))
    p = LinUCB(alpha=0.5, arms=m)
    hits = []
    for _ in range(T):
        x = rng.normal(size=d)
        a = int(p.select(x).actions[0, 0])
        best = int(np.argmax(true @ x))
        hits.append(a == best)
        p.update(x, [a], [true[a] @ x + 0.1 * rng.normal()])
    assert np.mean(hits[:20]) < 0.7 and np.mean(hits[-300:]) > 0.9


def test_lints_learns_and_propensities_track_frequencies():
    rng = np.random.default_rng(1)
    true = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    p = LinTS(v=0.3, arms=3, propensity_draws=0, seed=0)
    hits = []
    for _ in range(800):
        x = rng.normal(size=2)
        a = int(p.select(x).actions[0, 0])
        hits.append(a == int(np.argmax(true @ x)))
        p.update(x, [a], [true[a] @ x + 0.1 * rng.normal()])
    assert np.mean(hits[-200:]) > 0.85
    q = LinTS(v=3.0, arms=3, propensity_draws=1000, seed=0)
    q.update(rng.normal(size=(30, 2)), rng.integers(0, 3, 30), rng.normal(size=30))
    x = np.repeat(rng.normal(size=(1, 2)), 3000, axis=0)
    d = q.select(x)
    freq = np.bincount(d.actions[:, 0], minlength=3) / 3000
    for a in range(3):
        if freq[a] > 0:
            assert d.propensities[d.actions[:, 0] == a, 0].mean() == pytest.approx(freq[a], abs=0.03)


def brute_hybrid(X, F, alpha, steps_rewards, rng):
    """Li et al. (2010) Algorithm 2, line by line, with fixed arm features; the score matrix at every step."""
    from tests.bandits.test_linucb_request_features import brute_hybrid_per_step

    return brute_hybrid_per_step(X, np.broadcast_to(F, (len(X), *F.shape)), alpha, steps_rewards)


def test_linucb_hybrid_equals_algorithm_2():
    rng = np.random.default_rng(0)
    X, F = rng.normal(size=(40, 3)), rng.normal(size=(4, 2))
    R = rng.random((40, 4))
    ref_scores, ref_chosen = brute_hybrid(X, F, 0.8, R, rng)
    p = LinUCBHybrid(alpha=0.8, arms=4, arm_features=F)
    for t in range(40):
        d = p.select(X[t], k=4)
        order = np.argsort(-ref_scores[t], kind="stable")
        np.testing.assert_array_equal(d.actions[0], order)
        np.testing.assert_allclose(d.scores[0], ref_scores[t][order], rtol=1e-8, atol=1e-10)
        a = ref_chosen[t]
        p.update(X[t], [a], [R[t, a]])
    # one batched update reaches the same state as 40 sequential ones
    q = LinUCBHybrid(alpha=0.8, arms=4, arm_features=F)
    q.update(X, ref_chosen, R[np.arange(40), ref_chosen])
    np.testing.assert_allclose(q.select(X[:5], k=4).scores, p.select(X[:5], k=4).scores, rtol=1e-9)


def test_context_dimension_mismatch_and_nan():
    p = LinUCB(arms=3)
    p.update(np.ones((2, 4)), [0, 1], [1.0, 0.0])
    with pytest.raises(DataError, match="has 5 features but this policy was built with 4"):
        p.select(np.ones((1, 5)))
    with pytest.raises(DataError, match="NaN"):
        p.select(np.array([[np.nan, 0, 0, 0]]))
    with pytest.raises(DataError, match="needs a context"):
        p.select()
    with pytest.raises(DataError, match="rows"):
        p.update(np.ones((3, 4)), [0, 1], [1.0, 0.0])
