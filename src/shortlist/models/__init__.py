"""Recommendation models behind the :class:`Recommender` / :class:`FactorModel` contracts."""

from shortlist.models.base import FactorModel, Recommendations, Recommender
from shortlist.models.popularity import Popularity
from shortlist.models.registry import available_models, create_model, model_class, register

__all__ = [
    "FactorModel",
    "Popularity",
    "Recommendations",
    "Recommender",
    "available_models",
    "create_model",
    "model_class",
    "register",
]
