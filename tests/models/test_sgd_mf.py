"""SGD matrix factorization: contract per loss, exact update steps, objectives, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions
from shortlist.errors import ConfigError
from shortlist.models import create_model
from shortlist.models._kernels import sgd as kern
from shortlist.models.sgd_mf import BPR, SGDMF, WARP, LogisticMF, WeightedMSEMF
from tests.conftest import block_interactions, shared_dataset
from tests.models.contract import RecommenderContract

FAST = {"factors": 8, "epochs": 15, "num_threads": 1}


class TestBPRContract(RecommenderContract):
    def make_model(self):
        return BPR(**FAST)


class TestWARPContract(RecommenderContract):
    def make_model(self):
        return WARP(**FAST)


class TestWeightedMSEContract(RecommenderContract):
    def make_model(self):
        return WeightedMSEMF(**FAST)


class TestLogisticContract(RecommenderContract):
    def make_model(self):
        return LogisticMF(**FAST)


class TestGenericEngineContract(RecommenderContract):
    def make_model(self):
        return SGDMF(loss="bpr", use_bias=False, schedule="cosine", learning_rate=0.3, **FAST)


# -- objectives computed independently in numpy -------------------------------------------
def _softplus(x):
    return np.logaddexp(0.0, x)


def objective(model: SGDMF, m: sp.csr_matrix) -> float:
    """The loss the model minimizes, over the full matrix (no sampling)."""
    s = model.score_indices(np.arange(m.shape[0])).astype(np.float64)
    pos = m.toarray() > 0
    n_u = pos.sum(axis=1)
    if model.loss == "bpr":  # mean over all (positive, negative) pairs of each user
        vals = [_softplus(-(s[u, pos[u]][:, None] - s[u, ~pos[u]][None, :])).mean() for u in range(len(s))]
        return float(np.mean(vals))
    if model.loss == "warp":  # log of the margin rank of every positive
        ranks = [((s[u, ~pos[u]][None, :] > s[u, pos[u]][:, None] - 1).sum(axis=1)) for u in range(len(s))]
        return float(np.mean(np.log1p(np.concatenate(ranks))))
    if model.loss == "mse":
        return float(((1 - s[pos]) ** 2).sum() + model.w0 * (s[~pos] ** 2).sum())
    neg_scale = n_u * model.negatives / (m.shape[1] - n_u)  # expected negatives per unobserved cell
    return float(_softplus(-s[pos]).sum() + (neg_scale[:, None] * _softplus(s) * ~pos).sum())


@pytest.mark.parametrize("cls", [BPR, WARP, WeightedMSEMF, LogisticMF])
def test_each_loss_decreases_its_objective(cls):
    data = block_interactions(30, 24, density=0.4, seed=3)
    after_one = cls(factors=8, epochs=1, num_threads=1, random_state=5).fit(data)
    after_many = cls(factors=8, epochs=25, num_threads=1, random_state=5).fit(data)
    first, last = objective(after_one, data.matrix), objective(after_many, data.matrix)
    assert last < 0.8 * first, (first, last)
    assert after_many.epoch_loss_[-1] < after_many.epoch_loss_[0]


# -- one update step vs finite differences on a 3x3 example ----------------------------------
# user 0 has seen items 0 and 1, so item 2 is its only negative; users 1 and 2 saw everything
M3 = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [1, 1, 1]], np.float32))
LR, REG_U, REG_I, NEG_W = 0.1, 0.03, 0.02, 0.7


def _start():
    rng = np.random.default_rng(1)
    return (rng.normal(0, 0.3, (3, 2)), rng.normal(0, 0.3, (3, 2)), rng.normal(0, 0.1, 3))


def _fd_step(params, loss_fn, cells):
    """params - LR * d/dparams (loss_fn + L2 on the touched rows), by central differences."""
    def total(p):
        U, V, b = p
        # each touched user and item is regularised once per step, as the kernel does
        reg = sum(REG_U / 2 * U[u] @ U[u] for u in {u for u, _ in cells})
        reg += sum(REG_I / 2 * (V[i] @ V[i] + b[i] ** 2) for i in {i for _, i in cells})
        return loss_fn(U, V, b) + reg

    new = [p.copy() for p in params]
    eps = 1e-6
    for k, p in enumerate(params):
        for idx in np.ndindex(p.shape):
            up = [q.copy() for q in params]
            dn = [q.copy() for q in params]
            up[k][idx] += eps
            dn[k][idx] -= eps
            new[k][idx] -= LR * (total(up) - total(dn)) / (2 * eps)
    return new


def _x(U, V, b, u, i):
    return U[u] @ V[i] + b[i]


def _run_kernel(loss, seed, params):
    U, V, b = (np.array(p, np.float32) for p in params)
    gU, gV, gb = np.ones_like(U), np.ones_like(V), np.ones((3, 1), np.float32)
    losses = kern.sgd_epoch(loss, np.array([0], np.int64), np.array([0], np.int32), np.array([0], np.int32),
                            np.array([1.5], np.float32), M3.indptr.astype(np.int64), M3.indices.astype(np.int32),
                            U, V, b, gU, gV, gb, LR, REG_U, REG_I, True, False, 1, 10, NEG_W,
                            np.array([seed], np.uint64), 1)
    return (U, V, b), float(losses.sum())


def _candidates(loss, p0):
    """Possible (params, sampled loss) after one step on positive (0, 0) with weight 1.5."""
    w = 1.5
    if loss == kern.LOSS_BPR:
        f = lambda U, V, b: w * _softplus(-(_x(U, V, b, 0, 0) - _x(U, V, b, 0, 2)))
        return [(_fd_step(p0, f, [(0, 0), (0, 2)]), f(*p0))]
    if loss == kern.LOSS_WARP:  # first draw hits item 2 (rank estimate 2) or a later one (rank 1)
        out = []
        for weight in (w * np.log(2.0), 0.0):
            f = lambda U, V, b, c=weight: c * (1 - _x(U, V, b, 0, 0) + _x(U, V, b, 0, 2))
            out.append((_fd_step(p0, f, [(0, 0), (0, 2)]), f(*p0)))
        return out + [(list(p0), 0.0)]  # all max_sampled draws hit positives: no step
    if loss == kern.LOSS_MSE:  # positive step, then the sampled unobserved cell (0, 2) or none
        fp = lambda U, V, b: w * (1 - _x(U, V, b, 0, 0)) ** 2
        fn = lambda U, V, b: NEG_W * _x(U, V, b, 0, 2) ** 2
        p1 = _fd_step(p0, fp, [(0, 0)])
        return [(p1, fp(*p0)), (_fd_step(p1, fn, [(0, 2)]), fp(*p0) + fn(*p1))]
    fp = lambda U, V, b: w * _softplus(-_x(U, V, b, 0, 0))
    fn = lambda U, V, b: _softplus(_x(U, V, b, 0, 2))
    p1 = _fd_step(p0, fp, [(0, 0)])
    return [(_fd_step(p1, fn, [(0, 2)]), fp(*p0) + fn(*p1))]


@pytest.mark.parametrize("loss", [kern.LOSS_BPR, kern.LOSS_WARP, kern.LOSS_MSE, kern.LOSS_LOGISTIC])
def test_one_step_matches_finite_differences(loss):
    p0 = _start()
    cands = _candidates(loss, p0)
    used = set()
    for seed in range(1, 13):
        got, got_loss = _run_kernel(loss, seed, p0)
        for c, (want, want_loss) in enumerate(cands):
            if all(np.allclose(g, wv, atol=2e-5) for g, wv in zip(got, want)):
                assert got_loss == pytest.approx(want_loss, rel=1e-4)
                used.add(c)
                break
        else:
            pytest.fail(f"seed {seed}: step matches no hand-derived outcome")
    assert used >= set(range(min(2, len(cands))))  # each sampling outcome was exercised


def test_adagrad_step_is_scaled_by_accumulated_squares():
    U, V, b = (np.array(p, np.float32) for p in _start())
    U0, V0 = U.copy(), V.copy()
    gU, gV, gb = np.full_like(U, 2.0), np.ones_like(V), np.ones((3, 1), np.float32)
    kern.update_cell(U, V, b, gU, gV, gb, 0, 1, 0.5, LR, 0.0, 0.0, False, True)
    grad_u = 0.5 * V0[1]
    np.testing.assert_allclose(U[0], U0[0] - LR * grad_u / np.sqrt(2.0 + grad_u**2), rtol=1e-5)
    np.testing.assert_allclose(gU[0], 2.0 + grad_u**2, rtol=1e-5)
    np.testing.assert_allclose(V[1], V0[1] - LR * 0.5 * U0[0] / np.sqrt(1.0 + (0.5 * U0[0]) ** 2), rtol=1e-5)


# -- behaviour ---------------------------------------------------------------------------------
def test_single_thread_is_deterministic():
    data = block_interactions()
    a = WARP(factors=8, epochs=5, num_threads=1, random_state=7).fit(data)
    b = WARP(factors=8, epochs=5, num_threads=1, random_state=7).fit(data)
    c = WARP(factors=8, epochs=5, num_threads=1, random_state=8).fit(data)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


def test_early_stopping_keeps_best_epoch():
    data = block_interactions(60, 40, density=0.3, seed=2)
    params = {"factors": 8, "num_threads": 1, "random_state": 3, "validation_fraction": 0.3, "patience": 2,
                  "learning_rate": 0.2}
    model = WARP(epochs=100, **params).fit(data)
    hist = np.array(model.history_)
    assert len(hist) < 100  # it stopped
    assert model.best_epoch_ == int(np.argmax(hist)) + 1
    assert len(hist) == model.best_epoch_ + 2  # patience evaluations without improvement
    # the same seed run for exactly best_epoch_ epochs reaches the factors that were kept
    rerun = WARP(epochs=model.best_epoch_, **{**params, "patience": 1000}).fit(data)
    np.testing.assert_array_equal(rerun.item_factors_, model.item_factors_)
    assert rerun.history_[-1] == hist.max()


@pytest.mark.parametrize("cls", [BPR, WARP, WeightedMSEMF, LogisticMF])
def test_overfits_tiny_dataset(cls):
    rng = np.random.default_rng(0)
    pos = rng.random((8, 10)) < 0.35
    pos[np.arange(8), rng.integers(0, 10, 8)] = True
    data = Interactions.from_matrix(sp.csr_matrix(pos.astype(np.float32)), weighting="binary")
    model = cls(factors=16, epochs=300, learning_rate=0.1, num_threads=1, random_state=1,
                user_regularization=0.0, item_regularization=0.0).fit(data)
    s = model.score_indices(np.arange(8))
    for u in range(8):  # every seen item above every unseen one: AUC = 1
        assert s[u, pos[u]].min() > s[u, ~pos[u]].max(), (u, s[u], pos[u])


@pytest.mark.parametrize("bad, match", [
    ({"factors": 0}, r"factors=0: .*fix: set factors to an integer > 0, e\.g\. 64"),
    ({"factors": 2.5}, r"factors=2\.5: .*fix: set factors to an integer"),
    ({"epochs": -1}, r"epochs=-1: .*fix: set epochs to an integer > 0"),
    ({"learning_rate": 0}, r"learning_rate=0: .*fix: set learning_rate to a number > 0"),
    ({"loss": "hinge"}, r"loss='hinge': .*fix: set loss to one of 'bpr', 'warp', 'mse', 'logistic'"),
    ({"schedule": "step"}, r"schedule='step': .*'adagrad'"),
    ({"validation_fraction": 1.0}, r"validation_fraction=1\.0: .*fix: set validation_fraction to a number >= 0 and < 1"),
    ({"negatives": 0}, r"negatives=0: .*fix: set negatives to an integer > 0"),
])
def test_bad_params_raise_config_error(bad, match):
    with pytest.raises(ConfigError, match=match):
        SGDMF(**bad).fit(block_interactions())


def test_validation_needs_users_with_two_items():
    one_each = Interactions.from_matrix(sp.identity(5, np.float32, format="csr"), weighting="binary")
    with pytest.raises(ConfigError, match="validation_fraction=0.2 holds out nothing"):
        BPR(validation_fraction=0.2, epochs=2).fit(one_each)


def test_presets_fix_the_loss_and_registry_names():
    assert isinstance(create_model("warp"), WARP) and create_model("warp").loss == "warp"
    assert create_model("mf-mse").loss == "mse" and create_model("mf-logistic").loss == "logistic"
    assert create_model("bpr", {"factors": "16"}).factors == 16
    assert create_model("sgd-mf", {"loss": "logistic"}).loss == "logistic"
    with pytest.raises(ConfigError, match="BPR always uses loss='bpr'"):
        BPR(loss="warp")
    with pytest.raises(ConfigError, match="unknown key 'loss' \\(value 'warp'\\); fix: "):
        create_model("bpr", {"loss": "warp"})
    assert "loss" not in BPR().get_params()


def test_fold_in_with_bias_reproduces_trained_users():
    data = block_interactions()
    model = SGDMF(loss="bpr", use_bias=True, factors=8, epochs=20, num_threads=1).fit(data)
    folded = model.fold_in_users(data.matrix[:6])
    assert np.all(folded[:, -1] == 1.0)  # the bias column stays a constant 1
    top = np.argsort(-(folded @ model.item_factors_.T), axis=1)[:, :5]
    assert np.all(top < 15)  # users 0..5 belong to the first community (items 0..14)


@pytest.mark.slow
def test_movielens_100k_ndcg():
    import polars as pl

    from shortlist.evaluation import evaluate_protocol

    path = shared_dataset("ml-100k") / "u.data"
    frame = pl.read_csv(path, separator="\t", has_header=False,
                        new_columns=["user_id", "item_id", "rating", "timestamp"])
    data = Interactions.from_frame(frame, weighting="binary")
    result = evaluate_protocol(WARP(num_threads=2), data, "random-holdout:0.25", seed=42, k=10)
    assert result["ndcg@10"] >= 0.40


def test_model_defaults_are_the_presets_own():
    from shortlist.models.registry import model_defaults

    warp, engine = model_defaults("warp"), model_defaults("sgd-mf")
    assert (warp["epochs"], warp["learning_rate"], warp["max_sampled"]) == (56, 0.02, 100)
    assert (engine["epochs"], engine["learning_rate"], engine["loss"]) == (30, 0.05, "bpr")
    assert "loss" not in warp  # fixed by the preset, not a hyperparameter
    assert create_model("warp", {}).epochs == warp["epochs"]
