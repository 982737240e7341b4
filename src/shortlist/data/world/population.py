"""Who and what lives in the world: geography, users, creators and items (vectorized numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shortlist.data.world.config import WorldConfig

__all__ = ["Geography", "Items", "Users", "make_geography", "make_items", "make_users", "zipf_weights"]

COUNTRY_CODES = ("US", "BR", "IN", "DE", "FR", "JP", "NG", "MX", "GB", "ES", "ID", "KR", "IT",
                 "CA", "AR", "EG", "PL", "TR", "AU", "ZA")
GENDERS = ("female", "male", "other")
_GENDER_P = (0.49, 0.48, 0.03)
_AGE_EDGES = np.array([18, 25, 35, 45, 55])  # -> 6 age groups, each with a taste offset
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "so", "vu", "bel", "da", "ri", "no", "sha", "pe", "tor",
              "gi", "lan", "mu", "ze", "qui", "fa", "dro", "ne", "wo", "hal", "ki", "sul", "pra", "ve")
_CATEGORY_WORDS = 12  # words specific to each category
_GENERIC_WORDS = 60  # words shared by all categories (noise for content models)
_TOPIC_SHARE = 0.6  # chance a title word comes from its category vocabulary


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Weights rank**-exponent (float64, sum 1) assigned to 0..n-1 in random order."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(exponent)
    w = w[rng.permutation(n)]
    return w / w.sum()


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class Geography:
    """Countries and city centres (a city belongs to one country)."""

    countries: tuple[str, ...]
    city_country: np.ndarray  # int32 per city
    city_lat: np.ndarray
    city_lon: np.ndarray
    city_weight: np.ndarray  # share of users living there


def make_geography(cfg: WorldConfig, rng: np.random.Generator) -> Geography:
    """Country centres at random places, cities scattered within a few degrees of them."""
    names = tuple(COUNTRY_CODES[c] if c < len(COUNTRY_CODES) else f"C{c}" for c in range(cfg.n_countries))
    c_lat = rng.uniform(-40, 60, cfg.n_countries)
    c_lon = rng.uniform(-170, 170, cfg.n_countries)
    # first n_countries cities cover every country once, the rest go to random countries
    city_country = np.concatenate([np.arange(cfg.n_countries),
                                   rng.integers(0, cfg.n_countries, cfg.n_cities - cfg.n_countries)])
    lat = np.clip(c_lat[city_country] + rng.normal(0, 3, cfg.n_cities), -85, 85)
    lon = (c_lon[city_country] + rng.normal(0, 3, cfg.n_cities) + 180) % 360 - 180
    return Geography(names, city_country.astype(np.int32), lat, lon, zipf_weights(cfg.n_cities, 1.0, rng))


@dataclass
class Users:
    """User demographics, home location, hidden taste and activity."""

    age: np.ndarray  # float32 years
    gender: np.ndarray  # int32 code into GENDERS
    country: np.ndarray  # int32 code into Geography.countries
    city: np.ndarray  # int32
    lat: np.ndarray
    lon: np.ndarray
    taste: np.ndarray  # float32 (n_users, n_factors)
    interest: np.ndarray  # int32 main category (largest share of the taste mix)
    activity: np.ndarray  # float64, sums to 1: share of sessions


def make_users(cfg: WorldConfig, geo: Geography, centres: np.ndarray, category_p: np.ndarray,
               rng: np.random.Generator) -> Users:
    """Demographics first; taste = mix of 3 favourite categories + country and age offsets."""
    n, d = cfg.n_users, cfg.n_factors
    age = np.clip(np.rint(rng.normal(34, 12, n)), 13, 80).astype(np.float32)
    gender = rng.choice(len(GENDERS), size=n, p=_GENDER_P).astype(np.int32)
    city = rng.choice(cfg.n_cities, size=n, p=geo.city_weight).astype(np.int32)
    country = geo.city_country[city]
    lat = np.clip(geo.city_lat[city] + rng.normal(0, 0.3, n), -89, 89).astype(np.float32)
    lon = (geo.city_lon[city] + rng.normal(0, 0.3, n)).astype(np.float32)
    fav = rng.choice(cfg.n_categories, size=(n, 3), p=category_p)
    mix = rng.dirichlet(np.full(3, 0.5), size=n)
    taste = np.einsum("nk,nkd->nd", mix, centres[fav])
    country_vec = rng.normal(0, 1 / np.sqrt(d), (cfg.n_countries, d))
    age_vec = rng.normal(0, 1 / np.sqrt(d), (len(_AGE_EDGES) + 1, d))
    taste += 0.25 * country_vec[country] + 0.25 * age_vec[np.searchsorted(_AGE_EDGES, age, side="right")]
    taste += rng.normal(0, 0.3 / np.sqrt(d), (n, d))
    activity = rng.lognormal(0, cfg.activity_sigma, n)
    interest = fav[np.arange(n), np.argmax(mix, axis=1)].astype(np.int32)
    return Users(age, gender, country, city, lat, lon, taste.astype(np.float32), interest,
                 activity / activity.sum())


@dataclass
class Items:
    """Item attributes, sorted by publish time (item index order = publish order)."""

    category: np.ndarray  # int32
    creator: np.ndarray  # int32
    publish: np.ndarray  # int64 epoch seconds, non-decreasing
    price: np.ndarray  # float32
    lat: np.ndarray
    lon: np.ndarray
    traits: np.ndarray  # float32 (n_items, n_factors)
    popularity: np.ndarray  # float64 base popularity, sums to 1
    title: np.ndarray  # str
    category_names: tuple[str, ...]
    creator_names: tuple[str, ...]


def _words(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct pseudo-words of 2-4 syllables."""
    out: dict[str, None] = {}
    syl = np.asarray(_SYLLABLES)
    while len(out) < count:
        k = int(rng.integers(2, 5))
        out.setdefault("".join(syl[rng.integers(0, len(syl), k)]), None)
    return list(out)


