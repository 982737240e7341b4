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

from shortlist.core.persistence import Part, read_part, write_part
from shortlist.errors import ConfigError, ModelFileError
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
    def to_part(self) -> Part:
        """Learned state as one saved part: the scorer's own part (every scorer has ``to_part``)."""
        meta = {"stage": self.name, "kind": self.kind}
        return Part(meta, parts={} if self.scorer is None else {"scorer": self.scorer.to_part()})

    def from_part(self, part: Part) -> None:
        """Restore learned state from the part written by :meth:`to_part`."""
        if part.meta.get("kind") != self.kind:
            raise ModelFileError(f"saved stage {self.name!r} is a {part.meta.get('kind')!r} stage, the spec says "
                                 f"{self.kind!r}; retrain the pipeline")
        if self.scorer is not None:  # every scorer class has from_part(part, **its constructor params)
            self.scorer = type(self.scorer).from_part(part.part("scorer", f"stage {self.name!r}"), **self.params)

    def save(self, path: str | Path) -> Path:
        """Write the stage's learned state to folder ``path`` (the model-folder writer)."""
        return write_part(path, self.to_part())

    def load(self, path: str | Path) -> None:
        """Restore learned state written by :meth:`save`."""
        self.from_part(read_part(path))


def build_stage(spec: StageSpec, models: dict[str, Recommender]) -> Stage:
    """Instantiate a stage from its spec."""
    return Stage(spec, models.get(spec.model) if spec.model else None)
