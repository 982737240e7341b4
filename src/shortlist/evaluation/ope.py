"""Off-policy evaluation: estimate a new policy's value from logs of another one.

Inputs follow obp's conventions so results can be checked against it: per logged round
``i`` the action ``a_i``, slot ``k_i``, reward ``r_i`` and logging propensity ``p_i``;
the evaluation policy as ``action_dist[i, a, k]`` = pi_e(a | x_i, slot k); reward-model
predictions ``q_hat[i, a, k]``. With ``w_i = action_dist[i, a_i, k_i] / p_i``:

* replay (Li et al. 2011): mean of ``r_i`` over rounds where pi_e (deterministic) picks ``a_i``;
* IPS: ``mean(w_i r_i)`` (optionally clipped at ``clip``);
* SNIPS: ``sum(w_i r_i) / sum(w_i)``;
* DM: ``mean(sum_a pi_e(a|x_i,k_i) q_hat(x_i,a,k_i))``;
* DR: ``DM_i + w_i (r_i - q_hat(x_i,a_i,k_i))``;
* switch-DR: DR with the correction only where ``w_i <= threshold``;
* DR-os: DR with ``w_i`` shrunk to ``lambda w_i / (w_i^2 + lambda)``.

Every estimator is the mean of per-round terms (:func:`round_rewards`), which
:func:`bootstrap_ci` resamples for confidence intervals. Reward models are fitted by
cross-fitting (:func:`fit_reward_model`): each row's prediction comes from a model that
did not see it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.data.logged import LoggedFeedback, check_propensities
from shortlist.errors import ConfigError, DataError

__all__ = [
    "ESTIMATORS",
    "bootstrap_ci",
    "direct_method",
    "doubly_robust",
    "dr_os",
    "estimate",
    "evaluate",
    "fit_reward_model",
    "greedy_action_dist",
    "ips",
    "replay",
    "round_rewards",
    "snips",
    "switch_dr",
]

ESTIMATORS = ("replay", "ips", "snips", "dm", "dr", "switch-dr", "dr-os")
_NEEDS_Q = {"dm", "dr", "switch-dr", "dr-os"}


def _check(action_dist: Any, action: Any, position: Any, reward: Any, pscore: Any,
           q_hat: Any, needs_q: bool, needs_p: bool) -> tuple[np.ndarray, ...]:
    ad = np.asarray(action_dist, dtype=np.float64)
    if ad.ndim != 3:
        raise DataError(f"action_dist must have shape (n_rounds, n_actions, len_list), got {ad.shape}")
    n = ad.shape[0]
    if not np.all(np.isfinite(ad)) or ad.min() < 0 or not np.allclose(ad.sum(axis=1), 1.0):
        raise DataError("action_dist must hold probabilities summing to 1 over actions for each round and slot")
    pos = np.zeros(n, np.int64) if position is None else np.asarray(position)
    if pos.shape != (n,) or pos.dtype.kind not in "iu" or (n and (pos.min() < 0 or pos.max() >= ad.shape[2])):
        raise DataError(f"position must be {n} integers in 0..{ad.shape[2] - 1}")
    act = None if action is None else np.asarray(action)
    if act is not None and (act.shape != (n,) or act.dtype.kind not in "iu"
                            or (n and (act.min() < 0 or act.max() >= ad.shape[1]))):
        raise DataError(f"action must be {n} integers in 0..{ad.shape[1] - 1}, got shape {act.shape}")
    rew = None if reward is None else np.asarray(reward, dtype=np.float64)
    if rew is not None and (rew.shape != (n,) or not np.all(np.isfinite(rew))):
        raise DataError(f"reward must be {n} finite numbers (no NaN), got shape {rew.shape}")
    ps = None
    if needs_p:
        ps = check_propensities(pscore, "pscore")
        if ps.shape != (n,):
            raise DataError(f"pscore must have shape ({n},), got {ps.shape}")
    q = None
    if needs_q:
        if q_hat is None:
            raise DataError("this estimator needs estimated_rewards (n_rounds, n_actions, len_list); "
                            "get them from fit_reward_model(feedback)")
        q = np.asarray(q_hat, dtype=np.float64)
        if q.shape != ad.shape or not np.all(np.isfinite(q)):
            raise DataError(f"estimated_rewards must be finite with shape {ad.shape}, got {q.shape}")
    return ad, act, pos, rew, ps, q


def round_rewards(estimator: str, *, action_dist: Any, reward: Any = None, action: Any = None,
                  pscore: Any = None, estimated_rewards: Any = None, position: Any = None,
                  clip: float = np.inf, threshold: float = np.inf, lambda_: float = 0.0) -> np.ndarray:
    """Per-round terms whose mean is the estimate (the samples :func:`bootstrap_ci` resamples)."""
    if estimator not in ESTIMATORS:
        raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    for name, val in (("clip", clip), ("threshold", threshold), ("lambda_", lambda_)):
        if not isinstance(val, (int, float)) or np.isnan(val) or val < 0:
            raise ConfigError(f"{name} must be a number >= 0 (np.inf for none), got {val!r}")
    needs_q = estimator in _NEEDS_Q
    needs_p = estimator not in ("replay", "dm")
    ad, act, pos, rew, ps, q = _check(action_dist, action, position, reward, pscore, estimated_rewards,
                                      needs_q, needs_p)
    n = ad.shape[0]
    rows = np.arange(n)
    if estimator != "dm" and (act is None or rew is None):
        raise DataError(f"{estimator} needs action and reward arrays")
    if estimator == "replay":
        match = (ad[rows, act, pos] == 1).astype(np.float64)
        return match * rew / match.mean() if match.sum() > 0 else np.zeros(n)
    if estimator in ("ips", "snips"):
        w = ad[rows, act, pos] / ps
        if estimator == "snips":
            return rew * w / w.mean()
        return rew * np.minimum(w, clip)
    q_pos = q[rows, :, pos]
    dm = np.average(q_pos, weights=ad[rows, :, pos], axis=1)
    if estimator == "dm":
        return dm
    w = ad[rows, act, pos] / ps
    if estimator == "dr":
        w = np.minimum(w, clip)
    elif estimator == "switch-dr":
        w = (w <= threshold).astype(int) * w
    else:  # dr-os
        w = lambda_ * w / (w ** 2 + lambda_) if lambda_ < np.inf else w
    return dm + w * (rew - q[rows, act, pos])


def estimate(estimator: str, **inputs: Any) -> float:
    """Estimated policy value: the mean of :func:`round_rewards`."""
    return float(round_rewards(estimator, **inputs).mean())


def replay(*, reward: Any, action: Any, action_dist: Any, position: Any = None) -> float:
    """Replay estimate (Li et al. 2011) of a deterministic policy."""
    return estimate("replay", reward=reward, action=action, action_dist=action_dist, position=position)


def ips(*, reward: Any, action: Any, pscore: Any, action_dist: Any, position: Any = None,
        clip: float = np.inf) -> float:
    """Inverse propensity scoring."""
    return estimate("ips", reward=reward, action=action, pscore=pscore, action_dist=action_dist,
                    position=position, clip=clip)


def snips(*, reward: Any, action: Any, pscore: Any, action_dist: Any, position: Any = None) -> float:
    """Self-normalised inverse propensity scoring."""
    return estimate("snips", reward=reward, action=action, pscore=pscore, action_dist=action_dist,
                    position=position)


def direct_method(*, action_dist: Any, estimated_rewards: Any, position: Any = None) -> float:
    """Direct method: the reward model averaged under the evaluation policy."""
    return estimate("dm", action_dist=action_dist, estimated_rewards=estimated_rewards, position=position)


def doubly_robust(*, reward: Any, action: Any, pscore: Any, action_dist: Any, estimated_rewards: Any,
                  position: Any = None, clip: float = np.inf) -> float:
    """Doubly robust estimate (Dudik et al. 2014)."""
    return estimate("dr", reward=reward, action=action, pscore=pscore, action_dist=action_dist,
                    estimated_rewards=estimated_rewards, position=position, clip=clip)


def switch_dr(*, reward: Any, action: Any, pscore: Any, action_dist: Any, estimated_rewards: Any,
              position: Any = None, threshold: float = np.inf) -> float:
    """Switch-DR (Wang et al. 2017): DR where ``w <= threshold``, DM elsewhere."""
    return estimate("switch-dr", reward=reward, action=action, pscore=pscore, action_dist=action_dist,
                    estimated_rewards=estimated_rewards, position=position, threshold=threshold)


def dr_os(*, reward: Any, action: Any, pscore: Any, action_dist: Any, estimated_rewards: Any,
          position: Any = None, lambda_: float = 0.0) -> float:
    """DR with optimistic shrinkage (Su et al. 2020); ``lambda_=0`` is DM, ``inf`` is DR."""
    return estimate("dr-os", reward=reward, action=action, pscore=pscore, action_dist=action_dist,
                    estimated_rewards=estimated_rewards, position=position, lambda_=lambda_)


def bootstrap_ci(samples: Any, *, alpha: float = 0.05, n_bootstrap: int = 1000,
                 seed: int = 0) -> dict[str, float]:
    """Percentile bootstrap of the mean: ``{"mean", "lower", "upper"}``.

    Resamples are drawn with ``np.random.RandomState(seed)``, in the same order as obp's
    ``estimate_confidence_interval_by_bootstrap``, so intervals agree with it for equal seeds.
    """
    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap <= 0:
        raise ConfigError(f"n_bootstrap must be a positive integer, got {n_bootstrap!r}")
    rs = np.random.RandomState(seed)
    means = np.empty(n_bootstrap)
    step = max(1, 2_000_000 // max(len(s), 1))
    for start in range(0, n_bootstrap, step):
        b = min(step, n_bootstrap - start)
        means[start:start + b] = s[rs.randint(0, len(s), size=(b, len(s)))].mean(axis=1)
    return {"mean": float(means.mean()), "lower": float(np.percentile(means, 100 * alpha / 2)),
            "upper": float(np.percentile(means, 100 * (1 - alpha / 2)))}


def evaluate(feedback: LoggedFeedback, action_dist: Any, estimated_rewards: Any = None, *,
             estimators: Any = ("ips", "snips", "dm", "dr", "switch-dr", "dr-os"), alpha: float = 0.05,
             n_bootstrap: int = 1000, seed: int = 0, **params: Any) -> dict[str, dict[str, float]]:
    """Every estimator's value and bootstrap interval for ``action_dist`` on ``feedback``."""
    out = {}
    for name in estimators:
        if name in _NEEDS_Q and estimated_rewards is None:
            continue
        keep = {"ips": ("clip",), "dr": ("clip",), "switch-dr": ("threshold",), "dr-os": ("lambda_",)}
        extra = {k: v for k, v in params.items() if k in keep.get(name, ())}
        terms = round_rewards(name, action_dist=action_dist, reward=feedback.rewards, action=feedback.actions,
                              pscore=feedback.propensities, estimated_rewards=estimated_rewards,
                              position=feedback.positions, **extra)
        ci = bootstrap_ci(terms, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed)
        out[name] = {"value": float(terms.mean()), "lower": ci["lower"], "upper": ci["upper"]}
    return out


