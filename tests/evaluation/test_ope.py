"""Off-policy estimators: a hand-computed case, agreement with obp, reward models."""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

from shortlist.data.logged import LoggedFeedback, load_open_bandit
from shortlist.errors import ConfigError, DataError
from shortlist.evaluation import ope
from tests.conftest import shared_dataset

# 4 rounds, 3 actions, 1 slot; every expected value below is worked out by hand
ACTION = np.array([0, 1, 2, 0])
REWARD = np.array([1.0, 0.0, 1.0, 0.0])
PSCORE = np.array([0.5, 0.25, 0.25, 0.5])
PI_E = np.array([[0.6, 0.2, 0.2], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])[:, :, None]
Q_HAT = np.array([[0.5, 0.2, 0.1], [0.3, 0.4, 0.2], [0.1, 0.1, 0.6], [0.2, 0.3, 0.5]])[:, :, None]
# importance weights w = pi_e(a_i) / p_i = [1.2, 3.2, 2.0, 2.0]
# DM per round = sum_a pi_e q = [0.36, 0.37, 0.35, 0.20]
# residuals r - q(a_i) = [0.5, -0.4, 0.4, -0.2]
ARGS = {"reward": REWARD, "action": ACTION, "pscore": PSCORE, "action_dist": PI_E, "estimated_rewards": Q_HAT}


def test_hand_computed_estimates():
    assert ope.estimate("ips", **ARGS) == pytest.approx((1.2 + 2.0) / 4)                     # 0.8
    assert ope.estimate("ips", **ARGS, clip=1.5) == pytest.approx((1.2 + 1.5) / 4)           # clipped
    assert ope.estimate("snips", **ARGS) == pytest.approx(3.2 / (1.2 + 3.2 + 2.0 + 2.0))
    assert ope.estimate("dm", **ARGS) == pytest.approx((0.36 + 0.37 + 0.35 + 0.20) / 4)      # 0.32
    dr = [0.36 + 1.2 * 0.5, 0.37 - 3.2 * 0.4, 0.35 + 2.0 * 0.4, 0.20 - 2.0 * 0.2]
    assert ope.estimate("dr", **ARGS) == pytest.approx(sum(dr) / 4)                          # 0.25
    # switch-DR at 2.5 drops the correction of round 1 (w = 3.2)
    assert ope.estimate("switch-dr", **ARGS, threshold=2.5) == pytest.approx((dr[0] + 0.37 + dr[2] + dr[3]) / 4)
    # DR-os with lambda 4: w -> 4w / (w^2 + 4) = [4.8/5.44, 12.8/14.24, 1, 1]
    dros = [0.36 + 4.8 / 5.44 * 0.5, 0.37 - 12.8 / 14.24 * 0.4, 0.35 + 1.0 * 0.4, 0.20 - 1.0 * 0.2]
    assert ope.estimate("dr-os", **ARGS, lambda_=4.0) == pytest.approx(sum(dros) / 4)
    assert ope.estimate("dr-os", **ARGS, lambda_=0.0) == pytest.approx(0.32)                 # = DM
    assert ope.estimate("dr-os", **ARGS, lambda_=np.inf) == pytest.approx(sum(dr) / 4)       # = DR
    # replay of the deterministic policy [0, 2, 2, 1]: matches rounds 0 and 2, both clicked
    det = np.eye(3)[[0, 2, 2, 1]][:, :, None]
    assert ope.replay(reward=REWARD, action=ACTION, action_dist=det) == pytest.approx(1.0)


