"""WorldConfig: the validated knobs of the synthetic world, and its named presets."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shortlist.core.validation import config_error
from shortlist.errors import ConfigError

__all__ = ["PRESETS", "WorldConfig"]

#: Named sizes. ``tiny`` is for unit tests, ``small`` for examples and quick experiments,
#: ``medium``/``large`` for scaling work. Any field can be overridden per call.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"n_users": 200, "n_items": 300, "n_interactions": 5_000, "n_categories": 8,
             "n_creators": 30, "n_countries": 3, "n_cities": 6, "days": 30.0,
             "follow_mean_degree": 5.0, "n_slates": 500},
    "small": {"n_users": 2_000, "n_items": 2_000, "n_interactions": 100_000, "n_categories": 20,
              "n_creators": 200, "days": 60.0},
    "medium": {"n_users": 100_000, "n_items": 20_000, "n_interactions": 2_000_000,
               "n_categories": 50, "n_creators": 2_000, "days": 90.0},
    "large": {"n_users": 1_000_000, "n_items": 100_000, "n_interactions": 15_000_000,
              "n_categories": 100, "n_creators": 10_000, "days": 180.0},
}

#: Freshness weights are kept as 2**(age / half-life) relative to mid-span; beyond this many
#: half-lives over the span they would overflow float64.
_MAX_HALF_LIVES = 1000.0


class WorldConfig(BaseModel):
    """Every parameter of the generative story (see ``docs/world.md`` for the formulas).

    Build one with ``WorldConfig(...)`` or ``WorldConfig.preset("small", n_users=5000)``.
    Invalid values raise :class:`~shortlist.errors.ConfigError` naming the key, the value
    received and the fix.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- sizes ---------------------------------------------------------------------------
    n_users: int = Field(2_000, gt=0, description="number of users")
    n_items: int = Field(2_000, gt=0, description="number of items")
    n_interactions: int = Field(100_000, gt=0, description="exact number of logged events")
    n_factors: int = Field(16, ge=1, le=512, description="latent dimension of tastes/traits")
    n_categories: int = Field(20, ge=1, description="number of item categories")
    n_creators: int = Field(200, ge=1, description="number of item creators")
    n_countries: int = Field(8, ge=1, le=200, description="number of user countries")
    n_cities: int = Field(24, ge=1, description="number of city centres (>= n_countries)")
    days: float = Field(60.0, gt=0, le=10_000, description="length of the logged time span in days")
    # -- popularity and time -------------------------------------------------------------
    popularity_exponent: float = Field(1.0, ge=0, le=4, description="Zipf exponent of base popularity")
    freshness_half_life_days: float = Field(3.0, gt=0, description="half-life of the freshness boost")
    freshness_floor: float = Field(0.1, gt=0, le=1, description="freshness weight of very old items")
    catalog_at_start: float = Field(0.3, ge=0, le=1, description="share of items published before the span")
    # -- behaviour -----------------------------------------------------------------------
    affinity_strength: float = Field(10.0, ge=0, description="weight of taste . traits in choices")
    choice_set_size: int = Field(8, ge=1, le=1024, description="items a user weighs per event")
    session_length: float = Field(5.0, ge=1, description="mean events per session")
    activity_sigma: float = Field(1.0, ge=0, le=5, description="log-normal spread of user activity")
    repeat_probability: float = Field(0.1, ge=0, lt=1, description="chance an event repeats an earlier item")
    social_probability: float = Field(0.05, ge=0, le=1, description="chance an event copies a followee")
    follow_mean_degree: float = Field(10.0, ge=0, description="mean number of users each user follows")
    follow_homophily: float = Field(3.0, ge=0, description="weight of taste similarity in follows")
    follow_local: float = Field(0.5, ge=0, le=1, description="share of follows drawn from the same city")
    # -- logged impressions --------------------------------------------------------------
    n_slates: int | None = Field(None, ge=0, description="logged slates (None: n_interactions // 40)")
    slate_size: int = Field(10, ge=1, le=1000, description="items shown per slate")
    slate_pool_size: int = Field(50, ge=1, le=10_000, description="candidates the logging policy ranks")
    logging_noise: float = Field(0.5, ge=0, description="sd of the logging policy's affinity error")
    logging_temperature: float = Field(1.0, gt=0, description="softmax temperature of the logging policy")
    logging_epsilon: float = Field(0.05, ge=0, le=1, description="uniform exploration mixed into the policy")
    position_bias: float = Field(1.0, ge=0, description="examination = (1 + position) ** -position_bias")
    click_bias: float = Field(-1.5, description="intercept of the click logit")
    seed: int = Field(0, ge=0, description="random seed")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc, "WorldConfig", WorldConfig, data,
                               fix="give {key} ({desc}) a value that satisfies this") from None

    @model_validator(mode="after")
    def _check_relations(self) -> WorldConfig:
        if self.n_cities < self.n_countries:
            raise ValueError(f"n_cities={self.n_cities} is below n_countries={self.n_countries}; "
                             f"fix: set n_cities >= {self.n_countries}")
        if self.slate_pool_size < self.slate_size:
            raise ValueError(f"slate_pool_size={self.slate_pool_size} is below slate_size="
                             f"{self.slate_size}; fix: set slate_pool_size >= {self.slate_size}")
        ratio = self.days / self.freshness_half_life_days
        if ratio > _MAX_HALF_LIVES:
            raise ValueError(
                f"freshness_half_life_days={self.freshness_half_life_days} is too short for days="
                f"{self.days} ({ratio:.0f} half-lives); fix: use freshness_half_life_days >= "
                f"{self.days / _MAX_HALF_LIVES:.4g} (older items are then at the freshness floor anyway)")
        return self

    @property
    def slates(self) -> int:
        """Number of logged slates, resolving the ``None`` default."""
        return self.n_interactions // 40 if self.n_slates is None else self.n_slates

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> WorldConfig:
        """The named preset (``tiny``, ``small``, ``medium``, ``large``) with fields overridden."""
        if name not in PRESETS:
            close = difflib.get_close_matches(str(name), PRESETS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown world preset {name!r}{hint}; fix: use one of "
                              f"{', '.join(PRESETS)} or pass a WorldConfig")
        return cls(**{**PRESETS[name], **overrides})
