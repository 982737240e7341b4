"""LambdaMART ranker on LightGBM (``lambdarank`` objective), saved as LightGBM text in a model folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shortlist.core.parameters import NonNegative, Positive, UnitOpen, check_params
from shortlist.core.persistence import Part, read_part, write_part
from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.params import KeywordParams
from shortlist.ranking.trees import TreeEnsemble

__all__ = ["LambdaMARTRanker", "groups_from_ids"]

#: the blob holding LightGBM's text model in a saved ranker's folder
MODEL_BLOB = "model.txt"


def groups_from_ids(query_ids: np.ndarray) -> np.ndarray:
    """Group sizes for LightGBM from a per-row query id array (rows must be contiguous)."""
    query_ids = np.asarray(query_ids)
    if query_ids.size == 0:
        return np.zeros(0, np.int64)
    change = np.flatnonzero(query_ids[1:] != query_ids[:-1]) + 1
    bounds = np.concatenate([[0], change, [query_ids.size]])
    return np.diff(bounds)


class LambdaMARTRanker(KeywordParams):
    """Learning-to-rank with gradient-boosted trees optimising NDCG (LambdaMART).

    ``fit(features, labels, groups)`` takes one row per candidate, graded labels
    (0 = irrelevant) and the number of candidates per query; ``score(features)`` returns
    one score per row. With a validation set, boosting stops early on NDCG@eval_at.
    ``base_feature`` names a feature column (e.g. a strong model's within-request z-score)
    used as the starting score: the trees then learn corrections to that ranking, and with
    early stopping they never do worse than it on validation queries.
    ``num_threads`` defaults to 1: LightGBM's OpenMP threads spin-wait and slow down badly
    when other work (numba kernels, a web server) shares the cores.
    """

    def __init__(
        self,
        *,
        n_estimators: Positive[int] = 300,
        learning_rate: UnitOpen[float] = 0.05,
        num_leaves: Positive[int] = 31,
        min_data_in_leaf: NonNegative[int] = 20,
        feature_fraction: UnitOpen[float] = 0.9,
        eval_at: Positive[int] = 10,
        early_stopping_rounds: NonNegative[int] = 30,
        objective: Literal["lambdarank", "rank_xendcg", "binary"] = "lambdarank",
        num_threads: int = 1,
        seed: int = 0,
        base_feature: str | None = None,
        base_scale: float = 1.0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.eval_at = eval_at
        self.early_stopping_rounds = early_stopping_rounds
        self.objective = objective
        self.num_threads = num_threads
        self.seed = seed
        self.base_feature = base_feature
        self.base_scale = base_scale
        check_params(self, "lightgbm ranker")

    def _params(self) -> dict[str, Any]:
        return {
            "objective": self.objective, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction, "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed, "seed": self.seed, "deterministic": True,
            "num_threads": self.num_threads, "verbosity": -1, "metric": "ndcg" if self.objective != "binary" else "auc",
            "eval_at": [self.eval_at],
        }

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        *,
        valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> "LambdaMARTRanker":
        """Train on rows grouped by query (``groups`` = rows per query, in order)."""
        import lightgbm as lgb

        features = np.asarray(features, np.float32)
        labels = np.asarray(labels)
        groups = np.asarray(groups, np.int64)
        if features.shape[0] != labels.shape[0] or groups.sum() != features.shape[0]:
            raise DataError(
                f"ranker data mismatch: {features.shape[0]} rows, {labels.shape[0]} labels, "
                f"groups sum to {int(groups.sum())}"
            )
        if labels.max(initial=0) <= 0:
            raise DataError("ranker labels are all zero: no positive candidate to learn from; "
                            "raise the candidate quotas or the label window")
        names = list(feature_names) if feature_names else None
        self.feature_names_ = names or [f"f{i}" for i in range(features.shape[1])]
        train_set = lgb.Dataset(features, labels, group=groups if self.objective != "binary" else None,
                                feature_name=names or "auto", init_score=self._base(features),
                                free_raw_data=True)
        callbacks = []
        valid_sets = []
        if valid is not None:
            vx, vy, vg = valid
            vx = np.asarray(vx, np.float32)
            valid_sets = [lgb.Dataset(vx, vy, group=vg if self.objective != "binary" else None,
                                      init_score=self._base(vx), reference=train_set)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(self._params(), train_set, num_boost_round=self.n_estimators,
                                  valid_sets=valid_sets, callbacks=callbacks)
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self._trees()  # compile for scoring now, not on the first request
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        """One score per row (higher = better)."""
        if not hasattr(self, "booster_"):
            raise NotFittedError("the ranker is not trained; call fit(...) or load(...) first")
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or features.shape[1] != len(self.feature_names_):
            raise DataError(f"ranker expects {len(self.feature_names_)} feature columns, got {features.shape}")
        if features.shape[0] == 0:
            return np.zeros(0, np.float32)
        trees = self._trees()
        raw = (trees.predict(features) if trees is not None
               else self.booster_.predict(features, num_iteration=self.best_iteration_, num_threads=1))
        base = self._base(features)
        return (raw if base is None else raw + base).astype(np.float32)

    def _trees(self) -> TreeEnsemble | None:
        """The booster compiled for fast scoring (once per booster), or None when not covered."""
        key = (id(self.booster_), self.best_iteration_)
        if getattr(self, "_trees_key", None) != key:
            self._trees_cache = TreeEnsemble.from_booster(self.booster_, self.best_iteration_)
            self._trees_key = key
        return self._trees_cache

    def _base(self, features: np.ndarray) -> np.ndarray | None:
        """Starting scores from ``base_feature`` (NaN -> its lowest value), or None."""
        if self.base_feature is None:
            return None
        if self.base_feature not in self.feature_names_:
            raise ConfigError(f"base_feature {self.base_feature!r} is not a feature; "
                              f"available: {', '.join(self.feature_names_)}")
        col = features[:, self.feature_names_.index(self.base_feature)].astype(np.float64)
        low = np.nanmin(col) if np.isfinite(col).any() else 0.0
        return self.base_scale * np.nan_to_num(col, nan=low)

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature, largest first."""
        gain = self.booster_.feature_importance(importance_type="gain")
        order = np.argsort(-gain)
        return {self.feature_names_[i]: float(gain[i]) for i in order}

    def to_part(self) -> Part:
        """The booster as one saved part: LightGBM's text format as the blob ``model.txt``."""
        if not hasattr(self, "booster_"):
            raise NotFittedError("the ranker is not trained; call fit(...) first")
        return Part({"class": "LambdaMARTRanker"},
                    blobs={MODEL_BLOB: self.booster_.model_to_string(num_iteration=self.best_iteration_)})

    def save(self, path: str | Path) -> Path:
        """Write folder ``path`` through the model-folder writer (atomic, checksummed, no pickle)."""
        return write_part(path, self.to_part())

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> "LambdaMARTRanker":
        """Read a ranker written by :meth:`save` (or a bare LightGBM text file, the earlier layout)."""
        path = Path(path)
        if path.is_file():
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise ModelFileError(f"ranker file {path} is corrupted ({exc}); retrain") from None
            return cls.from_part(Part({"class": "LambdaMARTRanker"}, blobs={MODEL_BLOB: text}), where=str(path), **params)
        if not path.exists():
            raise ModelFileError(f"ranker file {path} is missing; retrain the pipeline")
        return cls.from_part(read_part(path), where=str(path), **params)

    @classmethod
    def from_part(cls, part: Part, *, where: str = "saved ranker", **params: Any) -> "LambdaMARTRanker":
        """Rebuild a ranker from the part written by :meth:`to_part`."""
        import lightgbm as lgb

        text = part.blobs.get(MODEL_BLOB)
        if not isinstance(text, str):
            raise ModelFileError(f"{where} holds no LightGBM model ({MODEL_BLOB}); retrain")
        model = cls(**params)
        try:
            model.booster_ = lgb.Booster(model_str=text)
        except lgb.basic.LightGBMError as exc:
            raise ModelFileError(f"ranker {where} is corrupted ({exc}); retrain") from exc
        model.feature_names_ = model.booster_.feature_name()
        model.best_iteration_ = model.booster_.current_iteration()
        model._trees()  # compile for scoring now, not on the first request
        return model
