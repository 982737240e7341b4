"""What a component can need from the data (:class:`Need`) and what a dataset has (:class:`DataFacts`).

Components declare needs; the pipeline builder compares them with the facts before fitting
anything (``shortlist.pipeline.needs``). Both live in the data layer so that models,
sources and rules can declare needs without importing upward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shortlist.errors import ConfigError

__all__ = ["DataFacts", "Need"]


@dataclass(frozen=True)
class Need:
    """One thing a component needs: ``kind`` with an optional column ``name``.

    Kinds: ``timestamps`` (real event times), ``event_order`` (times or row order),
    ``social`` (a users x users graph), ``item_feature`` / ``user_feature`` (a named column),
    ``item_features`` (any item feature table).
    """

    kind: str
    name: str | None = None


@dataclass(frozen=True)
class DataFacts:
    """The shape of a dataset as far as component needs go (cheap to compute, no fitting)."""

    n_users: int
    n_items: int
    n_events: int
    nnz: int
    has_timestamps: bool
    has_event_order: bool
    item_columns: dict[str, str] = field(default_factory=dict)
    user_columns: dict[str, str] = field(default_factory=dict)
    has_social: bool = False
    values: str = "none"

    @classmethod
    def from_dataset(cls, dataset: Any) -> "DataFacts":
        """Facts of a :class:`~shortlist.data.Dataset` (or bare interactions)."""
        inter = getattr(dataset, "interactions", dataset)
        item_ft, user_ft = getattr(dataset, "item_features", None), getattr(dataset, "user_features", None)
        info = getattr(dataset, "info", {}) or {}
        return cls(
            n_users=inter.n_users, n_items=inter.n_items, n_events=inter.n_events, nnz=inter.nnz,
            has_timestamps=inter.timestamp is not None,
            # row order stands in for time when there are no timestamps (one event per row)
            has_event_order=inter.timestamp is not None or inter.n_events > 0,
            item_columns=dict(item_ft.kinds) if item_ft is not None else {},
            user_columns=dict(user_ft.kinds) if user_ft is not None else {},
            has_social=getattr(dataset, "social", None) is not None,
            values=str(info.get("values", "none")),
        )

    def missing(self, need: Need) -> str | None:
        """Why ``need`` is not met by this data, or ``None`` when it is."""
        if need.kind == "timestamps":
            return None if self.has_timestamps else "no timestamps in the data (add a time column)"
        if need.kind == "event_order":
            return None if self.has_event_order else "no event times or order in the data"
        if need.kind == "social":
            return None if self.has_social else "no social graph in the data"
        if need.kind == "item_features":
            return None if self.item_columns else "no item feature table in the data"
        if need.kind in ("item_feature", "user_feature"):
            side = need.kind.split("_")[0]
            cols = self.item_columns if side == "item" else self.user_columns
            if need.name in cols:
                return None
            if not cols:
                return f"no {side} feature table in the data (needs column {need.name!r})"
            return f"no {side} feature column {need.name!r} in the data (it has {sorted(cols)})"
        raise ConfigError(f"unknown need kind {need.kind!r}")
