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
    with pytest.raises(ConfigError, match="encoding='onehot' is not supported"):
        DeepFMRanker(encoding="onehot")
    with pytest.raises(ConfigError, match="n_bins must be an integer >= 2, got 1"):
        DeepFMRanker(n_bins=1)
    x, y, g = _queries(5, 0)
    with pytest.raises(DataError, match="groups sum to"):
        DeepFMRanker(epochs=1).fit(x, y, g[:-1])
    with pytest.raises(DataError, match="labels are all zero"):
        DeepFMRanker(epochs=1).fit(x, y * 0, g)
    ranker = DeepFMRanker(epochs=1, device="cpu").fit(x, y, g)
    with pytest.raises(DataError, match="4 feature columns"):
        ranker.score(np.zeros((2, 3)))
    assert ranker.score(np.zeros((0, 4))).shape == (0,)
