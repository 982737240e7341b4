"""Item-kNN and user-kNN: contract, similarity against dense brute force, scoring, errors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions
from shortlist.errors import ConfigError
from shortlist.evaluation import evaluate_protocol
from shortlist.models import similarity as simmod
from shortlist.models.item_knn import ItemKNN
from shortlist.models.user_knn import UserKNN
from tests.conftest import shared_dataset
from tests.models.contract import RecommenderContract


class TestItemKNNContract(RecommenderContract):
    def make_model(self):
        return ItemKNN(n_neighbors=10)


class TestUserKNNContract(RecommenderContract):
    def make_model(self):
        return UserKNN(n_neighbors=10)


# -- independent dense computations ----------------------------------------------------
def random_matrix(n_users=40, n_items=30, density=0.3, seed=0) -> sp.csr_matrix:
    """Random positive weights; every row and column non-empty."""
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n_users, n_items)) < density, rng.uniform(0.5, 4.0, (n_users, n_items)), 0)
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0
    dense[rng.integers(0, n_users, n_items), np.arange(n_items)] = 1.0
    return sp.csr_matrix(dense.astype(np.float32))


def dense_weighting(e: np.ndarray, kind: str, k1=1.2, b=0.75) -> np.ndarray:
    """Rows are documents, columns terms (implicit's tfidf_weight / bm25_weight, dense)."""
    if kind == "none":
        return e
    present = e > 0
    idf = np.log(e.shape[0]) - np.log1p(present.sum(axis=0))
    if kind == "tfidf":
        return np.where(present, np.sqrt(e) * idf[None, :], 0.0)
    length = e.sum(axis=1)
    norm = (1 - b) + b * length / length.mean()
    return np.where(present, e * (k1 + 1) / (k1 * norm[:, None] + e) * idf[None, :], 0.0)


def dense_topk_similarity(q: np.ndarray, t: np.ndarray, k: int, *, alpha=0.5, shrink=0.0,
                          cosine=True, exclude_self=False) -> np.ndarray:
    """Full similarity, then keep the k largest positive entries of each row."""
    dots = q @ t.T
    if cosine:
        den = (q ** 2).sum(1)[:, None] ** alpha * (t ** 2).sum(1)[None, :] ** (1 - alpha) + shrink
        dots = np.divide(dots, den, out=np.zeros_like(dots), where=den > 0)
    if exclude_self:
        np.fill_diagonal(dots, -np.inf)
    out = np.zeros_like(dots)
    for r in range(dots.shape[0]):
        best = np.argsort(-dots[r], kind="stable")[:k]
        best = best[dots[r, best] > 0]
        out[r, best] = dots[r, best]
    return out


CASES = [
    {"weighting": "none"},
    {"weighting": "bm25"},
    {"weighting": "bm25", "bm25_k1": 100.0, "bm25_b": 0.8},
    {"weighting": "tfidf"},
    {"weighting": "none", "alpha": 0.3, "shrink": 5.0},
    {"weighting": "bm25", "similarity": "dot"},
]


@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize("k", [3, 7])
def test_item_similarity_equals_dense_brute_force(params, k):
    x = random_matrix()
    model = ItemKNN(n_neighbors=k, **{"shrink": 0.0, **params}).fit(Interactions.from_matrix(x))
    e = dense_weighting(x.toarray().T.astype(np.float64), params["weighting"],
                        params.get("bm25_k1", 1.2), params.get("bm25_b", 0.75))
    want = dense_topk_similarity(e, e, k, alpha=params.get("alpha", 0.5),
                                 shrink=params.get("shrink", 0.0),
                                 cosine=params.get("similarity", "cosine") == "cosine", exclude_self=True)
    got = model.similarity_.toarray()
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    # exactly the k largest survive: row counts and "every kept value >= every dropped one"
    assert np.all(np.diff(model.similarity_.indptr) == (want > 0).sum(axis=1))
    assert np.all((want > 0).sum(axis=1) == k)
    assert model.similarity_.dtype == np.float32 and np.all(np.diag(got) == 0)


@pytest.mark.parametrize("params", CASES[:3] + CASES[4:5])
def test_user_similarity_equals_dense_brute_force(params):
    x = random_matrix(seed=1)
    k = 5
    model = UserKNN(n_neighbors=k, **{"shrink": 0.0, **params}).fit(Interactions.from_matrix(x))
    e = dense_weighting(x.toarray().astype(np.float64), params["weighting"],
                        params.get("bm25_k1", 1.2), params.get("bm25_b", 0.75))
    want = dense_topk_similarity(e, e, k, alpha=params.get("alpha", 0.5),
                                 shrink=params.get("shrink", 0.0), exclude_self=True)
    np.testing.assert_allclose(model.similarity_.toarray(), want, rtol=2e-5, atol=1e-6)
    # scores: neighbours' rows weighted by similarity
    users = np.array([0, 5, 17])
    np.testing.assert_allclose(model.score_indices(users), want[users] @ x.toarray(), rtol=1e-4, atol=1e-5)


def test_bm25_matches_implicit():
    nn = pytest.importorskip("implicit.nearest_neighbours")
    x = random_matrix(seed=2)
    ours = simmod.fit_row_weights(x.T.tocsr(), "bm25", k1=1.2, b=0.75).apply(x.T.tocsr())
    theirs = nn.bm25_weight(x.T.tocsr().astype(np.float64), K1=1.2, B=0.75).tocsr()
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-5, atol=1e-6)


