"""Dataset: interactions bundled with user/item features and a social graph."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.core.persistence import META_FILE, Part, read_part, write_part
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab
from shortlist.data.weighting import Weighting
from shortlist.errors import ConfigError, DataError, ModelFileError

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """Everything a loader knows about one dataset.

    ``social`` is a users x users CSR on ``interactions.users`` indices (row follows
    column; symmetric for friendships). ``info`` holds facts worth printing; loaders set
    ``values`` ("ratings" | "weights" | "none"), ``time`` ("timestamps" | "row order") and
    ``notes`` (human lines on what loading dropped or combined), see :meth:`record_load_facts`.
    """

    name: str
    interactions: Interactions
    user_features: FeatureTable | None = None
    item_features: FeatureTable | None = None
    social: sp.csr_matrix | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def with_interactions(self, interactions: Interactions) -> "Dataset":
        """The same dataset (features, graph, info) over other interactions, e.g. a train split."""
        return Dataset(self.name, interactions, self.user_features, self.item_features, self.social, self.info)

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
        requested = self.info.get("weighting")
        if self.user_features is not None:
            out["user_features"] = self.user_features.kinds
        if self.item_features is not None:
            out["item_features"] = self.item_features.kinds
        if self.social is not None:
            out["social_edges"] = int(self.social.nnz)
        out.update(self.info)
        if requested is not None and requested != str(it.weighting):  # "auto": what is in use until tuned
            out["weighting"] = f"{requested} (now {it.weighting})"
        return out

    # -- what loading did --------------------------------------------------------------
    def add_note(self, line: str) -> None:
        """Append one human line to ``info["notes"]`` (printed by the CLI on stderr)."""
        self.info["notes"] = [*self.info.get("notes", []), line]

    def record_load_facts(self) -> "Dataset":
        """Fill ``info["values"]``, ``info["time"]`` and ``info["notes"]`` from the interactions.

        ``values`` comes from :attr:`Interactions.load_info` (set by ``from_frame``), else
        is "none" when every event value is 1 and "weights" otherwise. Notes already in
        ``info`` are not repeated, so calling this twice is harmless. Returns ``self``.
        """
        it = self.interactions
        facts = getattr(it, "load_info", {}) or {}
        if "values" not in self.info:
            guess = "none" if bool(np.all(it.value == 1.0)) else "weights"
            self.info["values"] = facts.get("values", guess)
        self.info["time"] = "timestamps" if it.timestamp is not None else "row order"
        notes = list(self.info.get("notes", []))
        notes += [n for n in facts.get("notes", []) if n not in notes]
        self.info["notes"] = notes
        return self

    # -- smaller datasets ----------------------------------------------------------------
    def restrict(self, keep: np.ndarray) -> "Dataset":
        """Only the events where ``keep`` is true; users and items left without one go.

        Vocabularies are rebuilt with dense indices (old order kept); feature tables and the
        social graph follow. ``info`` is copied.
        """
        it = self.interactions
        keep = np.asarray(keep, bool)
        user_rows = np.unique(it.user_index[keep])
        item_rows = np.unique(it.item_index[keep])
        inter = it.subset(keep).keep_entities(user_rows, item_rows)
        social = None
        if self.social is not None:
            social = sp.csr_matrix(self.social)[user_rows][:, user_rows]
        return Dataset(
            name=self.name, interactions=inter,
            user_features=_take_rows(self.user_features, user_rows, inter.users),
            item_features=_take_rows(self.item_features, item_rows, inter.items),
            social=social, info={**self.info, "notes": list(self.info.get("notes", []))},
        )

    def k_core(self, k: int) -> "Dataset":
        """The ``k``-core: repeatedly drop users and items with fewer than ``k`` distinct partners.

        Adds a note with how many users, items and rows went; raises DataError when nothing
        is left.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k_core must be a positive integer, got {k!r}; e.g. --k-core 5")
        it = self.interactions
        keep = it.k_core_mask(int(k))
        if not keep.any():
            raise DataError(
                f"--k-core {k} leaves nothing: no set of users and items has {k}+ distinct "
                f"interactions each (users have at most {int(it.user_counts().max())}); choose a "
                "smaller --k-core"
            )
        out = self.restrict(keep)
        new = out.interactions
        dropped = it.n_events - new.n_events
        out.add_note(
            f"k-core {k}: removed {it.n_users - new.n_users:,} users, {it.n_items - new.n_items:,} "
            f"items and {dropped:,} rows ({100.0 * dropped / max(it.n_events, 1):.1f} %); "
            f"{new.n_users:,} users and {new.n_items:,} items remain"
        )
        return out

    # -- persistence -------------------------------------------------------------------
    def to_part(self) -> Part:
        """The dataset as one saved part: interactions, vocabs, features and graph as arrays."""
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
        info = json.loads(json.dumps(self.info, default=str))  # facts for printing: str() is their JSON form
        return Part({"name": self.name, "weighting": it.weighting.model_dump(), "info": info}, arrays)

    def save(self, folder: str | Path) -> Path:
        """Write the dataset to ``folder`` through the model-folder writer (atomic, checksummed, no pickle)."""
        return write_part(folder, self.to_part())

    @classmethod
    def load(cls, folder: str | Path) -> "Dataset":
        """Read a dataset written by :meth:`save`."""
        folder = Path(folder)
        if (folder / "dataset.json").is_file() and not (folder / META_FILE).is_file():
            raise ModelFileError(f"{folder} holds a dataset in an earlier layout; load its source files "
                                 "and save it again with this version")
        return cls.from_part(read_part(folder), where=str(folder))

    @classmethod
    def from_part(cls, part: Part, *, where: str = "the saved dataset") -> "Dataset":
        """Rebuild a dataset from the part written by :meth:`to_part`."""
        meta, a = part.meta, part.arrays
        try:
            users, items = Vocab.from_arrays(a, "users"), Vocab.from_arrays(a, "items")
            inter = Interactions(users, items, a["user_index"], a["item_index"], a["value"], a.get("timestamp"),
                                 a.get("event_type"), tuple(a["event_types"].tolist()),
                                 Weighting(**meta["weighting"]), validate=False)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where} is incomplete or from another version ({exc}); save it again") from None
        social = None
        if "social_data" in a:
            social = sp.csr_matrix((a["social_data"], a["social_indices"], a["social_indptr"]),
                                   shape=(len(users), len(users)))
        return cls(
            name=meta["name"], interactions=inter,
            user_features=FeatureTable.from_arrays(a, "uf") if "uf__names" in a else None,
            item_features=FeatureTable.from_arrays(a, "if") if "if__names" in a else None,
            social=social, info=meta.get("info", {}),
        )


def _take_rows(table: FeatureTable | None, rows: np.ndarray, vocab: Vocab) -> FeatureTable | None:
    """The feature rows ``rows`` of ``table`` as a table on ``vocab`` (None stays None)."""
    if table is None:
        return None
    arrays = table.to_arrays("t")
    out: dict[str, np.ndarray] = {**arrays, **vocab.to_arrays("t_vocab")}
    n_old = len(table.vocab)
    for i, kind in enumerate(arrays["t__kinds"].tolist()):
        p = f"t__{i}"
        if kind == "categorical":
            out[f"{p}_codes"] = arrays[f"{p}_codes"][rows]
        elif kind == "multi":
            m = sp.csr_matrix((arrays[f"{p}_data"], arrays[f"{p}_indices"], arrays[f"{p}_indptr"]),
                              shape=(n_old, len(arrays[f"{p}_cats"])))[rows]
            out[f"{p}_data"], out[f"{p}_indices"], out[f"{p}_indptr"] = m.data, m.indices, m.indptr
        else:
            out[f"{p}_values"] = arrays[f"{p}_values"][rows]
    return FeatureTable.from_arrays(out, "t")
