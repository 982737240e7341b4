"""Ranking stages of a pipeline: a scorer plus a budget, trained on the candidates it will see.

A stage with ``stack = true`` also reads the previous stage's score, standardised within the
request, as one more feature column (:data:`PREVIOUS`); LightGBM and DeepFM stages then start
from that score (``base_feature``) and learn a correction, so they refine the previous
ranking instead of replacing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shortlist.errors import ConfigError
from shortlist.models.base import Recommender
from shortlist.pipeline.spec import StageSpec
from shortlist.ranking import LambdaMARTRanker, LinearScorer, ValueModel
from shortlist.ranking._kernels import zscore
from shortlist.ranking.deepfm import deepfm_ranker_class

__all__ = ["PREVIOUS", "Stage", "build_stage", "standardise"]

#: feature name of the previous stage's score in a stacked stage's input
PREVIOUS = "previous_score"


def standardise(scores: np.ndarray) -> np.ndarray:
    """Within-request z-score (non-finite -> NaN; a constant column -> zeros), as float32."""
    s = np.asarray(scores, np.float64)
    return zscore(np.where(np.isfinite(s), s, np.nan))


class Stage:
    """Scores candidates' feature rows and keeps the best ``budget``."""

    def __init__(self, spec: StageSpec, model: Recommender | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.kind = spec.kind
        self.budget = spec.budget
        self.model = model
        self.stack = spec.stack
        #: trained elsewhere (by the tuner): the pipeline's label folds leave it as it is
        self.pretrained = False
        params = dict(spec.params)
        if self.stack and self.kind in ("lightgbm", "deepfm"):
            params.setdefault("base_feature", PREVIOUS)
        self.params = params
        try:
            if self.kind == "linear":
                self.scorer: Any = LinearScorer(**params)
            elif self.kind == "lightgbm":
                self.scorer = LambdaMARTRanker(**params)
            elif self.kind == "deepfm":
                self.scorer = deepfm_ranker_class()(**params)
            elif self.kind == "value-model":
                self.labels = params.pop("labels", {})
                self.scorer = ValueModel(**params)
            else:
                self.scorer = None
        except TypeError as exc:
            raise ConfigError(f"stage {self.name!r} ({self.kind}): bad params {params}: {exc}") from None

    @property
    def trainable(self) -> bool:
        """Whether the stage learns from label folds (a model stage or a fixed blend does not)."""
        if self.kind == "linear":
            return self.scorer.trainable
        return self.kind != "model"

    def inputs(self, x: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """The stage's feature rows: ``x``, plus the standardised previous scores when stacked."""
        if not self.stack:
            return x
        if previous is None or len(previous) != x.shape[0]:
            raise ConfigError(f"stage {self.name!r} has stack = true but got no previous stage's scores; "
                              "put another ranking stage before it")
        return np.column_stack([x, standardise(previous)]).astype(np.float32, copy=False)

    def feature_names(self, names: list[str]) -> list[str]:
        """Column names of :meth:`inputs` given the assembler's names."""
        return [*names, PREVIOUS] if self.stack else list(names)

    def fit(self, x: np.ndarray, labels: dict[str, np.ndarray], groups: np.ndarray,
            feature_names: list[str], valid: tuple[np.ndarray, dict[str, np.ndarray], np.ndarray] | None) -> None:
        """Train on rows of candidate features; ``labels["relevant"]`` is the default target."""
        y = labels["relevant"]
        if self.kind == "linear":
            self.scorer.fit(x, y, feature_names, groups)
        elif self.kind in ("lightgbm", "deepfm"):
            v = None if valid is None or valid[0].shape[0] == 0 else (valid[0], valid[1]["relevant"], valid[2])
            self.scorer.fit(x, y, groups, valid=v, feature_names=feature_names)
        elif self.kind == "value-model":
            targets = {name: labels.get(self.labels.get(name, name), labels["relevant"])
                       for name in self.scorer.objectives}
            self.scorer.fit(x, targets, feature_names)

    def score(self, x: np.ndarray, user_index: int, items: np.ndarray,
              history: Any = None) -> np.ndarray:
        """Scores for the candidate rows."""
        if self.kind == "model":
            if user_index >= 0 and user_index < len(self.model.users_):
                return self.model.score_indices(np.array([user_index]), items)[0]
            return np.asarray(self.model._score_history(history), np.float32)[0, items]
        return self.scorer.score(x)

    # -- persistence -------------------------------------------------------------------
    def save(self, folder: Path) -> dict[str, Any]:
        """Write learned state; return JSON-able extras."""
        if self.kind == "lightgbm":
            self.scorer.save(folder / f"stage-{self.name}.txt")
        elif self.kind == "deepfm":
            self.scorer.save(folder / f"stage-{self.name}.deepfm")
        elif self.kind == "value-model":
            self.scorer.save(folder / f"stage-{self.name}")
            return {"constants": self.scorer.constant_}
        elif self.kind == "linear":
            np.savez(folder / f"stage-{self.name}.npz", **self.scorer.state())
            extra: dict[str, Any] = {"feature_names": self.scorer.feature_names_}
            if hasattr(self.scorer, "search_results_"):
                extra["search_results"] = self.scorer.search_results_  # what the weight search saw
            return extra
        return {}

    def load(self, folder: Path, extra: dict[str, Any]) -> None:
        if self.kind == "lightgbm":
            self.scorer = LambdaMARTRanker.load(folder / f"stage-{self.name}.txt", **self.params)
        elif self.kind == "deepfm":
            self.scorer = deepfm_ranker_class().load(folder / f"stage-{self.name}.deepfm", **self.params)
        elif self.kind == "value-model":
            self.scorer.load_models(folder / f"stage-{self.name}", extra.get("constants", {}))
        elif self.kind == "linear":
            with np.load(folder / f"stage-{self.name}.npz", allow_pickle=False) as npz:
                self.scorer.set_state({k: npz[k] for k in npz.files}, extra["feature_names"])
            if "search_results" in extra:
                self.scorer.search_results_ = extra["search_results"]



def build_stage(spec: StageSpec, models: dict[str, Recommender]) -> Stage:
    """Instantiate a stage from its spec."""
    return Stage(spec, models.get(spec.model) if spec.model else None)
