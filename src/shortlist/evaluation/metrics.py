"""Ranking metrics at k (see docs/metrics.md): re-exported from :mod:`shortlist.core.metrics`.

The kernels live in the ground floor so that lower layers (models, neural rankers) can use
them without importing the evaluator; this module keeps the documented import path.
"""

from shortlist.core.metrics import RANKING_METRICS, hit_matrix, ranking_metrics

__all__ = ["hit_matrix", "ranking_metrics", "RANKING_METRICS"]
