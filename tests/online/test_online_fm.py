"""The online FM's Adagrad step against finite differences of a plain-numpy FM loss."""

import numpy as np

from shortlist.online.embeddings import CollisionlessTable, feature_keys
from shortlist.online.training.fm import OnlineFM, fm_reference_loss


def numeric_grad(vecs: np.ndarray, bias: float, y: float, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(vecs)
    for idx in np.ndindex(vecs.shape):
        hi, lo = vecs.copy(), vecs.copy()
        hi[idx] += eps
        lo[idx] -= eps
        g[idx] = (fm_reference_loss(hi, bias, y) - fm_reference_loss(lo, bias, y)) / (2 * eps)
    return g


def test_one_step_is_adagrad_on_the_true_gradient():
    fm = OnlineFM(CollisionlessTable(dim=5, max_rows=10, init_scale=0.3), fields=("user", "item", "position"), lr=0.1)
    keys = fm.keys({"user": ["3"], "item": ["8"], "position": ["1"]})
    fm.dense[0] = 0.2
    rows = fm.table.lookup(keys.ravel(), 0)
    before = fm.table.weights[rows].astype(np.float64)
    for y in (1.0,):
        g = numeric_grad(before, 0.2, y)
        pred, loss = fm.train(keys, np.array([y]))
        assert np.isclose(loss, fm_reference_loss(before, 0.2, y), rtol=1e-5)
        assert np.isclose(pred[0], np.exp(-loss), rtol=1e-5)  # y = 1: loss = -log p
        step = fm.table.weights[rows] - before
        expected = -0.1 * g / np.sqrt(g * g + 1e-8)
        np.testing.assert_allclose(step, expected, rtol=2e-3, atol=1e-6)
        np.testing.assert_allclose(fm.table.accum[rows], g * g, rtol=1e-3, atol=1e-9)
        # the dense bias steps once per batch, on its own accumulator
        gb = pred[0] - y
        assert np.isclose(fm.dense[0], 0.2 - 0.1 * gb / np.sqrt(gb * gb + 1e-8))


def test_weight_minus_one_takes_a_label_back():
    fm = OnlineFM(CollisionlessTable(dim=4, max_rows=10, init_scale=0.2), lr=0.05)
    keys = fm.keys({"user": [1], "item": [2]})
    fm.table.lookup(keys.ravel(), 0)  # admit both keys first: predict() alone reads the default row
    p0 = fm.predict(keys)[0]
    pred, loss = fm.train(keys, np.array([0.0]), np.array([-1.0]))
    assert loss < 0 and np.isclose(pred[0], p0)
    assert fm.predict(keys)[0] > p0  # un-learning a negative raises the score


def test_predict_matches_the_numpy_fm():
    fm = OnlineFM(CollisionlessTable(dim=3, max_rows=100, init_scale=0.5), fields=("user", "item"))
    keys = fm.keys({"user": np.arange(20), "item": np.arange(20) % 7})
    fm.table.lookup(keys.ravel(), 0)
    fm.dense[0] = -0.3
    got = fm.predict(keys)
    for n in range(20):
        vecs = fm.table.weights[fm.table.find(keys[n])].astype(np.float64)
        assert np.isclose(got[n], np.exp(-fm_reference_loss(vecs, -0.3, 1.0)), rtol=1e-5)
    assert fm.table.find(feature_keys(0, [999])).tolist() == [0]
