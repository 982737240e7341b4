"""Period popularity: contract, a brute-force reference, history scoring, errors."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.data import Interactions, Vocab
from shortlist.errors import ConfigError, DataError
from shortlist.models.period_popularity import PeriodPopularity, time_bins
from tests.conftest import block_interactions
from tests.models.contract import RecommenderContract


def with_time(data: Interactions, seed: int = 0) -> Interactions:
    ts = np.random.default_rng(seed).integers(0, 30 * 86_400, data.n_events)
    return Interactions(data.users, data.items, data.user_index, data.item_index, data.value,
                        timestamp=ts, weighting=data.weighting)


class TestPeriodPopularityContract(RecommenderContract):
    min_in_community = 0.0  # popularity by period, not by community

    @pytest.fixture
    def data(self):
        return with_time(block_interactions())

    def make_model(self):
        return PeriodPopularity(bins=8, bandwidth=1.0)


def random_events(seed: int, n_users: int = 30, n_items: int = 25, n: int = 400) -> Interactions:
    rng = np.random.default_rng(seed)
    users = Vocab([f"u{i}" for i in range(n_users)])
    items = Vocab([f"i{i}" for i in range(n_items)])
    u = rng.integers(0, n_users, n)
    i = rng.integers(0, n_items, n)
    ts = rng.integers(0, 1_000_000, n)
    return Interactions(users, items, u, i, None, timestamp=ts)


def period_counts(data: Interactions, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct users of each item per period, each user's share of their periods), by loops."""
    edges = time_bins(data.timestamp, bins)
    p = np.searchsorted(edges, data.timestamp, side="right")
    n_p = len(edges) + 1
    triples = sorted({(int(u), int(i), int(b)) for u, i, b in zip(data.user_index, data.item_index, p)})
    counts = np.zeros((n_p, data.n_items))
    user_p = np.zeros((data.n_users, n_p))
    for u, i, b in triples:
        counts[b, i] += 1
        user_p[u, b] += 1
    return counts, user_p / np.maximum(user_p.sum(1, keepdims=True), 1)


def brute_force(data: Interactions, bins: int, bandwidth: float) -> np.ndarray:
    """score[u, i] = sum over u's distinct (period) events, share-weighted, of smoothed item counts."""
    counts, user_p = period_counts(data, bins)
    n_p = counts.shape[0]
    out = np.zeros((data.n_users, data.n_items))
    for u in range(data.n_users):
        for i in range(data.n_items):
            for b in range(n_p):
                if user_p[u, b] == 0:
                    continue
                w = np.array([np.exp(-0.5 * ((b - c) / bandwidth) ** 2) for c in range(n_p)])
                out[u, i] += user_p[u, b] * (w / w.sum()) @ counts[:, i]
    return out


@pytest.mark.parametrize("bins, bandwidth", [(4, 0.5), (10, 2.0), (50, 8.0)])
def test_scores_equal_brute_force(bins, bandwidth):
    data = random_events(bins)
    model = PeriodPopularity(bins=bins, bandwidth=bandwidth).fit(data)
    got = model.score_indices(np.arange(data.n_users), None)
    np.testing.assert_allclose(got, brute_force(data, bins, bandwidth), rtol=1e-4, atol=1e-5)


def test_quantile_bins_hold_equal_events():
    ts = np.concatenate([np.arange(1000), 10**9 + np.arange(1000)])  # two bursts far apart
    edges = time_bins(ts, 4)
    counts = np.bincount(np.searchsorted(edges, ts, side="right"))
    assert counts.tolist() == [500, 500, 500, 500]


def test_user_of_an_early_period_gets_the_items_of_that_period():
    # items a, b popular early; c, d popular late; u_early was active early only
    users, items, ts = [], [], []
    for n in range(20):
        users += [f"x{n}", f"x{n}", f"y{n}", f"y{n}"]
        items += ["a", "b", "c", "d"]
        ts += [n, n, 1000 + n, 1000 + n]
    users += ["u_early", "u_late"]
    items += ["a", "c"]
    ts += [5, 1005]
    uv, iv = Vocab(sorted(set(users))), Vocab(sorted(set(items)))
    data = Interactions(uv, iv, uv.index(users), iv.index(items), None, timestamp=np.asarray(ts))
    model = PeriodPopularity(bins=8, bandwidth=0.5).fit(data)
    assert model.recommend(["u_early"], k=1).item_ids[0].tolist() == ["b"]
    assert model.recommend(["u_late"], k=1).item_ids[0].tolist() == ["d"]
    # a history without times gets its items' periods: c was touched late, so d comes first
    from scipy import sparse as sp
    hist = sp.csr_matrix(([1.0], ([0], [iv.index(["c"])[0]])), shape=(1, len(iv)))
    scores = model._score_history(hist)[0]
    assert scores[iv.index(["d"])[0]] > scores[iv.index(["b"])[0]]


def test_needs_timestamps():
    data = block_interactions()
    with pytest.raises(DataError, match="needs event timestamps"):
        PeriodPopularity().fit(data)


@pytest.mark.parametrize("params", [{"bins": 0}, {"bandwidth": -1.0}, {"bins": 2.5}])
def test_bad_params_name_the_key(params):
    from shortlist.models import create_model

    key = next(iter(params))
    with pytest.raises(ConfigError, match=key):
        create_model("period-popularity", params)
