"""Ranking stage kinds, registered in :data:`STAGES`: how each builds, trains, scores and saves.

A kind is a small class: ``params_class()`` names the class whose annotated signature declares
the stage's parameters (validated once, :mod:`shortlist.core.parameters`; ``extra_params`` adds
the kind's own); ``__init__(params, model)`` builds the scorer; ``fit`` trains it on
rows of candidate features; ``score(x, request, items)`` scores a request's candidate rows (the scorer saves itself). A new kind is one class with
``@STAGES.register("name")``; :class:`~shortlist.pipeline.stages.Stage` (budget, stacking,
the ``stage(request, candidates)`` call) is the same for all.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from shortlist.core.registry import Extra, Registry
from shortlist.ranking import LambdaMARTRanker, LinearScorer, ValueModel
from shortlist.ranking.deepfm import deepfm_ranker_class
from shortlist.retrieval.types import Request

__all__ = ["STAGES", "StageKind"]

#: ranking stage kinds -> classes (``[[stages]] kind = ...``). ``online-fm`` lives with the online
#: trainer whose parameters it serves: found by name (plugin discovery), never imported here.
STAGES = Registry("stage kind", builtins="shortlist.pipeline.stage_kinds", optional=(
    Extra("shortlist.online.training.stage", "serve", ("online-fm",)),))


class StageKind:
    """Base of the stage kinds: a scorer of candidate feature rows (override what differs)."""

    kind: ClassVar[str] = ""
    #: stacked stages of this kind start from the previous stage's score (``base_feature``)
    boosts_from_previous: ClassVar[bool] = False
    #: whether the stage reads candidate feature rows (a ``model`` stage scores by model)
    reads_features: ClassVar[bool] = True
    #: whether the spec must name a fitted model (``model = ...``)
    needs_model: ClassVar[bool] = False

    def __init__(self, params: dict[str, Any], model: Any = None) -> None:
        self.model = model
        self.scorer: Any = self.build(params)  # a kind may take its own keys out of params

    def build(self, params: dict[str, Any]) -> Any:
        """The scorer built from ``params`` (``TypeError`` on a bad parameter)."""
        return None

    @property
    def trainable(self) -> bool:
        """Whether the stage learns from label folds."""
        return True

    def fit(self, x: np.ndarray, labels: dict[str, np.ndarray], groups: np.ndarray,
            feature_names: list[str], valid: tuple[np.ndarray, dict[str, np.ndarray], np.ndarray] | None) -> None:
        """Train on rows of candidate features; ``labels["relevant"]`` is the default target."""

    def score(self, x: np.ndarray, request: Request, items: np.ndarray) -> np.ndarray:
        """Scores of the candidate rows ``x`` (items ``items`` of ``request``)."""
        return self.scorer.score(x)


@STAGES.register("linear")
class LinearStage(StageKind):
    """A weighted sum of feature columns: fixed weights, or weights searched on label folds."""

    @classmethod
    def params_class(cls) -> type:
        return LinearScorer

    def build(self, params: dict[str, Any]) -> Any:
        return LinearScorer(**params)

    @property
    def trainable(self) -> bool:
        return self.scorer.trainable

    def fit(self, x, labels, groups, feature_names, valid) -> None:
        self.scorer.fit(x, labels["relevant"], feature_names, groups)


def _valid_rows(valid: tuple[np.ndarray, dict[str, np.ndarray], np.ndarray] | None) -> Any:
    return None if valid is None or valid[0].shape[0] == 0 else (valid[0], valid[1]["relevant"], valid[2])


@STAGES.register("lightgbm")
class LightGBMStage(StageKind):
    """LambdaMART (LightGBM) on the candidate features."""

    boosts_from_previous = True

    @classmethod
    def params_class(cls) -> type:
        return LambdaMARTRanker

    def build(self, params: dict[str, Any]) -> Any:
        return LambdaMARTRanker(**params)

    def fit(self, x, labels, groups, feature_names, valid) -> None:
        self.scorer.fit(x, labels["relevant"], groups, valid=_valid_rows(valid), feature_names=feature_names)


@STAGES.register("deepfm")
class DeepFMStage(StageKind):
    """DeepFM (PyTorch, the ``neural`` extra) on the candidate features."""

    boosts_from_previous = True

    @classmethod
    def params_class(cls) -> type:
        return deepfm_ranker_class()

    def build(self, params: dict[str, Any]) -> Any:
        return deepfm_ranker_class()(**params)

    def fit(self, x, labels, groups, feature_names, valid) -> None:
        self.scorer.fit(x, labels["relevant"], groups, valid=_valid_rows(valid), feature_names=feature_names)


@STAGES.register("value-model")
class ValueModelStage(StageKind):
    """Several predicted objectives combined into one value (``labels`` maps objective -> label)."""

    #: objective -> the label column that trains it (default: the objective's own name)
    extra_params: ClassVar[dict[str, Any]] = {"labels": (dict[str, str], {})}

    @classmethod
    def params_class(cls) -> type:
        return ValueModel

    def build(self, params: dict[str, Any]) -> Any:
        self.labels = params.pop("labels", {})
        return ValueModel(**params)

    def fit(self, x, labels, groups, feature_names, valid) -> None:
        targets = {name: labels.get(self.labels.get(name, name), labels["relevant"])
                   for name in self.scorer.objectives}
        self.scorer.fit(x, targets, feature_names)


@STAGES.register("model")
class ModelStage(StageKind):
    """A fitted model's scores for the candidates (no features, nothing to train)."""

    reads_features = False
    needs_model = True

    @classmethod
    def params_class(cls) -> None:
        return None  # no parameters: the model is named by the spec's ``model`` key

    @property
    def trainable(self) -> bool:
        return False

    def score(self, x: np.ndarray, request: Request, items: np.ndarray) -> np.ndarray:
        return self.model.score_request(request, items)
