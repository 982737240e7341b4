"""Bandit simulation against the synthetic world: regret bookkeeping, baselines, new items,
candidate pools, contexts, corpus metrics and the ``shortlist simulate`` command."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.bandits import LinUCB
from shortlist.bandits.corpus import catalog_coverage, discoverable_corpus
from shortlist.bandits.simulation import (
    Oracle,
    UniformRandom,
    _episode,
    _run,
    make_policy,
    simulate,
    simulate_policies,
    user_contexts,
)
from shortlist.cli.main import main
from shortlist.data.world import generate_world
from shortlist.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def world():
    return generate_world("tiny", seed=3)


def _brute_force_regret(world, log, slate_size=1):
    """Per-step (best expected reward among all available items - expected reward of the slate)."""
    exam = world.examination(np.arange(slate_size))
    out = []
    for u, t, shown in zip(log["user"], log["time"], log["shown"]):
        p_all = np.sort(world.click_probability(int(u), world.items_available(t), int(t)))[::-1]
        best = float(p_all[:slate_size] @ exam)
        got = float(world.click_probability(int(u), shown, int(t)) @ exam)
        out.append(best - got)
    return np.asarray(out)


def test_deterministic_given_seeds(world):
    kw = {"steps": 150, "seeds": [4, 5], "progress": False}
    a = simulate_policies({"lints": "lints", "egreedy": "egreedy"}, world, **kw)
    b = simulate_policies({"lints": "lints", "egreedy": "egreedy"}, world, **kw)
    for name in a:
        np.testing.assert_array_equal(a[name].cum_reward, b[name].cum_reward)
        np.testing.assert_array_equal(a[name].cum_regret, b[name].cum_regret)
        np.testing.assert_array_equal(a[name].logs[1]["shown"], b[name].logs[1]["shown"])
    mean, half = a["lints"].band("regret", "ci95")
    final = a["lints"].cum_regret[:, -1]
    assert mean[-1] == pytest.approx(final.mean())
    assert half[-1] == pytest.approx(1.96 * abs(final[0] - final[1]) / np.sqrt(2) / np.sqrt(2))
    c = simulate("lints", world, steps=150, seeds=[6], progress=False)
    assert not np.array_equal(c.logs[0]["user"], a["lints"].logs[0]["user"])


@pytest.mark.parametrize("slate_size", [1, 3])
def test_regret_is_optimum_minus_obtained(world, slate_size):
    res = simulate("egreedy", world, steps=200, seeds=[1], slate_size=slate_size, pool=None, progress=False)
    log = res.logs[0]
    per_step = _brute_force_regret(world, log, slate_size)
    assert per_step.min() >= -1e-12  # pseudo-regret is never negative
    np.testing.assert_allclose(res.cum_regret[0], np.cumsum(per_step), rtol=1e-9, atol=1e-9)
    exam = world.examination(np.arange(slate_size))
    exp = [world.click_probability(int(u), s, int(t)) @ exam
           for u, t, s in zip(log["user"], log["time"], log["shown"])]
    np.testing.assert_allclose(res.cum_expected_reward[0], np.cumsum(exp), rtol=1e-9)
    np.testing.assert_array_equal(res.cum_reward[0], np.cumsum(log["clicked"].sum(axis=1)))
    assert all(len(set(s.tolist())) == slate_size for s in log["shown"])  # distinct items per slate


def test_clicks_follow_click_probability(world):
    res = simulate("random", world, steps=2000, seeds=[0], progress=False)
    # realized clicks are Bernoulli draws of the expected reward: totals agree within 4 sd
    exp, got = res.cum_expected_reward[0, -1], res.cum_reward[0, -1]
    assert abs(got - exp) < 4 * np.sqrt(exp)


def test_oracle_has_zero_regret(world):
    res = simulate_policies({"oracle": "oracle", "random": "random"}, world, steps=300, seeds=2,
                            slate_size=2, progress=False)
    assert np.abs(res["oracle"].cum_regret).max() < 1e-9
    assert res["oracle"].cum_expected_reward[:, -1].min() > res["random"].cum_expected_reward[:, -1].max()


def test_uniform_random_regret_is_linear(world):
    steps = 600
    res = simulate("random", world, steps=steps, seeds=3, pool=None, progress=False)
    # expected per-step regret of a uniform choice: mean over available items of (best - p)
    expect = []
    for log in res.logs:
        for u, t in zip(log["user"], log["time"]):
            p = world.click_probability(int(u), world.items_available(t), int(t))
            expect.append(p.max() - p.mean())
    slope = float(np.mean(expect))
    mean = res.cum_regret.mean(axis=0)
    assert mean[-1] == pytest.approx(slope * steps, rel=0.05)
    # linear: the second half adds as much regret as the first (no learning)
    assert mean[steps // 2 - 1] / mean[-1] == pytest.approx(0.5, abs=0.05)


def test_new_items_only_after_publish(world):
    res = simulate("random", world, steps=300, seeds=[2], pool=None, progress=False)
    log = res.logs[0]
    publish = world.items.publish
    assert np.all(publish[log["shown"][:, 0]] <= log["time"])
    assert np.any(publish[log["shown"][:, 0]] > world.start)  # items published during the run appear
    assert res.info["fresh_items"] == np.count_nonzero((publish > log["time"][0]) & (publish <= log["time"][-1]))
    frozen = simulate("random", world, steps=300, seeds=[2], pool=None, new_items=False, progress=False)
    shown = frozen.logs[0]["shown"][:, 0]
    assert np.all(publish[shown] <= frozen.logs[0]["time"][0]) and frozen.info["fresh_items"] == 0
    assert frozen.discoverable[0] == 0


def test_arms_registered_ahead_decide_like_arms_added_at_publish(world):
    ep = _episode(world, 7, 250, 1, "user-taste-noisy", 1.0, True, (20, 20))
    early = _run(LinUCB(alpha=0.5), world, ep, 1, False, None, ahead=True)
    exact = _run(LinUCB(alpha=0.5), world, ep, 1, False, None, ahead=False)
    for key in ("shown", "clicked", "expected"):
        np.testing.assert_array_equal(early[key], exact[key])


def test_pool_is_freshest_plus_most_consumed(world):
    res = simulate("random", world, steps=120, seeds=[0], pool=(5, 7), progress=False)
    log = res.logs[0]
    ev_t, ev_i = world.events.timestamp, world.events.item
    for s in (0, 40, 119):
        t, n = int(log["time"][s]), int(log["n_available"][s])
        fresh = set(range(n - 5, n))
        counts = np.bincount(ev_i[ev_t <= t], minlength=world.n_items)[:n - 5]
        order = sorted(range(n - 5), key=lambda i: (-counts[i], i))[:7]
        pool = fresh | set(order)
        ep = _episode(world, 0, 120, 1, "none", 1.0, True, (5, 7))
        assert set(ep.pools[s].tolist()) == pool
    assert np.all(np.isin(log["shown"][:, 0], np.concatenate(ep.pools)))


def test_contexts_are_observable_features_not_the_taste(world):
    taste = world.users.taste.astype(np.float64)
    for kind, dim in (("user-taste-noisy", 1 + taste.shape[1]), ("user-history", 1 + 8),
                      ("user-features", 1 + 1 + 3 + 3), ("none", 1)):
        x = user_contexts(world, kind, rng=0)
        assert x.shape == (world.n_users, dim) and np.all(x[:, 0] == 1.0)
        if dim > 1:
            assert np.allclose(x[:, 1:].mean(axis=0), 0.0) and np.isclose((x[:, 1:] ** 2).sum(1).mean(), 1.0)
    # noisy projection: linearly related to the taste, but only partly (R^2 well below 1)
    x = user_contexts(world, "user-taste-noisy", noise=1.0, rng=0)[:, 1:]
    clean = user_contexts(world, "user-taste-noisy", noise=0.0, rng=0)[:, 1:]
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(taste)), taste]), clean, rcond=None)
    assert np.allclose(np.column_stack([np.ones(len(taste)), taste]) @ coef, clean, atol=1e-8)
    corr = [np.corrcoef(x[:, j], clean[:, j])[0, 1] for j in range(x.shape[1])]
    assert 0.6 < np.mean(corr) < 0.8  # 1 / sqrt(2) for noise 1
    hist = user_contexts(world, "user-history")[:, 1:]
    counts = np.zeros((world.n_users, 8))
    np.add.at(counts, (world.events.user, world.items.category[world.events.item]), 1)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)  # users without events: zeros
    assert np.allclose(np.corrcoef(hist[:, 0], share[:, 0])[0, 1], 1.0)


def test_contextual_policy_sees_the_documented_context(world):
    seen = []

    class Spy(UniformRandom):
        uses_context = True

        def select(self, context=None, arms=None, k=1):
            seen.append(np.array(context))
            return super().select(context, arms, k)

    res = simulate(lambda seed: Spy(seed=seed), world, steps=100, seeds=[0], context="user-features",
                   progress=False)
    expect = user_contexts(world, "user-features")[res.logs[0]["user"]]
    np.testing.assert_array_equal(np.concatenate(seen), expect)


def test_discoverable_corpus_hand_count():
    # items 0, 1 are old (launch -1); 2 launches at step 2, 3 at step 5, 4 at step 8
    launch = np.array([-1, -1, 2, 5, 8])
    step = np.array([0, 1, 2, 3, 3, 4, 5, 6, 9, 10, 12, 8, 9, 20, 21, 30])
    item = np.array([0, 0, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 1])
    pos = np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1], bool)
    # window 5: item 2 has clicks at 2, 3, 4 (3); item 3 at 5, 6, 9 (3; 12 is outside); item 4 at 8, 9 (2)
    assert discoverable_corpus(step, item, pos, launch, min_clicks=3, window=5) == 2
    assert discoverable_corpus(step, item, pos, launch, min_clicks=2, window=5) == 3
    assert discoverable_corpus(step, item, pos, launch, min_clicks=4, window=20) == 2  # 3: 4 clicks, 4: 4
    assert discoverable_corpus(step, item, pos, launch, min_clicks=1, window=1) == 3
    assert catalog_coverage(item, pos, 10) == (0.5, 0.5)
    assert catalog_coverage([0, 1, 2], [False, True, False], 4) == (0.75, 0.25)
    with pytest.raises(ConfigError, match="min_clicks"):
        discoverable_corpus(step, item, pos, launch, min_clicks=0)
    with pytest.raises(DataError, match="same length"):
        discoverable_corpus(step[:3], item, pos, launch)


def test_exploration_grows_the_discoverable_corpus(world):
    res = simulate_policies({"greedy": lambda s: make_policy("egreedy", seed=s, epsilon=0.0),
                             "explore": lambda s: make_policy("egreedy", seed=s, epsilon=0.5)},
                            world, steps=800, seeds=2, discover_clicks=2, discover_window=200, progress=False)
    assert res["explore"].discoverable.mean() > 2 * max(res["greedy"].discoverable.mean(), 1)
    assert res["explore"].shown_coverage.mean() > res["greedy"].shown_coverage.mean()


def test_bad_arguments(world):
    with pytest.raises(ConfigError, match="unknown policy 'nope'"):
        make_policy("nope")
    with pytest.raises(ConfigError, match=r"unknown key 'beta' \(value 2\); fix: "):
        make_policy("linucb", beta=2)
    assert make_policy("linucb", alpha="0.25").alpha == 0.25
    with pytest.raises(ConfigError, match="context"):
        simulate("random", world, steps=10, seeds=1, context="taste")
    with pytest.raises(ConfigError, match="steps"):
        simulate("random", world, steps=0, seeds=1)
    with pytest.raises(ConfigError, match="window"):
        simulate("random", world, steps=10, seeds=1, discover_window=0)
    with pytest.raises(ConfigError, match="pool"):
        simulate("random", world, steps=10, seeds=1, pool=(1, 0), slate_size=2)


def test_oracle_ranks_by_truth(world):
    o = Oracle(seed=0)
    o.peek(world, 5, world.end - 1)
    arms = world.items_available(world.end - 1)
    d = o.select(None, arms, k=3)
    p = world.click_probability(5, arms, world.end - 1)
    np.testing.assert_array_equal(d.actions[0], arms[np.argsort(-p, kind="stable")[:3]])


def test_cli_prints_table_and_writes_png(tmp_path, capsys):
    code = main(["simulate", "--policy", "egreedy", "--policy", "linucb", "--param", "linucb.alpha=0.3",
                 "--steps", "120", "--seeds", "2", "--preset", "tiny", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "regret (mean ± std)" in out and "discoverable" in out
    rows = [line.split()[0] for line in out.splitlines()]
    assert "egreedy" in rows and "linucb" in rows
    png = (tmp_path / "regret.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (tmp_path / "results.json").exists()
    assert main(["simulate", "--policy", "linucb", "--param", "linucb.nope=1", "--out", str(tmp_path)]) == 2
    assert "unknown key 'nope'" in capsys.readouterr().err
