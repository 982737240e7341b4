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

from shortlist.core.parameters import params_model, validate_params
from shortlist.core.persistence import Part, read_part, write_part
from shortlist.errors import ConfigError, ModelFileError
from shortlist.models.base import Recommender
from shortlist.pipeline.spec import StageSpec
from shortlist.pipeline.stage_kinds import STAGES, StageKind
from shortlist.ranking._kernels import zscore
from shortlist.retrieval._kernels import best_first
from shortlist.retrieval.types import Candidates, Request

__all__ = ["PREVIOUS", "STAGES", "Stage", "build_stage", "standardise"]

#: feature name of the previous stage's score in a stacked stage's input
PREVIOUS = "previous_score"


def standardise(scores: np.ndarray) -> np.ndarray:
    """Within-request z-score (non-finite -> NaN; a constant column -> zeros), as float32."""
    s = np.asarray(scores, np.float64)
    return zscore(np.where(np.isfinite(s), s, np.nan))


class Stage:
    """A ranking stage: ``stage(request, candidates) -> candidates``, scored and cut to ``budget``.

    What the stage's kind does (build, train, score) comes from :data:`STAGES`; budgets,
    stacking and the calling convention are the same for every kind.
    """

    def __init__(self, spec: StageSpec, model: Recommender | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.kind = spec.kind
        self.budget = spec.budget
        self.stack = spec.stack
        #: trained elsewhere (by the tuner): the pipeline's label folds leave it as it is
        self.pretrained = False
        kind = STAGES.get_class(self.kind)
        params = dict(spec.params)
        if self.stack and kind.boosts_from_previous:
            params.setdefault("base_feature", PREVIOUS)
        if hasattr(kind, "params_class"):  # declared: one error naming key, value and fix
            checked = validate_params(f"stage {self.name!r} ({self.kind})", params_model(kind), params)
            params = {k: checked[k] for k in params}  # CLI strings coerced; defaults stay the scorer's
        self.params = params
        try:
            self.impl: StageKind = kind(params, model)
        except TypeError as exc:
            raise ConfigError(f"stage {self.name!r} ({self.kind}): bad params {params}: {exc}") from None

    @property
    def scorer(self) -> Any:
        """The kind's scorer (``None`` for a model stage)."""
        return self.impl.scorer

    @scorer.setter
    def scorer(self, value: Any) -> None:
        self.impl.scorer = value

    @property
    def model(self) -> Recommender | None:
        """The fitted model a ``model`` stage scores with."""
        return self.impl.model

    @model.setter
    def model(self, value: Recommender | None) -> None:
        self.impl.model = value

    @property
    def trainable(self) -> bool:
        """Whether the stage learns from label folds (a model stage or a fixed blend does not)."""
        return self.impl.trainable

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
        self.impl.fit(x, labels, groups, feature_names, valid)

    def scores(self, request: Request, candidates: Candidates) -> np.ndarray:
        """This stage's score of every candidate, before the budget cut (float32)."""
        x = candidates.rows if candidates.rows is not None else np.zeros((len(candidates), 0), np.float32)
        return np.asarray(self.impl.score(self.inputs(x, candidates.scores), request, candidates.items), np.float32)

    def __call__(self, request: Request, candidates: Candidates) -> Candidates:
        """The best ``budget`` candidates, best first, scored by this stage.

        ``candidates.rows`` holds their feature rows and ``candidates.scores`` the previous
        stage's scores (what a stacked stage reads).
        """
        scores = self.scores(request, candidates)
        order = best_first(scores, candidates.items, self.budget)
        out = candidates.take(order)
        out.scores = scores[order]
        return out

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
