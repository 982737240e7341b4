"""Exact tests of creator cap, creator spacing, MMR (vs a brute force) and freshness boost."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import MMR, CreatorCap, CreatorSpacing, FreshnessBoost, ItemAttributes

DAY = 86400.0


def cands(n, scores=None):
    return Candidates(np.arange(n), np.linspace(1, 0, n) if scores is None else scores)


def test_creator_cap_keeps_the_first_n_per_creator():
    attrs = ItemAttributes(8, creator=np.array([0, 0, 1, 0, -1, -1, 1, 0]))
    order = np.array([7, 3, 0, 1, 2, 4, 5, 6])  # ranking order differs from item order
    out, drops = CreatorCap(attrs, max_per_creator=2).apply(
        Request(), Candidates(order, np.linspace(1, 0, 8)), 5
    )
    assert out.items.tolist() == [7, 3, 2, 4, 5, 6]  # no-creator items are never capped
    assert (
        len(drops) == 1
        and drops[0].reason == "creator-cap"
        and sorted(drops[0].items.tolist()) == [0, 1]
    )


def spacing(creators, k):
    attrs = ItemAttributes(len(creators), creator=np.asarray(creators))
    out, drops = CreatorSpacing(attrs).apply(Request(), cands(len(creators)), k)
    assert drops == []
    return out.items.tolist()


def adjacent_repeats(creators, order, m):
    head = [creators[i] for i in order[:m]]
    return sum(a == b and a >= 0 for a, b in itertools.pairwise(head))


def test_creator_spacing_possible_case_is_rank_preserving():
    a, b, c = 0, 1, 2
    assert spacing([a, a, b, a, b], 5) == [0, 2, 1, 4, 3]  # a b a b a
    assert spacing([a, b, a, c], 4) == [0, 1, 2, 3]  # already spaced: untouched
    assert spacing([a, -1, -1, a], 4) == [0, 1, 2, 3]  # no creator never conflicts
    # plain greedy would give b a a; the look-ahead sees that a b a is the only way
    assert spacing([b, a, a], 3) == [1, 0, 2]
    # only the first k positions are spaced, the tail keeps its order
    assert spacing([a, a, b, a, a, a], 2) == [0, 2, 1, 3, 4, 5]


def test_creator_spacing_impossible_case_is_best_effort():
    a, b = 0, 1
    order = spacing([a, a, a, b], 4)  # 3 of 4 from one creator: no valid order exists
    assert order == [0, 3, 1, 2]  # a b a a: the forced neighbours land at the end
    assert adjacent_repeats([a, a, a, b], order, 4) == 1
    assert spacing([a, a, a], 3) == [0, 1, 2]  # a single creator: order kept


def best_possible(creators, m):
    """Fewest adjacent repeats over every choice and order of m of the items (brute force)."""
    return min(
        adjacent_repeats(creators, list(p), m)
        for p in itertools.permutations(range(len(creators)), m)
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-1, 2), min_size=1, max_size=6), st.integers(1, 6))
def test_creator_spacing_finds_a_valid_order_whenever_one_exists(creators, k):
    order = spacing(creators, k)
    assert sorted(order) == list(range(len(creators)))
    m = min(k, len(creators))
    if best_possible(creators, m) == 0:
        assert adjacent_repeats(creators, order, m) == 0
    assert order[m:] == sorted(order[m:])


def brute_force_mmr(scores, vectors, lam, k):
    """Textbook greedy MMR with plain Python loops."""
    n = len(scores)
    lo, hi = min(scores), max(scores)
    rel = [(s - lo) / (hi - lo) if hi > lo else 0.0 for s in scores]

    def cos(i, j):
        dot = sum(x * y for x, y in zip(vectors[i], vectors[j]))
        ni, nj = (
            math.sqrt(sum(x * x for x in vectors[i])),
            math.sqrt(sum(x * x for x in vectors[j])),
        )
        return dot / (ni * nj) if ni and nj else 0.0

    picked = [max(range(n), key=lambda i: (rel[i], -i))]
    while len(picked) < min(k, n):
        rest = [i for i in range(n) if i not in picked]
        gain = {i: lam * rel[i] - (1 - lam) * max(cos(i, j) for j in picked) for i in rest}
        picked.append(max(rest, key=lambda i: (gain[i], -i)))
    return picked + [i for i in range(n) if i not in picked]


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("seed", range(5))
def test_mmr_matches_brute_force(lam, seed):
    rng = np.random.default_rng(seed)
    n, k = 15, 6
    vectors = rng.normal(size=(n, 5))
    vectors[3] = 0.0  # an item without a vector has similarity 0 to everything
    scores = rng.normal(size=n)
    attrs = ItemAttributes(n, vectors=vectors)
    out, drops = MMR(attrs, lambda_=lam).apply(Request(), cands(n, scores), k)
    assert drops == []
    assert out.items.tolist() == brute_force_mmr(
        scores.astype(np.float32).tolist(), vectors.tolist(), lam, k
    )
    np.testing.assert_array_equal(
        out.scores, scores.astype(np.float32)[out.items]
    )  # scores untouched


def test_mmr_extremes():
    # items 0 and 1 are near-copies; 2 is different but less relevant
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    attrs = ItemAttributes(3, vectors=vectors)
    c = cands(3, np.array([1.0, 0.9, 0.5]))
    assert MMR(attrs, lambda_=1.0).apply(Request(), c, 3)[0].items.tolist() == [0, 1, 2]
    assert MMR(attrs, **{"lambda": 0.0}).apply(Request(), c, 3)[0].items.tolist() == [0, 2, 1]


def test_freshness_boost_values_by_hand():
    publish = np.array([10, 9, 8, np.nan, 11]) * DAY  # ages 0, 1, 2 days, unknown, future
    rule = FreshnessBoost(ItemAttributes(5, publish_time=publish), weight=2.0, half_life_days=1.0)
    np.testing.assert_allclose(rule.boost(publish, 10 * DAY), [2.0, 1.0, 0.5, 0.0, 2.0])
    c = cands(5, np.array([0.0, 1.5, 3.0, 2.2, 0.1]))
    out, drops = rule.apply(Request(context={"now": 10 * DAY}), c, 5)
    assert drops == []
    assert out.items.tolist() == [2, 1, 3, 4, 0]
    np.testing.assert_allclose(out.scores, [3.5, 2.5, 2.2, 2.1, 2.0], rtol=1e-6)
    kept = FreshnessBoost(
        ItemAttributes(5, publish_time=publish), weight=2.0, half_life_days=1.0, resort=False
    )
    assert kept.apply(Request(context={"now": 10 * DAY}), c, 5)[0].items.tolist() == [0, 1, 2, 3, 4]


def test_mmr_sparse_vectors_give_the_dense_order():
    rng = np.random.default_rng(7)
    dense = (rng.random((20, 8)) < 0.3) * rng.random((20, 8))
    scores = rng.normal(size=20)
    orders = []
    for vec in (dense, sp.csr_matrix(dense)):
        rule = MMR(ItemAttributes(20, vectors=vec), lambda_=0.4)
        orders.append(rule.apply(Request(), cands(20, scores), 8)[0].items.tolist())
    assert orders[0] == orders[1]
    assert orders[0] == brute_force_mmr(scores.astype(np.float32).tolist(), dense.tolist(), 0.4, 8)


def test_freshness_boost_per_user_reads_the_half_life_from_the_request():
    publish = np.array([10, 8]) * DAY  # ages 0 and 2 days
    rule = FreshnessBoost(ItemAttributes(2, publish_time=publish), weight=1.0, half_life_days=1.0, per_user=True)
    c = cands(2, np.array([0.0, 0.0]))
    slow = rule.apply(Request(context={"now": 10 * DAY, "freshness_half_life_days": 2.0}), c, 2)[0]
    np.testing.assert_allclose(np.sort(slow.scores), [0.5, 1.0])  # 2 days at a 2-day half-life
    fallback = rule.apply(Request(context={"now": 10 * DAY, "freshness_half_life_days": 0.0}), c, 2)[0]
    np.testing.assert_allclose(np.sort(fallback.scores), [0.25, 1.0])  # unusable value: the configured 1 day
