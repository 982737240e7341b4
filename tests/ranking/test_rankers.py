"""Rankers: linear scorer, LambdaMART and the value model learn real signals and persist exactly."""

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.core.metrics import query_ndcg, ranking_metrics
from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.ranking import LambdaMARTRanker, LinearScorer, ValueModel, groups_from_ids


def synthetic_queries(n_queries=200, per_query=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_queries * per_query, 4)).astype(np.float32)
    utility = 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
    y = (utility + rng.normal(scale=0.5, size=utility.shape) > 1.5).astype(np.float32)
    groups = np.full(n_queries, per_query)
    return x, y, groups


def ndcg_of(scores, y, groups, k=10):
    tops, rels = [], []
    start = 0
    for g in groups:
        s = scores[start:start + g]
        top = np.argsort(-s)[:k]
        tops.append(top)
        rels.append(np.flatnonzero(y[start:start + g]))
        start += g
    rows = np.repeat(np.arange(len(groups)), [len(r) for r in rels])
    rel = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(rels))), shape=(len(groups), max(groups)))
    return float(np.nanmean(ranking_metrics(np.array(tops), rel, k)["ndcg"]))


def test_groups_from_ids():
    assert groups_from_ids(np.array([3, 3, 1, 1, 1, 7])).tolist() == [2, 3, 1]


def test_lambdamart_learns_and_roundtrips(tmp_path):
    x, y, g = synthetic_queries()
    xt, yt, gt = synthetic_queries(seed=1)
    model = LambdaMARTRanker(n_estimators=60, num_leaves=15).fit(x, y, g, feature_names=["a", "b", "c", "d"])
    learned = ndcg_of(model.score(xt), yt, gt)
    random = ndcg_of(np.random.default_rng(0).random(len(yt)), yt, gt)
    assert learned > random + 0.3
    assert next(iter(model.feature_importance())) == "a"  # the strongest signal
    model.save(tmp_path / "r.txt")
    loaded = LambdaMARTRanker.load(tmp_path / "r.txt")
    np.testing.assert_allclose(loaded.score(xt), model.score(xt), rtol=1e-6)


def test_lambdamart_bad_input(tmp_path):
    x, y, g = synthetic_queries(n_queries=5)
    with pytest.raises(DataError, match="groups sum to"):
        LambdaMARTRanker().fit(x, y, g + 1)
    with pytest.raises(DataError, match="all zero"):
        LambdaMARTRanker().fit(x, np.zeros_like(y), g)
    with pytest.raises(ConfigError, match="learning_rate"):
        LambdaMARTRanker(learning_rate=0)
    with pytest.raises(NotFittedError):
        LambdaMARTRanker().score(x)
    (tmp_path / "bad.txt").write_text("garbage")
    with pytest.raises(ModelFileError, match="corrupted"):
        LambdaMARTRanker.load(tmp_path / "bad.txt")


