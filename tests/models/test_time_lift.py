"""Time lift: contract, a brute-force reference, what its sign means, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions, Vocab
from shortlist.errors import DataError
from shortlist.models import TimeLift, create_model
from tests.conftest import block_interactions
from tests.models.contract import RecommenderContract
from tests.models.test_period_popularity import period_counts, random_events, with_time


class TestTimeLiftContract(RecommenderContract):
    min_in_community = 0.0  # when, not what: it does not know communities

    @pytest.fixture
    def data(self):
        return with_time(block_interactions())

    def make_model(self):
        return TimeLift(bins=8, bandwidth=1.0)


def brute_force(data: Interactions, bins: int, bandwidth: float, prior: float) -> np.ndarray:
    """log((sum_b h_u[b] S[b, i] + a) / (mean_b S[b, i] + a)), every sum written out."""
    counts, share = period_counts(data, bins)
    n_p = counts.shape[0]
    smoothed = np.zeros_like(counts)
    for b in range(n_p):
        w = np.array([np.exp(-0.5 * ((b - c) / bandwidth) ** 2) for c in range(n_p)])
        smoothed[b] = (w / w.sum()) @ counts
    a = prior * smoothed.mean()
    out = np.zeros((data.n_users, data.n_items))
    for u in range(data.n_users):
        for i in range(data.n_items):
            in_periods = sum(share[u, b] * smoothed[b, i] for b in range(n_p))
            out[u, i] = np.log(in_periods + a) - np.log(smoothed[:, i].mean() + a)
    return out


@pytest.mark.parametrize("bins, bandwidth, prior", [(4, 0.5, 1.0), (10, 2.0, 0.1), (50, 8.0, 3.0)])
def test_scores_equal_brute_force(bins, bandwidth, prior):
    data = random_events(bins + 1)
    model = TimeLift(bins=bins, bandwidth=bandwidth, prior=prior).fit(data)
    got = model.score_indices(np.arange(data.n_users), None)
    np.testing.assert_allclose(got, brute_force(data, bins, bandwidth, prior), rtol=1e-4, atol=1e-4)
    # the same numbers for a few items
    items = np.array([3, 0, 7])
    np.testing.assert_allclose(model.score_indices(np.arange(data.n_users), items), got[:, items], rtol=1e-5, atol=1e-6)


def test_roundtrip_keeps_the_scores(tmp_path):
    data = random_events(3)
    model = TimeLift(bins=6, prior=0.5).fit(data)
    again = TimeLift.load(model.save(tmp_path / "lift"))
    users = np.arange(data.n_users)
    np.testing.assert_allclose(again.score_indices(users, None), model.score_indices(users, None), rtol=1e-6)


def early_late() -> tuple[Interactions, Vocab]:
    """a: popular early; b: a third as popular, early; c, d: the same, late; e: alike in both periods."""
    users, items, ts = [], [], []
    for n in range(40):
        users += [f"x{n}"] * 3 + [f"y{n}"] * 3
        items += ["a", "e", "b" if n % 2 else "a", "c", "e", "d" if n % 2 else "c"]
        ts += [n] * 3 + [1000 + n] * 3
    users += ["u_early", "u_late"]
    items += ["a", "c"]
    ts += [5, 1005]
    uv, iv = Vocab(sorted(set(users))), Vocab(sorted(set(items)))
    return Interactions(uv, iv, uv.index(users), iv.index(items), None, timestamp=np.asarray(ts)), iv


def test_the_sign_says_when_not_how_popular():
    data, iv = early_late()
    model = TimeLift(bins=8, bandwidth=0.5).fit(data)
    s = dict(zip(iv.ids, model.score(["u_early"], iv.ids)[0]))
    assert s["a"] > 0 and s["b"] > 0  # the user's own period, popular or not
    assert s["c"] < 0  # as popular as a, but used only after this user left
    assert abs(s["e"]) < 0.05  # used alike in every period: no lift either way
    late = dict(zip(iv.ids, model.score(["u_late"], iv.ids)[0]))
    assert late["c"] > 0 > late["a"]


def test_a_history_without_times_gets_its_items_periods():
    data, iv = early_late()
    model = TimeLift(bins=8, bandwidth=0.5).fit(data)
    hist = sp.csr_matrix(([1.0], ([0], [iv.index(["c"])[0]])), shape=(1, len(iv)))
    scores = dict(zip(iv.ids, model._score_history(hist)[0]))
    assert scores["c"] > 0 > scores["a"]


def test_a_blend_weighs_its_raw_score():
    assert TimeLift.blend_feature == "raw"
    assert create_model("ease").blend_feature == "z"


def test_needs_timestamps_and_names_itself():
    with pytest.raises(DataError, match="time-lift needs event timestamps"):
        TimeLift().fit(block_interactions())


def test_events_at_one_instant_give_every_user_the_same_finite_lift():
    data = random_events(1)
    flat = Interactions(data.users, data.items, data.user_index, data.item_index, None,
                        timestamp=np.full(data.n_events, 5))
    scores = TimeLift().fit(flat).score_indices(np.arange(flat.n_users), None)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, np.broadcast_to(scores[0], scores.shape))  # nothing tells users apart
