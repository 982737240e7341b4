"""Data layer: vocabularies, interactions, weighting, features, datasets, splits, world."""

from shortlist.data.dataset import Dataset
from shortlist.data.datasets import detect_format, fetch_dataset, load_dataset
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.data.loading import load_data
from shortlist.data.logged import LoggedFeedback, load_open_bandit
from shortlist.data.splits import (
    Split,
    leave_last_k,
    random_holdout,
    split_by_protocol,
    temporal_split,
    user_holdout,
)
from shortlist.data.vocab import Vocab
from shortlist.data.weighting import Weighting
from shortlist.data.world import World, WorldConfig, generate_world

__all__ = [
    "Dataset",
    "FeatureTable",
    "Interactions",
    "LoggedFeedback",
    "Split",
    "Vocab",
    "Weighting",
    "World",
    "WorldConfig",
    "detect_format",
    "fetch_dataset",
    "generate_world",
    "load_data",
    "load_dataset",
    "load_open_bandit",
    "leave_last_k",
    "random_holdout",
    "split_by_protocol",
    "temporal_split",
    "user_holdout",
]
