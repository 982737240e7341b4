"""Off-policy estimators: Shortlist vs obp 0.5.7 on the Open Bandit Dataset sample.

Both libraries get identical inputs - the uniform-random logs, an evaluation policy's
action distribution and cross-fitted reward-model predictions - and the script prints
each estimator's value from both and the absolute difference. It then reports the
estimated click rate of a greedy policy learned on half of the random logs (estimated on
the other half) next to the observed click rates of the random and Bernoulli-TS logs.

Run (obp is sdist-only and needs --ignore-requires-python on Python >= 3.11; without
torch installed the script stubs it, since obp's estimators never call it)::

    pip download --no-binary :all: --no-deps --ignore-requires-python obp==0.5.7 -d /tmp/obp
    pip install --no-deps --ignore-requires-python /tmp/obp/obp-0.5.7.tar.gz pyyaml scikit-learn
    python benchmarks/ope_vs_obp.py [--quick] [--data ../shared/data/open-bandit]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import types
from pathlib import Path

import numpy as np

from shortlist.data.logged import load_open_bandit
from shortlist.evaluation import ope

_TORCH = ["torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils", "torch.utils.data"]


def import_obp() -> types.ModuleType:
    """Import obp; when torch is absent, stub it for the import only (the OPE code never uses it)."""
    try:
        importlib.import_module("torch")
        return importlib.import_module("obp")
    except ImportError:
        pass

    class _Meta(type):
        def __getattr__(cls, name: str) -> type:
            if name.startswith("__"):
                raise AttributeError(name)
            return cls

        def __getitem__(cls, name: object) -> type:
            return cls

    class _Any(metaclass=_Meta):
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    for name in _TORCH:
        mod = types.ModuleType(name)

        def _getattr(attr: str, _name: str = name) -> object:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return sys.modules.get(f"{_name}.{attr}", _Any)

        mod.__getattr__ = _getattr  # type: ignore[method-assign]
        sys.modules[name] = mod
    try:
        return importlib.import_module("obp")
    finally:
        for name in _TORCH:
            sys.modules.pop(name, None)


def obp_values(obp: types.ModuleType, fb, action_dist: np.ndarray, q_hat: np.ndarray) -> dict[str, float]:
    """Each estimator's value from obp on the same inputs."""
    E = obp.ope
    est = {"replay": E.ReplayMethod(), "ips": E.InverseProbabilityWeighting(),
           "snips": E.SelfNormalizedInverseProbabilityWeighting(), "dm": E.DirectMethod(),
           "dr": E.DoublyRobust(), "switch-dr": E.SwitchDoublyRobust(lambda_=100.0),
           "dr-os": E.DoublyRobustWithShrinkage(lambda_=100.0)}
    args = {"reward": fb.rewards, "action": fb.actions, "position": fb.positions, "pscore": fb.propensities,
                "action_dist": action_dist, "estimated_rewards_by_reg_model": q_hat}
    out = {}
    for name, e in est.items():
        keys = {"replay": ("reward", "action", "position", "action_dist"),
                "dm": ("position", "action_dist", "estimated_rewards_by_reg_model")}.get(name, tuple(args))
        out[name] = float(e.estimate_policy_value(**{k: args[k] for k in keys}))
    return out


