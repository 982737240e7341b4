"""Dataset: interactions bundled with user/item features and a social graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import scipy.sparse as sp

from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """Everything a loader knows about one dataset.

    ``social`` is a users x users CSR on ``interactions.users`` indices (row follows
    column; symmetric for friendships). ``info`` holds facts worth printing.
    """

    name: str
    interactions: Interactions
    user_features: FeatureTable | None = None
    item_features: FeatureTable | None = None
    social: sp.csr_matrix | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Sizes and density, for ``shortlist datasets inspect``."""
        it = self.interactions
        cells = it.nnz
        out: dict[str, Any] = {
            "name": self.name,
            "users": it.n_users,
            "items": it.n_items,
            "events": it.n_events,
            "cells": cells,
            "density": cells / max(1, it.n_users * it.n_items),
            "weighting": str(it.weighting),
            "has_timestamps": it.timestamp is not None,
        }
        if self.user_features is not None:
            out["user_features"] = self.user_features.kinds
        if self.item_features is not None:
            out["item_features"] = self.item_features.kinds
        if self.social is not None:
            out["social_edges"] = int(self.social.nnz)
        out.update(self.info)
        return out