def test_blockwise_build_equals_one_block(monkeypatch):
    x = random_matrix(n_users=50, n_items=60, seed=3)
    one = ItemKNN(n_neighbors=8).fit(Interactions.from_matrix(x)).similarity_
    monkeypatch.setattr(simmod, "_BLOCK_CELLS", 700)
    x_items = x.T.tocsr()
    assert len(simmod._block_bounds(x_items, x, 60)) >= 5  # really several blocks
    many = ItemKNN(n_neighbors=8).fit(Interactions.from_matrix(x)).similarity_
    assert (one != many).nnz == 0


def test_item_scores_are_history_times_similarity():
    x = random_matrix(seed=4)
    model = ItemKNN(n_neighbors=6, weighting="bm25", shrink=3.0).fit(Interactions.from_matrix(x))
    s = model.similarity_.toarray()
    want = x.toarray() @ s
    np.testing.assert_allclose(model.score_indices(np.arange(x.shape[0])), want, rtol=1e-4, atol=1e-5)
    cols = np.array([2, 9, 11])
    np.testing.assert_allclose(model.score_indices([3], cols), want[[3]][:, cols], rtol=1e-4, atol=1e-5)
    # an anonymous history scores like the same row of a known user
    idx, sc = model.recommend_from_history(x[[3]], k=4)
    rec = model.recommend([3], k=4)
    np.testing.assert_array_equal(idx, rec.item_indices)
    np.testing.assert_allclose(sc, rec.scores, rtol=1e-5)


def test_user_knn_history_uses_training_users_as_neighbours():
    x = random_matrix(seed=5)
    model = UserKNN(n_neighbors=4, weighting="bm25", shrink=0.0).fit(Interactions.from_matrix(x))
    history = random_matrix(n_users=3, n_items=x.shape[1], seed=6)
    weights = simmod.fit_row_weights(x, "bm25")
    e = dense_weighting(x.toarray().astype(np.float64), "bm25")
    h = weights.apply(history).toarray().astype(np.float64)  # history weighted with train stats
    sim = dense_topk_similarity(h, e, 4)
    want = sim @ x.toarray()
    np.testing.assert_allclose(model._score_history(history), want, rtol=1e-4, atol=1e-5)
    idx, _ = model.recommend_from_history(history, k=3)
    for r in range(3):
        assert not set(idx[r]) & set(history[r].indices)


def test_similar_items_and_users_follow_the_graph():
    x = random_matrix(seed=7)
    item = ItemKNN(n_neighbors=5).fit(Interactions.from_matrix(x))
    rec = item.similar_items([4], k=10)
    row = item.similarity_[4]
    order = row.indices[np.argsort(-row.data, kind="stable")]
    kept = rec.item_indices[0][rec.item_indices[0] >= 0]
    np.testing.assert_array_equal(kept, order)  # at most n_neighbors, best first
    assert 4 not in kept
    user = UserKNN(n_neighbors=3).fit(Interactions.from_matrix(x))
    sim = user.similar_users([0, 1], k=3)
    for q in (0, 1):
        r = user.similarity_[q]
        assert set(sim.item_indices[q][sim.item_indices[q] >= 0]) == set(r.indices)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize("bad, match", [
    ({"n_neighbors": 0}, "n_neighbors=0: .*fix: set n_neighbors to an integer > 0"),
    ({"n_neighbors": -3}, "n_neighbors=-3: .*fix: set n_neighbors to an integer > 0"),
    ({"n_neighbors": 2.5}, "n_neighbors=2.5: .*fix: set n_neighbors to an integer"),
    ({"weighting": "bm52"}, "weighting='bm52': .*fix: set weighting to one of 'none', 'tfidf', 'bm25'"),
    ({"similarity": "pearson"}, "similarity='pearson': .*fix: set similarity to one of"),
    ({"alpha": 1.5}, "alpha=1.5: .*fix: set alpha to a number >= 0 and <= 1"),
    ({"shrink": -1.0}, "shrink=-1.0: .*fix: set shrink to a number >= 0"),
    ({"bm25_b": 2.0}, "bm25_b=2.0: .*fix: set bm25_b to a number >= 0 and <= 1"),
])
def test_bad_params_raise(cls, bad, match):
    x = random_matrix()
    with pytest.raises(ConfigError, match=match):
        cls(**bad).fit(Interactions.from_matrix(x))


