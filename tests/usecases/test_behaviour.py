"""Behavioural features and the app's per-user memory, checked against direct counts on a tiny games world."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.data.world.usecases import usecase_world
from shortlist.pipeline.usecases.memory import EngagedAge, OnlineHistory
from shortlist.ranking.behaviour import engaged_age_days, history_counts, user_item_counts
from shortlist.ranking.features import FeatureAssembler
from shortlist.retrieval.types import Candidates, Request


@pytest.fixture(scope="module")
def games():
    ucw = usecase_world("games", size="tiny", seed=3)
    return ucw, ucw.dataset()


def test_play_counts_match_a_direct_count_of_the_log(games):
    _, ds = games
    it = ds.interactions
    counts = user_item_counts(it)
    for u in (0, 5, 17):
        for i in np.unique(it.item_index[it.user_index == u])[:5]:
            assert counts[u, i] == np.sum((it.user_index == u) & (it.item_index == i))
    assert counts.sum() == it.n_events and counts.max() > 1  # replays are counted, not collapsed


def test_history_counts_keep_repeats():
    assert history_counts(np.array([4, 2, 4, 4]), np.array([4, 2, 9])).tolist() == [3.0, 1.0, 0.0]
    assert history_counts(np.zeros(0, np.int64), np.array([1])).tolist() == [0.0]


def test_assembler_play_count_features_add_the_request_history(games):
    _, ds = games
    it = ds.interactions
    fa = FeatureAssembler(user_item_counts=True).fit(it)
    u = int(it.user_index[0])
    items = np.arange(it.n_items)
    hist = np.array([items[0], items[0], items[1]])
    x = fa.transform(Request(user_index=u, history=hist), Candidates(items, np.zeros(items.size, np.float32), {}))
    names = fa.feature_names
    played, logc = x[:, names.index("user_item_played")], x[:, names.index("user_item_log_count")]
    direct = np.array([np.sum((it.user_index == u) & (it.item_index == i)) for i in items], np.float64)
    direct[0] += 2
    direct[1] += 1
    np.testing.assert_allclose(logc, np.log1p(direct), rtol=1e-6)
    assert np.array_equal(played > 0, direct > 0)


def test_engaged_age_is_the_mean_age_at_the_events():
    publish = np.array([0.0, 86400.0, np.nan])
    item = np.array([0, 0, 1, 2])
    ts = np.array([86400.0, 3 * 86400.0, 2 * 86400.0, 86400.0])
    np.testing.assert_allclose(engaged_age_days(item, item, ts, publish, 4), [2.0, 1.0, np.nan, np.nan])
    user = np.array([0, 1, 1, 1])
    np.testing.assert_allclose(engaged_age_days(user, item, ts, publish, 2), [1.0, 2.0])  # unknown age left out


def test_engaged_age_half_life_shrinks_towards_everyone_and_learns_online(games):
    _, ds = games
    publish = ds.item_features.numeric("publish_time")
    ea = EngagedAge(ds, publish, prior_events=0.0)
    it = ds.interactions
    u = int(it.user_index[0])
    mine = it.user_index == u
    direct = np.mean((it.timestamp[mine] - publish[it.item_index[mine]]) / 86400.0)
    assert ea.half_life_days(u) == pytest.approx(np.log(2) * direct)
    strong = EngagedAge(ds, publish, prior_events=1e9)  # a prior this strong leaves only everyone's mean
    assert strong.mean_age_days(u) == pytest.approx(strong.global_mean, rel=1e-4)
    item = int(np.argmax(publish))  # the newest game: clicked when brand new, the taste moves fresher
    before = ea.mean_age_days(u)
    ea.clicked(u, np.array([item] * 50), float(publish[item]))
    assert ea.mean_age_days(u) < before


def test_online_history_keeps_every_play_in_order():
    h = OnlineHistory()
    h.add(3, np.array([7, 8]), 10.0)
    h.add(3, np.array([7]), 20.0)
    items, times = h.of(3)
    assert items.tolist() == [7, 8, 7] and times.tolist() == [10.0, 10.0, 20.0]
    assert h.of(4)[0].size == 0