def make_items(cfg: WorldConfig, geo: Geography, centres: np.ndarray, category_p: np.ndarray,
               start: int, rng: np.random.Generator) -> Items:
    """Creators (home category, city, style) produce items; traits follow category + style."""
    n, d, n_cat = cfg.n_items, cfg.n_factors, cfg.n_categories
    home_cat = rng.choice(n_cat, size=cfg.n_creators, p=category_p)
    home_city = rng.choice(cfg.n_cities, size=cfg.n_creators, p=geo.city_weight)
    style = rng.normal(0, 1 / np.sqrt(d), (cfg.n_creators, d))
    creator = rng.choice(cfg.n_creators, size=n, p=zipf_weights(cfg.n_creators, 1.0, rng))
    off = rng.random(n) < 0.15  # creators sometimes leave their home category
    category = np.where(off, rng.choice(n_cat, size=n, p=category_p), home_cat[creator])
    traits = (0.8 * centres[category] + 0.3 * style[creator]
              + rng.normal(0, 0.3 / np.sqrt(d), (n, d))).astype(np.float32)
    span = cfg.days * 86400.0
    old = rng.random(n) < cfg.catalog_at_start
    publish = np.where(old, start - rng.uniform(0, 0.25 * span, n), start + rng.uniform(0, span, n))
    publish = np.floor(publish).astype(np.int64)
    publish[np.argmin(publish)] = min(int(publish.min()), start)  # something is always available
    cat_price = rng.normal(2.5, 0.8, n_cat)
    price = np.round(np.exp(cat_price[category] + rng.normal(0, 0.5, n)), 2).astype(np.float32)
    lat = (geo.city_lat[home_city[creator]] + rng.normal(0, 0.5, n)).astype(np.float32)
    lon = (geo.city_lon[home_city[creator]] + rng.normal(0, 0.5, n)).astype(np.float32)
    popularity = zipf_weights(n, cfg.popularity_exponent, rng)
    title = _titles(category, n_cat, rng)
    order = np.argsort(publish, kind="stable")
    return Items(category[order].astype(np.int32), creator[order].astype(np.int32), publish[order],
                 price[order], lat[order], lon[order], traits[order], popularity[order], title[order],
                 tuple(f"cat{c}" for c in range(n_cat)),
                 tuple(f"creator{c}" for c in range(cfg.n_creators)))


def _titles(category: np.ndarray, n_cat: int, rng: np.random.Generator) -> np.ndarray:
    """3-6 words per title; most come from the item's category vocabulary."""
    vocab = np.asarray(_words(n_cat * _CATEGORY_WORDS + _GENERIC_WORDS, rng))
    n, width = category.shape[0], 6
    topical = rng.random((n, width)) < _TOPIC_SHARE
    word = np.where(topical,
                    category[:, None] * _CATEGORY_WORDS + rng.integers(0, _CATEGORY_WORDS, (n, width)),
                    n_cat * _CATEGORY_WORDS + rng.integers(0, _GENERIC_WORDS, (n, width)))
    length = rng.integers(3, width + 1, n)
    words = vocab[word].tolist()
    return np.asarray([" ".join(w[:k]) for w, k in zip(words, length.tolist())])
