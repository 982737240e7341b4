"""The per-source selection and the fusion of sources agree with plain-Python references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shortlist.retrieval._kernels import select_candidates
from shortlist.retrieval.sources.merge import merge_candidates
from shortlist.retrieval.types import Candidates


def _select_reference(items, scores, excluded, n_items, k):
    rows = [(-float(s), int(i)) for i, s in zip(items, scores)
            if 0 <= i < n_items and np.isfinite(s) and int(i) not in set(excluded.tolist())]
    rows.sort()
    return [i for _, i in rows[:k]], [-s for s, _ in rows[:k]]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40), st.booleans())
def test_select_candidates_matches_reference(seed: int, k: int, presorted: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    items = rng.choice(np.arange(-3, 50), size=min(n, 53), replace=False).astype(np.int64)
    scores = rng.integers(0, 8, items.size).astype(np.float32)  # many ties
    scores[rng.random(items.size) < 0.1] = np.nan
    if presorted:  # strictly decreasing input takes the no-sort path
        scores = np.sort(rng.choice(1000, items.size, replace=False))[::-1].astype(np.float32)
    excluded = np.unique(rng.integers(0, 50, int(rng.integers(0, 10)))).astype(np.int64)
    got_i, got_s = select_candidates(items, scores, excluded, 45, k)
    ref_i, ref_s = _select_reference(items, scores, excluded, 45, k)
    assert got_i.tolist() == ref_i
    np.testing.assert_array_equal(got_s, np.array(ref_s, np.float32))


def _merge_reference(results, weights, k, method, c=60.0):
    """Dict-based fusion: the first listing of an item under a name counts."""
    fused, first = {}, {}
    for res in results:
        for name, ranks in res.source_ranks.items():
            sc = res.source_scores.get(name, res.scores)
            have = ranks >= 0
            its, s, r = res.items[have], sc[have].astype(np.float64), ranks[have]
            span = s.max() - s.min() if s.size else 0.0
            for i, si, ri in zip(its.tolist(), s, r):
                if (name, i) in first:
                    continue
                first[(name, i)] = (si, ri)
                w = weights.get(name, 1.0)
                add = w / (c + ri + 1.0) if method == "rrf" else w * ((si - s.min()) / span if span > 0 else 1.0)
                fused[i] = fused.get(i, 0.0) + add
    order = sorted(fused, key=lambda i: (-np.float32(fused[i]), i))
    return order[:k] if k else order, fused, first


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["rrf", "score"]), st.sampled_from([None, 1, 5, 30]))
def test_merge_matches_reference(seed: int, method: str, k: int | None) -> None:
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c"]
    results = []
    for _ in range(int(rng.integers(1, 5))):
        name = names[int(rng.integers(0, 3))]
        its = rng.choice(40, int(rng.integers(0, 20)), replace=False).astype(np.int64)
        sc = rng.integers(0, 5, its.size).astype(np.float32)
        order = np.lexsort((its, -sc))
        its, sc = its[order], sc[order]
        res = Candidates(its, sc)
        res.source_scores[name] = sc.copy()
        res.source_ranks[name] = np.arange(its.size, dtype=np.int64)
        results.append(res)
    weights = {"a": 1.0, "b": float(rng.choice([0.0, 0.5, 2.0]))}
    got = merge_candidates(results, weights, k=k, method=method)
    ref_items, fused, first = _merge_reference(results, weights, k, method)
    assert got.items.tolist() == ref_items
    np.testing.assert_allclose(got.scores, [fused[i] for i in ref_items], rtol=1e-6)
    for name in got.source_ranks:
        for pos, i in enumerate(ref_items):
            if (name, i) in first:
                assert got.source_ranks[name][pos] == first[(name, i)][1]
                assert got.source_scores[name][pos] == np.float32(first[(name, i)][0])
            else:
                assert got.source_ranks[name][pos] == -1 and np.isnan(got.source_scores[name][pos])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30))
def test_best_first_matches_lexsort(seed: int, k: int) -> None:
    from shortlist.retrieval._kernels import best_first

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))
    items = rng.permutation(1000)[:n].astype(np.int64)
    scores = rng.choice(np.array([-1.5, -0.0, 0.0, 0.25, 3.0, np.nan], np.float32), n)
    got = best_first(scores, items, k)
    expect = np.lexsort((items, -scores))[:k]
    assert got.tolist() == expect.tolist()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000))
def test_sum_neighbours_equals_bincount(seed: int) -> None:
    from shortlist.retrieval._kernels import sum_neighbours

    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, 30, (20, 6)).astype(np.int64)  # -1: no neighbour
    sims = rng.random((20, 6)).astype(np.float32)
    rows = rng.choice(20, int(rng.integers(0, 8)), replace=False).astype(np.int64)
    w = 0.9 ** np.arange(rows.size)
    got_i, got_s = sum_neighbours(rows, w, ids, sims)
    flat_i, flat_s = ids[rows].ravel(), (sims[rows] * w[:, None]).ravel()
    ok = flat_i >= 0
    want_i = np.unique(flat_i[ok])
    want_s = np.bincount(np.searchsorted(want_i, flat_i[ok]), weights=flat_s[ok], minlength=want_i.size)
    assert got_i.tolist() == want_i.tolist()
    np.testing.assert_array_equal(got_s, want_s.astype(np.float32))
