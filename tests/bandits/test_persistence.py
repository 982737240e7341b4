"""Save/load with exact resume, state_dict round trips, adding and removing arms."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import (
    UCB1,
    ABTest,
    EpsilonGreedy,
    LinTS,
    LinUCB,
    LinUCBHybrid,
    Policy,
    Softmax,
    ThompsonBeta,
    ThompsonGaussian,
)
from shortlist.errors import ConfigError, ModelFileError, UnknownIdError

F = np.random.default_rng(5).normal(size=(5, 2))
FACTORIES = {
    "egreedy": lambda: EpsilonGreedy(epsilon=0.3, decay=0.01, arms=5, seed=1),
    "softmax": lambda: Softmax(temperature=0.2, arms=5, window=30, seed=1),
    "ucb1": lambda: UCB1(arms=5, gamma=0.99),
    "tbeta": lambda: ThompsonBeta(arms=5, seed=1, propensity_draws=20),
    "tgauss": lambda: ThompsonGaussian(arms=5, seed=1, propensity_draws=20),
    "linucb": lambda: LinUCB(alpha=0.5, arms=5, seed=1),
    "lints": lambda: LinTS(v=0.5, arms=5, seed=1, window=25, propensity_draws=20),
    "hybrid": lambda: LinUCBHybrid(alpha=0.5, arms=5, arm_features=F, seed=1),
    "abtest": lambda: ABTest(variants=5, seed=1, propensity_draws=20),
}


def play(policy, steps, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        x = rng.normal(size=(2, 3))
        d = policy.select(x, k=2)
        out.append((d.actions.copy(), d.propensities.copy()))
        policy.update(x, d.actions[:, 0], (rng.random(2) < 0.3).astype(float))
    return out


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_save_load_resumes_exactly(name, tmp_path):
    p = FACTORIES[name]()
    play(p, 40, seed=0)
    p.save(tmp_path / "p")
    q = Policy.load(tmp_path / "p")
    assert type(q) is type(p)
    a, b = play(p, 40, seed=1), play(q, 40, seed=1)
    for (a1, p1), (a2, p2) in zip(a, b):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(p1, p2)
    arrays, meta = q.state_dict()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    import json
    json.dumps(meta)  # JSON-able
    r = type(p).from_state_dict(arrays, meta)
    np.testing.assert_array_equal(r.select(np.ones((3, 3)), k=2).actions, q.select(np.ones((3, 3)), k=2).actions)


def test_load_rejects_wrong_class_and_missing_folder(tmp_path):
    UCB1(arms=2).save(tmp_path / "u")
    with pytest.raises(ModelFileError):
        LinUCB.load(tmp_path / "u")
    with pytest.raises(ModelFileError):
        Policy.load(tmp_path / "missing")


def test_add_and_remove_arms_keep_other_statistics():
    p = ThompsonBeta(arms=["a", "b", "c"])
    p.update(None, ["a", "b", "c", "c"], [1, 0, 1, 1])
    p.add_arms(["d"])
    a, _b = p.posterior_
    np.testing.assert_array_equal(a, [2, 1, 3, 1])
    p.remove_arms(["b"])
    assert list(p.arms_) == ["a", "c", "d"]
    np.testing.assert_array_equal(p.posterior_[0], [2, 3, 1])
    with pytest.raises(UnknownIdError):
        p.update(None, ["b"], [1.0])
    with pytest.raises(ConfigError, match="already exist"):
        p.add_arms(["a"])
    assert set(p.select(np.zeros((50, 0))).actions[:, 0]) <= {"a", "c", "d"}


def test_linucb_new_arm_gets_prior_and_window_forgets_removed_arm():
    rng = np.random.default_rng(0)
    p = LinUCB(alpha=1.0, arms=3, window=10)
    X = rng.normal(size=(8, 2))
    p.update(X, [0, 1, 2, 0, 1, 2, 0, 1], rng.random(8))
    p.remove_arms([1])
    p.add_arms([7])
    np.testing.assert_array_equal(p.theta_[-1], 0.0)
    mean, sd = p.mean_and_width(X[:1], np.array([2]))
    assert mean[0, 0] == 0 and sd[0, 0] == pytest.approx(np.linalg.norm(X[0]))
    # 5 more rows: the window (10) now drops the 3 oldest remaining rows, arm 1's rows are gone
    p.update(rng.normal(size=(5, 2)), [0, 2, 7, 7, 0], rng.random(5))
    assert len(p._win["slot"]) == 10 and set(p.arms_.tolist()) == {0, 2, 7}