def test_doubly_robust_clips_the_importance_weights_by_hand():
    # clip 1.5: w = [1.2, 3.2, 2.0, 2.0] -> [1.2, 1.5, 1.5, 1.5]; DM and residuals as above
    dr = [0.36 + 1.2 * 0.5, 0.37 - 1.5 * 0.4, 0.35 + 1.5 * 0.4, 0.20 - 1.5 * 0.2]   # [0.96, -0.23, 0.95, -0.10]
    assert ope.estimate("dr", **ARGS, clip=1.5) == pytest.approx(0.395)
    assert sum(dr) / 4 == pytest.approx(0.395)
    assert ope.doubly_robust(**ARGS, clip=1.5) == pytest.approx(0.395)
    np.testing.assert_allclose(ope.round_rewards("dr", **ARGS, clip=1.5), dr)
    # a clip above every weight changes nothing; clip 0 leaves DM
    assert ope.doubly_robust(**ARGS, clip=3.2) == pytest.approx(0.25)
    assert ope.estimate("dr", **ARGS, clip=0.0) == pytest.approx(0.32)
    # the named wrappers pass their own parameter on
    assert ope.ips(**{k: v for k, v in ARGS.items() if k != "estimated_rewards"}, clip=1.5) == pytest.approx(0.675)
    assert ope.switch_dr(**ARGS, threshold=2.5) == pytest.approx(ope.estimate("switch-dr", **ARGS, threshold=2.5))
    assert ope.switch_dr(**ARGS, threshold=2.5) != pytest.approx(0.25)
    assert ope.dr_os(**ARGS, lambda_=4.0) == pytest.approx(ope.estimate("dr-os", **ARGS, lambda_=4.0))
    assert ope.dr_os(**ARGS) == pytest.approx(0.32)  # lambda_ 0 by default: DM
    assert ope.direct_method(action_dist=PI_E, estimated_rewards=Q_HAT) == pytest.approx(0.32)
    assert ope.snips(**{k: v for k, v in ARGS.items() if k != "estimated_rewards"}) == pytest.approx(3.2 / 8.4)


def test_evaluate_routes_clip_threshold_and_lambda_to_their_estimators():
    fb = LoggedFeedback(np.zeros((4, 1)), ACTION, REWARD, PSCORE, 3)
    params = {"clip": 1.5, "threshold": 2.5, "lambda_": 4.0}
    out = ope.evaluate(fb, PI_E, Q_HAT, n_bootstrap=200, seed=3, **params)
    assert set(out) == {"ips", "snips", "dm", "dr", "switch-dr", "dr-os"}
    # each estimator gets only its own parameter: ips and dr the clip, switch-dr the threshold,
    # dr-os lambda_; snips and dm none of them
    expected = {"ips": 0.675, "dr": 0.395, "snips": 3.2 / 8.4, "dm": 0.32,
                "switch-dr": ope.estimate("switch-dr", **ARGS, threshold=2.5),
                "dr-os": ope.estimate("dr-os", **ARGS, lambda_=4.0)}
    for name, value in expected.items():
        assert out[name]["value"] == pytest.approx(value), name
        own = {k: v for k, v in params.items() if (name, k) in {("ips", "clip"), ("dr", "clip"),
                                                                 ("switch-dr", "threshold"), ("dr-os", "lambda_")}}
        terms = ope.round_rewards(name, **ARGS, **own)
        ci = ope.bootstrap_ci(terms, n_bootstrap=200, seed=3)
        assert (out[name]["lower"], out[name]["upper"]) == (ci["lower"], ci["upper"]), name
        assert out[name]["lower"] <= out[name]["value"] <= out[name]["upper"], name
    # without a reward model the estimators that need one are left out; a chosen list is kept to
    only_p = ope.evaluate(fb, PI_E, estimators=ope.ESTIMATORS, n_bootstrap=50, clip=1.5)
    assert set(only_p) == {"replay", "ips", "snips"}
    assert only_p["ips"]["value"] == pytest.approx(0.675)
    assert set(ope.evaluate(fb, PI_E, Q_HAT, estimators=("dr",), n_bootstrap=50)) == {"dr"}
    assert set(ope.evaluate(fb, PI_E, estimators=("dm", "dr", "ips"), n_bootstrap=50)) == {"ips"}
    # alpha reaches the interval: a 50 % interval lies inside the 95 % one
    wide = ope.evaluate(fb, PI_E, Q_HAT, estimators=("dr",), n_bootstrap=400)["dr"]
    narrow = ope.evaluate(fb, PI_E, Q_HAT, estimators=("dr",), n_bootstrap=400, alpha=0.5)["dr"]
    assert wide["lower"] < narrow["lower"] <= narrow["upper"] < wide["upper"]


