"""generate_world: run the generative story (population -> follows -> events -> impressions)."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from shortlist.data.world import _kernels as K
from shortlist.data.world.config import WorldConfig
from shortlist.data.world.population import (
    Items,
    Users,
    make_geography,
    make_items,
    make_users,
    zipf_weights,
)
from shortlist.data.world.simulator import Events, Impressions, World, popularity_term
from shortlist.errors import ConfigError

__all__ = ["START", "generate_world"]

#: Start of the logged span: 2024-01-01 00:00:00 UTC (epoch seconds).
START = 1_704_067_200
_SESSION_GAP_S = 60.0  # mean seconds between two events of a session
_FOLLOW_CANDIDATES = 4  # fewer, because at 1M users every candidate is a cache miss
_CHUNK_EVENTS = 500_000  # events per kernel call: progress steps vs parallel launch costs
_AUTO_PROGRESS_EVENTS = 1_000_000


def _resolve(config: WorldConfig | str | dict[str, Any], seed: int | None,
             overrides: dict[str, Any]) -> tuple[WorldConfig, str]:
    if isinstance(config, str):
        cfg, name = WorldConfig.preset(config), f"world-{config}"
    elif isinstance(config, WorldConfig):
        cfg, name = config, "world"
    elif isinstance(config, dict):
        cfg, name = WorldConfig(**config), "world"
    else:
        raise ConfigError(f"config must be a preset name, a WorldConfig or a dict, got "
                          f"{type(config).__name__}; e.g. generate_world('small')")
    if seed is not None:
        overrides = {**overrides, "seed": seed}
    if overrides:
        cfg = WorldConfig(**{**cfg.model_dump(), **overrides})
    return cfg, name


class _Exposure:
    """Exposure distribution q_t(i) ~ pop_i * freshness_i(t) over published items, as prefix sums.

    freshness = floor + (1 - floor) * 2**(-(t - publish) / h): the floor part is a prefix sum of
    pop, the decaying part a prefix sum of pop * 2**((publish - t_ref) / h) rescaled at time t.
    """

    def __init__(self, cfg: WorldConfig, items: Items, start: int) -> None:
        self.floor = cfg.freshness_floor
        self.rate = math.log(2.0) / (cfg.freshness_half_life_days * 86400.0)
        self.t_ref = start + 0.5 * cfg.days * 86400.0
        pop = items.popularity
        self.cum_old = np.concatenate([[0.0], np.cumsum(pop)])
        boost = pop * np.exp(self.rate * (items.publish - self.t_ref))
        self.cum_new = np.concatenate([[0.0], np.cumsum(boost)])
        self.publish = items.publish
        n = pop.shape[0]
        self.g_old, self.g_new = np.empty(n + 1, np.int64), np.empty(n + 1, np.int64)
        old = K.build_guide(self.cum_old, 0, n, False, self.g_old)
        new = K.build_guide(self.cum_new, 0, n, True, self.g_new)
        self.guide_params = np.array([*old, *new])

    def n_avail(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.publish, t, side="right").astype(np.int64)

    def args(self) -> tuple:
        return (self.cum_old, self.g_old, self.cum_new, self.g_new, self.guide_params, self.floor,
                self.t_ref, self.rate)


def generate_world(config: WorldConfig | str | dict[str, Any] = "small", *, seed: int | None = None,
                   progress: bool | None = None, **overrides: Any) -> World:
    """Generate a world from a preset name, a :class:`WorldConfig` or a dict of its fields.

    ``seed`` and any other ``WorldConfig`` field given as keyword override the config; the
    same config and seed give bit-identical arrays. ``progress`` shows a bar (default: only
    from 1M interactions on).
    """
    cfg, name = _resolve(config, seed, overrides)
    t0 = time.perf_counter()
    root = np.random.SeedSequence(cfg.seed)
    children = root.spawn(6)
    rngs = [np.random.default_rng(c) for c in children]
    keys = [np.uint64(k) for k in root.generate_state(5, dtype=np.uint64)]
    start, end = START, START + round(cfg.days * 86400)
    d = cfg.n_factors
    centres = rngs[0].normal(0, 1 / np.sqrt(d), (cfg.n_categories, d))
    category_p = zipf_weights(cfg.n_categories, 0.7, rngs[0])
    geo = make_geography(cfg, rngs[0])
    users = make_users(cfg, geo, centres, category_p, rngs[1])
    items = make_items(cfg, geo, centres, category_p, start, rngs[2])
    follows = _follow_graph(cfg, users, centres, rngs[3], keys[0])
    exposure = _Exposure(cfg, items, start)
    show = progress if progress is not None else cfg.n_interactions >= _AUTO_PROGRESS_EVENTS
    with tqdm(total=cfg.n_interactions + cfg.slates, desc=f"generating {name}", unit="row",
              disable=not show, unit_scale=True) as bar:
        events = _events(cfg, users, items, follows, exposure, start, end, rngs[4], keys[1:4], bar)
        impressions = _impressions(cfg, users, items, exposure, start, end, rngs[5], keys[4], bar)
    info = {"name": name, "seconds": round(time.perf_counter() - t0, 3)}
    return World(cfg, start, end, geo, users, items, follows, events, impressions, info)


def _follow_graph(cfg: WorldConfig, users: Users, centres: np.ndarray, rng: np.random.Generator,
                  key: np.uint64) -> sp.csr_matrix:
    """Each user follows ~Poisson(mean degree) others chosen by fame, city and shared interest."""
    n = cfg.n_users
    degree = rng.poisson(cfg.follow_mean_degree, n) if n > 1 else np.zeros(n, np.int64)
    indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    fame = zipf_weights(n, 0.8, rng)
    by_city = np.argsort(users.city, kind="stable").astype(np.int64)
    counts = np.bincount(users.city, minlength=cfg.n_cities)
    city_end = np.cumsum(counts).astype(np.int64)
    city_start = city_end - counts
    cum_city = np.concatenate([[0.0], np.cumsum(fame[by_city])])
    cum_fame = np.concatenate([[0.0], np.cumsum(fame)])
    unit = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    out = np.empty(int(indptr[-1]), np.int64)
    g_fame = np.empty(n + 1, np.int64)
    fame_first, fame_step = K.build_guide(cum_fame, 0, n, False, g_fame)
    K.sample_follows(indptr, users.city.astype(np.int64), city_start, city_end, by_city, cum_city,
                     *K.city_guides(cum_city, city_start, city_end), cum_fame, g_fame, fame_first,
                     fame_step, users.interest.astype(np.int16), unit @ unit.T,
                     float(cfg.follow_homophily), float(cfg.follow_local), _FOLLOW_CANDIDATES, key, out)
    rows = np.repeat(np.arange(n, dtype=np.int64), degree)
    keep = out >= 0
    graph = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], out[keep])), shape=(n, n))
    graph.sum_duplicates()
    graph.data[:] = 1.0
    return graph


def _session_layout(cfg: WorldConfig, users: Users, start: int, end: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Users and times of exactly n_interactions events, grouped in sessions."""
    n = cfg.n_interactions
    lengths = 1 + rng.poisson(cfg.session_length - 1, int(n / cfg.session_length * 1.1) + 16)
    while lengths.sum() < n:  # rare: the Poisson draws came out short
        lengths = np.concatenate([lengths, 1 + rng.poisson(cfg.session_length - 1, 1024)])
    cum = np.cumsum(lengths)
    n_sess = int(np.searchsorted(cum, n)) + 1
    lengths = lengths[:n_sess]
    lengths[-1] -= int(cum[n_sess - 1]) - n
    sess_user = rng.choice(cfg.n_users, size=n_sess, p=users.activity).astype(np.int32)
    sess_start = rng.uniform(start, end, n_sess)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    gaps = rng.exponential(_SESSION_GAP_S, n)
    gaps[first] = 0.0
    walk = np.cumsum(gaps)
    sess = np.repeat(np.arange(n_sess), lengths)
    times = np.minimum(np.floor(sess_start[sess] + walk - walk[first][sess]), end - 1).astype(np.int64)
    return sess_user[sess], times


