"""Graph filter (GF-CF / BSPM sharpening): contract, weights against a dense numpy formula, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions, load_dataset
from shortlist.errors import ConfigError, MemoryBudgetError
from shortlist.evaluation import evaluate_protocol
from shortlist.models import GraphFilter, Recommender, create_model
from tests.conftest import block_interactions, shared_dataset
from tests.models.contract import RecommenderContract


class TestGraphFilterContract(RecommenderContract):
    def make_model(self):
        return GraphFilter(factors=4)


class TestSharpenedGraphFilterContract(RecommenderContract):
    def make_model(self):
        return GraphFilter(factors=4, sharpen=0.5)


def random_interactions(n_users=40, n_items=25, density=0.25, seed=0) -> Interactions:
    rng = np.random.default_rng(seed)
    m = sp.random(n_users, n_items, density=density, random_state=rng, format="coo")
    m.data[:] = rng.integers(1, 4, m.nnz)  # weights 1-3: the degrees are sums, not counts
    m.data[(m.row == 0) | (m.col == 3)] = 0  # an empty user row and item column stay empty, not NaN
    m = m.tocsr()
    m.eliminate_zeros()
    return Interactions.from_matrix(m, weighting="value")


def dense_filter(x: np.ndarray, k: int, beta: float, s: float) -> np.ndarray:
    """The paper's formula with numpy: full SVD of the normalized matrix, dense products."""
    du, di = x.sum(1), x.sum(0)
    inv_u = np.where(du > 0, 1 / np.sqrt(np.where(du > 0, du, 1)), 0)
    inv_i = np.where(di > 0, 1 / np.sqrt(np.where(di > 0, di, 1)), 0)
    norm = inv_u[:, None] * x * inv_i[None, :]
    p = norm.T @ norm
    w = p.copy()
    if k:
        v = np.linalg.svd(norm)[2][:k]
        w += beta * np.diag(inv_i) @ v.T @ v @ np.diag(np.sqrt(di))
    return w @ (np.eye(x.shape[1]) - s * p)


@pytest.mark.parametrize("k,beta,s", [(0, 0.3, 0.0), (5, 0.3, 0.0), (8, 1.0, 0.0), (5, 0.3, 0.5), (0, 0.0, 1.0)])
def test_weights_equal_the_dense_formula(k, beta, s):
    data = random_interactions()
    model = GraphFilter(factors=k, ideal_weight=beta, sharpen=s).fit(data)
    x = data.matrix.toarray().astype(np.float64)
    want = dense_filter(x, k, beta, s)
    assert model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, want, rtol=1e-4, atol=1e-6)
    assert not np.isnan(model.weights_).any() and not model.weights_[3].any()
    np.testing.assert_allclose(model.score_indices(np.arange(data.n_users)), x @ want, rtol=1e-4, atol=1e-5)


def test_sharpening_is_one_euler_step_of_dr_dt_minus_r_p():
    data = random_interactions(seed=3)
    blurred = GraphFilter(factors=5, sharpen=0.0).fit(data).score_indices(np.arange(data.n_users))
    plain = GraphFilter(factors=0, ideal_weight=0.0).fit(data)  # its weights are P
    sharpened = GraphFilter(factors=5, sharpen=0.25).fit(data).score_indices(np.arange(data.n_users))
    step = blurred - 0.25 * blurred @ plain.weights_.astype(np.float64)  # r(h) = r(0) - h r(0) P
    np.testing.assert_allclose(sharpened, step, rtol=1e-4, atol=1e-5)
    assert np.abs(sharpened - blurred).max() > 1e-3


def test_the_ideal_term_is_low_rank_and_the_fit_is_deterministic():
    data = random_interactions(seed=5)
    with_ideal = GraphFilter(factors=6, ideal_weight=1.0).fit(data).weights_
    without = GraphFilter(factors=0).fit(data).weights_
    assert np.linalg.matrix_rank(with_ideal.astype(np.float64) - without, tol=1e-4) == 6
    np.testing.assert_array_equal(with_ideal, GraphFilter(factors=6, ideal_weight=1.0).fit(data).weights_)


def test_registered_and_saved_with_its_params(tmp_path):
    data = block_interactions()
    model = create_model("graph-filter", {"factors": 3, "sharpen": 0.2}).fit(data)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, GraphFilter) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.weights_, model.weights_)


@pytest.mark.parametrize("params,match", [
    ({"factors": -1}, r"factors=-1: .*fix: set factors to an integer >= 0, e.g. 32"),
    ({"factors": 2.5}, r"factors=2.5: .*fix: set factors to an integer"),
    ({"ideal_weight": -0.1}, r"ideal_weight=-0.1: .*fix: set ideal_weight to a number >= 0, e.g. 0.3"),
    ({"sharpen": float("nan")}, r"sharpen=nan: .*fix: set sharpen to a number >= 0 and <= 1"),
    ({"sharpen": 1.5}, r"sharpen=1.5: .*fix: set sharpen to a number >= 0 and <= 1"),
    ({"max_memory_gb": 0}, r"max_memory_gb=0: .*fix: set max_memory_gb to a number > 0"),
])
def test_bad_params_name_the_key_value_and_fix(params, match):
    with pytest.raises(ConfigError, match=match):
        GraphFilter(**params).fit(block_interactions())


def test_too_many_factors_for_the_data_says_how_many_fit():
    data = random_interactions(n_users=10, n_items=12)
    with pytest.raises(ConfigError, match=r"factors=10 must be below min\(users, items\) = 10"):
        GraphFilter(factors=10).fit(data)


def test_memory_guard_raises_before_allocating():
    with pytest.raises(MemoryBudgetError, match=r"graph-filter on 25 items .* max_memory_gb=1e-08"):
        GraphFilter(factors=2, max_memory_gb=1e-8).fit(random_interactions())


@pytest.mark.slow
def test_movielens_100k():
    data = load_dataset(shared_dataset("ml-100k")).interactions
    result = evaluate_protocol(GraphFilter(), data, "random-holdout:0.25", seed=42, k=10)
    # measured 0.4670 (EASE 0.4826, ALS 0.4923): it pays in the MovieLens blend (docs/pipeline.md)
    # regression floor, one-sided: a better graph filter must not fail this test
    assert result["ndcg@10"] > 0.455


def test_fitted_weights_are_row_major_so_scoring_a_user_reads_rows_without_a_copy():
    # a Fortran-ordered W made every single-user score copy the whole n x n matrix
    for sharpen in (0.0, 0.5):
        model = GraphFilter(factors=4, sharpen=sharpen).fit(block_interactions(), progress=False)
        assert model.weights_.flags["C_CONTIGUOUS"] and model.weights_.dtype == np.float32
