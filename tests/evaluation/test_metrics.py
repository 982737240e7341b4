"""Ranking and beyond-accuracy metrics: hand-computed cases and a brute-force reference."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.evaluation import (
    average_popularity,
    catalog_coverage,
    intra_list_diversity,
    novelty,
    ranking_metrics,
)


def brute_force(top, relevant_sets, k):
    """Textbook per-user definitions, one user at a time in plain Python."""
    out = {m: [] for m in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")}
    for row, rel in zip(top, relevant_sets):
        if not rel:
            continue
        row = [i for i in row[:k]]
        hits = [1.0 if i in rel else 0.0 for i in row]
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
        prec_sum, n_hit = 0.0, 0
        for r, h in enumerate(hits):
            if h:
                n_hit += 1
                prec_sum += n_hit / (r + 1)
        first = next((r + 1 for r, h in enumerate(hits) if h), None)
        out["precision"].append(sum(hits) / k)
        out["recall"].append(sum(hits) / len(rel))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(prec_sum / min(len(rel), k))
        out["mrr"].append(1.0 / first if first else 0.0)
        out["hit_rate"].append(1.0 if first else 0.0)
    return {m: float(np.mean(v)) for m, v in out.items()}


def test_hand_computed_case():
    # user 0: relevant {1, 3}; list [1, 2, 3] -> hits at ranks 1 and 3
    top = np.array([[1, 2, 3], [4, 5, 6]])
    rel = sp.csr_matrix(([1, 1, 1], ([0, 0, 1], [1, 3, 0])), shape=(2, 8))
    m = ranking_metrics(top, rel, 3)
    assert m["precision"][0] == pytest.approx(2 / 3)
    assert m["recall"][0] == pytest.approx(1.0)
    assert m["ndcg"][0] == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)))
    assert m["map"][0] == pytest.approx((1 + 2 / 3) / 2)
    assert m["mrr"][0] == 1.0 and m["hit_rate"][0] == 1.0
    # user 1: relevant {0}, no hit
    assert m["ndcg"][1] == 0.0 and m["mrr"][1] == 0.0 and m["recall"][1] == 0.0


def test_matches_brute_force_on_random_lists():
    rng = np.random.default_rng(7)
    n_users, n_items, k = 200, 60, 10
    top = np.stack([rng.choice(n_items, k, replace=False) for _ in range(n_users)])
    rel_sets = [set(rng.choice(n_items, rng.integers(0, 15), replace=False).tolist()) for _ in range(n_users)]
    rows = [u for u, s in enumerate(rel_sets) for _ in s]
    cols = [i for s in rel_sets for i in s]
    rel = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    got = ranking_metrics(top, rel, k)
    want = brute_force(top, rel_sets, k)
    for name, value in want.items():
        assert np.nanmean(got[name]) == pytest.approx(value, rel=1e-12), name


def test_empty_slots_and_users_without_relevant_items():
    top = np.array([[2, -1, -1], [0, 1, 2]])
    rel = sp.csr_matrix(([1], ([0], [2])), shape=(2, 3))
    m = ranking_metrics(top, rel, 3)
    assert m["ndcg"][0] == 1.0
    assert np.isnan(m["ndcg"][1])  # no relevant items: excluded from averages


def test_beyond_accuracy_hand_cases():
    top = np.array([[0, 1], [1, 2], [2, -1]])
    assert catalog_coverage(top, 6) == pytest.approx(0.5)
    item_users = np.array([4, 2, 1, 0, 0, 0])
    assert average_popularity(top, item_users) == pytest.approx((4 + 2 + 2 + 1 + 1) / 5)
    assert novelty(top, item_users, n_users=8) == pytest.approx(np.mean([1, 2, 2, 3, 3]))
    feats = np.array([[1, 0], [1, 0], [0, 1]], dtype=float)
    # list [0,1]: identical -> distance 0; list [1,2]: orthogonal -> 1; list [2]: skipped
    assert intra_list_diversity(top, feats) == pytest.approx(0.5)
