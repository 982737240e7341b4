"""Recommendation models behind the :class:`Recommender` / :class:`FactorModel` contracts."""

from shortlist.models.base import FactorModel, Recommendations, Recommender
from shortlist.models.popularity import Popularity
from shortlist.models.registry import available_models, create_model, model_class, register
from shortlist.models.sgd_mf import BPR, SGDMF, WARP, LogisticMF, WeightedMSEMF

__all__ = [
    "BPR",
    "LogisticMF",
    "SGDMF",
    "WARP",
    "WeightedMSEMF",
    "FactorModel",
    "Popularity",
    "Recommendations",
    "Recommender",
    "available_models",
    "create_model",
    "model_class",
    "register",
]
