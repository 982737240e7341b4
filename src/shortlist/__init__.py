"""Shortlist: a multi-stage recommender engine."""

from shortlist.data import Interactions, Vocab, Weighting
from shortlist.errors import ShortlistError

__version__ = "0.1.0"

__all__ = ["Interactions", "Vocab", "Weighting", "ShortlistError", "__version__"]
