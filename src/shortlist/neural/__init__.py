"""Neural recommenders in PyTorch (optional extra ``shortlist[neural]``).

Importing this package registers the models ``neumf``, ``softmax-dnn``, ``two-tower``,
``fm`` and ``deepfm`` with :func:`shortlist.models.registry.register`. Every model takes
``fit(data, *, user_features=None, item_features=None)``; see docs/neural.md.
"""

from shortlist.neural.encoding import FieldEncoder, history_bags, padded
from shortlist.neural.fm import FM, DeepFM, FMCore
from shortlist.neural.neumf import NeuMF
from shortlist.neural.ranker import DeepFMRanker
from shortlist.neural.softmax_dnn import SoftmaxDNN
from shortlist.neural.trainer import Trainer, TrainHistory, plot_learning_curve
from shortlist.neural.two_tower import FrequencyEstimator, TwoTower, corrected_logits

__all__ = [
    "FM",
    "DeepFM",
    "DeepFMRanker",
    "FMCore",
    "FieldEncoder",
    "FrequencyEstimator",
    "NeuMF",
    "SoftmaxDNN",
    "TrainHistory",
    "Trainer",
    "TwoTower",
    "corrected_logits",
    "history_bags",
    "padded",
    "plot_learning_curve",
]
