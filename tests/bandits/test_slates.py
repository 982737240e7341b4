"""Slates and rows with cascade feedback."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import LinUCB, RowsCascade, ThompsonBeta, cascade_examined
from shortlist.errors import DataError


def test_cascade_examined_mask():
    clicks = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 0], [1, 0, 0, 0, 0], [0, 1, 0, 1, 0]])
    m = cascade_examined(clicks, n_seen=2)
    np.testing.assert_array_equal(m.sum(axis=1), [2, 4, 2, 4])
    assert not m[1, 4] and m[1, 3]
    with pytest.raises(DataError):
        cascade_examined(np.array([0, 1]), n_seen=2)


def test_rows_below_last_examined_get_no_update():
    p = ThompsonBeta(arms=6)
    rows = RowsCascade(p, n_seen=2)
    shown = np.array([[5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])
    clicks = np.array([[0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    rows.update(None, shown, clicks)
    a, b = p.posterior_
    # page 1 examined rows 5,4,3,2 (click on 2); page 2 examined 0,1 only
    np.testing.assert_array_equal(a - 1, [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(b - 1, [1, 1, 0, 1, 1, 1])
    # arm 0 on page 1 and arms 2..5 on page 2 were below the last examined row: no update
    assert p.counts_[0] == 1 and p.counts_[5] == 1


def test_rows_with_context_and_per_slot_propensities():
    p = LinUCB(arms=4)
    rows = RowsCascade(p, n_seen=1)
    x = np.eye(3)[:2]
    d = rows.select(x, k=3)
    assert d.actions.shape == (2, 3) and np.all(d.propensities == 1)
    mask = rows.update(x, d.actions, np.array([[0, 1, 0], [0, 0, 0]]))
    np.testing.assert_array_equal(mask, [[1, 1, 0], [1, 0, 0]])
    assert p.t_ == 3
