"""Pydantic validation errors in the project's wording: the key, the value received, the fix.

Every config that is validated with pydantic (rules, candidate sources, pipeline specs,
the synthetic world, server settings) reports its errors through :func:`config_error`, so
they all read the same way::

    rule 'geo_radius': radius_km=-5: Input should be greater than 0; fix: set radius_km to
    a positive distance in km
    rule 'creator_cap': unknown key 'max_per_creater' (value 2); fix: did you mean
    'max_per_creator'? valid keys are max_per_creator, name

Two spellings of the key path exist, as the config is written: ``style="kwargs"`` (keyword
arguments and dicts: ``pins.0.position=-1``) and ``style="toml"`` (TOML files:
``sources[0].quota = 0``, and "missing required key").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from shortlist.errors import ConfigError

__all__ = ["config_error", "validate_config"]

Style = Literal["kwargs", "toml"]


def validate_config(what: str, model: type[BaseModel], params: Mapping[str, Any]) -> Any:
    """Validate ``params`` against ``model``; errors raise :class:`ConfigError` naming the fix."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise config_error(exc, what, model, params) from None


def config_error(
    exc: ValidationError,
    what: str = "",
    model: type[BaseModel] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    style: Style = "kwargs",
    fix: str = "set {key} to {desc}",
    docs: str | None = None,
) -> ConfigError:
    """One :class:`ConfigError` for every problem in ``exc``, prefixed by ``what``.

    ``model`` (the validated pydantic model) supplies the valid keys ("did you mean ...?")
    and the field descriptions used in the fix; ``params`` the values as given (shown for
    top-level keys). ``fix`` is the template of the fix for a field with a description
    (``{key}``, ``{desc}``); ``docs`` is named in the fix of a field without one.
    """
    parts = [_one(err, model, params or {}, style, fix, docs) for err in exc.errors()]
    return ConfigError((f"{what}: " if what else "") + "; ".join(parts))


def _key(loc: Sequence[Any], style: Style) -> str:
    if style == "toml":
        return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    return ".".join(str(p) for p in loc)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def _walk(model: type[BaseModel], loc: Sequence[Any]) -> tuple[list[type[BaseModel]], str | None]:
    """The models holding the field at the end of ``loc``, and that field's description.

    List indices and dict keys (parts that name no field) are stepped over.
    """
    models: list[type[BaseModel]] = [model]
    desc = None
    for part in map(str, loc):
        fields = [f for m in models for n, f in m.model_fields.items() if part in (n, f.alias)]
        if not fields:
            continue
        desc = fields[0].description or desc
        models = _models_in(fields[0].annotation) or models
    return models, desc


def _one(err: Mapping[str, Any], model: type[BaseModel] | None, params: Mapping[str, Any],
         style: Style, fix: str, docs: str | None) -> str:
    loc = list(err.get("loc", ()))
    key = _key(loc, style)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc:  # a model-level check: its message names the keys and the fix
        return msg
    if err["type"] == "extra_forbidden":
        if model is None:
            return (f"unknown key {key!r} (value {err.get('input')!r}); "
                    "fix: remove it or check its spelling")
        holders = _walk(model, loc[:-1])[0] if len(loc) > 1 else [model]
        allowed = sorted({f.alias or n for m in holders for n, f in m.model_fields.items()})
        close = difflib.get_close_matches(str(loc[-1]), allowed, 1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return (
            f"unknown key {key!r} (value {err.get('input')!r}); "
            f"fix: {hint}valid keys are {', '.join(allowed)}"
        )
    desc = _walk(model, loc)[1] if model is not None else None
    if desc is not None:
        remedy = "; fix: " + fix.format(key=key, desc=desc)
    elif err["type"] == "value_error":  # the validator's own message already says what to do
        remedy = ""
    else:
        remedy = f"; fix: set {key} to a valid value" + (f" (see {docs})" if docs else "")
    if err["type"] == "missing":
        missing = "missing required key" if style == "toml" else "missing key"
        return f"{missing} {key!r}{remedy}"
    value = params.get(loc[0], err.get("input")) if len(loc) == 1 else err.get("input")
    assign = " = " if style == "toml" else "="
    return f"{key}{assign}{value!r}: {msg}{remedy}"
