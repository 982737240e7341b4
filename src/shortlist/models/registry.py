"""Model registry: CLI names -> classes; ``create_model`` checks parameters against their declaration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shortlist.core.parameters import params_model, validate_params
from shortlist.core.registry import Extra, Registry

__all__ = ["MODELS", "register", "model_class", "model_defaults", "create_model", "available_models",
           "parse_param_value"]

#: model names -> classes. Models with optional dependencies (torch) live in ``shortlist.neural``:
#: plugin discovery by name - the one upward reference tests/test_layering.py allows: models
#: never uses neural's code, importing shortlist.neural makes it call ``register`` here.
MODELS = Registry("model", builtins="shortlist.models", attr="name", optional=(
    Extra("shortlist.neural", "neural", ("deepfm", "fm", "neumf", "softmax-dnn", "two-tower")),))


def register(name: str, **defaults: Any) -> Callable[[type], type]:
    """Class decorator: make a model available under ``name`` (with preset params)."""
    return MODELS.register(name, **defaults)


def available_models() -> list[str]:
    """Registered model names, sorted (neural ones when torch is installed)."""
    return MODELS.names()


def model_class(name: str) -> type:
    """The class registered under ``name``."""
    return MODELS.get_class(name)


def model_defaults(name: str) -> dict[str, Any]:
    """The default of every hyperparameter of model ``name`` (a preset's own, where it is one)."""
    import inspect

    params = inspect.signature(model_class(name).__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def parse_param_value(raw: Any, default: Any) -> Any:
    """Coerce a CLI string to the type of the parameter's default."""
    if not isinstance(raw, str):
        return raw
    low = raw.strip().lower()
    if isinstance(default, bool):
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true/false")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if default is None:
        if low in ("none", "null"):
            return None
        for conv in (int, float):
            try:
                return conv(raw)
            except ValueError:
                pass
        if low in ("true", "false"):
            return low == "true"
    return raw


def create_model(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Instantiate model ``name`` with ``params``, checked against its declared parameters.

    Strings (``--param factors=64``) are coerced to the declared types; a bad key or value
    raises one :class:`ConfigError` naming the key, the value and the fix.
    """
    cls = model_class(name)
    given = {**MODELS.defaults(name), **(params or {})}
    checked = validate_params(f"model {name!r}", params_model(cls), given)
    return cls(**{k: checked[k] for k in given})
