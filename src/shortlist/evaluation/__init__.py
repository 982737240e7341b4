"""Offline evaluation: ranking metrics, beyond-accuracy metrics and the evaluation runner."""

from shortlist.core.metrics import RANKING_METRICS, hit_matrix, ranking_metrics
from shortlist.evaluation.beyond import (
    average_popularity,
    catalog_coverage,
    intra_list_diversity,
    novelty,
)
from shortlist.evaluation.runner import EvaluationResult, evaluate, evaluate_protocol

__all__ = [
    "EvaluationResult",
    "RANKING_METRICS",
    "average_popularity",
    "catalog_coverage",
    "evaluate",
    "evaluate_protocol",
    "hit_matrix",
    "intra_list_diversity",
    "novelty",
    "ranking_metrics",
]