def ours(fb, action_dist: np.ndarray, q_hat: np.ndarray) -> dict[str, float]:
    """Each estimator's value from Shortlist."""
    common = {"reward": fb.rewards, "action": fb.actions, "position": fb.positions, "pscore": fb.propensities,
                  "action_dist": action_dist, "estimated_rewards": q_hat}
    params = {"switch-dr": {"threshold": 100.0}, "dr-os": {"lambda_": 100.0}}
    return {name: ope.estimate(name, **common, **params.get(name, {})) for name in ope.ESTIMATORS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "open-bandit"))
    ap.add_argument("--quick", action="store_true", help="first 3,000 rounds, fewer bootstrap samples")
    args = ap.parse_args()
    fb = load_open_bandit(args.data, "random")
    bts = load_open_bandit(args.data, "bts")
    if args.quick:
        fb, bts = fb.subset(np.arange(3000)), bts.subset(np.arange(3000))
    n_boot = 200 if args.quick else 1000
    obp = import_obp()

    # evaluation policy: greedy on a reward model fitted on the first half, scored on the second
    half = fb.n_rounds // 2
    train, test = fb.subset(np.arange(half)), fb.subset(np.arange(half, fb.n_rounds))
    t0 = time.perf_counter()
    policy_q = ope.fit_reward_model(test, train=train, model="logistic")
    q_hat = ope.fit_reward_model(test, n_folds=3, model="logistic", seed=0)
    fit_s = time.perf_counter() - t0
    greedy = ope.greedy_action_dist(policy_q)
    # a stochastic policy too, so replay and the weights are not all 0/80
    soft = 0.5 * greedy + 0.5 / test.n_actions

    print(f"Open Bandit sample, random logs: {test.n_rounds} evaluation rounds "
          f"(reward models fitted in {fit_s:.1f} s)")
    for label, dist in (("greedy", greedy), ("0.5 greedy + 0.5 uniform", soft)):
        a, b = ours(test, dist, q_hat), obp_values(obp, test, dist, q_hat)
        print(f"\npolicy: {label}")
        print(f"{'estimator':<10} {'shortlist':>14} {'obp':>14} {'abs diff':>10}")
        for name in ope.ESTIMATORS:
            print(f"{name:<10} {a[name]:>14.10f} {b[name]:>14.10f} {abs(a[name] - b[name]):>10.1e}")

    terms = ope.round_rewards("dr", action_dist=greedy, reward=test.rewards, action=test.actions,
                              pscore=test.propensities, estimated_rewards=q_hat, position=test.positions)
    ci = ope.bootstrap_ci(terms, n_bootstrap=n_boot, seed=12345)
    ref = obp.utils.estimate_confidence_interval_by_bootstrap(terms, alpha=0.05, n_bootstrap_samples=n_boot,
                                                              random_state=12345)
    lo, hi = ref["95.0% CI (lower)"], ref["95.0% CI (upper)"]
    print(f"\nbootstrap 95% CI of DR (seed 12345): shortlist [{ci['lower']:.8f}, {ci['upper']:.8f}] "
          f"obp [{lo:.8f}, {hi:.8f}] max abs diff {max(abs(ci['lower'] - lo), abs(ci['upper'] - hi)):.1e}")

    # the learned policy on all rounds: each half acts greedily on a model fitted on the other half
    halves = [np.arange(half), np.arange(half, fb.n_rounds)]
    policy_q = np.concatenate([ope.fit_reward_model(fb.subset(h), train=fb.subset(o), model="logistic")
                               for h, o in (halves, halves[::-1])])
    learned = ope.greedy_action_dist(policy_q)
    q_all = ope.fit_reward_model(fb, n_folds=3, model="logistic", seed=0)
    res = ope.evaluate(fb, learned, q_all, n_bootstrap=n_boot, seed=0, threshold=100.0, lambda_=100.0)
    print(f"\nclick rate per impression ({fb.n_rounds} rounds; greedy policy cross-fitted on the random logs)")
    print(f"{'source':<40} {'value':>8} {'95% bootstrap CI':>20}")
    print(f"{'random logs, observed':<40} {fb.rewards.mean():>8.5f}")
    print(f"{'Bernoulli-TS logs, observed':<40} {bts.rewards.mean():>8.5f}")
    for name in ("ips", "snips", "dm", "dr", "switch-dr", "dr-os"):
        r = res[name]
        print(f"{'greedy (learned), ' + name + ' estimate':<40} {r['value']:>8.5f} "
              f"[{r['lower']:.5f}, {r['upper']:.5f}]")


if __name__ == "__main__":
    main()
