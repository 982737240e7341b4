"""Dataset: interactions bundled with user/item features and a social graph."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab
from shortlist.data.weighting import Weighting
from shortlist.errors import ModelFileError

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

    # -- persistence -------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``dataset.npz`` + ``dataset.json`` into ``folder`` (no pickle)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        it = self.interactions
        arrays: dict[str, np.ndarray] = {
            **it.users.to_arrays("users"), **it.items.to_arrays("items"),
            "user_index": it.user_index, "item_index": it.item_index, "value": it.value,
            "event_types": np.asarray(it.event_types, dtype=str),
        }
        if it.timestamp is not None:
            arrays["timestamp"] = it.timestamp
        if it.event_type is not None:
            arrays["event_type"] = it.event_type
        if self.user_features is not None:
            arrays.update(self.user_features.to_arrays("uf"))
        if self.item_features is not None:
            arrays.update(self.item_features.to_arrays("if"))
        if self.social is not None:
            s = sp.csr_matrix(self.social)
            arrays.update(social_data=s.data, social_indices=s.indices, social_indptr=s.indptr)
        tmp = folder / "dataset.npz.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(folder / "dataset.npz")
        meta = {"name": self.name, "weighting": it.weighting.model_dump(), "info": self.info}
        (folder / "dataset.json").write_text(json.dumps(meta, default=str, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Dataset":
        """Read a dataset written by :meth:`save`."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "dataset.json").read_text())
            with np.load(folder / "dataset.npz", allow_pickle=False) as npz:
                a = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"cannot read the dataset saved in {folder} ({exc}); save it again") from exc
        users, items = Vocab.from_arrays(a, "users"), Vocab.from_arrays(a, "items")
        inter = Interactions(users, items, a["user_index"], a["item_index"], a["value"], a.get("timestamp"),
                             a.get("event_type"), tuple(a["event_types"].tolist()),
                             Weighting(**meta["weighting"]), validate=False)
        social = None
        if "social_data" in a:
            social = sp.csr_matrix((a["social_data"], a["social_indices"], a["social_indptr"]),
                                   shape=(len(users), len(users)))
        from shortlist.data.features import FeatureTable

        return cls(
            name=meta["name"], interactions=inter,
            user_features=FeatureTable.from_arrays(a, "uf") if "uf__names" in a else None,
            item_features=FeatureTable.from_arrays(a, "if") if "if__names" in a else None,
            social=social, info=meta.get("info", {}),
        )