@pytest.mark.slow
def test_item_knn_quality_on_movielens_100k():
    path = shared_dataset("ml-100k") / "u.data"
    df = pl.read_csv(path, separator="\t", has_header=False,
                     new_columns=["user_id", "item_id", "rating", "ts"])
    data = Interactions.from_frame(df, time="ts", weighting="binary")
    res = evaluate_protocol(ItemKNN(), data, "random-holdout:0.25", seed=42, k=10)
    assert res["ndcg@10"] >= 0.41


def test_partial_fit_refits_on_merged_events():
    x = random_matrix(seed=8)
    extra = sp.csr_matrix(([2.0, 1.0], ([0, 3], [5, 9])), shape=x.shape, dtype=np.float32)
    extra = extra - extra.multiply(x > 0)  # only cells that are new
    extra.eliminate_zeros()
    model = ItemKNN(n_neighbors=5).fit(Interactions.from_matrix(x))
    model.partial_fit(Interactions.from_matrix(extra, users=model.users_, items=model.items_))
    full = ItemKNN(n_neighbors=5).fit(Interactions.from_matrix(x + extra))
    np.testing.assert_allclose(model.similarity_.toarray(), full.similarity_.toarray(), rtol=1e-5)


def test_large_catalog_builds_without_a_dense_similarity():
    import tracemalloc

    rng = np.random.default_rng(9)
    n_users, n_items, nnz = 1000, 21_000, 15_000
    x = sp.csr_matrix((np.ones(nnz, np.float32), (rng.integers(0, n_users, nnz),
                       rng.integers(0, n_items, nnz))), shape=(n_users, n_items))
    x.sum_duplicates()
    x.data[:] = 1.0
    data = Interactions.from_matrix(x, weighting="binary")
    tracemalloc.start()
    model = ItemKNN(n_neighbors=10).fit(data, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # a dense 21k x 21k float32 similarity alone would be 1.8 GB
    assert peak < 300e6, f"peak {peak / 1e6:.0f} MB"
    per_row = np.diff(model.similarity_.indptr)
    assert per_row.max() <= 10 and per_row.sum() > 0


@pytest.mark.parametrize("density", [0.01, 0.6])  # rows scanned sparse (sorted touched) and dense
def test_fused_kernel_equals_the_sparse_product_and_brute_force(density):
    rng = np.random.default_rng(11)
    n_users, n_items = 300, 400
    x = sp.random(n_users, n_items, density=density, random_state=rng, dtype=np.float32, format="csr")
    x.data = rng.uniform(0.5, 3.0, x.nnz).astype(np.float32)
    items = x.T.tocsr()
    got = simmod.knn_similarity(items, items, n_neighbors=n_items, exclude_self=True)
    # every neighbour kept: the values are scipy's float32 product over the float64 norms
    dots = sp.csr_matrix(items @ items.T, dtype=np.float32).toarray()
    norms = np.sqrt(np.asarray(items.multiply(items).sum(axis=1), np.float64).ravel())
    den = norms[:, None] * norms[None, :]
    want = np.where(dots > 0, dots / np.where(den > 0, den, 1.0), 0.0).astype(np.float32)
    np.fill_diagonal(want, 0.0)
    np.testing.assert_array_equal(got.toarray(), want)
    # top 5 with binary values (many equal cosines: the lower column wins) against dense brute force
    x.data[:] = 1.0
    items = x.T.tocsr()
    top = simmod.knn_similarity(items, items, n_neighbors=5, exclude_self=True).toarray()
    dense = items.toarray().astype(np.float64)
    np.testing.assert_allclose(top, dense_topk_similarity(dense, dense, 5, exclude_self=True), rtol=1e-6)