def greedy_action_dist(estimated_rewards: Any) -> np.ndarray:
    """Deterministic policy putting the best not-yet-placed action in each slot (one-hot)."""
    q = np.asarray(estimated_rewards, dtype=np.float64)
    n, m, L = q.shape
    if L > m:
        raise DataError(f"cannot fill {L} slots with {m} distinct actions")
    out = np.zeros_like(q)
    taken = np.zeros((n, m), bool)
    rows = np.arange(n)
    for k in range(L):
        best = np.argmax(np.where(taken, -np.inf, q[:, :, k]), axis=1)
        out[rows, best, k] = 1.0
        taken[rows, best] = True
    return out


# -- reward models ---------------------------------------------------------------------
def _fit_logistic(F: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    from scipy.optimize import minimize

    n, p = F.shape

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = F @ w[:-1] + w[-1]
        val = np.logaddexp(0.0, z).sum() - y @ z + 0.5 * l2 * w[:-1] @ w[:-1]
        g = 1.0 / (1.0 + np.exp(-z)) - y
        return val / n, np.append(F.T @ g + l2 * w[:-1], g.sum()) / n

    return minimize(loss, np.zeros(p + 1), jac=True, method="L-BFGS-B").x


def fit_reward_model(feedback: LoggedFeedback, *, n_folds: int = 3, model: str = "logistic",
                     l2: float = 1.0, seed: int = 0, train: LoggedFeedback | None = None,
                     lgbm_params: dict[str, Any] | None = None) -> np.ndarray:
    """Predicted reward (n_rounds, n_actions, len_list) for every logged round, action and slot.

    Cross-fitting with ``n_folds`` folds: the prediction for a row comes from a model fitted
    on the other folds. With ``train`` given, one model is fitted on ``train`` and predicts
    all of ``feedback`` (no folds). ``model`` is ``"logistic"`` (L2-regularised logistic
    regression, additive in context, action, action features and slot) or ``"lightgbm"``
    (a ``LGBMClassifier``, which also learns context x action interactions).
    """
    if model not in ("logistic", "lightgbm"):
        raise ConfigError(f"model must be 'logistic' or 'lightgbm', got {model!r}")
    if train is None and (isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2):
        raise ConfigError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    fb = feedback
    ac = fb.action_context if fb.action_context is not None else np.zeros((fb.n_actions, 0))
    mu, sd = ac.mean(axis=0), ac.std(axis=0)
    ac = (ac - mu) / np.where(sd > 0, sd, 1.0)  # label-encoded ids and raw numbers on one scale
    n, m, L = fb.n_rounds, fb.n_actions, fb.len_list
    if train is not None:
        L = max(L, train.len_list)
        plan = [(train, np.arange(n))]
    else:
        fold = np.random.default_rng(seed).permutation(n) % n_folds
        plan = [(fb.subset(fold != f), np.flatnonzero(fold == f)) for f in range(n_folds)]
    out = np.empty((n, m, L))
    for tr, rows in plan:
        trL = max(L, tr.len_list)
        F = np.hstack([tr.contexts, np.eye(m)[tr.actions], ac[tr.actions], np.eye(trL)[tr.positions]])
        y = (tr.rewards > 0).astype(np.float64) if model == "lightgbm" else tr.rewards
        if model == "logistic":
            w = _fit_logistic(F, y, l2)
            d = fb.contexts.shape[1]
            wx, wa, wac, wk, c = w[:d], w[d:d + m], w[d + m:d + m + ac.shape[1]], w[-1 - trL:-1], w[-1]
            z = (fb.contexts[rows] @ wx)[:, None, None] + (wa + ac @ wac)[None, :, None] + wk[None, None, :L] + c
            out[rows] = 1.0 / (1.0 + np.exp(-z))
            continue
        import lightgbm as lgb

        # lightgbm's native API: its scikit-learn wrapper would need scikit-learn installed
        params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "seed": seed,
                  "verbosity": -1, "num_threads": 1, "n_estimators": 100, **(lgbm_params or {})}
        rounds = int(params.pop("n_estimators"))
        booster = lgb.train(params, lgb.Dataset(F, y), num_boost_round=rounds)
        for start in range(0, len(rows), 256):
            r = rows[start:start + 256]
            ri, ai, ki = (g.reshape(-1) for g in np.meshgrid(r, np.arange(m), np.arange(L), indexing="ij"))
            G = np.hstack([fb.contexts[ri], np.eye(m)[ai], ac[ai], np.eye(trL)[ki]])
            out[r] = booster.predict(G).reshape(len(r), m, L)
    return out
