"""The six world presets carry the dynamics that define their product."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.data.world.usecase_extras import km_between
from shortlist.data.world.usecases import USE_CASES, usecase_world
from shortlist.errors import ConfigError


@pytest.mark.parametrize("name", USE_CASES)
def test_every_preset_generates_a_training_log_before_the_cutoff(name):
    ucw = usecase_world(name, size="tiny", seed=0)
    ds = ucw.dataset()
    assert ds.interactions.timestamp.max() < ucw.cutoff
    assert "publish_time" in ds.item_features
    lo, hi = ucw.traffic_window
    assert ucw.cutoff == lo < hi <= ucw.world.end
    p = ucw.click_probability(0, np.arange(ucw.world.n_items), lo)
    assert p.shape == (ucw.world.n_items,) and np.all((p >= 0) & (p <= 1))


def test_news_stories_live_hours_and_most_have_no_history():
    ucw = usecase_world("news", size="tiny", seed=0)
    assert ucw.world.config.freshness_half_life_days == 0.125
    seen = np.diff(ucw.dataset().interactions.matrix.tocsc().indptr) > 0
    assert seen.mean() < 0.8  # stories published during the traffic have no events at all
    t = ucw.cutoff + 86400
    story = int(np.flatnonzero(ucw.world.items.publish < t - 2 * 86400)[-1])
    assert ucw.world.freshness(story, t) < 0.02


def test_social_users_weigh_freshness_differently_and_follow_each_other():
    ucw = usecase_world("social", size="tiny", seed=0)
    pref = ucw.extras["fresh_pref"]
    assert pref.min() < 0.3 and pref.max() > 1.7
    assert ucw.world.follows.nnz > 5 * ucw.world.n_users
    assert ucw.extras["friends_items"].nnz > 0


def test_games_have_a_small_catalog_and_replays():
    ucw = usecase_world("games", size="tiny", seed=0)
    assert ucw.world.n_items == 60
    assert (ucw.world.events.origin == 1).mean() > 0.3  # re-plays
    items = np.arange(ucw.world.n_items)
    fresh = ucw.click_probability(0, items, ucw.cutoff, np.zeros(items.size))
    once = ucw.click_probability(0, items, ucw.cutoff, np.ones(items.size))
    done = ucw.click_probability(0, items, ucw.cutoff, np.full(items.size, 50.0))
    out = fresh > 0  # not yet released
    assert np.all(once[out] > fresh[out]) and np.all(done[out] < once[out])  # appeal rises, fades once completed


def test_delivery_sellers_sit_a_few_km_from_their_users_with_hours():
    ucw = usecase_world("delivery", size="tiny", seed=0)
    w, x = ucw.world, ucw.extras
    d = km_between(w.users.lat[0], w.users.lon[0], w.items.lat, w.items.lon)
    assert d.min() < 5.0 < d.max()
    assert set(np.unique(x["open_s"] / 3600)) <= {7.0, 11.0, 17.0}
    late = x["close_s"] < x["open_s"]  # 17:00-02:00 wraps past midnight
    items = np.flatnonzero(late)[:3]
    at_1am = ucw.cutoff - ucw.cutoff % 86400 + 3600
    assert np.all(ucw.delivery_violations(0, items, at_1am) != 2)
    assert np.all(ucw.delivery_violations(0, items, at_1am + 5 * 3600) != 0)  # closed at 06:00


def test_unknown_use_case_names_the_valid_ones():
    with pytest.raises(ConfigError, match="news, social"):
        usecase_world("newz")
