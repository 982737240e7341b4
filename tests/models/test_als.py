"""ALS: contract, exactness of the row solves against numpy, objective, fold-in, partial_fit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions, Vocab
from shortlist.errors import ConfigError, DataError
from shortlist.evaluation.runner import evaluate_protocol
from shortlist.models import Recommender, create_model
from shortlist.models.als import ALS
from tests.conftest import block_interactions, shared_dataset
from tests.models.contract import RecommenderContract


class TestALSContract(RecommenderContract):
    def make_model(self):
        return ALS(factors=8, iterations=10, regularization=1.0, progress=False)


class TestALSCholeskyContract(RecommenderContract):
    def make_model(self):
        return ALS(factors=8, iterations=10, regularization=1.0, solver="cholesky", progress=False)


# -- an independent, dense implementation of the objective --------------------------------
def weighted_matrix(seed: int = 0, n_users: int = 12, n_items: int = 9) -> sp.csr_matrix:
    """Small matrix of play-count-like weights with one empty user and one empty item."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.4) * rng.integers(1, 6, (n_users, n_items))
    dense[3] = 0  # empty user
    dense[:, 5] = 0  # empty item
    dense[0, 0] = 2
    return sp.csr_matrix(dense.astype(np.float32))


def dense_confidence(model: ALS, m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(weights of every cell, preferences) of the ALS objective, computed densely."""
    w = m.toarray().astype(np.float64)
    obs = w > 0
    boost = np.log1p(w / model.eps) if model.log_scaling else w
    counts = obs.sum(axis=0)
    disc = (np.maximum(counts, 1) / counts[counts > 0].mean()) ** (-model.frequency_weighting)
    weight = np.where(obs, 1 + model.alpha * boost * disc[None, :], model.w0)
    return weight, obs.astype(np.float64)


def dense_reg(model: ALS, n_obs: np.ndarray, n_other: int) -> np.ndarray:
    counts = n_obs if model.reg_counts == "observed" else n_obs + model.w0 * n_other
    return model.regularization * counts.astype(np.float64) ** model.nu


def brute_force_loss(model: ALS, m: sp.csr_matrix) -> float:
    weight, pref = dense_confidence(model, m)
    x = model.user_factors_.astype(np.float64)
    y = model.item_factors_.astype(np.float64)
    obs = pref > 0
    loss = np.sum(weight * (pref - x @ y.T) ** 2)
    loss += dense_reg(model, obs.sum(1), m.shape[1]) @ np.sum(x ** 2, 1)
    loss += dense_reg(model, obs.sum(0), m.shape[0]) @ np.sum(y ** 2, 1)
    return float(loss)


def brute_force_user_step(model: ALS, m: sp.csr_matrix, y: np.ndarray) -> np.ndarray:
    """Solve (Y^T C_u Y + lam_u I) x = Y^T C_u p_u for every user with numpy, in float64."""
    weight, pref = dense_confidence(model, m)
    y = y.astype(np.float64)
    reg = dense_reg(model, (pref > 0).sum(1), m.shape[1])
    out = np.zeros((m.shape[0], y.shape[1]))
    for u in range(m.shape[0]):
        a = y.T @ (weight[u, :, None] * y) + reg[u] * np.eye(y.shape[1])
        out[u] = np.linalg.solve(a, y.T @ (weight[u] * pref[u]))
    return out


VARIANTS = [
    {"alpha": 2.0, "w0": 1.0, "regularization": 0.1},
    {"alpha": 0.5, "w0": 0.2, "regularization": 0.05, "log_scaling": True, "eps": 2.0,
         "frequency_weighting": 0.5, "nu": 1.0},
    # Spark MLlib's implicit ALS: w0 = 1, lambda scaled by the observed count alone (ALS-WR)
    {"alpha": 1.0, "w0": 1.0, "regularization": 0.1, "nu": 1.0, "reg_counts": "observed"},
]


def fitted_on(m: sp.csr_matrix, **params) -> ALS:
    base = {"factors": 4, "iterations": 3, "progress": False}
    return ALS(**{**base, **params}).fit(Interactions.from_matrix(m, weighting="value"))


@pytest.mark.parametrize("params", VARIANTS)
def test_cholesky_user_step_matches_numpy(params):
    m = weighted_matrix()
    model = fitted_on(m, solver="cholesky", **params)
    rng = np.random.default_rng(1)
    model.item_factors_ = rng.standard_normal(model.item_factors_.shape).astype(np.float32)
    expected = brute_force_user_step(model, m, model.item_factors_)
    got = model.fold_in_users(m)  # the user step and the fold-in are the same solve
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert np.all(got[3] == 0)  # the empty user's exact minimiser


@pytest.mark.parametrize("params", VARIANTS)
def test_cg_with_many_steps_converges_to_cholesky(params):
    m = weighted_matrix(seed=2)
    model = fitted_on(m, cg_steps=40, **params)
    exact = model._solve(m, "user", exact=True)
    cg = model._solve(m, "user", out=np.zeros_like(exact), exact=False)
    np.testing.assert_allclose(cg, exact, atol=1e-4)
    few = fitted_on(m, cg_steps=1, **params)._solve(m, "user", out=np.zeros_like(exact), exact=False)
    assert np.abs(few - exact).max() > 1e-3  # one step from zero is not the answer yet


def test_cg_on_long_rows_matches_cholesky():
    # item 0 has more cells than one packed tile holds; the others fill tiles by cell count
    rng = np.random.default_rng(4)
    dense = (rng.random((5000, 20)) < 0.2).astype(np.float32)
    dense[:, 0] = 1.0
    m = sp.csr_matrix(dense)
    model = fitted_on(m, cg_steps=30, iterations=2)
    mt = m.T.tocsr()
    exact = model._solve(mt, "item", exact=True)
    cg = model._solve(mt, "item", out=np.zeros_like(exact), exact=False)
    np.testing.assert_allclose(cg, exact, rtol=1e-3, atol=1e-4 * np.abs(exact).max())


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("params", VARIANTS)
def test_objective_decreases_monotonically(solver, params):
    m = weighted_matrix(seed=3)
    losses = []
    for it in range(1, 9):
        model = fitted_on(m, solver=solver, iterations=it, **params)
        loss = brute_force_loss(model, m)
        assert model.objective() == pytest.approx(loss, rel=1e-6)
        losses.append(loss)
    assert np.all(np.diff(losses) <= 1e-6 * losses[0]), losses
    assert losses[-1] < 0.9 * losses[0]


def test_hyperparameters_act_in_the_expected_direction():
    m = block_interactions(seed=4).matrix
    obs = m.toarray() > 0

    def fit(**p):
        model = fitted_on(m, solver="cholesky", iterations=10, factors=6, **p)
        pred = model.user_factors_ @ model.item_factors_.T
        return model, pred[obs].mean(), pred[~obs].mean()

    _base, base_obs, base_unobs = fit(alpha=1.0, w0=1.0, regularization=0.1)
    _, strong_obs, _ = fit(alpha=1.0, w0=1.0, regularization=10.0)
    assert strong_obs < base_obs - 0.1  # shrinkage pulls every prediction towards 0
    _, hi_alpha_obs, _ = fit(alpha=20.0, w0=1.0, regularization=0.1)
    assert hi_alpha_obs > base_obs + 0.05  # trusting observed cells more pulls them to 1
    _, _, lo_w0_unobs = fit(alpha=1.0, w0=0.05, regularization=0.1)
    assert lo_w0_unobs > base_unobs + 0.05  # less weight on unobserved cells lets them rise


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_empty_rows_and_columns(solver):
    m = weighted_matrix()
    model = fitted_on(m, solver=solver, nu=1.0, w0=0.5, iterations=5)
    assert np.all(np.isfinite(model.user_factors_)) and np.all(np.isfinite(model.item_factors_))
    assert np.all(model.user_factors_[3] == 0) and np.all(model.item_factors_[5] == 0)
    rec = model.recommend([3], k=3)
    assert np.all(rec.scores[0] == 0)


def test_no_regularization_no_unobserved_weight_stays_finite():
    m = weighted_matrix()
    for solver in ("cg", "cholesky"):
        model = fitted_on(m, solver=solver, regularization=0.0, w0=0.0, factors=8)
        assert np.all(np.isfinite(model.user_factors_)) and np.all(np.isfinite(model.item_factors_))


def test_nothing_at_all_is_a_clear_error():
    empty = Interactions(Vocab.range(3), Vocab.range(4), np.array([], np.int32), np.array([], np.int32))
    with pytest.raises(DataError, match="empty"):
        ALS().fit(empty)


def test_trained_user_equals_folded_in_user():
    data = block_interactions(seed=5)
    model = ALS(factors=8, iterations=30, regularization=0.1, alpha=2.0, progress=False).fit(data)
    folded = model.fold_in_users(data.matrix)
    trained = model.user_factors_
    cos = np.sum(folded * trained, 1) / (np.linalg.norm(folded, axis=1) * np.linalg.norm(trained, axis=1))
    assert cos.min() > 0.99
    items = model.fold_in_items(data.matrix.T.tocsr())
    cos_i = np.sum(items * model.item_factors_, 1) / (
        np.linalg.norm(items, axis=1) * np.linalg.norm(model.item_factors_, axis=1))
    assert cos_i.min() > 0.99
    top_hist, _ = model.recommend_from_history(data.matrix[:5], k=5)
    top_known, _ = model.recommend_indices(np.arange(5), k=5)
    assert (top_hist == top_known).mean() >= 0.8


def test_partial_fit_with_new_users_and_items():
    data = block_interactions(seed=6)  # ids 0..39 users, 0..29 items; items 15..29 = group 2
    model = ALS(factors=8, iterations=15, regularization=1.0, alpha=2.0, progress=False).fit(data)
    before_users = model.user_factors_.copy()
    before_items = model.item_factors_.copy()
    model.fold_in_users(data.matrix[:2])  # caches Y^T Y of the 30 items: partial_fit must drop it
    # two new users, each in one community, and a new item liked by community-2 users
    rows = [(100, i) for i in range(8)] + [(101, i) for i in range(15, 23)]
    rows += [(u, 500) for u in range(20, 32)] + [(101, 500)]
    new = Interactions.from_frame(pl.DataFrame(rows, schema=["user", "item"], orient="row"),
                                  user="user", item="item")
    model.partial_fit(new)
    assert model.user_factors_.shape == (42, 8) and model.item_factors_.shape == (31, 8)
    untouched = np.setdiff1d(np.arange(40), np.arange(20, 32))
    np.testing.assert_array_equal(model.user_factors_[untouched], before_users[untouched])
    np.testing.assert_array_equal(model.item_factors_[:30], before_items)
    # touched users hold the exact solve for their merged history
    touched = model.users_.index(np.array([100, 101, 25]))
    np.testing.assert_allclose(model.user_factors_[touched], model.fold_in_users(model.train_[touched]),
                               atol=1e-5)
    np.testing.assert_allclose(model._item_gram(), model.item_factors_.T @ model.item_factors_, rtol=1e-5, atol=1e-6)
    rec = model.recommend([100, 101], k=5)
    assert np.all(rec.item_indices[0] < 15) and np.all(rec.item_indices[1] >= 15)
    sim = model.similar_items([500], k=5)
    assert np.all((sim.item_indices[0] >= 15) & (sim.item_indices[0] < 30))


BAD = [
    ({"factors": 0}, "factors"), ({"factors": -3}, "factors"), ({"factors": 2.5}, "factors"),
    ({"iterations": 0}, "iterations"), ({"alpha": -1.0}, "alpha"),
    ({"regularization": -0.1}, "regularization"), ({"w0": -1.0}, "w0"),
    ({"solver": "lu"}, "solver='lu'"), ({"cg_steps": 0}, "cg_steps"), ({"eps": 0.0}, "eps"),
    ({"nu": float("nan")}, "nu"), ({"frequency_weighting": -1.0}, "frequency_weighting"),
    ({"num_threads": -1}, "num_threads"), ({"random_state": "x"}, "random_state"),
    ({"reg_counts": "rows"}, "reg_counts"),
]


@pytest.mark.parametrize("params, name", BAD)
def test_bad_params_name_value_and_fix(params, name):
    with pytest.raises(ConfigError, match=name) as info:
        ALS(**params).fit(block_interactions())
    value = next(iter(params.values()))
    assert repr(value) in str(info.value) or str(value) in str(info.value)
    assert "e.g." in str(info.value) or "use" in str(info.value)


def test_small_fold_ins_run_serially_with_the_same_answer():
    import numba

    data = block_interactions(n_users=100, n_items=40, seed=5)
    model = ALS(factors=8, iterations=5, progress=False).fit(data)
    batch = model.fold_in_users(data.matrix)  # 100 rows: the thread team
    before = numba.get_num_threads()
    one_by_one = np.vstack([model.fold_in_users(data.matrix[u]) for u in range(5)])  # one thread each
    assert numba.get_num_threads() == before  # the caller's thread count is restored
    np.testing.assert_allclose(one_by_one, batch[:5], rtol=1e-5, atol=1e-6)


def test_registry_and_save_load_keep_fold_in(tmp_path):
    model = create_model("als", {"factors": "6", "frequency_weighting": "0.5", "progress": "false"})
    assert isinstance(model, ALS) and model.factors == 6
    data = block_interactions(seed=7)
    model.fit(data)
    model.save(tmp_path / "als")
    loaded = Recommender.load(tmp_path / "als")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.fold_in_users(data.matrix[:4]), model.fold_in_users(data.matrix[:4]),
                               atol=1e-6)


def test_thread_count_does_not_change_the_answer():
    data = block_interactions(seed=8)
    one = ALS(factors=8, iterations=4, num_threads=1, progress=False).fit(data)
    many = ALS(factors=8, iterations=4, num_threads=0, progress=False).fit(data)
    np.testing.assert_array_equal(one.user_factors_, many.user_factors_)


def test_similar_items_stay_in_block():
    data = block_interactions(seed=9)
    model = ALS(factors=8, iterations=10, regularization=0.1, alpha=1.0, w0=1.0, progress=False).fit(data)
    sim = model.similar_items(np.arange(data.n_items), k=5)
    same = (sim.item_indices >= 15) == (np.arange(data.n_items)[:, None] >= 15)
    assert same.mean() >= 0.95 and not np.any(sim.item_indices == np.arange(data.n_items)[:, None])


# The values chosen on a validation split carved from the training part only
# (benchmarks/als_vs_implicit.py --tune; see docs/als.md).
TUNED = {"factors": 64, "iterations": 15, "alpha": 0.3, "w0": 0.3, "regularization": 10.0}


@pytest.mark.slow
def test_movielens_100k_ndcg():
    path = shared_dataset("ml-100k") / "u.data"
    df = pl.read_csv(path, separator="\t", has_header=False, new_columns=["user", "item", "rating", "ts"])
    data = Interactions.from_frame(df, user="user", item="item", value="rating", time="ts", weighting="binary")
    result = evaluate_protocol(ALS(**TUNED, progress=False), data, "random-holdout:0.25", seed=42, k=10)
    assert result["ndcg@10"] >= 0.40


@pytest.mark.slow
def test_fold_in_matches_normal_training_on_movielens():
    """Strong generalization: held-out users folded in score within 2% NDCG of training them."""
    from shortlist.core.metrics import ranking_metrics
    from shortlist.data import load_dataset, user_holdout

    data = load_dataset(shared_dataset("ml-100k")).interactions
    split = user_holdout(data, 0.2, seed=42)
    users = np.flatnonzero(np.diff(split.test.matrix.indptr) > 0)
    relevant = split.test.matrix[users]
    folded = ALS(progress=False).fit(split.train)
    top_folded, _ = folded.recommend_from_history(split.fold_in.matrix[users], 10)
    both = Interactions(
        data.users, data.items,
        np.concatenate([split.train.user_index, split.fold_in.user_index]),
        np.concatenate([split.train.item_index, split.fold_in.item_index]), validate=False)
    trained = ALS(progress=False).fit(both)
    top_trained, _ = trained.recommend_indices(users, 10)
    a = np.nanmean(ranking_metrics(top_folded, relevant, 10)["ndcg"])
    b = np.nanmean(ranking_metrics(top_trained, relevant, 10)["ndcg"])
    assert b > 0.4
    assert abs(a - b) / b < 0.02


def test_fill_cold_items_takes_the_group_mean_and_refreshes_fold_in():
    """Items nobody touched get the mean vector of trained items in their group (else the global mean)."""
    data = block_interactions(seed=3)  # users 0..39, items 0..29, communities of items 0..14 / 15..29
    n_items = data.n_items
    groups = np.where(np.arange(n_items) < 15, 0, 1)
    # drop every interaction with items 3 and 20: they become cold
    keep = ~np.isin(data.item_index, [3, 20])
    cold_data = data.subset(keep)
    model = ALS(factors=8, iterations=10, regularization=1.0, progress=False).fit(cold_data)
    model.fold_in_users(cold_data.matrix[:2])  # caches Y^T Y of the unfilled factors
    groups[20] = 7  # a group with no trained member: global mean
    filled = model.fill_cold_items(groups)
    assert filled.tolist() == [3, 20]
    y = model.item_factors_
    warm = np.setdiff1d(np.arange(n_items), [3, 20])
    np.testing.assert_allclose(y[3], y[warm[warm < 15]].mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y[20], y[warm].mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model._item_gram(), y.T @ y, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="one entry per item"):
        model.fill_cold_items(groups[:5])


def test_cg_tile_goes_on_after_a_row_that_starts_converged():
    # row 0 only meets a zero factor: its right-hand side is 0, so CG from 0 has nothing to do;
    # the rows after it in the same tile must still be solved
    from shortlist.models._kernels.als import solve_rows

    rng = np.random.default_rng(0)
    fixed = rng.normal(size=(5, 3)).astype(np.float32)
    fixed[0] = 0.0
    gram = (fixed.T @ fixed).astype(np.float32)
    indptr = np.array([0, 1, 3, 5], np.int64)
    indices = np.array([0, 1, 2, 3, 4], np.int32)
    conf = np.full(5, 2.0, np.float32)
    reg = np.full(3, 0.5, np.float32)
    exact, cg = np.zeros((3, 3), np.float32), np.zeros((3, 3), np.float32)
    solve_rows(indptr, indices, conf, fixed, gram, 1.0, reg, exact, True, 0, 1)
    solve_rows(indptr, indices, conf, fixed, gram, 1.0, reg, cg, False, 10, 1)
    assert np.abs(exact[1:]).min() > 0
    np.testing.assert_allclose(cg, exact, rtol=1e-4, atol=1e-5)


def test_cg_tiles_flush_before_the_packed_buffer_is_full():
    # one block of rows whose cells add up to more than one packed tile (4096 cells): the kernel
    # must start a new tile instead of writing past the buffer
    from shortlist.models._kernels.als import solve_rows

    rng = np.random.default_rng(1)
    n_rows, per_row, n_cols = 6, 1000, 1500
    fixed = (rng.normal(size=(n_cols, 4)) * 0.3).astype(np.float32)
    gram = (fixed.T @ fixed).astype(np.float32)
    indptr = np.arange(0, (n_rows + 1) * per_row, per_row, dtype=np.int64)
    indices = np.concatenate([rng.choice(n_cols, per_row, replace=False) for _ in range(n_rows)]).astype(np.int32)
    conf = (1.0 + rng.random(n_rows * per_row)).astype(np.float32)
    reg = np.full(n_rows, 1.0, np.float32)
    exact, cg = np.zeros((n_rows, 4), np.float32), np.zeros((n_rows, 4), np.float32)
    solve_rows(indptr, indices, conf, fixed, gram, 0.5, reg, exact, True, 0, 1)
    solve_rows(indptr, indices, conf, fixed, gram, 0.5, reg, cg, False, 12, 1)
    np.testing.assert_allclose(cg, exact, rtol=1e-3, atol=1e-4 * np.abs(exact).max())


def test_cg_flops_counts_the_gramian_and_the_cells_per_product():
    from shortlist.models._kernels.als import cg_flops

    # 3 steps + the residual = 4 products of 2 f^2 per row and 4 f per cell
    assert cg_flops(nnz=10, n_rows=2, factors=4, cg_steps=3) == 4 * (2 * 16 * 2 + 4 * 4 * 10)
