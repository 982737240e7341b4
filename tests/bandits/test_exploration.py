"""Exploration slots: reserved positions, logged propensities."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import exploration_slots
from shortlist.errors import ConfigError, DataError


def test_reserved_positions_hold_pool_items_and_order_is_kept():
    ranked = np.arange(10)
    res = exploration_slots(ranked, [100, 101, 102], positions=[1, 4], k=6, rng=0)
    assert len(res.items) == 6
    assert set(res.items[[1, 4]]) <= {100, 101, 102}
    np.testing.assert_array_equal(res.items[[0, 2, 3, 5]], [0, 1, 2, 3])
    np.testing.assert_array_equal(res.explored, [0, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(res.propensities[[0, 2, 3, 5]], 1.0)
    np.testing.assert_allclose(res.propensities[[1, 4]], [1 / 3, 1 / 2])


def test_weighted_propensities_match_frequencies():
    pool, w = np.array([7, 8, 9]), np.array([1.0, 3.0, 6.0])
    rng = np.random.default_rng(0)
    firsts, props = [], []
    for _ in range(4000):
        r = exploration_slots([1, 2, 3], pool, positions=[0], weights=w, rate=0.5, rng=rng)
        firsts.append(r.items[0])
        props.append(r.propensities[0])
    firsts, props = np.array(firsts), np.array(props)
    for item, wi in zip(pool, w):
        assert np.all(props[firsts == item] == pytest.approx(0.5 * wi / 10))
        assert np.mean(firsts == item) == pytest.approx(0.5 * wi / 10, abs=0.02)
    assert np.all(props[firsts == 1] == 0.5)  # slot left to the ranking with probability 1 - rate


def test_pool_items_already_ranked_are_not_duplicated():
    res = exploration_slots([5, 6, 7, 8], [6, 9], positions=[0, 1], rng=1)
    assert len(set(res.items.tolist())) == len(res.items) == 4
    np.testing.assert_allclose(res.propensities[:2], [0.5, 1.0])


def test_bad_inputs():
    with pytest.raises(DataError, match="weights"):
        exploration_slots([1], [2, 3], weights=[1.0, -1.0])
    with pytest.raises(ConfigError, match="rate"):
        exploration_slots([1], [2], rate=2.0)
    with pytest.raises(ConfigError, match="positions"):
        exploration_slots([1], [2], positions=[-1])
    with pytest.raises(DataError, match="duplicate"):
        exploration_slots([1], [2, 2])
