"""Neural-linear bandit on top of a factor model's embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import NeuralLinear
from shortlist.errors import DataError, UnknownIdError


class Factors:
    """Any object with user_factors_ / item_factors_ works (duck-typed FactorModel)."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.user_factors_ = rng.normal(size=(20, 4)).astype(np.float32)
        self.item_factors_ = rng.normal(size=(15, 4)).astype(np.float32)


def test_starts_as_the_model_and_learns_a_correction(tmp_path):
    m = Factors()
    p = NeuralLinear(model=m, alpha=0.0)
    d = p.select(np.arange(20), k=5)
    ref = np.argsort(-(m.user_factors_ @ m.item_factors_.T), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(d.actions, ref)
    # true reward ignores factor 0: the head must learn to down-weight it
    rng = np.random.default_rng(1)
    w = np.array([0.0, 1.0, 1.0, 1.0])
    for _ in range(30):
        users = rng.integers(0, 20, 50)
        items = rng.integers(0, 15, 50)
        phi = m.user_factors_[users] * m.item_factors_[items]
        p.update(users, items, phi @ w)
    np.testing.assert_allclose(p.theta_, w, atol=0.05)
    p.save(tmp_path / "nl")
    q = NeuralLinear.load(tmp_path / "nl", model=m)
    np.testing.assert_array_equal(q.select(np.arange(20), k=3).actions, p.select(np.arange(20), k=3).actions)
    # without the model, embeddings still work
    r = NeuralLinear.load(tmp_path / "nl")
    np.testing.assert_array_equal(r.select(m.user_factors_[:4], k=3).actions, p.select(np.arange(4), k=3).actions)
    with pytest.raises(DataError, match="need the model"):
        r.select(np.arange(3))


def test_new_items_and_bad_ids():
    m = Factors()
    p = NeuralLinear(model=m)
    p.add_arms([100], features=np.ones((1, 4)))
    assert 100 in p.select(np.arange(20), k=15).actions
    with pytest.raises(UnknownIdError):
        p.select(np.array([25]))
    with pytest.raises(DataError, match="columns"):
        p.add_arms([101], features=np.ones((1, 3)))
