"""Request and response bodies of the HTTP API (pydantic; shown in the OpenAPI page at /docs)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

__all__ = [
    "Context",
    "ErrorOut",
    "EventIn",
    "EventsIn",
    "EventsOut",
    "FieldError",
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

_ID_LEN = 256


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Numbers are ``float``/``int`` with ``strict=True``, not unions of StrictInt | StrictFloat: pydantic
# writes the bounds of a union as non-JSON-Schema keys ("gt"), so the OpenAPI page would not show them.
def _number(**kw: Any) -> Any:
    return Field(default=None, strict=True, **kw)


def _whole(value: Any) -> Any:
    """31.0 is the integer 31 in JSON Schema (and to a JavaScript client); 31.5 stays a float and is refused."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def _whole_int(**bounds: Any) -> Any:
    """An integer type that also accepts 31.0 (not "31" nor true: strict otherwise), within ``bounds``.

    The bounds sit inside the type and before the validator: on the optional field, or after
    the validator, pydantic would write them as non-JSON-Schema keys ("ge"), as for unions.
    """
    return Annotated[int, Field(strict=True, **bounds), BeforeValidator(_whole)]


#: user and item ids: strings or integers ("42" and 42 name the same id in an integer vocabulary; 42.0 is 42)
Id = StrictStr | _whole_int()


class Context(BaseModel):
    """Request context for rules and time-aware stages; keys other than these are passed on as given."""

    model_config = ConfigDict(extra="allow")

    now: float | None = _number(ge=0, le=1e11, description="epoch seconds (default: the wall clock)")
    lat: float | None = _number(ge=-90, le=90, description="latitude of the user (geo rules)")
    lon: float | None = _number(ge=-180, le=180, description="longitude of the user (geo rules)")
    radius_km: float | None = _number(gt=0, le=20_000, description="search radius of geo rules")
    price_min: float | None = _number(description="lowest price for price rules")
    price_max: float | None = _number(description="highest price for price rules")


class RecommendIn(_In):
    """A recommendation request: a known user, or an anonymous one described by history/context.

    The OpenAPI page shows the served limits: ``k`` up to ``max_k``, ``history`` and
    ``exclude`` up to ``max_history`` ids (settings; 422 beyond).
    """

    user_id: Id | None = Field(default=None, description="known user id; unknown ids take the cold-start path")
    k: _whole_int(ge=1) | None = Field(default=None, description="number of items (default: the pipeline's k)")
    history: list[Id] = Field(default_factory=list, description="recent item ids, oldest first")
    context: Context = Field(default_factory=Context, description="request context for rules (now, lat, lon ...)")
    exclude: list[Id] = Field(default_factory=list, description="item ids that must not be recommended")
    explain: bool = Field(default=False, description="include the per-stage trace")


class ScoredItem(BaseModel):
    """One recommended item (ids have the catalog's type: all integers or all strings)."""

    item_id: Id
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
    timestamp: float | None = _number(ge=0, le=1e11, description="epoch seconds (default: arrival time; a time "
                                                                 "after the arrival is stored as the arrival time)")
    value: float | None = _number(ge=-1e9, le=1e9, description="weight, rating or reward")
    propensity: float | None = _number(gt=0, le=1, description="probability the logging policy showed the item")
    position: _whole_int(ge=0, le=100_000) | None = Field(default=None, description="slot of the item in the list shown")
    request_id: StrictStr | None = Field(default=None, max_length=_ID_LEN)
    extra: dict[str, Any] = Field(default_factory=dict)


class EventsIn(_In):
    """A batch of events (at most ``max_batch``, a setting shown on the OpenAPI page; 422 beyond)."""

    events: list[EventIn] = Field(min_length=1)


class EventsOut(BaseModel):
    """What happened to a batch: new events stored, duplicates ignored, log position."""

    accepted: int
    duplicates: int
    last_seq: int
    users_updated: int


class SimilarOut(BaseModel):
    """Items most similar to ``item_id`` according to ``model``."""

    item_id: Id
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
    #: the online-trained FM this process holds (``shortlist train-online``): version, trained_seq, lag
    online: dict[str, Any] | None = None


class ReloadIn(_In):
    """Swap to the model in ``model_dir`` (default: reload the served folder)."""

    model_dir: StrictStr | None = Field(default=None, min_length=1, max_length=4096,
                                       description="folder written by `shortlist train`/`retrain` (404 if none)")


class ReloadOut(BaseModel):
    """The version served after the reload."""

    model_version: str
    previous_version: str
    changed: bool
    seconds: float


class FieldError(BaseModel):
    """One problem with one field of the request (validation errors)."""

    loc: list[str | int] = Field(description='where: ["body", "k"], ["query", "k"], ["path", "item_id"] ...')
    msg: str
    type: str = Field(description="pydantic's error type, e.g. int_type, less_than_equal")


class ErrorOut(BaseModel):
    """The body of every 4xx answer: one line for people, the status, and per-field problems for programs."""

    error: str = Field(description="what is wrong, the value received and the fix, in one line")
    status: int = Field(description="the HTTP status code, repeated for logs that keep only bodies")
    detail: list[FieldError] = Field(default_factory=list, description="one entry per invalid field (422); "
                                                                          "empty for other errors")