def test_bootstrap_interval_contains_estimate_and_narrows():
    rng = np.random.default_rng(0)
    small = ope.bootstrap_ci(rng.random(50), n_bootstrap=500, seed=1)
    big = ope.bootstrap_ci(rng.random(5000), n_bootstrap=500, seed=1)
    assert small["lower"] < small["mean"] < small["upper"]
    assert (big["upper"] - big["lower"]) < 0.2 * (small["upper"] - small["lower"])


def test_bad_inputs_raise():
    with pytest.raises(DataError, match="pscore must be probabilities"):
        ope.estimate("ips", **{**ARGS, "pscore": np.array([0.5, 0.0, 0.25, 0.5])})
    with pytest.raises(DataError, match="pscore"):
        ope.estimate("ips", **{**ARGS, "pscore": np.array([0.5, 1.5, 0.25, 0.5])})
    with pytest.raises(DataError, match="NaN"):
        ope.estimate("ips", **{**ARGS, "reward": np.array([1.0, np.nan, 0.0, 0.0])})
    with pytest.raises(DataError, match="estimated_rewards"):
        ope.estimate("dr", **{**ARGS, "estimated_rewards": None})
    with pytest.raises(DataError, match="summing to 1"):
        ope.estimate("ips", **{**ARGS, "action_dist": PI_E * 2})
    with pytest.raises(ConfigError, match="estimator"):
        ope.estimate("magic", **ARGS)


def test_each_input_check_names_the_input():
    def bad(match, err=DataError, name="ips", **change):
        with pytest.raises(err, match=match):
            ope.estimate(name, **{**ARGS, **change})

    bad("action_dist", action_dist=-PI_E)                                      # negative, yet sums wrong
    neg = PI_E.copy()
    neg[0, :, 0] = [1.2, -0.2, 0.0]                                            # sums to 1 with a negative
    bad("action_dist", action_dist=neg)
    nan = PI_E.copy()
    nan[1, 0, 0] = np.nan
    bad("action_dist", action_dist=nan)
    bad("shape", action_dist=PI_E[:, :, 0])
    bad(r"position must be 4 integers in 0\.\.0", position=np.array([0, 1, 0, 0]))
    bad(r"position must be 4 integers in 0\.\.0", position=np.array([0, -1, 0, 0]))
    bad(r"position must be 4 integers in 0\.\.0", position=np.zeros(3, int))
    bad(r"position must be 4 integers", position=np.zeros(4))                   # floats
    bad(r"action must be 4 integers in 0\.\.2", action=np.array([0, 1, 3, 0]))
    bad(r"action must be 4 integers in 0\.\.2", action=np.array([0, -1, 2, 0]))
    bad(r"action must be 4 integers in 0\.\.2", action=ACTION[:3])
    bad(r"action must be 4 integers", action=ACTION.astype(float))
    bad("reward must be 4 finite", reward=REWARD[:3])
    bad("reward must be 4 finite", reward=np.array([1.0, np.inf, 0.0, 0.0]))
    bad("pscore must have shape", pscore=PSCORE[:3])
    bad("estimated_rewards must be finite", name="dr", estimated_rewards=Q_HAT[:3])
    nq = Q_HAT.copy()
    nq[0, 0, 0] = np.nan
    bad("estimated_rewards must be finite", name="dm", estimated_rewards=nq)
    bad("needs action and reward", reward=None)
    bad("needs action and reward", action=None)
    for key in ("clip", "threshold", "lambda_"):
        for value in (-1.0, np.nan, "2"):
            bad(key, err=ConfigError, **{key: value})
    # the valid edges pass: position 0, the last action, clip 0
    assert ope.estimate("ips", **ARGS, position=np.zeros(4, int), clip=0) == 0.0
    assert ope.estimate("dm", action_dist=PI_E, estimated_rewards=Q_HAT) == pytest.approx(0.32)  # no p, a, r


def test_replay_without_a_matching_round_is_zero():
    never = np.eye(3)[[1, 0, 0, 1]][:, :, None]   # never picks the logged action
    assert ope.replay(reward=REWARD, action=ACTION, action_dist=never) == 0.0
    once = np.eye(3)[[0, 0, 0, 1]][:, :, None]    # matches round 0 only (clicked): 1 / (1/4) / 4
    np.testing.assert_allclose(ope.round_rewards("replay", reward=REWARD, action=ACTION, action_dist=once),
                               [4.0, 0.0, 0.0, 0.0])