def _chunks(indptr: np.ndarray) -> np.ndarray:
    """User boundaries splitting the events into chunks of about _CHUNK_EVENTS (for progress)."""
    parts = max(1, int(indptr[-1]) // _CHUNK_EVENTS)
    marks = np.searchsorted(indptr, np.linspace(0, indptr[-1], parts + 1)[1:-1])
    return np.unique(np.concatenate([[0], marks, [indptr.shape[0] - 1]]))


def _events(cfg: WorldConfig, users: Users, items: Items, follows: sp.csr_matrix, exposure: _Exposure,
            start: int, end: int, rng: np.random.Generator, keys: list, bar: tqdm) -> Events:
    """Organic choices, then social copies, then repeats; finally engagement type and value."""
    user, times = _session_layout(cfg, users, start, end, rng)
    order = np.argsort((user.astype(np.int64) << 32) | (times - start), kind="stable")
    user, times = user[order], times[order]
    del order
    n = user.shape[0]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(user, minlength=cfg.n_users))]).astype(np.int64)
    n_avail = exposure.n_avail(times)
    organic = np.empty(n, np.int32)
    all_users = np.arange(cfg.n_users, dtype=np.int64)
    bounds = _chunks(indptr)
    for a, b in itertools.pairwise(bounds):
        K.sample_organic(indptr[a:b + 1], all_users[a:b], times, n_avail, users.taste, items.traits,
                         *exposure.args(), float(cfg.affinity_strength), cfg.choice_set_size, keys[0],
                         organic)
        bar.update(int(indptr[b] - indptr[a]))
    del n_avail
    repeat = rng.random(n) < cfg.repeat_probability
    repeat[indptr[:-1][indptr[:-1] < indptr[1:]]] = False  # a first event has nothing to repeat
    flagged = repeat | (rng.random(n) < cfg.social_probability)
    social_rows = np.flatnonzero(flagged & ~repeat)
    item = organic.copy()
    social = np.zeros(n, bool)
    K.apply_social(social_rows, user, times, organic, flagged, indptr[:-1], indptr[1:],
                   follows.indptr.astype(np.int64), follows.indices.astype(np.int64), keys[1], item,
                   social)
    del organic, social_rows, flagged
    K.apply_repeats(indptr, repeat, keys[2], item)
    origin = np.zeros(n, np.int8)
    origin[social] = 2
    origin[repeat] = 1
    del social, repeat
    affinity = K.pair_dot(users.taste, items.traits, user, item)
    logit = cfg.affinity_strength * affinity.astype(np.float64) - 1.0 + rng.standard_normal(n)
    value = np.clip(np.round(1.0 / (1.0 + np.exp(-logit)), 3), 0.01, 1.0)
    del logit, affinity
    r = rng.random((3, n))
    click = r[0] < value
    like = click & (r[1] < 0.5 * value)
    share = like & (r[2] < 0.3 * value)
    del r
    event_type = (click.astype(np.int16) + like + share).astype(np.int16)
    return Events(user, item, times, event_type, value.astype(np.float32), origin)


