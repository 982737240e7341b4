"""The metric kernels live in the ground floor; the evaluator and rankers re-use them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import shortlist.evaluation.metrics as evaluation_metrics
from shortlist import evaluation
from shortlist.core import metrics


def test_the_documented_paths_are_the_same_functions():
    for name in ("ranking_metrics", "hit_matrix", "RANKING_METRICS"):
        assert getattr(evaluation, name) is getattr(metrics, name)
        assert getattr(evaluation_metrics, name) is getattr(metrics, name)


def test_query_ndcg_of_a_perfect_and_a_reversed_ranking():
    labels = np.array([2.0, 1.0, 0.0, 0.0, 1.0])
    scores = np.array([3.0, 2.0, 1.0, 0.0, 5.0])
    got = metrics.query_ndcg(scores, labels, np.array([3, 1, 1]), 10)  # the middle query has no hit
    assert got.shape == (2,) and got == pytest.approx([1.0, 1.0])
    worst = metrics.query_ndcg(-scores[:3], labels[:3], np.array([3]), 10)[0]
    assert 0 < worst < 1
    assert metrics.ranking_metrics(np.array([[0, 1]]), sp.csr_matrix([[1, 0]]), 2)["ndcg"][0] == 1.0
