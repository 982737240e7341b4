"""A use-case file: a pipeline spec plus a ``[usecase]`` table (bandit, rows, request context)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shortlist.core.validation import config_error
from shortlist.data.world.usecases import USE_CASES
from shortlist.errors import ConfigError
from shortlist.pipeline.defaults import CONFIG_DIR
from shortlist.pipeline.spec import PipelineSpec, parse_spec
from shortlist.pipeline.usecases.arm_features import ARM_FEATURES

__all__ = ["BanditSpec", "RowsSpec", "UseCaseSpec", "load_usecase", "usecase_config_path"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BanditSpec(_Strict):
    """A contextual bandit (hybrid LinUCB) picking the slate among the pipeline's ranked candidates."""

    pool: int = Field(50, gt=0, description="candidates the pipeline hands to the bandit")
    alpha: float = Field(0.5, ge=0, description="exploration width of LinUCB")
    #: arms (items) leave the bandit once older than this many hours: news expire
    max_age_hours: float = Field(24.0, gt=0)
    #: each story's features, computed per request ("topic": one-hot; "stage_score": the blend's score
    #: in this request; "age": 2^(-age / age_half_life_hours) at the request's now); a bias is added
    arm_features: list[Literal[ARM_FEATURES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["topic"],
        description='"topic", "stage_score" or "age" (a non-empty list, each once)')
    age_half_life_hours: float = Field(3.0, gt=0, description="hours after which the age feature halves, > 0")
    #: positions the bandit fills, under the blend's top k - slots (None: the bandit orders all k)
    slots: int | None = Field(None, gt=0, description="an integer >= 1, at most the spec's k")

    @field_validator("arm_features")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("must name each feature once")
        return v


class RowsSpec(_Strict):
    """A page of category rows ordered by a bandit (cascade feedback), each row re-ranked by the pipeline."""

    n_rows: int = Field(4, gt=0)
    per_row: int = Field(5, gt=0)
    policy: Literal["linucb", "ts-beta", "ucb1"] = "linucb"
    alpha: float = Field(0.5, ge=0)
    n_seen: int = Field(2, ge=0, description="rows visible without scrolling (cascade model)")


class UseCaseSpec(_Strict):
    """What the product's serving loop adds around the pipeline."""

    use_case: Literal[USE_CASES]  # type: ignore[valid-type]
    metric: str = Field(description="the business metric's label")
    #: request context the app knows: lat/lon (home), price_max (the user's budget), now; ``history``: the
    #: user's plays since training (one entry per play) as the request history; ``freshness``: the user's
    #: half-life ``freshness_half_life_days`` learned from the age of what they engaged with (log + online)
    context: list[Literal["location", "budget", "now", "history", "freshness"]] = Field(
        default_factory=lambda: ["now"])
    #: pseudo-events shrinking a user's engaged age towards everyone's (``freshness``)
    freshness_prior_events: float = Field(10.0, ge=0)
    #: items consumed during the simulation are excluded later (false for games: replays matter)
    exclude_consumed: bool = True
    #: items of sellers at capacity this hour are excluded (delivery)
    capacity_aware: bool = False
    bandit: BanditSpec | None = None
    rows: RowsSpec | None = None


def usecase_config_path(name: str) -> Path:
    """``configs/usecases/NAME.toml`` (shipped in the package)."""
    path = CONFIG_DIR / "usecases" / f"{name}.toml"
    if not path.exists():
        raise ConfigError(f"no spec for use case {name!r}; fix: use one of {', '.join(USE_CASES)}")
    return path


def load_usecase(path: str | Path) -> tuple[UseCaseSpec, PipelineSpec]:
    """Read a use-case TOML: the ``[usecase]`` table and the pipeline spec around it."""
    path = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read use-case spec {path}: {exc}") from None
    table = data.pop("usecase", None)
    if table is None:
        raise ConfigError(f"{path} has no [usecase] table; fix: add one (see docs/usecases/)")
    try:
        usecase = UseCaseSpec.model_validate(table)
    except ValidationError as exc:
        raise config_error(exc, f"invalid [usecase] table in {path}", UseCaseSpec, style="toml") from None
    spec = parse_spec(data, origin=f"in {path}")
    slots = usecase.bandit.slots if usecase.bandit is not None else None
    if slots is not None and slots > spec.k:
        raise ConfigError(f"invalid [usecase] table in {path}: bandit.slots = {slots} is more than k = {spec.k}; "
                          f"fix: set bandit.slots to at most {spec.k} (or remove it: the bandit orders all k)")
    return usecase, spec
