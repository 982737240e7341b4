"""Property tests: random catalogs, requests and rule chains never break a rule or lose items."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import ItemAttributes, build_rule

N_USERS = 4
WORDS = ["red", "blue", "green", "shoe", "hat", "coat", "big", "small"]
FILTERS = [
    "exclude_seen",
    "blocklist",
    "sensitive_categories",
    "dedupe",
    "creator_cap",
    "geo_radius",
    "price_range",
    "availability_window",
]
REORDERERS = ["creator_spacing", "mmr", "freshness_boost", "pinned"]


def make_catalog(n: int, seed: int) -> ItemAttributes:
    """A random catalog with every attribute, missing values included."""
    rng = np.random.default_rng(seed)

    def nan_some(x: np.ndarray, p: float = 0.15) -> np.ndarray:
        return np.where(rng.random(n) < p, np.nan, x)

    texts = [" ".join(rng.choice(WORDS, rng.integers(0, 4))) for _ in range(n)]
    vectors = rng.normal(size=(n, 4))
    vectors[rng.random(n) < 0.1] = 0.0
    return ItemAttributes(
        n,
        category=rng.integers(-1, 5, n),
        category_names=tuple(f"cat{c}" for c in range(5)),
        creator=rng.integers(-1, 6, n),
        price=nan_some(rng.uniform(0, 100, n)),
        lat=nan_some(rng.uniform(44, 50, n)),
        lon=nan_some(rng.uniform(-2, 8, n)),
        publish_time=nan_some(rng.uniform(0, 30, n) * 86400.0),
        available_from=nan_some(rng.uniform(0, 20, n) * 86400.0, 0.4),
        available_until=nan_some(rng.uniform(10, 30, n) * 86400.0, 0.4),
        duplicate_group=rng.integers(-1, max(n // 3, 1), n),
        content_hash=rng.integers(-1, max(n // 2, 1), n),
        sensitive=rng.random((n, 2)) < 0.2,
        sensitive_names=("violence", "adult"),
        text=np.asarray(texts, dtype=str),
        vectors=vectors,
        seen=sp.random(N_USERS, n, density=0.2, format="csr", random_state=seed, dtype=np.float32),
        home=np.where(rng.random((N_USERS, 1)) < 0.3, np.nan, rng.uniform(44, 50, (N_USERS, 2))),
    )


@st.composite
def scenario(draw):
    n = draw(st.integers(1, 40))
    attrs = make_catalog(n, draw(st.integers(0, 2**31)))
    some_items = st.lists(st.integers(0, n - 1), max_size=6).map(lambda x: np.asarray(x, np.int64))
    context = {}
    if draw(st.booleans()):
        context["lat"], context["lon"] = draw(st.floats(44, 50)), draw(st.floats(-2, 8))
    if draw(st.booleans()):
        context["radius_km"] = draw(st.floats(1, 800))
    if draw(st.booleans()):
        context["price_min"] = draw(st.floats(0, 60))
    if draw(st.booleans()):
        context["price_max"] = draw(st.floats(30, 100))
    context["now"] = draw(st.floats(0, 30)) * 86400.0
    if draw(st.booleans()):
        context["blocklist"] = draw(some_items).tolist()
    context["allow_sensitive"] = draw(
        st.sampled_from([None, False, True, ["violence"], ["cat1", "adult"]])
    )
    request = Request(
        user_index=draw(st.integers(-1, N_USERS - 1)),
        history=draw(some_items),
        exclude=draw(some_items),
        context=context,
    )
    kinds = draw(
        st.lists(st.sampled_from(FILTERS + REORDERERS), min_size=1, max_size=7, unique=True)
    )
    specs = [(kind, draw(config_for(kind, n))) for kind in kinds]
    m = draw(st.integers(0, n))
    items = draw(st.permutations(range(n)))[:m]
    scores = draw(
        st.lists(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-5, 5), min_size=m, max_size=m)
    )
    return (
        attrs,
        request,
        specs,
        Candidates(np.asarray(items, np.int64), np.asarray(scores)),
        draw(st.integers(1, 12)),
    )


def config_for(kind: str, n: int):
    b = st.booleans()
    ids = st.lists(st.integers(0, n - 1), max_size=5, unique=True)
    return {
        "exclude_seen": st.fixed_dictionaries({"training": b, "history": b, "exclude": b}),
        "blocklist": st.fixed_dictionaries({"items": ids}),
        "sensitive_categories": st.fixed_dictionaries(
            {
                "categories": st.lists(
                    st.sampled_from([f"cat{c}" for c in range(5)]), max_size=3, unique=True
                ),
                "flags": st.none()
                | st.lists(st.sampled_from(["violence", "adult"]), max_size=2, unique=True),
            }
        ),
        "dedupe": st.fixed_dictionaries(
            {
                "by": st.lists(
                    st.sampled_from(["duplicate_group", "content_hash", "text"]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                ),
                "text_threshold": st.floats(0.3, 1.0),
            }
        ),
        "creator_cap": st.fixed_dictionaries({"max_per_creator": st.integers(1, 3)}),
        "geo_radius": st.fixed_dictionaries(
            {"radius_km": st.floats(1, 600), "keep_unlocated": b, "require_user_location": b}
        ),
        "price_range": st.fixed_dictionaries(
            {
                "min": st.none() | st.floats(0, 50),
                "max": st.none() | st.floats(50, 100),
                "keep_unpriced": b,
            }
        ),
        "availability_window": st.just({}),
        "creator_spacing": st.fixed_dictionaries({}),
        "mmr": st.fixed_dictionaries({"lambda": st.floats(0, 1)}),
        "freshness_boost": st.fixed_dictionaries(
            {"weight": st.floats(0, 3), "half_life_days": st.floats(0.5, 10)}
        ),
        "pinned": st.fixed_dictionaries({"context_key": st.just("pinned")}),
    }[kind]


def haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def tfidf_vectors(texts: list[str]) -> list[dict[str, float]]:
    """Independent TF-IDF (raw tf, smooth idf) with plain dicts, one per text."""
    docs = [re.findall(r"\w+", t.lower()) for t in texts]
    df = Counter(w for d in docs for w in set(d))
    n = len(docs)
    return [
        {w: c * (math.log((1 + n) / (1 + df[w])) + 1) for w, c in Counter(d).items()} for d in docs
    ]


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    na, nb = math.sqrt(sum(v * v for v in a.values())), math.sqrt(sum(v * v for v in b.values()))
    if na == 0 or nb == 0:
        return 0.0
    return sum(v * b.get(w, 0.0) for w, v in a.items()) / (na * nb)


def violations(
    kind: str, cfg: dict, attrs: ItemAttributes, req: Request, out: np.ndarray
) -> list[str]:
    """Hard-rule violations among the kept items ``out``, computed without the rule's code."""
    ctx, bad = req.context, []
    if kind == "exclude_seen":
        banned = set()
        if cfg["training"] and req.user_index >= 0:
            banned |= set(attrs.seen[req.user_index].indices.tolist())
        if cfg["history"]:
            banned |= set(req.history.tolist())
        if cfg["exclude"]:
            banned |= set(req.exclude.tolist())
        bad += [f"seen {i}" for i in out if i in banned]
    elif kind == "blocklist":
        banned = set(cfg["items"]) | set(ctx.get("blocklist") or [])
        bad += [f"blocked {i}" for i in out if i in banned]
    elif kind == "sensitive_categories":
        opt = ctx.get("allow_sensitive")
        if opt is not True:
            allowed = set(opt or [])
            flags = ["violence", "adult"] if cfg["flags"] is None else cfg["flags"]
            for i in out:
                names = (
                    {attrs.category_names[attrs.category[i]]} if attrs.category[i] >= 0 else set()
                )
                names &= set(cfg["categories"])
                names |= {f for f in flags if attrs.sensitive[i, attrs.sensitive_names.index(f)]}
                if names - allowed:
                    bad.append(f"sensitive {i} {names - allowed}")
    elif kind == "creator_cap":
        counts = Counter(int(attrs.creator[i]) for i in out if attrs.creator[i] >= 0)
        bad += [f"creator {c} x{v}" for c, v in counts.items() if v > cfg["max_per_creator"]]
    elif kind == "geo_radius":
        if "lat" in ctx and "lon" in ctx:
            where = (ctx["lat"], ctx["lon"])
        elif req.user_index >= 0 and np.isfinite(attrs.home[req.user_index]).all():
            where = tuple(attrs.home[req.user_index])
        else:
            where = None
        if where is None:
            if cfg["require_user_location"] and len(out):
                bad.append("kept items without a user location")
        else:
            radius = ctx.get("radius_km", cfg["radius_km"])
            for i in out:
                if np.isnan(attrs.lat[i]) or np.isnan(attrs.lon[i]):
                    if not cfg["keep_unlocated"]:
                        bad.append(f"unlocated {i}")
                elif haversine(*where, attrs.lat[i], attrs.lon[i]) > radius + 1e-6:
                    bad.append(f"far {i}")
    elif kind == "price_range":
        lo, hi = ctx.get("price_min", cfg["min"]), ctx.get("price_max", cfg["max"])
        for i in out:
            p = attrs.price[i]
            if np.isnan(p):
                if not cfg["keep_unpriced"]:
                    bad.append(f"unpriced {i}")
            elif (lo is not None and p < lo) or (hi is not None and p > hi):
                bad.append(f"price {i}")
    elif kind == "availability_window":
        now = ctx["now"]
        bad += [
            f"unavailable {i}"
            for i in out
            if attrs.available_from[i] > now or attrs.available_until[i] < now
        ]
    elif kind == "dedupe":
        vecs = tfidf_vectors(attrs.text.tolist()) if "text" in cfg["by"] else []
        for a in range(len(out)):
            for b in range(a + 1, len(out)):
                i, j = out[a], out[b]
                for attr in ("duplicate_group", "content_hash"):
                    g = getattr(attrs, attr)
                    if attr in cfg["by"] and g[i] >= 0 and g[i] == g[j]:
                        bad.append(f"{attr} {i} {j}")
                if vecs and cosine(vecs[i], vecs[j]) >= cfg["text_threshold"] + 1e-5:
                    bad.append(f"text {i} {j}")
    return bad


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_random_chains_keep_every_hard_rule_and_lose_nothing(case):
    attrs, request, specs, candidates, k = case
    rules = [build_rule(kind, cfg, attrs) for kind, cfg in specs]
    current = candidates
    for rule, (kind, cfg) in zip(rules, specs):
        before = current.items.copy()
        score_of = dict(zip(before.tolist(), current.scores.tolist()))
        current, drops = rule.apply(request, current, k)
        kept = current.items
        # nothing lost silently: kept + dropped = input, each dropped item in exactly one Drop
        dropped = np.concatenate([d.items for d in drops]) if drops else np.zeros(0, np.int64)
        assert len(set(kept.tolist())) == len(kept), f"{kind}: duplicate output items"
        assert sorted(kept.tolist() + dropped.tolist()) == sorted(before.tolist()), kind
        for d in drops:
            assert d.stage == rule.name and d.reason and len(d.items) > 0
        assert (kind in REORDERERS) == (not rule.drops_items)
        if not rule.drops_items:
            assert not drops
        else:  # filters keep the order of what they keep
            pos = {it: p for p, it in enumerate(before.tolist())}
            assert [pos[i] for i in kept.tolist()] == sorted(pos[i] for i in kept.tolist())
        assert current.scores.shape == kept.shape
        if kind != "freshness_boost":  # only the boost changes scores
            assert all(score_of[i] == s for i, s in zip(kept.tolist(), current.scores.tolist()))
        for d in drops:  # a dedupe drop names a kept, better-scored duplicate
            if d.reason.startswith("duplicate-of:"):
                target = int(d.reason.split(":")[1])
                assert target in set(kept.tolist())
                assert all(score_of[target] >= score_of[i] for i in d.items.tolist())
        assert not violations(kind, cfg, attrs, request, kept.tolist()), (kind, cfg)
    # re-orderers after a filter cannot bring anything back: the final list is still clean
    final = current.items.tolist()
    for kind, cfg in specs:
        assert not violations(kind, cfg, attrs, request, final), (kind, cfg)
