"""Run bandit policies against the synthetic world and measure regret, reward and corpus growth.

Each step an (activity-weighted) user arrives at time ``t``; time advances evenly over the
world's span, so items are published during the run and join the policy's arms
(``add_arms``) as they appear. The policy chooses ``slate_size`` items from a candidate
pool given a context built from observable data (never the true taste), clicks are
drawn with :meth:`World.sample_clicks` (position bias on slates), the policy learns from
them, and the step's expected reward is compared with the best the policy could have
done from the same pool. See ``docs/simulation.md`` for the exact protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from shortlist.bandits import (
    LinUCBHybrid,
)
from shortlist.bandits.base import POLICIES, Decision
from shortlist.bandits.corpus import (
    SimulationResult,
    collect_runs,
    discoverable_corpus,
    plot_results,
)
from shortlist.core.parameters import params_model, validate_params
from shortlist.errors import ConfigError

__all__ = ["CONTEXTS", "POLICIES", "SIMULATION_DEFAULTS", "Oracle", "SimulationResult", "UniformRandom", "make_policy",
           "plot_results", "simulate", "simulate_policies", "user_contexts"]

_AHEAD_MIN = 64  # items registered at once when new ones are published

#: What a contextual policy may see about the arriving user (see :func:`user_contexts`).
CONTEXTS = ("user-taste-noisy", "user-history", "user-features", "none")


@POLICIES.register("random")
class UniformRandom:
    """Baseline: k distinct arms uniformly at random among the eligible ones (never learns)."""

    uses_context = False

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self.rng_ = np.random.default_rng(seed)
        self.arms_ = np.zeros(0, np.int64)

    def add_arms(self, arms: Any, **features: Any) -> UniformRandom:
        """Add arm ids (features are ignored)."""
        self.arms_ = np.concatenate([self.arms_, np.asarray(arms, np.int64)])
        return self

    def select(self, context: Any = None, arms: Any = None, k: int = 1) -> Decision:
        """k distinct arms drawn uniformly from ``arms`` (all arms when None)."""
        arms = self.arms_ if arms is None else np.asarray(arms)
        pick = self.rng_.choice(arms.size, size=k, replace=False)
        prop = 1.0 / (arms.size - np.arange(k))
        return Decision(arms[pick][None, :], prop[None, :], np.zeros((1, k)))

    def update(self, context: Any, actions: Any, rewards: Any) -> UniformRandom:
        """Ignore feedback."""
        return self


@POLICIES.register("oracle")
class Oracle(UniformRandom):
    """Baseline with privileged access: the k arms of highest true click probability.

    The simulation calls :meth:`peek` with the world, user and time before each
    ``select`` (only for policies with ``peeks = True``); its regret is zero by definition.
    """

    peeks = True

    def peek(self, world: Any, user: int, t: int) -> None:
        """Remember who arrives when (the ground truth the oracle ranks by)."""
        self._truth = (world, user, t)

    def select(self, context: Any = None, arms: Any = None, k: int = 1) -> Decision:
        """The k eligible arms with the highest ``click_probability``, best first."""
        world, user, t = self._truth
        arms = self.arms_ if arms is None else np.asarray(arms)
        p = world.click_probability(user, arms, t)
        top = np.argsort(-p, kind="stable")[:k]
        return Decision(arms[top][None, :], np.ones((1, k)), p[top][None, :])


#: Parameters the simulation presets (policy name -> values). Thompson policies skip the
#: Monte-Carlo propensity estimate (``propensity_draws=0``): the simulation never reads it.
SIMULATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "ts-beta": {"propensity_draws": 0}, "ts-gaussian": {"propensity_draws": 0}, "lints": {"propensity_draws": 0},
}


def make_policy(name: str, *, seed: int = 0, **params: Any) -> Any:
    """A fresh policy registered in :data:`POLICIES`, with the simulation's presets and ``params`` over them.

    String values (from the command line) are converted to the declared types.
    """
    cls = POLICIES.get_class(name)  # unknown: "did you mean", the valid names
    for key in {"seed", "arms", "arm_features"} & set(params):
        raise ConfigError(f"policy {name!r}: {key}={params[key]!r} is set by the simulation; fix: remove it")
    given = {**POLICIES.defaults(name), **SIMULATION_DEFAULTS.get(name, {}), **params}
    checked = validate_params(f"policy {name!r}", params_model(cls), given)
    return cls(**{k: checked[k] for k in given}, seed=seed)


# -- what the policy sees ------------------------------------------------------------------
def user_contexts(world: Any, kind: str = "user-taste-noisy", *, noise: float = 1.0,
                  rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Context vector of every user (n_users, d), float64; column 0 is a constant 1.

    * ``user-taste-noisy``: ``R u + noise * sd * e``: a random projection ``R`` of the
      hidden taste ``u`` plus per-user Gaussian noise (``sd`` = the coordinate's spread),
      like an embedding estimated from logs; each coordinate has correlation
      ``1 / sqrt(1 + noise^2)`` with the noiseless projection. ``R`` and ``e`` come from ``rng``.
    * ``user-history``: the share of each category among the user's logged events.
    * ``user-features``: standardized age, one-hot gender and country.
    * ``none``: the constant only.

    Non-constant columns are centred and scaled to a total variance of 1.
    """
    if kind not in CONTEXTS:
        raise ConfigError(f"unknown context {kind!r}; choose one of {', '.join(CONTEXTS)}")
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
        raise ConfigError(f"noise must be a finite number >= 0, got {noise!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    users, n = world.users, world.n_users
    if kind == "user-taste-noisy":
        taste = users.taste.astype(np.float64)
        d = taste.shape[1]
        proj = taste @ gen.normal(0.0, 1.0 / np.sqrt(d), (d, d))
        feats = proj + noise * proj.std(axis=0) * gen.standard_normal(proj.shape)
    elif kind == "user-history":
        ev, n_cat = world.events, len(world.items.category_names)
        feats = np.zeros((n, n_cat))
        np.add.at(feats, (ev.user, world.items.category[ev.item]), 1.0)
        feats /= np.maximum(feats.sum(axis=1, keepdims=True), 1.0)
    elif kind == "user-features":
        feats = np.column_stack([(users.age - users.age.mean()) / max(float(users.age.std()), 1e-9),
                                 np.eye(3)[users.gender], np.eye(len(world.geography.countries))[users.country]])
    else:
        feats = np.zeros((n, 0))
    if feats.shape[1]:
        feats = feats - feats.mean(axis=0)
        feats /= np.sqrt(max(float((feats ** 2).sum(axis=1).mean()), 1e-12))
    return np.ascontiguousarray(np.column_stack([np.ones(n), feats]))


def _pools(world: Any, times: np.ndarray, n_avail: np.ndarray, pool: tuple[int, int] | None) -> list[np.ndarray]:
    """Candidate pool per step (sorted item indices): the ``pool[0]`` freshest available items
    plus the ``pool[1]`` most consumed so far in the world's event log (or all available)."""
    if pool is None:
        return [np.arange(a) for a in n_avail]
    n_fresh, n_pop = pool
    ev_order = np.argsort(world.events.timestamp, kind="stable")
    ev_time, ev_item = world.events.timestamp[ev_order], world.events.item[ev_order]
    counts = np.zeros(world.n_items)
    out, done = [], 0
    for t, a in zip(times.tolist(), n_avail.tolist()):
        upto = int(np.searchsorted(ev_time, t, side="right"))
        np.add.at(counts, ev_item[done:upto], 1.0)
        done = upto
        fresh = np.arange(max(0, a - n_fresh), a)
        older = a - fresh.size
        if n_pop and older:
            # most consumed first, ties to the older item; stable sort keeps that order
            top = np.argsort(-counts[:older], kind="stable")[:n_pop]
            fresh = np.concatenate([np.sort(top), fresh])
        out.append(fresh.astype(np.int64))
    return out


@dataclass
class _Episode:
    """Everything about one seed that does not depend on the policy."""

    seed: int
    users: np.ndarray
    times: np.ndarray
    n_avail: np.ndarray
    pools: list[np.ndarray]
    probs: list[np.ndarray]  # true click probability of each pool item at that step
    optimum: np.ndarray  # best expected reward from the pool per step
    contexts: np.ndarray


def _episode(world: Any, seed: int, steps: int, slate_size: int, context: str, noise: float,
             new_items: bool, pool: tuple[int, int] | None,
             pools: list[np.ndarray] | None = None) -> _Episode:
    root = np.random.SeedSequence(seed)
    r_users, r_ctx = (np.random.default_rng(s) for s in root.spawn(2))
    users = r_users.choice(world.n_users, size=steps, p=world.users.activity)
    span = world.end - world.start
    times = (world.start + np.floor((np.arange(steps) + 0.5) * span / steps)).astype(np.int64)
    n_avail = np.searchsorted(world.items.publish, times, side="right").astype(np.int64)
    if not new_items:
        n_avail = np.full(steps, n_avail[0])
    if n_avail[0] < slate_size:
        raise ConfigError(f"only {n_avail[0]} items are available at the start, fewer than "
                          f"slate_size={slate_size}; lower slate_size or raise catalog_at_start")
    pools = _pools(world, times, n_avail, pool) if pools is None else pools  # the same for every seed
    exam = world.examination(np.arange(slate_size))
    probs, optimum = [], np.empty(steps)
    for s in range(steps):
        p = world.click_probability(int(users[s]), pools[s], int(times[s]))
        probs.append(p)
        optimum[s] = float(np.sort(p)[::-1][:slate_size] @ exam[:min(slate_size, p.size)])
    ctx = user_contexts(world, context, noise=noise, rng=r_ctx)
    return _Episode(seed, users, times, n_avail, pools, probs, optimum, ctx)


def _item_features(world: Any) -> np.ndarray:
    """Arm features for hybrid policies: a constant plus the one-hot category."""
    cat = world.items.category
    return np.column_stack([np.ones(cat.size), np.eye(len(world.items.category_names))[cat]])


def _run(policy: Any, world: Any, ep: _Episode, slate_size: int, full_pool: bool,
         bar: Any, ahead: bool = True) -> dict[str, np.ndarray]:
    """One policy over one episode: the per-step arrays of :func:`collect_runs`."""
    steps = ep.users.size
    rng = np.random.default_rng(np.random.SeedSequence(ep.seed).spawn(3)[2])
    positions = np.arange(slate_size)
    exam = world.examination(positions)
    contextual = bool(getattr(policy, "uses_context", False))
    peeks = bool(getattr(policy, "peeks", False))
    hybrid = isinstance(policy, LinUCBHybrid)
    feats = _item_features(world) if hybrid else None
    reward, expected = np.empty(steps), np.empty(steps)
    shown = np.empty((steps, slate_size), np.int64)
    clicked = np.empty((steps, slate_size), bool)
    n_arms = 0
    for s in range(steps):
        u, t, pool = int(ep.users[s]), int(ep.times[s]), ep.pools[s]
        if ep.n_avail[s] > n_arms:  # newly published items become arms
            # registered in chunks a little ahead of publish: adding one arm copies every
            # arm's state, and an arm never shown or updated keeps its prior, so decisions
            # are the same as adding each item at its publish step (tested)
            hi = int(ep.n_avail[s]) if not ahead else min(
                int(ep.n_avail[-1]), max(int(ep.n_avail[s]), n_arms + max(_AHEAD_MIN, n_arms // 4)))
            new = np.arange(n_arms, hi)
            policy.add_arms(new, features=feats[new]) if hybrid else policy.add_arms(new)
            n_arms = hi
        x = ep.contexts[u:u + 1] if contextual else None
        if peeks:
            policy.peek(world, u, t)
        # unpublished arms are never eligible: the pool holds available items only
        every = full_pool and n_arms == ep.n_avail[s]
        dec = policy.select(x, arms=None if every else pool, k=slate_size)
        acts = np.asarray(dec.actions[0], dtype=np.int64)
        clicks = world.sample_clicks(u, acts, t, rng, position=positions)
        expected[s] = float(ep.probs[s][np.searchsorted(pool, acts)] @ exam)
        reward[s] = float(clicks.sum())
        shown[s], clicked[s] = acts, clicks
        r = clicks.astype(np.float64)
        if slate_size == 1:
            policy.update(x, acts, r)
        else:
            policy.update(x, acts[None, :], r[None, :])
        if bar is not None and s % 256 == 255:
            bar.update(256)
    if bar is not None:
        bar.update(steps % 256)
    return {"user": ep.users, "time": ep.times, "n_available": ep.n_avail, "optimum": ep.optimum,
            "reward": reward, "expected": expected, "shown": shown, "clicked": clicked}


def simulate_policies(policies: Mapping[str, Callable[[int], Any] | str], world: Any, *, steps: int = 5000,
                      seeds: int | Sequence[int] = 10, slate_size: int = 1, context: str = "user-taste-noisy",
                      context_noise: float = 1.0, new_items: bool = True,
                      pool: tuple[int, int] | None = (50, 50), discover_clicks: int = 3,
                      discover_window: int = 500, progress: bool | None = None) -> dict[str, SimulationResult]:
    """Run several policies on the same episodes (same users, times and click draws per seed).

    ``policies`` maps a display name to a factory ``seed -> policy`` or a name of
    :data:`POLICIES`. See :func:`simulate` for the other arguments.
    """
    for name, val in (("steps", steps), ("slate_size", slate_size)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ConfigError(f"{name} must be a positive integer, got {val!r}")
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list:
        raise ConfigError(f"seeds must be a positive count or a list of seeds, got {seeds!r}")
    if pool is not None and (len(pool) != 2 or min(pool) < 0 or sum(pool) < slate_size):
        raise ConfigError(f"pool must be (n_freshest, n_most_popular) with a total >= slate_size, "
                          f"got {pool!r}; or None for every available item")
    if context not in CONTEXTS:
        raise ConfigError(f"unknown context {context!r}; choose one of {', '.join(CONTEXTS)}")
    discoverable_corpus([], [], [], [-1], min_clicks=discover_clicks, window=discover_window)  # checks X, Y
    factories = {name: (lambda seed, n=f: make_policy(n, seed=seed)) if isinstance(f, str) else f
                 for name, f in policies.items()}
    raw: dict[str, list[dict[str, Any]]] = {name: [] for name in factories}
    show = progress if progress is not None else steps * len(seed_list) * len(factories) >= 200_000
    with tqdm(total=steps * len(seed_list) * len(factories), desc="simulating", unit="step",
              disable=not show, unit_scale=True) as bar:
        pools = None
        for seed in seed_list:
            ep = _episode(world, seed, steps, slate_size, context, context_noise, new_items, pool, pools)
            pools = ep.pools
            for name, factory in factories.items():
                t0 = time.perf_counter()
                run = _run(factory(seed), world, ep, slate_size, pool is None, bar if show else None)
                raw[name].append({**run, "seconds": time.perf_counter() - t0})
    info = {"steps": steps, "slate_size": slate_size, "context": context, "context_noise": context_noise,
            "new_items": new_items, "pool": pool, "discover_clicks": discover_clicks,
            "discover_window": discover_window}
    return {name: collect_runs(name, runs, seed_list, n_items=world.n_items, min_clicks=discover_clicks,
                               window=discover_window, info=info)
            for name, runs in raw.items()}


def simulate(policy_factory: Callable[[int], Any] | str, world: Any, *, steps: int = 5000,
             seeds: int | Sequence[int] = 10, slate_size: int = 1, context: str = "user-taste-noisy",
             context_noise: float = 1.0, new_items: bool = True, pool: tuple[int, int] | None = (50, 50),
             discover_clicks: int = 3, discover_window: int = 500, progress: bool | None = None,
             name: str | None = None) -> SimulationResult:
    """Run one policy against ``world`` for ``steps`` steps on each seed.

    ``policy_factory(seed)`` returns a fresh policy (or pass a name of :data:`POLICIES`).
    ``seeds``: a count (0..n-1) or a list; a seed fixes the arriving users, the context
    noise and the click draws. ``context``: what contextual policies see (:data:`CONTEXTS`,
    :func:`user_contexts`). ``new_items=False`` freezes the arms at the catalog present at
    the start. ``pool=(f, p)``: eligible arms per step are the ``f`` freshest available
    items plus the ``p`` most consumed in the world's event log so far (None: every
    available item); regret is measured against the best slate from that pool.
    ``discover_clicks``/``discover_window``: X and Y of the discoverable corpus.
    """
    label = name or (policy_factory if isinstance(policy_factory, str) else "policy")
    return simulate_policies({label: policy_factory}, world, steps=steps, seeds=seeds, slate_size=slate_size,
                             context=context, context_noise=context_noise, new_items=new_items, pool=pool,
                             discover_clicks=discover_clicks, discover_window=discover_window,
                             progress=progress)[label]