def _impressions(cfg: WorldConfig, users: Users, items: Items, exposure: _Exposure, start: int,
                 end: int, rng: np.random.Generator, key: np.uint64, bar: tqdm) -> Impressions:
    """Slates at random (activity-weighted) user visits, shown by the logging policy."""
    n_s, k = cfg.slates, cfg.slate_size
    s_user = rng.choice(cfg.n_users, size=n_s, p=users.activity).astype(np.int32)
    s_time = np.sort(rng.integers(start, end, n_s)).astype(np.int64)
    out_item = np.zeros((n_s, k), np.int32)
    out_prop = np.zeros((n_s, k), np.float64)
    out_click = np.zeros((n_s, k), bool)
    out_len = np.zeros(n_s, np.int64)
    log_pop = np.log(items.popularity)
    if n_s:
        K.sample_slates(s_user, s_time, exposure.n_avail(s_time), users.taste, items.traits, log_pop,
                        popularity_term(items.popularity), items.publish.astype(np.float64),
                        *exposure.args(), float(cfg.affinity_strength), cfg.slate_pool_size, k,
                        float(cfg.logging_noise), float(cfg.logging_temperature),
                        float(cfg.logging_epsilon), float(cfg.position_bias), float(cfg.click_bias),
                        key, out_item, out_prop, out_click, out_len)
    bar.update(n_s)
    filled = np.arange(k)[None, :] < out_len[:, None]
    slate = np.repeat(np.arange(n_s, dtype=np.int64), out_len)
    return Impressions(slate, s_user[slate], out_item[filled], np.nonzero(filled)[1].astype(np.int16),
                       s_time[slate], out_prop[filled], out_click[filled])
