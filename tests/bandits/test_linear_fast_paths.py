"""LinUCB's fast paths (deferred re-inversion, packed scoring, one-call serving select) against
the eager Sherman-Morrison path and brute-force inverses."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import LinTS, LinUCB, Policy
from shortlist.bandits._kernels import refresh_inverse


def _data(n=400, d=6, m=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, m, n), rng.random(n)


def _brute(X, arms, r, m, l2):
    d = X.shape[1]
    Ainv = np.empty((m, d, d))
    theta = np.empty((m, d))
    for a in range(m):
        Xa = X[arms == a]
        Ainv[a] = np.linalg.inv(l2 * np.eye(d) + Xa.T @ Xa)
        theta[a] = Ainv[a] @ (Xa.T @ r[arms == a])
    return Ainv, theta


def test_deferred_batch_equals_row_by_row_and_brute_force():
    X, arms, r = _data()
    eager, lazy = LinUCB(l2=0.5, arms=8), LinUCB(l2=0.5, arms=8)
    for i in range(len(X)):
        eager.update(X[i:i + 1], arms[i:i + 1], r[i:i + 1])
    lazy.update(X, arms, r)
    assert lazy._any_dirty and lazy._dirty.all()  # the batch was deferred, not applied row by row
    assert not eager._any_dirty
    Ainv, theta = _brute(X, arms, r, 8, 0.5)
    np.testing.assert_allclose(lazy.theta_, theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(eager.theta_, theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lazy._state["Ainv"], Ainv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(eager._state["Ainv"], Ainv, rtol=1e-6, atol=1e-12)
    Q = np.random.default_rng(3).normal(size=(50, 6))
    np.testing.assert_array_equal(lazy.select(Q, k=3).actions, eager.select(Q, k=3).actions)


def test_cholesky_refresh_matches_lapack_inverse_on_ill_conditioned_arms():
    rng = np.random.default_rng(1)
    d = 8
    B = rng.normal(size=(3, 40, 3)) @ rng.normal(size=(3, 3, d))  # rank 3 of 8: l2 carries the rest
    A = np.einsum("ani,anj->aij", B, B) * 1e3
    b = rng.normal(size=(3, d))
    Ainv, theta, P = np.empty((3, d, d)), np.empty((3, d)), np.empty((3, d * (d + 1) // 2))
    refresh_inverse(A, b, Ainv, theta, P, np.ones(3, bool), 1e-2)
    ref = np.linalg.inv(A + 1e-2 * np.eye(d))
    np.testing.assert_allclose(Ainv, ref, rtol=1e-6, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(theta, np.einsum("aij,aj->ai", ref, b), rtol=1e-5, atol=1e-8)
    x = rng.normal(size=d)
    iu, ju = np.triu_indices(d)
    np.testing.assert_allclose(P @ (x[iu] * x[ju]), np.einsum("i,aij,j->a", x, ref, x), rtol=1e-6)


def test_online_updates_on_a_deferred_arm_stay_exact():
    X, arms, r = _data(n=300)
    p = LinUCB(arms=8)
    p.update(X[:200], arms[:200], r[:200])              # deferred
    for i in range(200, 300):                            # rows on dirty arms: accumulated
        p.update(X[i], arms[i:i + 1], r[i:i + 1])
    p.select(X[:2])                                      # flush
    for i in range(200, 300):                            # now Sherman-Morrison on clean arms
        p.update(X[i], arms[i:i + 1], r[i:i + 1])
    Xd, ad, rd = np.concatenate([X, X[200:]]), np.concatenate([arms, arms[200:]]), np.concatenate([r, r[200:]])
    _, theta = _brute(Xd, ad, rd, 8, 1.0)
    np.testing.assert_allclose(p.theta_, theta, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("ids", [None, ["a", "b", "c", "d", "e", "f", "g", "h"]])
def test_serving_select_equals_general_path(ids):
    X, arms, r = _data()
    p = LinUCB(alpha=0.8, arms=8 if ids is None else ids)
    acts = arms if ids is None else np.array(ids)[arms]
    p.update(X, acts, r)
    Q = np.random.default_rng(2).normal(size=(40, 6))
    mean, sd = p.mean_and_width(Q, np.arange(8))
    ucb = mean + 0.8 * sd
    want = np.argmax(ucb, axis=1)
    for i in range(40):
        d = p.select(Q[i:i + 1])                         # the one-call serving path
        assert d.actions[0, 0] == (want[i] if ids is None else ids[want[i]])
        assert d.scores[0, 0] == pytest.approx(ucb[i, want[i]], rel=1e-12)
        assert d.propensities[0, 0] == 1.0
    g = p.select(Q[:5].tolist())                         # a list: the general path
    np.testing.assert_array_equal(g.actions, p.select(Q[:5]).actions)
    sub = p.select(Q[:3], arms=p.arms_[[1, 4, 6]])         # a subset of arms
    best = np.array([1, 4, 6])[np.argmax(ucb[:3][:, [1, 4, 6]], axis=1)]
    np.testing.assert_array_equal(sub.actions[:, 0], p.arms_[best])


def test_ties_go_to_the_earliest_arm_on_every_path():
    p = LinUCB(arms=5)
    p.update(np.ones((1, 3)), [0], [0.0])                # arm 0 differs, arms 1..4 identical
    x = np.array([[0.0, 0.0, 0.0]])
    assert p.select(x).actions[0, 0] == 0                # all widths 0: tie over all arms
    x = np.array([[-1.0, 0.5, 0.2]])
    assert p.select(x).actions[0, 0] == 1
    assert np.all(p.select(np.repeat(x, 40, axis=0)).actions[:, 0] == 1)


def test_save_right_after_a_deferred_batch_resumes_exactly(tmp_path):
    X, arms, r = _data()
    p = LinUCB(alpha=0.5, arms=8, window=150)
    p.update(X[:300], arms[:300], r[:300])
    p.save(tmp_path / "p")                               # pending re-inversions done before writing
    q = Policy.load(tmp_path / "p")
    for i in range(300, 400):
        a, b = p.select(X[i:i + 1], k=2), q.select(X[i:i + 1], k=2)
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.scores, b.scores)
        p.update(X[i:i + 1], a.actions[:, 0], r[i:i + 1])
        q.update(X[i:i + 1], b.actions[:, 0], r[i:i + 1])
    np.testing.assert_array_equal(p.theta_, q.theta_)


def test_arm_changes_while_inverses_are_deferred():
    X, arms, r = _data()
    p = LinUCB(arms=8)
    p.update(X, arms, r)                                 # deferred
    p.remove_arms([2, 5]).add_arms([8])
    keep = np.array([0, 1, 3, 4, 6, 7])
    _, theta = _brute(X, arms, r, 8, 1.0)
    np.testing.assert_allclose(p.theta_[:6], theta[keep], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(p.theta_[6], 0.0)
    p.update(X[:200], np.where(arms[:200] == 2, 8, 0), r[:200])
    mask = arms[:200] == 2
    _, th8 = _brute(X[:200][mask], np.zeros(mask.sum(), int), r[:200][mask], 1, 1.0)
    np.testing.assert_allclose(p.theta_[6], th8[0], rtol=1e-9)


def test_lints_uses_the_sampling_path():
    X, arms, r = _data()
    p = LinTS(v=1.0, arms=8, propensity_draws=50, seed=0)
    p.update(X, arms, r)
    d = p.select(X[:1])
    assert 0 < d.propensities[0, 0] < 1                  # sampled, not the deterministic UCB path


def test_serving_update_equals_general_update_and_checks_inputs():
    from shortlist.errors import DataError, UnknownIdError

    X, arms, r = _data(n=200)
    fast, slow = LinUCB(arms=8), LinUCB(arms=8)
    for i in range(200):
        fast.update(X[i:i + 1], arms[i:i + 1], r[i:i + 1])             # one-call path
        slow.update(X[i].tolist(), [int(arms[i])], [float(r[i])])        # lists: the general path
    assert fast.t_ == slow.t_ == 200
    np.testing.assert_array_equal(fast._state["Ainv"], slow._state["Ainv"])
    np.testing.assert_array_equal(fast.theta_, slow.theta_)
    _, theta = _brute(X, arms, r, 8, 1.0)
    np.testing.assert_allclose(fast.theta_, theta, rtol=1e-9, atol=1e-12)
    before = {k: v.copy() for k, v in fast._state.items()}
    with pytest.raises(UnknownIdError, match="unknown arm ids"):
        fast.update(X[:1], np.array([8]), r[:1])
    with pytest.raises(DataError, match="NaN"):
        fast.update(X[:1], arms[:1], np.array([np.nan]))
    with pytest.raises(DataError, match="NaN"):
        fast.update(np.full((1, 6), np.inf), arms[:1], r[:1])
    for k, v in before.items():                                      # rejected rows changed nothing
        np.testing.assert_array_equal(fast._state[k], v)
    assert fast.t_ == 200


def test_checked_kernel_accepts_every_arm_and_rejects_out_of_range_slots():
    from shortlist.bandits._kernels import update_checked

    X, arms, r = _data(n=20)
    lin = LinUCB(arms=8)
    lin.update(X[:1], arms[:1], r[:1])
    st = lin._state

    def call(slot):
        return update_checked(st["A"], st["b"], st["Ainv"], st["theta"], lin._P, lin._dirty, X[1:2],
                              np.array([slot], np.int64), lin._ones, r[1:2])

    before = st["A"].copy()
    assert not call(-1) and not call(8)
    np.testing.assert_array_equal(st["A"], before)
    assert call(0) and call(7)    # the first and the last arm are served by the kernel itself
    assert not np.array_equal(st["A"][0], before[0]) and not np.array_equal(st["A"][7], before[7])


def test_ucb_kernel_reports_whether_it_scored():
    from shortlist.bandits._kernels import ucb_best

    X, arms, r = _data(n=20)
    lin = LinUCB(arms=8)
    lin.update(X, arms, r)
    slots = np.arange(8, dtype=np.int64)
    best, score = np.full((2, 1), -1, np.int64), np.zeros((2, 1))
    assert ucb_best(X[:2], lin._state["theta"], lin._P, slots, 1.0, best, score)
    assert (best >= 0).all() and np.isfinite(score).all()
    bad = X[:2].copy()
    bad[1, 0] = np.nan
    best[:] = -1
    assert not ucb_best(bad, lin._state["theta"], lin._P, slots, 1.0, best, score)
    assert (best == -1).all()   # nothing computed