def test_bootstrap_checks_its_arguments_and_is_seeded():
    for alpha in (0.0, 1.0, -0.1):
        with pytest.raises(ConfigError, match="alpha"):
            ope.bootstrap_ci([1.0, 2.0], alpha=alpha)
    for n in (0, -3, True, 2.0):
        with pytest.raises(ConfigError, match="n_bootstrap"):
            ope.bootstrap_ci([1.0, 2.0], n_bootstrap=n)
    a = ope.bootstrap_ci(np.arange(10.0), n_bootstrap=50, seed=4)
    assert a == ope.bootstrap_ci(np.arange(10.0), n_bootstrap=50, seed=4)
    assert a != ope.bootstrap_ci(np.arange(10.0), n_bootstrap=50, seed=5)
    # many resamples are drawn in chunks; the chunks together are one seeded stream
    rs = np.random.RandomState(1)
    s = np.arange(5.0)
    means = s[rs.randint(0, 5, size=(3, 5))].mean(axis=1)
    got = ope.bootstrap_ci(s, n_bootstrap=3, seed=1, alpha=0.5)
    assert got["mean"] == pytest.approx(means.mean())
    assert (got["lower"], got["upper"]) == pytest.approx((np.percentile(means, 25), np.percentile(means, 75)))
    big = ope.bootstrap_ci(np.arange(3.0), n_bootstrap=1_000_001, seed=0)   # two chunks of 666,666+
    assert big["mean"] == pytest.approx(1.0, abs=2e-3)


def test_reward_model_arguments_are_checked():
    fb, _ = _synthetic(n=60)
    with pytest.raises(ConfigError, match="model must be"):
        ope.fit_reward_model(fb, model="forest")
    for n_folds in (1, 0, True, 2.5):
        with pytest.raises(ConfigError, match="n_folds"):
            ope.fit_reward_model(fb, n_folds=n_folds)
    # with train given no folds are made, so n_folds is not checked; one model predicts every row
    q = ope.fit_reward_model(fb, train=fb, n_folds=1)
    assert q.shape == (60, 3, 1) and np.all((q > 0) & (q < 1))


def test_reward_model_uses_action_features():
    fb, _ = _synthetic(n=1500, seed=1)
    feats = np.array([[0.0], [5.0], [1.0]])   # action 1's feature stands out
    with_f = LoggedFeedback(fb.contexts, fb.actions, fb.rewards, fb.propensities, 3, action_context=feats)
    q0 = ope.fit_reward_model(fb, n_folds=2, l2=10.0)
    q1 = ope.fit_reward_model(with_f, n_folds=2, l2=10.0)
    assert q1.shape == q0.shape and not np.allclose(q0, q1)


def test_reward_model_targets_and_feature_scaling():
    fb, _ = _synthetic(n=600)
    # the logistic model fits the rewards as given (0.5 each): predictions near 0.5, not near 1
    half = LoggedFeedback(fb.contexts, fb.actions, np.full(600, 0.5), fb.propensities, 3)
    q = ope.fit_reward_model(half, n_folds=2)
    assert np.all(np.abs(q - 0.5) < 0.05)
    # a constant action feature is left unscaled, not divided by its zero spread
    feats = np.array([[1.0, 0.0], [1.0, 5.0], [1.0, 1.0]])
    with_f = LoggedFeedback(fb.contexts, fb.actions, fb.rewards, fb.propensities, 3, action_context=feats)
    q = ope.fit_reward_model(with_f, n_folds=2)
    assert np.all(np.isfinite(q)) and np.all((q > 0) & (q < 1))


def test_reward_model_with_only_action_features_is_calibrated_per_action():
    rng = np.random.default_rng(2)
    n, effect = 3000, 1 / (1 + np.exp(-np.array([-1.5, 0.0, 1.5])))   # linear in the feature's logit
    act = rng.integers(0, 3, n)
    fb = LoggedFeedback(np.zeros((n, 1)), act, (rng.random(n) < effect[act]).astype(float), np.full(n, 1 / 3), 3,
                        action_context=np.array([[0.0], [1.0], [2.0]]))
    q = ope.fit_reward_model(fb, n_folds=2, l2=2.0)   # the feature shares the action effect with the one-hots
    for a in range(3):
        assert abs(q[act == a, a, 0].mean() - effect[a]) < 0.05, a


