"""Bandit policies: context-free, linear, neural-linear, slates/rows, A/B allocation, exploration slots."""

from shortlist.bandits.ab_test import ABTest
from shortlist.bandits.base import Decision, Policy
from shortlist.bandits.context_free import (
    UCB1,
    EpsilonGreedy,
    Softmax,
    ThompsonBeta,
    ThompsonGaussian,
)
from shortlist.bandits.exploration import ExplorationResult, exploration_slots
from shortlist.bandits.linear import LinTS, LinUCB, LinUCBHybrid
from shortlist.bandits.neural_linear import NeuralLinear
from shortlist.bandits.slates import RowsCascade, cascade_examined

__all__ = [
    "UCB1",
    "ABTest",
    "Decision",
    "EpsilonGreedy",
    "ExplorationResult",
    "LinTS",
    "LinUCB",
    "LinUCBHybrid",
    "NeuralLinear",
    "Policy",
    "RowsCascade",
    "Softmax",
    "ThompsonBeta",
    "ThompsonGaussian",
    "cascade_examined",
    "exploration_slots",
]
