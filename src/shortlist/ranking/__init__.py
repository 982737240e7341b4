"""Ranking stages: candidate features, a cheap linear scorer, LambdaMART, and the value model."""

from shortlist.ranking.features import FeatureAssembler
from shortlist.ranking.gbdt import LambdaMARTRanker, groups_from_ids
from shortlist.ranking.linear import LinearScorer
from shortlist.ranking.value_model import ValueModel

__all__ = ["FeatureAssembler", "LambdaMARTRanker", "LinearScorer", "ValueModel", "groups_from_ids"]