@pytest.mark.slow
def test_lightgbm_reward_model_takes_its_parameters():
    pytest.importorskip("lightgbm")
    fb, _p = _synthetic(n=600)
    q = ope.fit_reward_model(fb, n_folds=2, model="lightgbm",
                             lgbm_params={"n_estimators": 1, "learning_rate": 1e-6})
    assert q.shape == (600, 3, 1) and np.all((q > 0) & (q < 1))
    assert np.ptp(q) < 1e-3   # one tree with a tiny step: every prediction is the base rate


def test_greedy_action_dist_fills_distinct_slots():
    q = np.array([[[0.1, 0.9], [0.5, 0.5], [0.4, 0.2]]])   # 1 round, 3 actions, 2 slots
    g = ope.greedy_action_dist(q)
    np.testing.assert_array_equal(g[0, :, 0], [0, 1, 0])   # slot 0: best is action 1
    np.testing.assert_array_equal(g[0, :, 1], [1, 0, 0])   # slot 1: action 0 (0.9), action 1 taken
    same = ope.greedy_action_dist(np.array([[[0.9, 0.9], [0.1, 0.1]]]))   # as many slots as actions
    np.testing.assert_array_equal(same[0], [[1, 0], [0, 1]])             # the best one only once
    with pytest.raises(DataError, match="cannot fill 2 slots with 1"):
        ope.greedy_action_dist(np.zeros((1, 1, 2)))


def test_switch_dr_keeps_weights_equal_to_the_threshold():
    # w = [1.2, 3.2, 2.0, 2.0]: at threshold 2.0 rounds 2 and 3 keep their correction, round 1 does not
    dr = [0.36 + 1.2 * 0.5, 0.37, 0.35 + 2.0 * 0.4, 0.20 - 2.0 * 0.2]
    assert ope.estimate("switch-dr", **ARGS, threshold=2.0) == pytest.approx(sum(dr) / 4)


def test_reward_model_l2_shrinks_towards_the_base_rate():
    fb, _ = _synthetic(n=600)
    loose = ope.fit_reward_model(fb, n_folds=2, l2=0.01)
    tight = ope.fit_reward_model(fb, n_folds=2, l2=1e5)
    assert np.ptp(tight) < 0.02 < np.ptp(loose)
    assert abs(tight.mean() - fb.rewards.mean()) < 0.05


def _synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    ctx = rng.integers(0, 2, (n, 2)).astype(float)
    act = rng.integers(0, 3, n)
    p = 1 / (1 + np.exp(-(-1.0 + 1.5 * ctx[:, 0] * (act == 1) + 0.8 * (act == 2) - 0.5 * ctx[:, 1])))
    return LoggedFeedback(ctx, act, (rng.random(n) < p).astype(float), np.full(n, 1 / 3), 3), p


def test_cross_fitted_reward_model_is_calibrated_and_out_of_fold():
    fb, p = _synthetic()
    q = ope.fit_reward_model(fb, n_folds=3, model="logistic", l2=0.1)
    assert q.shape == (fb.n_rounds, 3, 1)
    assert np.corrcoef(q[np.arange(fb.n_rounds), fb.actions, 0], p)[0, 1] > 0.8
    assert abs(q[np.arange(fb.n_rounds), fb.actions, 0].mean() - fb.rewards.mean()) < 0.02
    # out of fold: flipping row 0's reward cannot change row 0's prediction
    flipped = LoggedFeedback(fb.contexts, fb.actions, np.r_[1 - fb.rewards[0], fb.rewards[1:]],
                             fb.propensities, 3)
    q2 = ope.fit_reward_model(flipped, n_folds=3, model="logistic", l2=0.1)
    np.testing.assert_array_equal(q2[0], q[0])
    assert not np.array_equal(q2, q)


