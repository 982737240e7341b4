"""Request and response bodies of the HTTP API (pydantic; shown in the OpenAPI page at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

__all__ = [
    "EventIn",
    "EventsIn",
    "EventsOut",
    "HealthOut",
    "Id",
    "RecommendIn",
    "RecommendOut",
    "ReloadIn",
    "ReloadOut",
    "ScoredItem",
    "SimilarOut",
    "TrendingOut",
]

#: user and item ids: strings or integers ("42" and 42 name the same id in an integer vocabulary)
Id = StrictStr | StrictInt
_ID_LEN = 256


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendIn(_In):
    """A recommendation request: a known user, or an anonymous one described by history/context."""

    user_id: Id | None = Field(default=None, description="known user id; unknown ids take the cold-start path")
    k: StrictInt | None = Field(default=None, ge=1, description="number of items (default: the pipeline's k)")
    history: list[Id] = Field(default_factory=list, description="recent item ids, oldest first")
    context: dict[str, Any] = Field(default_factory=dict, description="request context for rules (now, device ...)")
    exclude: list[Id] = Field(default_factory=list, description="item ids that must not be recommended")
    explain: bool = Field(default=False, description="include the per-stage trace")


class ScoredItem(BaseModel):
    """One recommended item."""

    item_id: Any
    score: float
    propensity: float | None = Field(default=None, description="probability of this slot under an exploring policy")


class RecommendOut(BaseModel):
    """Items best first, the serving model version and, with explain, the stage trace."""

    items: list[ScoredItem]
    model_version: str
    user_known: bool
    request_id: str
    fallback: str | None = None
    trace: list[dict[str, Any]] | None = None


class EventIn(_In):
    """One event: an interaction (click, view, purchase...), an impression, or feedback/reward."""

    event_id: StrictStr = Field(min_length=1, max_length=_ID_LEN, description="unique id; resending is harmless")
    user_id: Id
    item_id: Id | None = None
    type: StrictStr = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    timestamp: StrictInt | StrictFloat | None = Field(default=None, ge=0, le=1e11,
                                                      description="epoch seconds (default: arrival time)")
    value: StrictInt | StrictFloat | None = Field(default=None, ge=-1e9, le=1e9,
                                                  description="weight, rating or reward")
    propensity: StrictInt | StrictFloat | None = Field(default=None, gt=0, le=1,
                                                       description="probability the logging policy showed the item")
    position: StrictInt | None = Field(default=None, ge=0, le=100_000)
    request_id: StrictStr | None = Field(default=None, max_length=_ID_LEN)
    extra: dict[str, Any] = Field(default_factory=dict)


class EventsIn(_In):
    """A batch of events (at most ``max_batch``)."""

    events: list[EventIn] = Field(min_length=1)


class EventsOut(BaseModel):
    """What happened to a batch: new events stored, duplicates ignored, log position."""

    accepted: int
    duplicates: int
    last_seq: int
    users_updated: int


class SimilarOut(BaseModel):
    """Items most similar to ``item_id`` according to ``model``."""

    item_id: Any
    model: str
    items: list[ScoredItem]
    model_version: str


class TrendingOut(BaseModel):
    """Items with the most events recently (exponentially decayed counts)."""

    items: list[ScoredItem]
    half_life_s: float


class HealthOut(BaseModel):
    """Liveness and what is served."""

    status: str
    model_version: str
    model_dir: str
    loaded_at: float
    uptime_s: float
    events_logged: int
    #: the answering server process (several run with ``--workers``)
    pid: int


class ReloadIn(_In):
    """Swap to the model in ``model_dir`` (default: reload the served folder)."""

    model_dir: StrictStr | None = Field(default=None, max_length=4096)


class ReloadOut(BaseModel):
    """The version served after the reload."""

    model_version: str
    previous_version: str
    changed: bool
    seconds: float
