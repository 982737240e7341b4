"""Pipeline spec: the TOML file that declares models, sources, ranking stages and rules.

Validated by pydantic with ``extra="forbid"`` everywhere, and re-raised as
:class:`~shortlist.errors.ConfigError` messages that name the key path, the value and
the fix (``stages[1].budget = 500 is larger than the previous stage's 100 ...``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shortlist.core.validation import config_error, validate_config
from shortlist.errors import ConfigError

__all__ = ["PipelineSpec", "ModelSpec", "SourceSpec", "StageSpec", "RuleSpec", "TrainingSpec", "TuningSpec", "ClusterSpec",
           "load_spec", "parse_budget", "parse_spec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ModelSpec(_Strict):
    """A model fitted on the training data: ``kind`` is a registered model name."""

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    #: a missing need (timestamps, feature columns, ...) is an error instead of an omission
    required: bool = False


class SourceSpec(BaseModel):
    """A candidate source: ``kind`` from the source registry plus that source's own keys.

    ``name`` and ``weight`` (its share in the merge) belong to the pipeline; every other key
    is validated by the source kind's own config (unknown keys are errors there).
    """

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    quota: int = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)
    model: str | None = None
    required: bool = False


class StageSpec(_Strict):
    """A ranking stage: scores its input and keeps the best ``budget`` candidates.

    ``stack = true`` adds the previous stage's score (z-scored within the request) as feature
    ``previous_score``; ``lightgbm`` and ``deepfm`` stages then learn a correction on top of it.
    """

    name: str
    kind: str
    budget: int = Field(gt=0)
    model: str | None = None
    stack: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    required: bool = False

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from shortlist.pipeline.stage_kinds import STAGES  # the stage kinds' registry

        STAGES.get_class(v)  # unknown: "did you mean", the valid kinds
        return v


class RuleSpec(BaseModel):
    """A business rule: ``kind`` from the rule registry plus that rule's own keys (checked by it)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    required: bool = False


class TrainingSpec(_Strict):
    """How rankers get labels without leakage (see docs/pipeline.md)."""

    label_fraction: float = Field(default=0.2, gt=0, lt=1)
    folds: int = Field(default=1, ge=1, le=10)
    label_split: Literal["random", "temporal"] = "random"
    max_users: int = Field(default=5000, gt=0)
    valid_fraction: float = Field(default=0.2, ge=0, lt=1)
    refit_on_full: bool = True
    seed: int = 7


def parse_budget(value: Any) -> float | None:
    """A time budget in seconds: ``"auto"`` -> None, ``0``/``"0"`` -> 0, ``90``, ``"90s"``, ``"10m"``, ``"1h"``."""
    if isinstance(value, bool):  # ValueError, not TypeError: a pydantic validator reports only ValueError
        raise ValueError(f"budget = {value!r} is not a duration; use e.g. \"10m\", 600 or \"auto\"")  # noqa: TRY004
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if text == "auto":
            return None
        units = {"s": 1.0, "m": 60.0, "h": 3600.0}
        try:
            seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
        except ValueError:
            raise ValueError(f"budget = {value!r} is not a duration; use e.g. \"90s\", \"10m\", \"1h\", "
                             "a number of seconds, 0 (no tuning) or \"auto\"") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"budget = {value!r} must be a finite duration >= 0, e.g. \"10m\"")
    return seconds


class TuningSpec(_Strict):
    """Self-tuning of the pipeline on validation folds of the training part (docs/tuning.md)."""

    #: "auto" (scaled to the data size), 0 (no tuning), seconds, or "90s" / "10m" / "1h"
    budget: str | float = "auto"
    #: a fixed number of trials per model instead of the time budget (reproducible choices)
    trials: int | None = Field(default=None, ge=1)
    #: trials of the blend-weight search
    blend_trials: int = Field(default=200, ge=1)
    metric: Literal["ndcg", "recall"] = "ndcg"
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    #: validation folds (each a different random cut of the training part); scores are averaged
    folds: int = Field(default=1, ge=1, le=5)
    #: validation folds the blend weights and the final stage learn on (the tuned models are
    #: refitted on the extra ones): more validation users, steadier weights
    blend_folds: int = Field(default=2, ge=1, le=5)
    #: validation users scored per fold (a seeded sample; all when fewer)
    max_users: int = Field(default=2000, gt=0)
    #: final stages to compare on the validation users (2-fold cross-validation)
    final_stages: list[Literal["linear", "lightgbm"]] = Field(default_factory=lambda: ["linear", "lightgbm"])
    #: per model name, a search space replacing the model's own: {param = [v1, v2, ...]}
    spaces: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    #: how much memory the tuned models may use (default: what the machine has free)
    max_memory_gb: float | None = Field(default=None, gt=0)
    seed: int = 0

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        parse_budget(v)
        return v

    @property
    def budget_seconds(self) -> float | None:
        """The budget in seconds, or None for "auto"."""
        return parse_budget(self.budget)