@pytest.mark.slow
def test_lightgbm_reward_model_learns_interaction():
    pytest.importorskip("lightgbm")
    fb, _p = _synthetic(n=2000)
    q = ope.fit_reward_model(fb, n_folds=2, model="lightgbm", lgbm_params={"n_estimators": 50})
    truth_gap = q[fb.contexts[:, 0] == 1, 1, 0].mean() - q[fb.contexts[:, 0] == 0, 1, 0].mean()
    assert truth_gap > 0.15  # action 1 pays only when context[0] = 1


# -- agreement with obp ----------------------------------------------------------------
_TORCH = ["torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils", "torch.utils.data"]


def import_obp():
    """obp, or skip; without torch it is stubbed during the import (obp's OPE never calls it)."""
    try:
        importlib.import_module("torch")
        return pytest.importorskip("obp")
    except ImportError:
        pass

    class _Meta(type):
        def __getattr__(cls, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return cls

        def __getitem__(cls, name):
            return cls

    class _Any(metaclass=_Meta):
        pass

    def getattr_for(modname):
        def _getattr(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return sys.modules.get(f"{modname}.{attr}", _Any)
        return _getattr

    for name in _TORCH:
        mod = types.ModuleType(name)
        mod.__getattr__ = getattr_for(name)
        sys.modules[name] = mod
    try:
        return pytest.importorskip("obp")
    finally:
        for name in _TORCH:
            sys.modules.pop(name, None)


@pytest.mark.slow  # importing obp (pandas, scikit-learn, matplotlib) takes seconds
def test_agrees_with_obp_on_open_bandit():
    obp = import_obp()
    fb = load_open_bandit(shared_dataset("open-bandit"), "random").subset(np.arange(2000))
    rng = np.random.default_rng(0)
    dist = rng.dirichlet(np.full(fb.n_actions, 0.3), size=(fb.n_rounds, 3)).transpose(0, 2, 1)
    q = rng.random((fb.n_rounds, fb.n_actions, 3)) * 0.02
    det = np.eye(fb.n_actions)[rng.integers(0, fb.n_actions, (fb.n_rounds, 3))].transpose(0, 2, 1)
    E = obp.ope
    common = {"reward": fb.rewards, "action": fb.actions, "position": fb.positions, "pscore": fb.propensities}
    cases = [
        ("ips", E.InverseProbabilityWeighting(), {}), ("ips", E.InverseProbabilityWeighting(lambda_=50.0),
                                                      {"clip": 50.0}),
        ("snips", E.SelfNormalizedInverseProbabilityWeighting(), {}), ("dm", E.DirectMethod(), {}),
        ("dr", E.DoublyRobust(), {}), ("switch-dr", E.SwitchDoublyRobust(lambda_=60.0), {"threshold": 60.0}),
        ("dr-os", E.DoublyRobustWithShrinkage(lambda_=30.0), {"lambda_": 30.0}),
    ]
    for name, est, kw in cases:
        keys = ("position", "action_dist", "estimated_rewards_by_reg_model") if name == "dm" else None
        args = {**common, "action_dist": dist, "estimated_rewards_by_reg_model": q}
        ref = est.estimate_policy_value(**({k: args[k] for k in keys} if keys else args))
        ours = ope.estimate(name, **common, action_dist=dist, estimated_rewards=q, **kw)
        assert abs(ours - ref) < 1e-9, name
    ref = E.ReplayMethod().estimate_policy_value(reward=fb.rewards, action=fb.actions, position=fb.positions,
                                                 action_dist=det)
    assert abs(ope.replay(reward=fb.rewards, action=fb.actions, position=fb.positions, action_dist=det) - ref) < 1e-12
    terms = ope.round_rewards("dr", action_dist=dist, estimated_rewards=q, **common)
    ci = ope.bootstrap_ci(terms, n_bootstrap=100, seed=7)
    ref_ci = obp.utils.estimate_confidence_interval_by_bootstrap(terms, n_bootstrap_samples=100, random_state=7)
    assert abs(ci["lower"] - ref_ci["95.0% CI (lower)"]) < 1e-12
    assert abs(ci["upper"] - ref_ci["95.0% CI (upper)"]) < 1e-12
