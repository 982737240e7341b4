"""Recommendation models behind the :class:`Recommender` / :class:`FactorModel` contracts."""

from shortlist.models.als import ALS
from shortlist.models.base import Recommendations, Recommender
from shortlist.models.ease import EASE
from shortlist.models.factor import FactorModel
from shortlist.models.graph_filter import GraphFilter
from shortlist.models.item_knn import ItemKNN
from shortlist.models.period_popularity import PeriodPopularity
from shortlist.models.popularity import Popularity
from shortlist.models.registry import available_models, create_model, model_class, register
from shortlist.models.session_ease import SessionEASE
from shortlist.models.sgd_mf import BPR, SGDMF, WARP, LogisticMF, WeightedMSEMF
from shortlist.models.time_lift import TimeLift
from shortlist.models.trending import Trending
from shortlist.models.user_knn import UserKNN

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "SGDMF",
    "WARP",
    "FactorModel",
    "GraphFilter",
    "ItemKNN",
    "LogisticMF",
    "PeriodPopularity",
    "Popularity",
    "Recommendations",
    "Recommender",
    "SessionEASE",
    "TimeLift",
    "Trending",
    "UserKNN",
    "WeightedMSEMF",
    "available_models",
    "create_model",
    "model_class",
    "register",
]