class FeatureSpec(_Strict):
    """Which item feature columns the ranking features use."""

    bag_columns: list[str] = Field(default_factory=list)
    group_columns: list[str] = Field(default_factory=list)
    numeric_columns: list[str] = Field(default_factory=list)
    publish_time_column: str | None = None
    scorers: list[str] = Field(default_factory=list)
    #: ``user_item_played`` and ``user_item_log_count``: the user's plays of the item (replays, completion)
    user_item_counts: bool = False
    #: ``item_engaged_age_days``: the item's mean age at its logged events (evergreen items are used old)
    engaged_age: bool = False


class ClusterSpec(_Strict):
    """Where the models are fitted: in this process, or ALS on a Ray cluster (``shortlist.distributed``)."""

    engine: Literal["local", "ray"] = "local"
    #: the Ray cluster: "auto", "host:port" or "ray://host:port"; unset: a running session, else a local one
    address: str | None = None
    #: user and item blocks (one actor each); unset: one per CPU of the cluster
    blocks: int | None = Field(default=None, ge=1)


class PipelineSpec(_Strict):
    """The whole pipeline."""

    name: str = "pipeline"
    k: int = Field(default=10, gt=0)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    sources: list[SourceSpec]
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    stages: list[StageSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    tuning: TuningSpec = Field(default_factory=TuningSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _some_sources(cls, v: list[SourceSpec]) -> list[SourceSpec]:
        if not v:
            raise ValueError("declare at least one [[sources]] entry")
        names = [s.name for s in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique; repeated: {sorted(dup)}")
        return v

    @model_validator(mode="after")
    def _check_components(self) -> "PipelineSpec":
        """Each source's and rule's own keys, checked now rather than at fit time."""
        from shortlist.retrieval.sources import source_config
        from shortlist.rules import rule_class

        for i, s in enumerate(self.sources):
            try:
                source_config(s.kind, s.model_dump(exclude={"kind", "weight", "required"}, exclude_unset=True))
            except ConfigError as exc:
                raise ValueError(f"sources[{i}]: {exc}") from None
        for i, r in enumerate(self.rules):
            try:
                params = r.model_dump(exclude={"kind", "required"})
                validate_config(f"rule {r.kind!r}", rule_class(r.kind).Config, params)
            except ConfigError as exc:
                raise ValueError(f"rules[{i}]: {exc}") from None
        return self

    @model_validator(mode="after")
    def _check_refs_and_budgets(self) -> "PipelineSpec":
        for i, s in enumerate(self.sources):
            if s.model is not None and s.model not in self.models:
                raise ValueError(f"sources[{i}].model = {s.model!r} is not declared under [models]; "
                                 f"declared: {sorted(self.models)}")
        for name in self.features.scorers:
            if name not in self.models:
                raise ValueError(f"features.scorers names {name!r}, which is not declared under [models]")
        total = sum(s.quota for s in self.sources)
        previous, prev_name = total, "the candidate sources (sum of quotas)"
        for i, st in enumerate(self.stages):
            if st.kind == "model" and (st.model is None or st.model not in self.models):
                raise ValueError(f"stages[{i}] of kind 'model' needs model = one of {sorted(self.models)}")
            if st.budget > previous:
                raise ValueError(
                    f"stages[{i}].budget = {st.budget} is larger than {prev_name} ({previous}); "
                    "budgets must shrink from stage to stage (e.g. 1000 -> 100 -> 10)"
                )
            previous, prev_name = st.budget, f"stages[{i - 0}].budget"
        if self.k > previous:
            raise ValueError(f"k = {self.k} is larger than the last budget ({previous}); lower k or raise the budget")
        return self

    @model_validator(mode="after")
    def _check_stacking(self) -> "PipelineSpec":
        for i, st in enumerate(self.stages):
            if st.stack and i == 0:
                raise ValueError("stages[0].stack = true but the first stage has no previous stage to stack on; "
                                 "remove stack or declare a cheaper stage before it")
            if st.stack and st.kind == "model":
                raise ValueError(f"stages[{i}].stack = true but a 'model' stage reads no features; remove stack "
                                 "or use kind 'lightgbm' or 'deepfm'")
            base = st.params.get("base_feature")
            if base == "previous_score" and not st.stack:
                raise ValueError(f"stages[{i}].params.base_feature = 'previous_score' needs the previous stage's "
                                 f"score; add stack = true to stages[{i}]")
        return self


def parse_spec(data: dict[str, Any], origin: str = "") -> PipelineSpec:
    """Validate a spec given as a dict (e.g. parsed TOML)."""
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        what = f"invalid pipeline spec {origin}".rstrip()
        raise config_error(exc, what, PipelineSpec, style="toml", docs="docs/pipeline.md") from None


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline TOML file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"pipeline config {path} not found; start from configs/world.toml")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_spec(data, origin=f"in {path}")
