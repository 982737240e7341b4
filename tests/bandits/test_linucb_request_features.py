"""LinUCBHybrid with arm features that change per request: Algorithm 2 by hand, and an age-driven problem."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import LinUCBHybrid
from shortlist.errors import ConfigError, DataError


def brute_hybrid_per_step(X, F, alpha, R):
    """Li et al. (2010) Algorithm 2 line by line, arm a's features at step t being F[t, a]."""
    d, q = X.shape[1], F.shape[2]
    k = d * q
    A0, b0 = np.eye(k), np.zeros(k)
    A, B, b = [np.eye(d) for _ in F[0]], [np.zeros((d, k)) for _ in F[0]], [np.zeros(d) for _ in F[0]]
    scores, chosen = [], []
    for t, x in enumerate(X):
        A0i = np.linalg.inv(A0)
        beta = A0i @ b0
        p = np.empty(F.shape[1])
        for a in range(F.shape[1]):
            z = np.outer(x, F[t, a]).reshape(-1)
            Ai = np.linalg.inv(A[a])
            theta = Ai @ (b[a] - B[a] @ beta)
            s = (z @ A0i @ z - 2 * z @ A0i @ B[a].T @ Ai @ x + x @ Ai @ x
                 + x @ Ai @ B[a] @ A0i @ B[a].T @ Ai @ x)
            p[a] = z @ beta + x @ theta + alpha * np.sqrt(s)
        a = int(np.argmax(p))
        scores.append(p)
        chosen.append(a)
        z = np.outer(x, F[t, a]).reshape(-1)
        Ai = np.linalg.inv(A[a])
        A0 += B[a].T @ Ai @ B[a]
        b0 += B[a].T @ Ai @ b[a]
        A[a] += np.outer(x, x)
        B[a] += np.outer(x, z)
        b[a] += R[t, a] * x
        Ai = np.linalg.inv(A[a])
        A0 += np.outer(z, z) - B[a].T @ Ai @ B[a]
        b0 += R[t, a] * z - B[a].T @ Ai @ b[a]
    return np.array(scores), np.array(chosen)


def test_per_request_features_follow_algorithm_2():
    rng = np.random.default_rng(3)
    X, F, R = rng.normal(size=(30, 3)), rng.normal(size=(30, 4, 2)), rng.random((30, 4))
    ref_scores, ref_chosen = brute_hybrid_per_step(X, F, 0.4, R)
    p = LinUCBHybrid(alpha=0.4, arms=4, arm_features=rng.normal(size=(4, 2)))  # stored f: never used here
    arms = np.array([2, 0, 3, 1])  # any order: feature rows follow the arms given
    for t in range(30):
        dec = p.select(X[t], arms, k=4, arm_features=F[t, arms])
        np.testing.assert_allclose(np.sort(dec.scores[0]), np.sort(ref_scores[t]), rtol=1e-8, atol=1e-10)
        a = int(dec.actions[0][0])
        assert a == ref_chosen[t]
        p.update(X[t], [a], [R[t, a]], arm_features=F[t, [a]])


def test_stored_features_passed_per_request_change_nothing():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(5, 3))
    plain, per_req = (LinUCBHybrid(alpha=0.3, arms=5, arm_features=f) for _ in range(2))
    for _ in range(20):
        x, arms = rng.normal(size=(1, 2)), rng.choice(5, 3, replace=False)
        d1, d2 = plain.select(x, arms, k=2), per_req.select(x, arms, k=2, arm_features=f[arms])
        np.testing.assert_array_equal(d1.actions, d2.actions)
        np.testing.assert_allclose(d1.scores, d2.scores)
        r = rng.random(2)
        plain.update(np.repeat(x, 2, 0), d1.actions[0], r)
        per_req.update(np.repeat(x, 2, 0), d2.actions[0], r, arm_features=f[d2.actions[0]])


def test_wrong_shapes_and_window_are_refused():
    p = LinUCBHybrid(arms=3, arm_features=np.eye(3))
    with pytest.raises(DataError, match=r"arm_features must be a finite array of shape \(2, 3\)"):
        p.select(np.ones(2), [0, 1], arm_features=np.ones((2, 2)))
    with pytest.raises(ConfigError, match="needs arms"):
        p.select(np.ones(2), arm_features=np.ones((3, 3)))
    w = LinUCBHybrid(arms=3, arm_features=np.eye(3), window=10)
    with pytest.raises(ConfigError, match="window"):
        w.update(np.ones((1, 2)), [0], [1.0], arm_features=np.ones((1, 3)))


def _stream(use_age: bool, seed: int, rounds: int = 400) -> float:
    """Stories arrive two per round and live 30 rounds; a click's chance halves every 5 rounds of age
    and is higher on the user's topic. Returns the click rate of the bandit's pick."""
    rng = np.random.default_rng(seed)
    n_top, life = 3, 30
    bandit = LinUCBHybrid(alpha=0.3, seed=seed)
    publish, topic, live = np.zeros(2 * rounds), rng.integers(0, n_top, 2 * rounds), np.zeros(0, np.int64)

    def feats(arms, t):
        f = np.zeros((arms.size, n_top + 1 + use_age))
        f[np.arange(arms.size), topic[arms]] = 1.0
        f[:, n_top] = 1.0
        if use_age:  # the feature's half-life (8) is not the world's (5): it need not be exact
            f[:, -1] = np.exp2(-(t - publish[arms]) / 8.0)
        return f

    clicks = 0.0
    for t in range(rounds):
        new = np.arange(2 * t, 2 * t + 2)
        publish[new] = t
        bandit.add_arms(new, features=feats(new, t))
        live = np.concatenate([live, new])
        old = live[t - publish[live] >= life]
        if old.size:
            bandit.remove_arms(old)
            live = live[t - publish[live] < life]
        user = int(rng.integers(n_top))
        x = np.eye(n_top + 1)[user] + np.eye(n_top + 1)[n_top]
        a = int(bandit.select(x, live, 1, arm_features=feats(live, t)).actions[0][0])
        p = 0.05 + 0.6 * np.exp2(-(t - publish[a]) / 5.0) * (0.5 + 0.5 * (topic[a] == user))
        r = float(rng.random() < p)
        clicks += r
        bandit.update(x, [a], [r], arm_features=feats(np.array([a]), t))
    return clicks / rounds


def test_an_age_feature_learns_that_fresh_stories_get_the_clicks():
    # measured over seeds 0-4: topic only 0.04-0.09, topic + age 0.34-0.50 (picking at random: ~0.15)
    for seed in (0, 1, 2):
        topic_only, with_age = _stream(False, seed), _stream(True, seed)
        assert topic_only < 0.15
        assert with_age > 0.28
        assert with_age - topic_only > 0.2
