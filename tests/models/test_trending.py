"""Trending: contract, hand-computed decayed scores, incremental update, errors."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.data import Interactions, Vocab
from shortlist.errors import ConfigError, DataError
from shortlist.models import Recommender
from shortlist.models.trending import DAY, Trending
from tests.conftest import block_interactions
from tests.models.contract import RecommenderContract


def with_time(data: Interactions, seed: int = 0) -> Interactions:
    ts = np.random.default_rng(seed).integers(0, 30 * 86_400, data.n_events)
    return Interactions(data.users, data.items, data.user_index, data.item_index, data.value,
                        timestamp=ts, weighting=data.weighting)


class TestTrendingContract(RecommenderContract):
    min_in_community = 0.0  # one list for everybody, by design

    @pytest.fixture
    def data(self):
        return with_time(block_interactions())

    def make_model(self):
        return Trending(half_life=3 * DAY)


def events(users, items, ts, values=None, *, user_vocab=None, item_vocab=None) -> Interactions:
    uv = user_vocab or Vocab(sorted(set(users)))
    iv = item_vocab or Vocab(sorted(set(items)))
    return Interactions(uv, iv, uv.index(users), iv.index(items), values,
                        timestamp=np.asarray(ts, np.int64), weighting="value")


# item "a": one old heavy event; "b": one fresh light event; "c": in between
HAND = {"users": ["u0", "u1", "u2", "u0"], "items": ["a", "b", "c", "c"],
            "ts": [0, 100, 50, 100], "values": [3.0, 1.0, 1.0, 0.5]}


@pytest.mark.parametrize("half_life, expected, order", [
    # a = 3 * 0.5**(100/50), b = 1, c = 1 * 0.5**(50/50) + 0.5
    (50.0, [0.75, 1.0, 1.0], ["b", "c", "a"]),
    # a = 3 * 0.5**(100/200) = 2.1213, b = 1, c = 0.5**0.25 + 0.5 = 1.3409
    (200.0, [3 * 2 ** -0.5, 1.0, 2 ** -0.25 + 0.5], ["a", "c", "b"]),
])
def test_scores_equal_hand_computation(half_life, expected, order):
    model = Trending(half_life=half_life).fit(events(**HAND))
    assert model.now_ == 100.0
    np.testing.assert_allclose(model.item_scores_, expected, rtol=1e-6)
    rec = model.recommend(["u2"], k=3, exclude_seen=False)
    assert rec.item_ids[0].tolist() == order


def test_by_events_and_fixed_now():
    model = Trending(half_life=50.0, by="events", now=200).fit(events(**HAND))
    # values ignored; everything aged from t=200
    np.testing.assert_allclose(model.item_scores_, [2 ** -4, 2 ** -2, 2 ** -3 + 2 ** -2], rtol=1e-6)
    # an event after a fixed "now" counts 1, not more
    late = Trending(half_life=50.0, by="events", now=50).fit(events(**HAND))
    np.testing.assert_allclose(late.item_scores_, [0.5, 1.0, 2.0], rtol=1e-6)


def test_partial_fit_equals_refit_on_all_events():
    first = events(**HAND)
    more_items = first.items.extend(["d"])
    more_users = first.users.extend(["u9"])
    later = events(["u9", "u0", "u1"], ["d", "a", "c"], [300, 250, 300], [1.0, 2.0, 1.0],
                   user_vocab=more_users, item_vocab=more_items)
    model = Trending(half_life=80.0).fit(first).partial_fit(later)
    every = events(HAND["users"] + ["u9", "u0", "u1"], HAND["items"] + ["d", "a", "c"],
                   HAND["ts"] + [300, 250, 300], HAND["values"] + [1.0, 2.0, 1.0],
                   user_vocab=more_users, item_vocab=more_items)
    full = Trending(half_life=80.0).fit(every)
    assert model.now_ == full.now_ == 300.0
    np.testing.assert_allclose(model.item_scores_, full.item_scores_, rtol=1e-5)
    assert model.recommend(["u9"], k=2).item_ids[0].tolist() == full.recommend(["u9"], k=2).item_ids[0].tolist()


def test_history_scores_are_the_same_list():
    model = Trending(half_life=50.0).fit(events(**HAND))
    hist = model.train_[[0, 1]]
    idx, sc = model.recommend_from_history(hist, k=3, exclude_seen=False)
    np.testing.assert_array_equal(idx[0], idx[1])
    np.testing.assert_allclose(sc[0], np.sort(model.item_scores_)[::-1])


def test_save_load_keeps_now(tmp_path):
    model = Trending(half_life=50.0).fit(events(**HAND))
    loaded = Recommender.load(model.save(tmp_path / "t"))
    assert loaded.now_ == 100.0
    np.testing.assert_array_equal(loaded.item_scores_, model.item_scores_)


def test_needs_timestamps():
    with pytest.raises(DataError, match="trending needs event timestamps"):
        Trending().fit(block_interactions())


@pytest.mark.parametrize("bad, match", [
    ({"half_life": 0}, "half_life=0: .*fix: set half_life to a number > 0, e.g. 604800"),
    ({"half_life": -5.0}, "half_life=-5.0: .*fix: set half_life to a number > 0"),
    ({"half_life": "7d"}, "half_life='7d': .*fix: set half_life to a number > 0"),
    ({"by": "clicks"}, "by='clicks': .*fix: set by to one of 'value', 'events'"),
    ({"now": "today"}, "now='today': .*fix: set now to a number or None"),
])
def test_bad_params_raise(bad, match):
    with pytest.raises(ConfigError, match=match):
        Trending(**bad).fit(events(**HAND))
