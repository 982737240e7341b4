"""The compiled tree ensemble scores exactly as LightGBM's own predictor."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from shortlist.ranking.gbdt import LambdaMARTRanker
from shortlist.ranking.trees import TreeEnsemble

#: LightGBM's OpenMP threads spin-wait; on a shared machine one thread is much faster
ONE_THREAD = {"verbosity": -1, "num_threads": 1}


def _data(n: int = 3000, d: int = 8, seed: int = 0, nan: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 2] = np.round(x[:, 2])  # many exact zeros and ties
    x[rng.random(x.shape) < nan] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
         + rng.normal(size=n) > 0.5).astype(int)
    return x, y


def _probe(booster: lgb.Booster, x: np.ndarray, seed: int = 1) -> np.ndarray:
    """Random rows, NaNs, zeros, and every feature also set exactly to split thresholds."""
    rng = np.random.default_rng(seed)
    rows = [x[:500], np.zeros((20, x.shape[1]), np.float32), np.full((20, x.shape[1]), np.nan, np.float32)]
    at = rng.normal(size=(500, x.shape[1])).astype(np.float32)
    trees = booster.dump_model()["tree_info"]
    for j in range(x.shape[1]):
        thresholds = []
        stack = [t["tree_structure"] for t in trees]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if node["split_feature"] == j:
                    thresholds.append(node["threshold"])
                stack += [node["left_child"], node["right_child"]]
        if thresholds:
            at[:, j] = np.clip(rng.choice(thresholds, 500), -3e38, 3e38).astype(np.float32)
    rows.append(at)
    rows.append(np.nextafter(at, np.float32(np.inf)))
    return np.vstack(rows)


@pytest.mark.parametrize("params", [
    {"objective": "lambdarank", "num_leaves": 31},
    {"objective": "binary", "num_leaves": 31},
    {"objective": "binary", "num_leaves": 15, "sigmoid": 0.5},
    {"objective": "regression", "num_leaves": 63},                       # 64-bit leaf masks
    {"objective": "regression", "num_leaves": 31, "zero_as_missing": True},
    {"objective": "regression", "num_leaves": 31, "use_missing": False},  # NaN counts as 0
])
def test_scores_equal_lightgbm(params: dict) -> None:
    x, y = _data()
    group = [100] * (len(y) // 100) if params["objective"] == "lambdarank" else None
    booster = lgb.train({**params, **ONE_THREAD, "min_data_in_leaf": 5}, lgb.Dataset(x, y, group=group), 40)
    trees = TreeEnsemble.from_booster(booster)
    assert trees is not None
    probe = _probe(booster, x)
    np.testing.assert_allclose(trees.predict(probe), booster.predict(probe), rtol=1e-12, atol=1e-12)
    # the first iterations only
    few = TreeEnsemble.from_booster(booster, 7)
    np.testing.assert_allclose(few.predict(probe), booster.predict(probe, num_iteration=7), rtol=1e-12, atol=1e-12)


def test_single_leaf_trees() -> None:
    x, _ = _data(200)
    y = np.ones(200)  # nothing to split on: every tree is one leaf
    booster = lgb.train({"objective": "regression", **ONE_THREAD}, lgb.Dataset(x, y), 5)
    trees = TreeEnsemble.from_booster(booster)
    np.testing.assert_allclose(trees.predict(x), booster.predict(x), rtol=1e-12)


def test_uncovered_models_fall_back_to_lightgbm() -> None:
    x, y = _data(2000)
    xc = x.copy()
    xc[:, 3] = np.random.default_rng(0).integers(0, 5, len(xc))
    cat = lgb.train({"objective": "regression", **ONE_THREAD, "min_data_per_group": 5, "cat_smooth": 1},
                    lgb.Dataset(xc, y + xc[:, 3] % 2, categorical_feature=[3]), 20)
    assert TreeEnsemble.from_booster(cat) is None
    multi = lgb.train({"objective": "multiclass", "num_class": 3, **ONE_THREAD},
                      lgb.Dataset(x, (y + (x[:, 4] > 0)).astype(int)), 5)
    assert TreeEnsemble.from_booster(multi) is None
    big = lgb.train({"objective": "regression", "num_leaves": 100, "min_data_in_leaf": 2, **ONE_THREAD},
                    lgb.Dataset(x, y + x[:, 5]), 3)
    assert TreeEnsemble.from_booster(big) is None


def test_ranker_uses_compiled_trees_with_same_scores(tmp_path) -> None:
    x, y = _data(4000, seed=3)
    groups = np.full(40, 100)
    ranker = LambdaMARTRanker(n_estimators=30, min_data_in_leaf=10, base_feature="f1")
    ranker.fit(x, y, groups, feature_names=[f"f{i}" for i in range(x.shape[1])])
    assert ranker._trees() is not None
    base = np.nan_to_num(x[:, 1].astype(np.float64), nan=np.nanmin(x[:, 1]))
    expect = ranker.booster_.predict(x, num_iteration=ranker.best_iteration_) + base
    np.testing.assert_allclose(ranker.score(x), expect.astype(np.float32), rtol=1e-6)
    ranker.save(tmp_path / "r.txt")
    loaded = LambdaMARTRanker.load(tmp_path / "r.txt", base_feature="f1")
    np.testing.assert_array_equal(loaded.score(x), ranker.score(x))