def test_linear_scorer_solves_logistic_regression():
    x, y, _g = synthetic_queries()
    model = LinearScorer(l2=1.0).fit(x, y, ["a", "b", "c", "d"])
    # at the optimum the regularised gradient vanishes
    z = np.column_stack([model._standardize(x.astype(np.float64)), np.ones(len(x))])
    w = np.concatenate([model.coef_, [model.intercept_]])
    p = 1 / (1 + np.exp(-z @ w))
    grad = z.T @ (p - y) + np.concatenate([model.coef_, [0.0]])
    assert np.abs(grad).max() < 1e-5
    assert model.coef_[0] > 0 > model.coef_[1]
    fixed = LinearScorer(weights={"a": 1.0}).fit(x, y, ["a", "b", "c", "d"])
    np.testing.assert_allclose(fixed.score(x), (x[:, 0] - x[:, 0].mean()) / x[:, 0].std(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="unknown features"):
        LinearScorer(weights={"zzz": 1.0}).fit(x, y, ["a", "b", "c", "d"])
    # scores with missing values: a NaN feature sits at its column mean (adds nothing)
    xn = x[:50].astype(np.float32)
    xn[::3, 1] = np.nan
    xn[::7, 2] = np.nan
    z = (xn.astype(np.float64) - model.mean_) / model.scale_
    expect = np.where(np.isnan(z), 0.0, z) @ model.coef_ + model.intercept_
    np.testing.assert_allclose(model.score(xn), expect, rtol=1e-6)
    with pytest.raises(DataError, match="4 feature columns"):
        model.score(xn[:, :3])


def test_query_ndcg_equals_the_evaluator_on_ragged_queries():
    rng = np.random.default_rng(4)
    groups = rng.integers(10, 25, 40)  # ndcg_of needs k rows per query
    y = (rng.random(groups.sum()) < 0.2).astype(np.float64)
    y[: groups[0]] = 0  # a query without a relevant row is skipped, as the evaluator's NaN
    s = rng.normal(size=groups.sum())
    got = query_ndcg(s, y, groups, 10)
    assert got.size == sum(1 for i, g in enumerate(groups) if y[groups[:i].sum():groups[:i].sum() + g].any())
    assert got.mean() == pytest.approx(ndcg_of(s, y, groups), abs=1e-12)


def test_linear_search_keeps_the_grid_point_with_the_best_ndcg():
    x, y, g = synthetic_queries(seed=2)
    grid = [0.5, 0.0, -0.25, -0.5, -1.0]  # the utility weighs b by -0.5 relative to a
    model = LinearScorer(weights={"a": 1.0}, search={"b": grid}).fit(x, y, ["a", "b", "c", "d"], g)
    z = (x.astype(np.float64) - x.mean(0)) / x.std(0)
    brute = [ndcg_of(z[:, 0] + w * z[:, 1], y, g) for w in grid]
    got = [r["ndcg@10"] for r in model.search_results_]
    np.testing.assert_allclose(got, brute, atol=1e-6)
    best = grid[int(np.argmax(brute))]
    assert best != grid[0] and [r["weights"]["b"] for r in model.search_results_] == grid
    np.testing.assert_allclose(model.coef_, [1.0, best, 0.0, 0.0])
    np.testing.assert_allclose(model.score(x), z[:, 0] + best * z[:, 1], rtol=1e-4, atol=1e-4)
    # two searched features: every combination, fixed weights kept underneath
    two = LinearScorer(search={"a": [1.0, 2.0], "b": [0.0, -1.0]}, search_k=5).fit(x, y, ["a", "b", "c", "d"], g)
    assert [tuple(r["weights"].values()) for r in two.search_results_] == [(1.0, 0.0), (1.0, -1.0), (2.0, 0.0), (2.0, -1.0)]
    assert "ndcg@5" in two.search_results_[0]


@pytest.mark.parametrize("kwargs,fit_groups,match", [
    ({"search": {"b": []}}, True, r"search\.b=\[\]: List should have at least 1 item.*; fix: set search\.b to"),
    ({"search": {"b": [0.1, float("nan")]}}, True, r"search\.b\.1=nan: Input should be a finite number; fix: "),
    ({"search": {"b": [0.1]}, "search_k": 0}, True, r"search_k=0: .*; fix: set search_k to an integer > 0"),
    ({"search": {"zzz": [0.1]}}, True, r"linear search name unknown features \['zzz'\]"),
    ({"search": {"b": [0.1]}}, False, r"needs its training rows grouped by request"),
])
def test_linear_search_errors_name_the_fix(kwargs, fit_groups, match):
    x, y, g = synthetic_queries(n_queries=5)
    with pytest.raises(ConfigError, match=match):
        LinearScorer(**kwargs).fit(x, y, ["a", "b", "c", "d"], g if fit_groups else None)


def test_value_model_combines_objectives_with_weights():
    x, y, _g = synthetic_queries()
    hide = (x[:, 1] > 1.0).astype(np.float32)
    vm = ValueModel(objectives={"click": 1.0, "hide": -2.0}, n_estimators=40).fit(
        x, {"click": y, "hide": hide}, ["a", "b", "c", "d"])
    preds = vm.predict(x)
    np.testing.assert_allclose(vm.score(x), preds["click"] - 2.0 * preds["hide"], rtol=1e-5, atol=1e-6)
    assert np.all((preds["click"] >= 0) & (preds["click"] <= 1))
    # the hide objective pushes items with large b down
    assert vm.score(x)[x[:, 1] > 1.5].mean() < vm.score(x)[x[:, 1] < -1.5].mean()
    with pytest.raises(DataError, match="no labels for objectives"):
        ValueModel(objectives={"like": 1.0}).fit(x, {"click": y}, ["a", "b", "c", "d"])
    with pytest.raises(ConfigError, match="objectives={}: Dictionary should have at least 1 item"):
        ValueModel(objectives={})
