"""EASE: contract, closed form against numpy, the per-column ridge it solves, memory guard."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions
from shortlist.errors import ConfigError, MemoryBudgetError
from shortlist.evaluation import evaluate_protocol
from shortlist.models import ease as ease_mod
from shortlist.models.ease import EASE, ease_memory_bytes
from tests.conftest import shared_dataset
from tests.models.contract import RecommenderContract


class TestEASEContract(RecommenderContract):
    def make_model(self):
        return EASE(regularization=10.0)


def random_matrix(n_users=50, n_items=20, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.3) * rng.uniform(0.5, 3.0, (n_users, n_items))
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.mark.parametrize("lam", [0.5, 25.0])
def test_weights_equal_numpy_closed_form(lam):
    x = random_matrix()
    model = EASE(regularization=lam).fit(Interactions.from_matrix(x))
    xd = x.toarray().astype(np.float64)
    p = np.linalg.inv(xd.T @ xd + lam * np.eye(x.shape[1]))
    want = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    np.fill_diagonal(want, 0.0)
    assert model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, want, rtol=1e-4, atol=1e-6)
    assert np.all(np.diag(model.weights_) == 0.0)


def test_each_column_is_the_ridge_regression_on_the_other_items():
    x = random_matrix(seed=1)
    lam = 3.0
    b = EASE(regularization=lam).fit(Interactions.from_matrix(x)).weights_.astype(np.float64)
    xd = x.toarray().astype(np.float64)
    for j in (0, 7, 19):
        others = np.delete(np.arange(x.shape[1]), j)
        a = xd[:, others]
        coef = np.linalg.solve(a.T @ a + lam * np.eye(len(others)), a.T @ xd[:, j])
        np.testing.assert_allclose(b[others, j], coef, rtol=1e-3, atol=1e-5)


def test_scores_and_history_are_x_times_b():
    x = random_matrix(seed=2)
    model = EASE(regularization=5.0).fit(Interactions.from_matrix(x))
    want = x.toarray() @ model.weights_
    np.testing.assert_allclose(model.score_indices(np.arange(x.shape[0])), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model._score_history(x[[4, 9]]), want[[4, 9]], rtol=1e-5, atol=1e-5)
    idx, _ = model.recommend_from_history(x[[4]], k=5)
    np.testing.assert_array_equal(idx, model.recommend([4], k=5).item_indices)


def test_symmetrize_upper_in_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    m = rng.random((23, 23))
    want = np.triu(m) + np.triu(m, 1).T
    monkeypatch.setattr(ease_mod, "_GRAM_BLOCK_CELLS", 23 * 4)  # blocks of 4 rows
    ease_mod._symmetrize_upper(m)
    np.testing.assert_array_equal(m, want)


def test_blockwise_gram_matches_dense(monkeypatch):
    x = random_matrix(seed=3)
    monkeypatch.setattr(ease_mod, "_GRAM_BLOCK_CELLS", 20 * 3)  # 3 columns per block
    model = EASE(regularization=2.0)
    model.train_ = x
    xd = x.toarray().astype(np.float64)
    np.testing.assert_allclose(model._gram(), xd.T @ xd + 2.0 * np.eye(20), rtol=1e-6)


def test_memory_guard_raises_before_allocating():
    x = random_matrix()
    need = ease_memory_bytes(20)
    assert need == 12 * 20 * 20
    model = EASE(max_memory_gb=need / 1e9 / 2)
    with pytest.raises(MemoryBudgetError, match=r"EASE on 20 items needs about .* GB") as err:
        model.fit(Interactions.from_matrix(x))
    msg = str(err.value)
    assert "item-knn" in msg and "top-N" in msg and "max_memory_gb" in msg
    assert not hasattr(model, "weights_")
    # exactly at the budget it fits
    EASE(max_memory_gb=need / 1e9).fit(Interactions.from_matrix(x))


def test_memory_guard_names_a_large_catalog():
    with pytest.raises(MemoryBudgetError, match="100,000 items needs about 120.0 GB"):
        EASE()._check_memory(100_000)


@pytest.mark.parametrize("bad", [-1.0, 0.0, "300", True])
def test_bad_regularization_raises(bad):
    with pytest.raises(ConfigError, match=re.escape(f"regularization={bad!r}") + ".*fix: set regularization to a number > 0"):
        EASE(regularization=bad).fit(Interactions.from_matrix(random_matrix()))


def test_bad_memory_budget_raises():
    with pytest.raises(ConfigError, match="max_memory_gb=-2: .*fix: set max_memory_gb to a number > 0"):
        EASE(max_memory_gb=-2).fit(Interactions.from_matrix(random_matrix()))


@pytest.mark.slow
def test_ease_quality_on_movielens_100k():
    path = shared_dataset("ml-100k") / "u.data"
    df = pl.read_csv(path, separator="\t", has_header=False,
                     new_columns=["user_id", "item_id", "rating", "ts"])
    data = Interactions.from_frame(df, time="ts", weighting="binary")
    res = evaluate_protocol(EASE(), data, "random-holdout:0.25", seed=42, k=10)
    assert res["ndcg@10"] >= 0.47
