"""DeepFMRanker: LambdaMARTRanker's interface, learns a feature interaction, NaN, persistence."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.neural import DeepFMRanker
from shortlist.ranking import LambdaMARTRanker

torch.set_num_threads(1)


def _queries(n_queries: int, seed: int, size: int = 20):
    """Relevance depends on a product of two features and on a feature being missing."""
    rng = np.random.default_rng(seed)
    n = n_queries * size
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[rng.random(n) < 0.15, 2] = np.nan
    rel = x[:, 0] * x[:, 1] + np.where(np.isnan(x[:, 2]), 2.0, 0.0) + 0.2 * rng.normal(size=n)
    y = np.zeros(n, np.float32)
    for q in range(n_queries):
        s = slice(q * size, (q + 1) * size)
        y[s][np.argsort(-rel[s])[:3]] = 1.0
    return x, y, np.full(n_queries, size)


def _ndcg(ranker, x, y, groups) -> float:
    return DeepFMRanker._ndcg(type("R", (), {"score": lambda self, f: ranker.score(f), "eval_at": 10})(),
                              x, y, groups)


def test_same_interface_as_lambdamart():
    for method in ("fit", "score", "save", "load"):
        assert list(inspect.signature(getattr(DeepFMRanker, method)).parameters) == \
            list(inspect.signature(getattr(LambdaMARTRanker, method)).parameters)


@pytest.mark.parametrize("encoding", ["linear", "bucket"])
def test_learns_interaction_and_missingness(encoding):
    x, y, g = _queries(200, 0)
    vx, vy, vg = _queries(60, 1)
    ranker = DeepFMRanker(encoding=encoding, epochs=25, seed=0, device="cpu").fit(
        x, y, g, valid=(vx, vy, vg), feature_names=["a", "b", "c", "d"])
    assert ranker.feature_names_ == ["a", "b", "c", "d"]
    random_scores = np.random.default_rng(0).random(len(vy))
    chance = DeepFMRanker._ndcg(type("R", (), {"score": lambda self, f: random_scores, "eval_at": 10})(),
                                vx, vy, vg)
    assert _ndcg(ranker, vx, vy, vg) > max(0.75, chance + 0.3)
    assert ranker.history_.best_epoch >= 0 and len(ranker.history_.valid) >= 1


def test_bce_loss_also_learns():
    x, y, g = _queries(150, 0)
    ranker = DeepFMRanker(loss="bce", encoding="linear", epochs=20, device="cpu").fit(x, y, g)
    assert _ndcg(ranker, *_queries(50, 2)) > 0.7


def test_save_load_identical_scores(tmp_path):
    x, y, g = _queries(40, 0)
    ranker = DeepFMRanker(epochs=3, device="cpu").fit(x, y, g)
    path = ranker.save(tmp_path / "stage-deepfm")
    loaded = DeepFMRanker.load(path)
    np.testing.assert_array_equal(ranker.score(x), loaded.score(x))
    (path / "arrays.npz").write_bytes(b"junk")
    with pytest.raises(ModelFileError):
        DeepFMRanker.load(path)


def test_errors():
    with pytest.raises(NotFittedError, match="fit"):
        DeepFMRanker().score(np.zeros((1, 2)))
    with pytest.raises(ConfigError, match=r"^deepfm ranker: encoding='onehot': Input should be 'bucket' or 'linear'; "
                                          r"fix: set encoding to one of 'bucket', 'linear'"):
        DeepFMRanker(encoding="onehot")
    with pytest.raises(ConfigError, match=r"^deepfm ranker: n_bins=1: Input should be greater than or equal to 2; "
                                          r"fix: set n_bins to an integer >= 2, e\.g\. 16 \(the default\)$"):
        DeepFMRanker(n_bins=1)
    with pytest.raises(ConfigError, match=r"^deepfm ranker: hidden\.1=0: Input should be greater than 0"):
        DeepFMRanker(hidden=[8, 0])
    x, y, g = _queries(5, 0)
    with pytest.raises(DataError, match="groups sum to"):
        DeepFMRanker(epochs=1).fit(x, y, g[:-1])
    with pytest.raises(DataError, match="labels are all zero"):
        DeepFMRanker(epochs=1).fit(x, y * 0, g)
    ranker = DeepFMRanker(epochs=1, device="cpu").fit(x, y, g)
    with pytest.raises(DataError, match="4 feature columns"):
        ranker.score(np.zeros((2, 3)))
    assert ranker.score(np.zeros((0, 4))).shape == (0,)


# -- residual ranking on top of a base score (a stacked final stage) ---------------------------

def _residual_queries(n_queries: int, seed: int, size: int = 20):
    """Relevance = a + b*c; the base column (last) sees only ``a``, with noise."""
    rng = np.random.default_rng(seed)
    n = n_queries * size
    x = rng.normal(size=(n, 4)).astype(np.float32)
    rel = x[:, 0] + 1.5 * x[:, 1] * x[:, 2]
    x[:, 3] = x[:, 0] + 0.3 * rng.normal(size=n)
    y = np.zeros(n, np.float32)
    for q in range(n_queries):
        s = slice(q * size, (q + 1) * size)
        y[s][np.argsort(-rel[s])[:3]] = 1.0
    return x, y, np.full(n_queries, size)


def _base_ndcg(x, y, g) -> float:
    return DeepFMRanker._ndcg(type("R", (), {"score": lambda self, f: f[:, 3], "eval_at": 10})(), x, y, g)


NAMES = ["a", "b", "c", "base"]


def test_untrained_residual_ranker_scores_exactly_its_base():
    x, _, _ = _residual_queries(10, 0)
    ranker = DeepFMRanker(base_feature="base", base_scale=2.5, device="cpu")
    ranker.feature_names_ = NAMES
    ranker._fit_columns(x)
    ranker.module_ = ranker._make_module()  # the state training starts from
    np.testing.assert_array_equal(ranker.score(x), (np.float32(2.5) * x[:, 3]).astype(np.float32))


def test_residual_ranker_learns_what_the_base_misses(tmp_path):
    x, y, g = _residual_queries(200, 0)
    vx, vy, vg = _residual_queries(60, 1)
    ranker = DeepFMRanker(base_feature="base", epochs=8, batch_size=16, seed=0, device="cpu").fit(
        x, y, g, valid=(vx, vy, vg), feature_names=NAMES)
    base = _base_ndcg(vx, vy, vg)
    assert ranker.base_valid_ == pytest.approx(base, abs=1e-9)  # epoch 0 = the base alone
    assert ranker.history_.best_epoch >= 0
    assert _ndcg(ranker, vx, vy, vg) > base + 0.08
    # the same gain, demanded at 1000 standard errors, is not significant: the base is kept
    strict = DeepFMRanker(base_feature="base", epochs=8, batch_size=16, seed=0, device="cpu", accept_z=1000.0)
    strict.fit(x, y, g, valid=(vx, vy, vg), feature_names=NAMES)
    assert strict.history_.best_epoch == -1
    np.testing.assert_array_equal(strict.score(vx), vx[:, 3])
    loaded = DeepFMRanker.load(ranker.save(tmp_path / "r"))  # persisted with its base
    assert loaded.base_feature == "base"
    np.testing.assert_array_equal(loaded.score(vx), ranker.score(vx))


def test_residual_ranker_keeps_the_base_when_training_cannot_beat_it():
    x, _, g = _residual_queries(60, 0)
    y = np.zeros(len(x), np.float32)
    for q in range(len(g)):  # labels follow the base exactly: validation NDCG of the base is 1
        s = slice(q * 20, (q + 1) * 20)
        y[s][np.argsort(-x[s, 3])[:3]] = 1.0
    ranker = DeepFMRanker(base_feature="base", epochs=3, patience=1, device="cpu").fit(
        x, y, g, valid=(x, y, g), feature_names=NAMES)
    assert ranker.base_valid_ == 1.0 and ranker.history_.best_epoch == -1
    np.testing.assert_array_equal(ranker.score(x), x[:, 3])


def test_residual_errors():
    x, y, g = _residual_queries(5, 0)
    with pytest.raises(ConfigError, match="base_feature='prev' is not a feature; available: a, b, c, base"):
        DeepFMRanker(base_feature="prev", epochs=1).fit(x, y, g, feature_names=NAMES)
    with pytest.raises(ConfigError, match=r"^deepfm ranker: base_scale=-1: Input should be greater than 0; "
                                          r"fix: set base_scale to a number > 0, e\.g\. 1\.0 \(the default\)$"):
        DeepFMRanker(base_scale=-1)
    with pytest.raises(ConfigError, match=r"^deepfm ranker: accept_z=-2: Input should be greater than or equal to 0; "
                                          r"fix: set accept_z to a number >= 0, e\.g\. 2\.0 \(the default\)$"):
        DeepFMRanker(accept_z=-2)
    with pytest.raises(ConfigError, match=r"^deepfm ranker: base_feature=3: Input should be a valid string"):
        DeepFMRanker(base_feature=3)
    with pytest.raises(ConfigError, match=r"^deepfm ranker: base_feature='': String should have at least 1 character"):
        DeepFMRanker(base_feature="")


def test_value_model_with_deepfm_heads(tmp_path):
    """learner='deepfm': one log-loss DeepFM head per objective; probabilities combine with the weights."""
    from shortlist.ranking import ValueModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    click = (x[:, 0] + 0.3 * rng.normal(size=3000) > 0.5).astype(np.float32)
    hide = (x[:, 1] > 1.0).astype(np.float32)
    names = ["a", "b", "c", "d"]
    vm = ValueModel(objectives={"click": 1.0, "hide": -2.0}, learner="deepfm",
                    deepfm={"epochs": 8, "hidden": [16], "batch_size": 256}).fit(
        x, {"click": click, "hide": hide}, names)
    preds = vm.predict(x)
    for name, y in (("click", click), ("hide", hide)):
        p = preds[name]
        assert np.all((p >= 0) & (p <= 1))
        # each head ranks its own positives above its negatives (AUC by pairwise comparison)
        pos, neg = p[y > 0], p[y == 0]
        auc = (pos[:, None] > neg[None, :]).mean()
        assert auc > 0.85, (name, auc)
    np.testing.assert_allclose(vm.score(x), preds["click"] - 2.0 * preds["hide"], rtol=1e-5, atol=1e-6)
    vm.save(tmp_path / "vm")
    loaded = ValueModel(objectives={"click": 1.0, "hide": -2.0}, learner="deepfm").load_models(tmp_path / "vm", {})
    np.testing.assert_allclose(loaded.score(x), vm.score(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="value model: learner='xgboost': Input should be 'lightgbm' or 'deepfm'"):
        ValueModel(objectives={"click": 1.0}, learner="xgboost")
    with pytest.raises(ConfigError, match="set learner = 'deepfm'"):
        ValueModel(objectives={"click": 1.0}, deepfm={"epochs": 2})
