"""Synthetic world: config validation, determinism, the generative story's signals, simulator hooks."""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

from shortlist.core.metrics import ranking_metrics
from shortlist.data import Dataset
from shortlist.data.splits import split_by_protocol
from shortlist.data.world import EVENT_TYPES, PRESETS, World, WorldConfig, generate_world
from shortlist.data.world import _kernels as K
from shortlist.errors import ConfigError, DataError
from shortlist.evaluation import evaluate_protocol
from shortlist.models import Popularity


@pytest.fixture(scope="module")
def tiny() -> World:
    return generate_world("tiny")


@pytest.fixture(scope="module")
def small() -> World:
    return generate_world("small")


# -- config --------------------------------------------------------------------------------
def test_presets_are_valid_and_ordered_by_size():
    sizes = [WorldConfig.preset(name).n_interactions for name in ("tiny", "small", "medium", "large")]
    assert sizes == sorted(sizes) and set(PRESETS) == {"tiny", "small", "medium", "large"}
    assert WorldConfig.preset("tiny").n_users == 200
    assert 10_000_000 <= WorldConfig.preset("large").n_interactions <= 20_000_000
    assert WorldConfig.preset("small", n_users=50).n_users == 50


@pytest.mark.parametrize("key, value", [("n_users", -5), ("n_items", 0), ("repeat_probability", 1.5)])
def test_bad_values_name_key_value_and_fix(key, value):
    with pytest.raises(ConfigError) as err:
        WorldConfig.preset("tiny", **{key: value})
    msg = str(err.value)
    assert key in msg and repr(value) in msg and "fix" in msg


def test_unknown_key_and_unknown_preset_suggest_the_fix():
    with pytest.raises(ConfigError, match="n_user.*did you mean 'n_users'"):
        WorldConfig(n_user=10)
    with pytest.raises(ConfigError, match="unknown world preset 'smal'.*did you mean 'small'"):
        generate_world("smal")
    with pytest.raises(ConfigError, match="slate_pool_size"):
        WorldConfig(slate_size=20, slate_pool_size=10)
    with pytest.raises(ConfigError, match="freshness_half_life_days"):
        WorldConfig(days=1000, freshness_half_life_days=0.01)
    with pytest.raises(ConfigError, match="config must be"):
        generate_world(42)


# -- determinism, shapes, dtypes -------------------------------------------------------------
def _arrays(w: World) -> list[np.ndarray]:
    e, i, u = w.events, w.impressions, w.users
    return [e.user, e.item, e.timestamp, e.event_type, e.value, e.origin, i.slate, i.item, i.position,
            i.propensity, i.clicked, u.taste, w.items.traits, w.items.publish, w.items.title,
            w.follows.indptr, w.follows.indices]


