"""Logged bandit feedback (:class:`LoggedFeedback`) and the Open Bandit Dataset loader.

One row per impression: the context, the action the logging policy took, the slot it
was shown in, the reward and the logging propensity. This is the input of
off-policy evaluation (:mod:`shortlist.evaluation.ope`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.errors import ConfigError, DataError, DatasetFormatError

__all__ = ["LoggedFeedback", "check_propensities", "load_open_bandit"]


def check_propensities(p: np.ndarray, name: str = "propensities") -> np.ndarray:
    """Return ``p`` as float64 or raise :class:`DataError` unless every value is in (0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    bad = ~np.isfinite(p) | (p <= 0) | (p > 1)
    if np.any(bad):
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        raise DataError(f"{name} must be probabilities in (0, 1]; row {first} has {float(p.reshape(-1)[first])!r}. "
                        "A logged action needs the positive probability its policy had of choosing it "
                        "(0 means it could not have been chosen: fix the logging)")
    return p


@dataclass
class LoggedFeedback:
    """Logged bandit feedback: arrays aligned by row (n_rounds).

    ``positions`` are 0-based slots (``len_list`` = number of slots); ``action_context``
    (n_actions, q) holds item features, or is None.
    """

    contexts: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    n_actions: int
    positions: np.ndarray | None = None
    action_context: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions)
        n = self.actions.shape[0]
        if self.actions.ndim != 1 or self.actions.dtype.kind not in "iu":
            raise DataError(f"actions must be a 1-D integer array, got dtype {self.actions.dtype} "
                            f"shape {self.actions.shape}")
        self.actions = self.actions.astype(np.int64)
        if isinstance(self.n_actions, bool) or not isinstance(self.n_actions, (int, np.integer)) \
                or self.n_actions <= 0:
            raise ConfigError(f"n_actions must be a positive integer, got {self.n_actions!r}")
        if n and (self.actions.min() < 0 or self.actions.max() >= self.n_actions):
            raise DataError(f"actions must be in 0..{self.n_actions - 1}, got "
                            f"{self.actions.min()}..{self.actions.max()}")
        self.contexts = np.asarray(self.contexts, dtype=np.float64)
        if self.contexts.ndim == 1:
            self.contexts = self.contexts[:, None]
        self.rewards = np.asarray(self.rewards, dtype=np.float64)
        if not np.all(np.isfinite(self.rewards)):
            raise DataError("rewards contain NaN or infinite values; drop those rows first")
        self.propensities = check_propensities(self.propensities)
        if self.positions is None:
            self.positions = np.zeros(n, np.int64)
        self.positions = np.asarray(self.positions)
        if self.positions.dtype.kind not in "iu" or (n and self.positions.min() < 0):
            raise DataError("positions must be non-negative integers (0-based slots)")
        self.positions = self.positions.astype(np.int64)
        for name in ("contexts", "rewards", "propensities", "positions"):
            if getattr(self, name).shape[0] != n:
                raise DataError(f"{name} has {getattr(self, name).shape[0]} rows but actions has {n}; "
                                "all arrays must be aligned by row")
        if self.action_context is not None:
            self.action_context = np.asarray(self.action_context, dtype=np.float64)
            if self.action_context.shape[0] != self.n_actions:
                raise DataError(f"action_context must have n_actions={self.n_actions} rows, "
                                f"got {self.action_context.shape[0]}")

    @property
    def n_rounds(self) -> int:
        """Number of logged rows."""
        return int(self.actions.shape[0])

    @property
    def len_list(self) -> int:
        """Number of slots (max position + 1)."""
        return int(self.positions.max()) + 1 if self.n_rounds else 1

    def subset(self, rows: np.ndarray) -> LoggedFeedback:
        """The rows ``rows`` (an index or boolean mask) as a new LoggedFeedback."""
        return LoggedFeedback(self.contexts[rows], self.actions[rows], self.rewards[rows],
                              self.propensities[rows], self.n_actions, self.positions[rows],
                              self.action_context, dict(self.meta))


def _one_hot_drop_first(col: np.ndarray) -> np.ndarray:
    """Indicator columns for the sorted categories of ``col`` except the first (pandas get_dummies)."""
    cats = np.unique(col)
    return (col[:, None] == cats[None, 1:]).astype(np.float64)


def load_open_bandit(path: str | Path, policy: str = "random", campaign: str = "all") -> LoggedFeedback:
    """Load the Open Bandit Dataset (Saito et al. 2020) from ``path/policy/campaign/``.

    Features follow obp's default pre-processing, so results are comparable: contexts are
    one-hot user features (first category dropped), positions are dense ranks - 1 of the
    slot column, ``action_context`` is label-encoded categorical item features followed
    by the numeric one; rows are sorted by timestamp (stable).
    """
    import polars as pl

    if policy not in ("random", "bts"):
        raise ConfigError(f"policy must be 'random' or 'bts', got {policy!r}")
    folder = Path(path) / policy / campaign
    csv, items_csv = folder / f"{campaign}.csv", folder / "item_context.csv"
    if not csv.exists() or not items_csv.exists():
        raise DatasetFormatError(f"{folder} has no {campaign}.csv / item_context.csv; pass the open-bandit "
                                 "folder that contains random/ and bts/")
    df = pl.read_csv(csv, infer_schema_length=0)  # strings first: hashed features must stay text
    needed = {"timestamp", "item_id", "position", "click", "propensity_score"}
    if not needed <= set(df.columns):
        raise DatasetFormatError(f"{csv} lacks columns {sorted(needed - set(df.columns))}")
    df = df.with_row_index("_row").sort(["timestamp", "_row"])
    user_cols = [c for c in df.columns if "user_feature" in c]
    contexts = np.hstack([_one_hot_drop_first(df[c].to_numpy().astype(str)) for c in user_cols]) \
        if user_cols else np.zeros((df.height, 0))
    pos_raw = df["position"].cast(pl.Int64).to_numpy()
    positions = np.unique(pos_raw, return_inverse=True)[1].astype(np.int64)
    items = pl.read_csv(items_csv, infer_schema_length=0)
    items = items.sort(items["item_id"].cast(pl.Int64))
    cat_cols = [c for c in items.columns if c.startswith("item_feature") and c != "item_feature_0"]
    encoded = [np.unique(items[c].to_numpy().astype(str), return_inverse=True)[1] for c in cat_cols]
    numeric = items["item_feature_0"].cast(pl.Float64).to_numpy()
    action_context = np.column_stack(encoded + [numeric]).astype(np.float64)
    return LoggedFeedback(
        contexts=contexts,
        actions=df["item_id"].cast(pl.Int64).to_numpy(),
        rewards=df["click"].cast(pl.Float64).to_numpy(),
        propensities=df["propensity_score"].cast(pl.Float64).to_numpy(),
        n_actions=int(items.height),
        positions=positions,
        action_context=action_context,
        meta={"source": "open-bandit", "policy": policy, "campaign": campaign},
    )
