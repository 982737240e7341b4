"""Shortlist: a multi-stage recommender engine."""

from shortlist.core.version import __version__
from shortlist.data import Interactions, Vocab, Weighting
from shortlist.errors import ShortlistError

__all__ = ["Interactions", "Vocab", "Weighting", "ShortlistError", "__version__"]