def test_same_seed_is_bit_identical_and_other_seed_differs(tiny):
    again = generate_world("tiny")
    for a, b in zip(_arrays(tiny), _arrays(again)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    other = generate_world("tiny", seed=1)
    assert other.config.seed == 1
    assert not np.array_equal(other.events.item, tiny.events.item)
    assert not np.array_equal(other.users.taste, tiny.users.taste)


def test_thread_count_does_not_change_the_output(tiny):
    before = nb.get_num_threads()
    nb.set_num_threads(1)
    try:
        single = generate_world("tiny")
    finally:
        nb.set_num_threads(before)
    for a, b in zip(_arrays(tiny), _arrays(single)):
        assert np.array_equal(a, b)


def test_shapes_dtypes_and_exact_event_count(tiny):
    cfg, e = tiny.config, tiny.events
    assert len(e) == cfg.n_interactions
    assert e.user.dtype == np.int32 and e.item.dtype == np.int32 and e.timestamp.dtype == np.int64
    assert e.event_type.dtype == np.int16 and e.value.dtype == np.float32
    assert tiny.users.taste.shape == (cfg.n_users, cfg.n_factors) and tiny.users.taste.dtype == np.float32
    assert tiny.items.traits.shape == (cfg.n_items, cfg.n_factors)
    assert e.user.max() < cfg.n_users and e.item.max() < cfg.n_items and e.item.min() >= 0
    assert np.all((e.value > 0) & (e.value <= 1))
    assert set(np.unique(e.event_type)) <= set(range(len(EVENT_TYPES)))
    key = e.user.astype(np.int64) * 2**40 + (e.timestamp - tiny.start)
    assert np.all(np.diff(key) >= 0)  # sorted by user, then time
    assert np.all((e.timestamp >= tiny.start) & (e.timestamp < tiny.end))
    assert np.all(np.diff(tiny.items.publish) >= 0)  # item index = publish order


def test_dataset_view(tiny):
    ds = tiny.dataset()
    assert isinstance(ds, Dataset) and ds.name == "world-tiny"
    it = ds.interactions
    assert it.users.ids[:2].tolist() == ["u0", "u1"] and it.items.ids[3] == "i3"
    assert it.n_events == tiny.config.n_interactions and it.event_types == EVENT_TYPES
    dense = np.zeros((tiny.n_users, tiny.n_items), bool)
    dense[tiny.events.user, tiny.events.item] = True
    assert np.array_equal(it.matrix.toarray() > 0, dense)
    assert ds.user_features.kinds["age"] == "numeric" and ds.user_features.kinds["country"] == "categorical"
    codes, cats = ds.item_features.categorical("category")
    assert np.array_equal(codes, tiny.items.category) and len(cats) == tiny.config.n_categories
    titles = ds.item_features.text("title")
    assert titles.shape == (tiny.n_items,) and all(3 <= len(t.split()) <= 6 for t in titles)
    assert ds.social.shape == (tiny.n_users, tiny.n_users) and ds.social.nnz == tiny.follows.nnz


# -- the generative story ----------------------------------------------------------------------
def test_popularity_is_heavy_tailed(small):
    counts = np.sort(np.bincount(small.events.item, minlength=small.n_items))[::-1]
    assert counts[: small.n_items // 10].sum() / counts.sum() > 0.4
    base = np.bincount(small.events.item, minlength=small.n_items)
    assert np.corrcoef(np.log1p(base), np.log(small.items.popularity))[0, 1] > 0.5
    flat = generate_world("small", popularity_exponent=0.0)  # the skew comes from the power law
    counts = np.sort(np.bincount(flat.events.item, minlength=flat.n_items))[::-1]
    assert counts[: flat.n_items // 10].sum() / counts.sum() < 0.4


def test_without_taste_or_time_events_follow_base_popularity():
    """affinity off, no freshness, whole catalog live, no repeats/social: counts ~ n * pop."""
    cfg = WorldConfig.preset("tiny", affinity_strength=0.0, freshness_floor=1.0, catalog_at_start=1.0,
                             repeat_probability=0.0, social_probability=0.0, n_interactions=200_000)
    w = generate_world(cfg)
    observed = np.bincount(w.events.item, minlength=w.n_items) / len(w.events)
    expected = w.items.popularity
    assert 0.5 * np.abs(observed - expected).sum() < 0.02  # total variation distance
    top = np.argmax(expected)
    assert abs(observed[top] - expected[top]) < 4 * np.sqrt(expected[top] / len(w.events)) + 1e-3


def _early_share(w: World, days: float) -> tuple[float, float]:
    """Share of organic events on in-span items within ``days`` of publish, and that share if
    events ignored item age (uniform over the item's remaining life)."""
    e, publish = w.events, w.items.publish
    keep = (publish[e.item] >= w.start) & (e.origin == 0)
    age = (e.timestamp[keep] - publish[e.item][keep]) / 86400.0
    life = (w.end - publish[e.item][keep]) / 86400.0
    return float(np.mean(age < days)), float(np.mean(np.minimum(days, life) / life))


def test_no_event_before_publish_and_fresh_items_are_consumed_early(small):
    e, publish = small.events, small.items.publish
    assert np.all(publish[e.item] <= e.timestamp)
    window = 2 * small.config.freshness_half_life_days
    early, uniform = _early_share(small, window)
    assert early > 2 * uniform
    slow_early, _ = _early_share(generate_world("small", freshness_half_life_days=30.0), window)
    assert slow_early < early - 0.1


def test_users_choose_items_they_have_affinity_for(small):
    rng = np.random.default_rng(0)
    e = small.events
    chosen = small.true_affinity(e.user, e.item).mean()
    random_pairs = small.true_affinity(rng.integers(0, small.n_users, 50_000),
                                       rng.integers(0, small.n_items, 50_000)).mean()
    assert chosen > random_pairs + 0.1
    blind = generate_world("tiny", affinity_strength=0.0)
    b = blind.events
    blind_random = blind.true_affinity(rng.integers(0, blind.n_users, 50_000),
                                       rng.integers(0, blind.n_items, 50_000)).mean()
    assert abs(blind.true_affinity(b.user, b.item).mean() - blind_random) < 0.05


def test_repeats_and_social_copies(small):
    e = small.events
    first = np.r_[True, e.user[1:] != e.user[:-1]]
    share_repeat = np.mean(e.origin[~first] == 1)
    assert abs(share_repeat - small.config.repeat_probability) < 0.01
    for j in np.flatnonzero(e.origin == 1)[:200]:  # a repeat re-consumes an earlier item of the user
        same = (e.user == e.user[j]) & (e.timestamp <= e.timestamp[j]) & (np.arange(len(e)) < j)
        assert e.item[j] in e.item[same]
    f = small.follows
    for j in np.flatnonzero(e.origin == 2)[:200]:  # a copy comes from a followee, consumed earlier
        followees = f.indices[f.indptr[e.user[j]]:f.indptr[e.user[j] + 1]]
        mask = np.isin(e.user, followees) & (e.timestamp < e.timestamp[j])
        assert e.item[j] in e.item[mask]
    quiet = generate_world("tiny", repeat_probability=0.0, social_probability=0.0)
    assert np.all(quiet.events.origin == 0)


def test_follow_graph(small):
    f = small.follows
    rows = np.repeat(np.arange(small.n_users), np.diff(f.indptr))
    assert not np.any(rows == f.indices)  # no self loops
    assert f.data.min() == 1.0 and f.data.max() == 1.0  # no duplicate edges
    assert 0.6 * small.config.follow_mean_degree < f.nnz / small.n_users <= small.config.follow_mean_degree
    indeg = np.bincount(f.indices, minlength=small.n_users)
    assert indeg.max() > 10 * indeg.mean()  # power-law-ish in-degree
    interest, city = small.users.interest, small.users.city
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, small.n_users, (2, 50_000))
    assert np.mean(interest[rows] == interest[f.indices]) > np.mean(interest[a] == interest[b]) + 0.05
    assert np.mean(city[rows] == city[f.indices]) > np.mean(city[a] == city[b]) + 0.2


def test_titles_carry_category_signal(tiny):
    words_by_cat = {}
    for cat, title in zip(tiny.items.category, tiny.items.title):
        words_by_cat.setdefault(cat, []).extend(title.split())
    tops = {c: max(set(w), key=w.count) for c, w in words_by_cat.items() if len(w) > 30}
    assert len(set(tops.values())) >= len(tops) - 1  # each category has its own dominant words


# -- impressions ---------------------------------------------------------------------------------
def test_impressions_have_valid_propensities_and_consistent_clicks(small):
    im, cfg = small.impressions, small.config
    assert len(im) > 0 and im.n_slates == cfg.slates
    assert np.all((im.propensity > 0) & (im.propensity <= 1))
    per_slate = np.bincount(im.slate, weights=im.propensity)
    assert np.all(per_slate <= cfg.slate_size + 1e-9)
    assert np.all(np.bincount(im.slate) <= cfg.slate_size)
    # items within a slate are distinct, published before the slate, positions run 0..k-1
    key = im.slate * small.n_items + im.item
    assert np.unique(key).size == key.size
    assert np.all(small.items.publish[im.item] <= im.timestamp)
    start = np.r_[0, np.flatnonzero(np.diff(im.slate)) + 1]
    assert np.all(im.position[start] == 0)
    # exploration floor: every shown item had at least epsilon / pool of being picked first
    assert im.propensity[im.position == 0].min() >= cfg.logging_epsilon / cfg.slate_pool_size - 1e-12
    assert np.all((im.slate_probability() > 0) & (im.slate_probability() <= 1))
    # clicks follow the simulator's own model: examination(position) * click_probability
    p = small.examination(im.position) * small.click_probability(im.user, im.item, im.timestamp)
    sd = np.sqrt((p * (1 - p)).sum())
    assert abs(im.clicked.sum() - p.sum()) < 4 * sd
    top = im.position == 0
    assert im.clicked[top].mean() > im.clicked[im.position == cfg.slate_size - 1].mean()


def test_logging_policy_prefers_affinity_and_popularity(small):
    im = small.impressions
    aff_first = small.true_affinity(im.user[im.position == 0], im.item[im.position == 0]).mean()
    rng = np.random.default_rng(1)
    aff_random = small.true_affinity(rng.integers(0, small.n_users, 20_000),
                                     rng.integers(0, small.n_items, 20_000)).mean()
    assert aff_first > aff_random + 0.1


# -- simulator hooks ---------------------------------------------------------------------------------
def test_click_probability_matches_closed_form(small):
    cfg = small.config
    u, i = np.array([3, 10, 99]), np.array([5, 400, 1999])
    t = small.end - 1
    aff = small.users.taste[u].astype(np.float64) @ small.items.traits[i].astype(np.float64).T
    age = (t - small.items.publish[i]) / 86400.0
    fresh = cfg.freshness_floor + (1 - cfg.freshness_floor) * 0.5 ** (age / cfg.freshness_half_life_days)
    lp = np.log(small.items.popularity)
    pop = 0.5 * (lp[i] - lp.mean()) / lp.std()
    want = 1 / (1 + np.exp(-(cfg.affinity_strength * np.diag(aff) + pop + np.log(fresh) + cfg.click_bias)))
    assert np.allclose(small.click_probability(u, i, t), want, atol=1e-5)
    grid = small.click_probability(u[:, None], i, t)
    assert grid.shape == (3, 3) and np.allclose(np.diag(grid), want, atol=1e-5)
    assert np.allclose(small.true_affinity(u[:, None], i), aff, atol=1e-5)
    late = small.n_items - 1
    assert small.click_probability(0, late, small.items.publish[late] - 1) == 0.0


def test_items_available_and_sample_clicks(small):
    t = small.start + 10 * 86400
    avail = small.items_available(t)
    assert np.array_equal(avail, np.flatnonzero(small.items.publish <= t))
    users = np.zeros(40_000, np.int64)
    items = np.full(40_000, avail[-1])
    p = float(small.click_probability(0, avail[-1], t))
    clicks = small.sample_clicks(users, items, t, rng=0)
    assert clicks.dtype == bool and abs(clicks.mean() - p) < 4 * np.sqrt(p * (1 - p) / 40_000) + 1e-3
    assert np.array_equal(clicks, small.sample_clicks(users, items, t, rng=0))
    seen = small.sample_clicks(users, items, t, rng=0, position=np.full(40_000, 3))
    assert seen.mean() < clicks.mean()
    with pytest.raises(DataError, match="item_idx"):
        small.click_probability(0, small.n_items, t)
    with pytest.raises(DataError, match="integer indices"):
        small.true_affinity(np.array(["u0"]), np.array([0]))


def test_guided_search_equals_binary_search():
    rng = np.random.default_rng(3)
    for n in (1, 7, 5000):
        w = np.arange(1, n + 1, dtype=np.float64)[rng.permutation(n)] ** -1.0
        for log_scale, weights in ((False, w), (True, w * np.exp(np.linspace(-300, 50, n)))):
            cum = np.concatenate([[0.0], np.cumsum(weights)])
            guide = np.empty(n + 1, np.int64)
            first, step = K.build_guide(cum, 0, n, log_scale, guide)
            prefix = rng.integers(1, n + 1, 2000)
            r = rng.random(2000) * cum[prefix]
            want = np.minimum(np.searchsorted(cum[1:], r, side="right"), prefix - 1)
            got = [K._guided(cum, guide, 0, n, first, step, log_scale, 0, p, x) for p, x in zip(prefix, r)]
            assert np.array_equal(got, want)


# -- a model learns from it ---------------------------------------------------------------------------
def test_popularity_beats_random_ranking_on_small_world(small):
    data = small.dataset().interactions
    result = evaluate_protocol(Popularity(), data, "random-holdout:0.25", seed=42, k=10)
    split = split_by_protocol(data, "random-holdout:0.25", seed=42)
    test = split.test.matrix
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(split.train.matrix.indptr) > 0))
    rng = np.random.default_rng(0)
    train = split.train.matrix
    top = np.empty((users.size, 10), np.int64)
    for row, u in enumerate(users):  # random top-10 among unseen items
        unseen = np.setdiff1d(np.arange(data.n_items), train.indices[train.indptr[u]:train.indptr[u + 1]])
        top[row] = rng.choice(unseen, 10, replace=False)
    random_ndcg = float(np.nanmean(ranking_metrics(top, test[users], 10)["ndcg"]))
    assert result["ndcg@10"] > 3 * random_ndcg and result["ndcg@10"] > 0.1


def test_propensities_are_calibrated():
    """Under any policy with full support, E[1 / p(shown item)] equals the number of choices:
    pool_size at position 0, one less per position below (Plackett-Luce conditionals)."""
    w = generate_world("small", catalog_at_start=1.0, logging_epsilon=0.3, n_slates=20_000,
                       n_interactions=5_000)
    im, pool = w.impressions, w.config.slate_pool_size
    assert np.bincount(im.slate).min() == w.config.slate_size  # every pool filled
    for k in (0, 1, 5):
        inv = 1.0 / im.propensity[im.position == k]
        se = inv.std() / np.sqrt(inv.size)
        assert abs(inv.mean() - (pool - k)) < 4 * se + 0.5, (k, inv.mean(), se)
