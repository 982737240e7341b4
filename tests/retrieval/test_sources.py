"""Candidate sources against independent numpy computations on tiny data, and merge provenance."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.data import FeatureTable, Interactions, Vocab, random_holdout
from shortlist.errors import ConfigError, NotFittedError, UnknownIdError
from shortlist.models import FactorModel, Popularity
from shortlist.retrieval.sources import (
    SOURCES,
    ContentSource,
    EmbeddingSource,
    ItemToItemSource,
    PopularSource,
    RuleSource,
    SimilarUsersSource,
    SocialSource,
    SourceContext,
    TrendingSource,
    build_source,
    merge_candidates,
)
from shortlist.retrieval.types import Candidates, Request
from tests.conftest import shared_dataset

N_USERS, N_ITEMS, T0 = 24, 18, 1_700_000_000


class FixedFactors(FactorModel):
    """A factor model whose vectors are given (to test retrieval maths exactly)."""

    def __init__(self, *, user_factors=None, item_factors=None) -> None:
        self.user_factors = user_factors
        self.item_factors = item_factors

    def _fit(self, data, *, progress) -> None:
        self.user_factors_ = np.asarray(self.user_factors, np.float32)
        self.item_factors_ = np.asarray(self.item_factors, np.float32)


@pytest.fixture(scope="module")
def world():
    """Two communities with timestamped events, item texts/genres, a region and a social graph."""
    rng = np.random.default_rng(7)
    u, i = np.nonzero((rng.random((N_USERS, N_ITEMS)) < 0.35)
                      & ((np.arange(N_USERS)[:, None] < 12) == (np.arange(N_ITEMS)[None, :] < 9)))
    u, i = np.concatenate((u, np.arange(N_USERS))), np.concatenate((i, np.arange(N_USERS) % N_ITEMS))
    ts = T0 + rng.integers(0, 30 * 86_400, u.size)
    data = Interactions(Vocab.range(N_USERS), Vocab.range(N_ITEMS), u, i, timestamp=ts, weighting="binary")
    words = ["space war robots", "love story paris", "robots space", "war history", "love comedy",
             "comedy space"]
    items = FeatureTable(data.items)
    items.add_text("title", [words[j % len(words)] for j in range(N_ITEMS)])
    items.add_multi("genres", [["scifi"] if j < 9 else ["drama", "romance"][: 1 + j % 2] for j in range(N_ITEMS)])
    items.add_categorical("category", ["a" if j % 3 else "b" for j in range(N_ITEMS)])
    items.add_numeric("publish_time", T0 + 86_400.0 * np.arange(N_ITEMS))
    users = FeatureTable(data.users).add_categorical("region", ["north" if v % 2 else "south" for v in range(N_USERS)])
    social = sp.csr_matrix((rng.random((N_USERS, N_USERS)) < 0.2).astype(np.float32))
    social.setdiag(0)
    social.eliminate_zeros()
    f = 4
    factors = FixedFactors(user_factors=rng.normal(size=(N_USERS, f)),
                           item_factors=rng.normal(size=(N_ITEMS, f))).fit(data)
    ctx = SourceContext(data, {"mf": factors, "pop": Popularity().fit(data)}, items, users, social)
    return data, ctx


def seen(data: Interactions, u: int) -> np.ndarray:
    m = data.matrix
    return m.indices[m.indptr[u]:m.indptr[u + 1]]


def requests() -> list[Request]:
    return [Request(user_index=0), Request(user_index=17, exclude=np.array([0, 9, 10])),
            Request(history=np.array([1, 3, 12])), Request(user_index=5, history=np.array([16]))]


def assert_top(c: Candidates, expected: np.ndarray, excluded: np.ndarray, k: int, eligible=None) -> None:
    """``c`` holds the k best eligible items by ``expected`` (full score vector), with those scores."""
    eligible = np.ones(expected.size, bool) if eligible is None else eligible.copy()
    eligible[excluded] = False
    assert len(c) == min(k, int(eligible.sum()))
    np.testing.assert_allclose(c.scores, expected[c.items], rtol=1e-4, atol=1e-5)
    assert eligible[c.items].all()
    rest = eligible.copy()
    rest[c.items] = False
    if rest.any() and len(c):
        assert expected[c.items].min() >= expected[rest].max() - 1e-5


def recent_order(data: Interactions, u: int) -> np.ndarray:
    """Distinct items of u, newest first (ties: lower index first) - a plain loop on purpose."""
    last = {}
    for uu, ii, t in zip(data.user_index, data.item_index, data.timestamp):
        if uu == u:
            last[ii] = max(last.get(ii, -1), t)
    return np.array(sorted(last, key=lambda i: (-last[i], i)), np.int64)


def cooc_cosine(b: np.ndarray) -> np.ndarray:
    """Cosine of the columns of binary b, zero diagonal."""
    b = np.asarray(b, np.float64)
    n = np.sqrt(b.sum(axis=0))
    c = (b.T @ b) / np.maximum(np.outer(n, n), 1e-12)
    np.fill_diagonal(c, 0)
    return c


SOURCE_CONFIGS = [
    ("embedding", {"model": "mf"}), ("embedding", {"model": "mf", "index": "hnsw", "metric": "cosine"}),
    ("item-to-item", {}), ("item-to-item", {"model": "mf"}), ("similar-users", {}),
    ("similar-users", {"model": "mf"}), ("popular", {}), ("popular", {"user_group": "region", "item_group": "category"}),
    ("trending", {}), ("content", {}), ("social", {}), ("rule", {"rule": "new", "window": 10 * 86_400}),
    ("rule", {"rule": "editorial", "items": [5, 1, 16, 0, 9]}),
]


@pytest.mark.parametrize("kind,cfg", SOURCE_CONFIGS)
def test_every_source_returns_valid_unique_unexcluded_items_within_quota(world, kind, cfg):
    data, ctx = world
    source = build_source(kind, dict(cfg, quota=4), ctx)
    for req in requests() + [Request(user_index=3, context={"category": "a", "friends": [1, 2]})]:
        c = source(req)
        assert len(c) <= 4
        assert ((c.items >= 0) & (c.items < N_ITEMS)).all()
        assert np.unique(c.items).size == len(c)
        banned = set(req.exclude) | set(req.history)
        if req.user_index >= 0:
            banned |= set(seen(data, req.user_index))
        assert not banned & set(c.items.tolist())
        assert np.all(np.diff(c.scores) <= 0)
        assert list(c.source_ranks) == [source.source_name]
        np.testing.assert_array_equal(c.source_ranks[source.source_name], np.arange(len(c)))
        extra = source(req, k=50, exclude=np.asarray(c.items[:2]))
        assert not set(c.items[:2].tolist()) & set(extra.items.tolist())
        big = source(req, k=50)
        np.testing.assert_array_equal(big.items[: len(c)], c.items)  # quota cuts the same ranking
        # the pipeline's path: one complete exclusion set handed to every source as is
        full = np.unique(np.concatenate([sorted(banned), c.items[:2]]).astype(np.int64))
        direct = source.generate_excluding(req, 50, full)
        np.testing.assert_array_equal(direct.items, extra.items)
        np.testing.assert_array_equal(direct.scores, extra.scores)


def test_embedding_known_and_anonymous_user_match_numpy(world):
    data, ctx = world
    mf = ctx.models["mf"]
    src = EmbeddingSource(model="mf", quota=6).fit(ctx)
    u = 2
    assert_top(src(Request(user_index=u)), mf.user_factors_[u] @ mf.item_factors_.T, seen(data, u), 6)
    hist = np.array([1, 3, 12])
    y = mf.item_factors_[hist].astype(np.float64)
    x = np.linalg.solve(y.T @ y + mf.fold_in_regularization * np.eye(y.shape[1]), y.sum(axis=0))
    assert_top(src(Request(history=hist)), x @ mf.item_factors_.T, hist, 6)
    assert len(src(Request())) == 0  # nothing known about the user: no candidates


def test_item_to_item_cooccurrence_with_recency_weights(world):
    data, ctx = world
    src = ItemToItemSource(quota=5, n_recent=3, n_neighbors=N_ITEMS, recency_decay=0.5).fit(ctx)
    cos = cooc_cosine(data.matrix.toarray() > 0)
    u = 4
    recent = recent_order(data, u)[:3]
    expected = sum(0.5 ** p * cos[h] for p, h in enumerate(recent))
    assert_top(src(Request(user_index=u)), expected, seen(data, u), 5, eligible=expected > 0)
    # request history comes first (newest last in the request)
    req = Request(user_index=u, history=np.array([13, 14]))
    recent = np.concatenate(([14, 13], [i for i in recent_order(data, u) if i not in (13, 14)]))[:3]
    expected = sum(0.5 ** p * cos[h] for p, h in enumerate(recent))
    assert_top(src(req), expected, np.union1d(seen(data, u), [13, 14]), 5, eligible=expected > 0)


def test_item_to_item_from_factor_cosine(world):
    _data, ctx = world
    v = ctx.models["mf"].item_factors_
    src = ItemToItemSource(model="mf", quota=4, n_recent=1, n_neighbors=N_ITEMS).fit(ctx)
    vn = v / np.linalg.norm(v, axis=1, keepdims=True)
    cos = vn @ vn.T
    np.fill_diagonal(cos, -np.inf)
    h = np.array([7])
    assert_top(src(Request(history=h)), cos[7], h, 4, eligible=np.arange(N_ITEMS) != 7)


def test_neighbour_tables_from_knn_models(world):
    data, _ctx = world
    try:
        from shortlist.models.item_knn import ItemKNN
        from shortlist.models.user_knn import UserKNN
    except ImportError:
        pytest.skip("neighbourhood models not available")
    iknn = ItemKNN(n_neighbors=N_ITEMS, weighting="none").fit(data)
    uknn = UserKNN(n_neighbors=N_USERS, weighting="none").fit(data)
    models = SourceContext(data, {"iknn": iknn, "uknn": uknn})
    i2i = ItemToItemSource(model="iknn", quota=5, n_recent=2, recency_decay=0.5,
                           n_neighbors=N_ITEMS).fit(models)
    s = iknn.similarity_.toarray()
    np.fill_diagonal(s, 0)
    hist = np.array([2, 12])  # 12 is the newest
    expected = s[12] + 0.5 * s[2]
    assert_top(i2i(Request(history=hist)), expected, hist, 5, eligible=expected > 0)
    users = SimilarUsersSource(model="uknn", quota=5, n_neighbors=N_USERS).fit(models)
    su = uknn.similarity_.toarray()
    np.fill_diagonal(su, 0)
    expected = su[3] @ (data.matrix.toarray() > 0)
    assert_top(users(Request(user_index=3)), expected, seen(data, 3), 5, eligible=expected > 0)


def test_similar_users_cooccurrence_known_and_anonymous(world):
    data, ctx = world
    b = (data.matrix.toarray() > 0).astype(np.float64)
    src = SimilarUsersSource(quota=6, n_neighbors=N_USERS).fit(ctx)
    ucos = cooc_cosine(b.T)
    u = 6
    expected = ucos[u] @ b
    assert_top(src(Request(user_index=u)), expected, seen(data, u), 6, eligible=expected > 0)
    hist = np.array([0, 2, 4])
    h = np.zeros(N_ITEMS)
    h[hist] = 1
    sims = (b @ h) / (np.sqrt(b.sum(axis=1)) * np.sqrt(h.sum()))
    expected = sims @ b
    assert_top(src(Request(history=hist)), expected, hist, 6, eligible=expected > 0)


def test_similar_users_from_user_factors(world):
    data, ctx = world
    uf = ctx.models["mf"].user_factors_
    src = SimilarUsersSource(model="mf", quota=5, n_neighbors=3).fit(ctx)
    un = uf / np.linalg.norm(uf, axis=1, keepdims=True)
    u = 9
    sims = un @ un[u]
    sims[u] = -np.inf
    nbrs = np.argsort(-sims)[:3]
    b = (data.matrix.toarray() > 0).astype(np.float64)
    expected = sims[nbrs] @ b[nbrs]
    assert_top(src(Request(user_index=u)), expected, seen(data, u), 5, eligible=b[nbrs].any(axis=0))


def test_popular_global_and_per_group(world):
    data, ctx = world
    b = data.matrix.toarray() > 0
    src = PopularSource(quota=5).fit(ctx)
    assert_top(src(Request(user_index=1)), b.sum(axis=0).astype(float), seen(data, 1), 5)
    grouped = PopularSource(quota=3, user_group="region", item_group="category").fit(ctx)
    u = 3  # odd -> north
    north = np.arange(N_USERS) % 2 == 1
    in_cat = np.array([j % 3 != 0 for j in range(N_ITEMS)])  # category "a"
    expected = b[north].sum(axis=0).astype(float)
    c = grouped(Request(user_index=u, context={"category": "a"}))
    assert_top(c, expected, seen(data, u), 3, eligible=in_cat & (expected > 0))
    assert len(grouped(Request(context={"category": "nope"}))) == 0
    # anonymous from the south (context label) sees the south's list
    south = b[~north].sum(axis=0).astype(float)
    assert_top(grouped(Request(context={"region": "south"})), south, np.zeros(0, int), 3, eligible=south > 0)


def test_group_list_is_completed_by_global_order(world):
    data, ctx = world
    grouped = PopularSource(quota=N_ITEMS, user_group="region").fit(ctx)
    c = grouped(Request(context={"region": "north"}))
    north_items = np.flatnonzero((data.matrix.toarray() > 0)[np.arange(N_USERS) % 2 == 1].any(axis=0))
    assert len(c) == N_ITEMS  # every item, group items first
    assert set(c.items[: north_items.size]) == set(north_items)


def test_trending_matches_decayed_counts(world):
    data, ctx = world
    hl = 5 * 86_400.0
    src = TrendingSource(quota=5, half_life=hl).fit(ctx)
    now = data.timestamp.max()
    w = 0.5 ** ((now - data.timestamp) / hl)
    expected = np.bincount(data.item_index, weights=w, minlength=N_ITEMS)
    assert_top(src(Request(user_index=8)), expected, seen(data, 8), 5)
    try:
        from shortlist.models.trending import Trending
    except ImportError:
        return
    model = Trending(half_life=hl, by="events").fit(data)
    np.testing.assert_allclose(src.scores_, model.item_scores_, rtol=1e-5)


def _tfidf_dense(counts: np.ndarray) -> np.ndarray:
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)
    tf = np.where(counts > 0, 1 + np.log(np.maximum(counts, 1)), 0)
    x = tf * (np.log((1 + n) / (1 + df)) + 1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def test_content_profile_cosine_matches_dense_tfidf(world):
    _data, ctx = world
    src = ContentSource(quota=6, columns=["title", "genres"], n_recent=2, recency_decay=0.5).fit(ctx)
    words = sorted({w for t in ctx.item_features.text("title") for w in t.split()})
    counts = np.array([[t.split().count(w) for w in words] for t in ctx.item_features.text("title")], float)
    genres = ctx.item_features.multi_hot("genres")[0].toarray()
    x = _tfidf_dense(np.hstack((counts, genres)))
    hist = np.array([0, 11])  # newest last: 11 weighs 1, 0 weighs 0.5
    p = x[11] + 0.5 * x[0]
    expected = x @ (p / np.linalg.norm(p))
    assert_top(src(Request(history=hist)), expected, hist, 6, eligible=expected > 1e-9)
    # a profile cut to its 2 strongest tokens
    short = ContentSource(quota=6, columns=["title", "genres"], n_recent=2, recency_decay=0.5,
                          max_profile_tokens=2).fit(ctx)
    p2 = np.where(p >= np.sort(p)[-2], p, 0)
    expected = x @ (p2 / np.linalg.norm(p2))
    assert_top(short(Request(history=hist)), expected, hist, 6, eligible=expected > 1e-9)


def test_social_is_friends_items_ranked_by_count(world):
    data, ctx = world
    src = SocialSource(quota=N_ITEMS, per_friend=N_ITEMS).fit(ctx)
    b = data.matrix.toarray() > 0
    for u in range(N_USERS):
        friends = ctx.social[u].indices
        expected = b[friends].sum(axis=0).astype(float)
        assert_top(src(Request(user_index=u)), expected, seen(data, u), N_ITEMS, eligible=expected > 0)
    expected = b[[1, 2]].sum(axis=0).astype(float)
    assert_top(src(Request(context={"friends": [1, 2]})), expected, np.zeros(0, int), N_ITEMS,
               eligible=expected > 0)
    recency = SocialSource(quota=5, per_friend=2, by="recency", recency_decay=0.5).fit(ctx)
    expected = np.zeros(N_ITEMS)
    for f in (1, 2):
        for p, i in enumerate(recent_order(data, f)[:2]):
            expected[i] += 0.5 ** p
    assert_top(recency(Request(context={"friends": [1, 2]})), expected, np.zeros(0, int), 5,
               eligible=expected > 0)


def test_rule_new_items_and_editorial(world):
    _data, ctx = world
    new = RuleSource(rule="new", window=4 * 86_400.0, quota=10, exclude_seen=False).fit(ctx)
    now = T0 + 10 * 86_400.0
    c = new(Request(context={"now": now}))
    np.testing.assert_array_equal(c.items, [10, 9, 8, 7, 6])  # published within 4 days, newest first
    np.testing.assert_allclose(c.scores, 1 - np.arange(5) / 4)
    np.testing.assert_array_equal(new(Request()).items, [17, 16, 15, 14, 13])  # now = newest item
    ed = RuleSource(rule="editorial", items=[5, 1, 16, 0, 9], quota=3, exclude_seen=False).fit(ctx)
    np.testing.assert_array_equal(ed(Request(exclude=np.array([1]))).items, [5, 16, 0])
    with pytest.raises(UnknownIdError, match="999"):
        RuleSource(rule="editorial", items=[5, 999]).fit(ctx)


def test_merge_keeps_provenance_dedupes_and_fuses_ranks():
    a = Candidates(np.array([3, 1, 2]), np.array([9.0, 5.0, 1.0]))
    a.source_scores["a"], a.source_ranks["a"] = a.scores.copy(), np.arange(3)
    b = Candidates(np.array([2, 7]), np.array([0.9, 0.1]))
    b.source_scores["b"], b.source_ranks["b"] = b.scores.copy(), np.arange(2)
    m = merge_candidates([a, b], {"a": 1.0, "b": 2.0}, k=10)
    fused = {3: 1 / 61, 1: 1 / 62, 2: 1 / 63 + 2 / 61, 7: 2 / 62}
    np.testing.assert_array_equal(m.items, sorted(fused, key=lambda i: -fused[i]))
    np.testing.assert_allclose(m.scores, [fused[i] for i in m.items], rtol=1e-6)
    pos = {int(i): p for p, i in enumerate(m.items)}
    assert m.sources_of(pos[2]) == ["a", "b"] and m.sources_of(pos[7]) == ["b"]
    assert m.source_ranks["a"][pos[2]] == 2 and m.source_ranks["b"][pos[2]] == 0
    assert np.isnan(m.source_scores["a"][pos[7]]) and m.source_scores["b"][pos[7]] == np.float32(0.1)
    assert m.take(np.arange(2)).items.size == 2 and len(merge_candidates([a, b], {}, k=2)) == 2
    s = merge_candidates([a, b], {}, method="score")
    # min-max normalised: item 3 -> 1, item 2 -> 0 + 1
    np.testing.assert_allclose(dict(zip(s.items.tolist(), s.scores.tolist()))[2], 1.0)
    assert len(merge_candidates([Candidates.empty()], {}, 5)) == 0


def test_merge_of_real_sources(world):
    _data, ctx = world
    srcs = [build_source(k, dict(c, quota=6), ctx) for k, c in SOURCE_CONFIGS[:7]]
    names = [s.source_name for s in srcs]
    assert len(set(names)) < len(names)  # two sources of one kind share a name unless named
    srcs = [build_source(k, dict(c, quota=6, name=f"s{j}"), ctx) for j, (k, c) in enumerate(SOURCE_CONFIGS)]
    req = Request(user_index=4)
    results = [s(req) for s in srcs]
    m = merge_candidates(results, {}, k=12)
    union = np.unique(np.concatenate([r.items for r in results]))
    assert len(m) == min(12, union.size) and np.unique(m.items).size == len(m)
    for r, s in zip(results, srcs):
        col = m.source_ranks[s.source_name]
        for p, item in enumerate(m.items):
            where = np.flatnonzero(r.items == item)
            assert col[p] == (where[0] if where.size else -1)


def test_parameters_are_declared_once_in_the_config():
    for kind, cls in SOURCES.items():
        assert "__init__" not in vars(cls), f"{kind}: parameters live in its Config only"
        fields = cls.Config.model_fields
        assert cls._param_names() == list(fields), kind
        required = {n: "new" if n == "rule" else "x" for n, f in fields.items() if f.is_required()}
        src = cls(**required)
        for key, field in fields.items():
            if key not in required:
                assert getattr(src, key) == field.get_default(call_default_factory=True), (kind, key)
    with pytest.raises(ConfigError, match=r"quota=0.*greater than 0"):
        build_source("popular", {"quota": 0})
    with pytest.raises(ConfigError, match="unknown key 'modle'"):
        build_source("embedding", {"model": "mf", "modle": "x"})
    with pytest.raises(ConfigError, match="missing key 'model'"):
        build_source("embedding", {})
    with pytest.raises(ConfigError, match="unknown source kind 'nope'.*embedding"):
        build_source("nope", {})
    with pytest.raises(ConfigError, match="by='likes'"):
        build_source("popular", {"by": "likes"})


def test_context_from_dataset_uses_the_given_split(world):
    from shortlist.data import Dataset

    data, ctx = world
    ds = Dataset("w", data, ctx.item_features, ctx.user_features, ctx.social)
    train = data.subset(data.item_index != 0)
    built = SourceContext.from_dataset(ds, {"mf": ctx.models["mf"]}, interactions=train)
    assert built.interactions is train and built.social is ctx.social and "mf" in built.models
    pop = PopularSource(quota=N_ITEMS, exclude_seen=False).fit(built)
    assert 0 not in pop(Request()).items  # item 0 has no training events
    assert SourceContext.from_dataset(ds).interactions is data


def test_fit_and_call_errors(world):
    data, ctx = world
    with pytest.raises(ConfigError, match="model='als' is not among the fitted models"):
        EmbeddingSource(model="als").fit(ctx)
    with pytest.raises(ConfigError, match="not a factor model"):
        EmbeddingSource(model="pop").fit(ctx)
    with pytest.raises(NotFittedError, match="fit"):
        PopularSource()(Request(user_index=0))
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        PopularSource().fit(ctx)(Request(), k=0)
    with pytest.raises(ConfigError, match="pass k=5 by keyword"):
        PopularSource().fit(ctx)(Request(), 5)
    with pytest.raises(ConfigError, match="quota"):
        PopularSource(quota=-5).fit(ctx)
    with pytest.raises(ConfigError, match="social graph"):
        SocialSource().fit(SourceContext(data))
    with pytest.raises(ConfigError, match="numeric item feature"):
        RuleSource(rule="new", time_feature="title").fit(ctx)


def test_lastfm_friends_recall_beats_random():
    root = shared_dataset("lastfm-2k")
    ua = pl.read_csv(root / "user_artists.dat", separator="\t")
    uf = pl.read_csv(root / "user_friends.dat", separator="\t")
    data = Interactions.from_frame(ua, user="userID", item="artistID", value="weight", weighting="binary")
    split = random_holdout(data, 0.2, seed=0)
    fu = data.users.index(uf["userID"].to_numpy(), missing="ignore")
    fv = data.users.index(uf["friendID"].to_numpy(), missing="ignore")
    ok = (fu >= 0) & (fv >= 0)
    social = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (fu[ok], fv[ok])),
                           shape=(data.n_users, data.n_users))
    src = SocialSource(quota=100).fit(SourceContext(split.train, social=social))
    test = split.test.matrix
    users = np.flatnonzero(np.diff(test.indptr) > 0)[::4]
    hits = held = 0
    for u in users:
        truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
        hits += np.isin(src(Request(user_index=int(u))).items, truth).sum()
        held += truth.size
    social_recall = hits / held
    random_recall = 100 / data.n_items  # expected recall of 100 random unseen items
    assert social_recall > 10 * random_recall, (social_recall, random_recall)
