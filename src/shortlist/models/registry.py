"""Model registry: CLI names -> classes, and typed parsing of ``--param key=value``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from shortlist.errors import ConfigError

__all__ = ["register", "model_class", "create_model", "available_models", "parse_param_value"]

_MODELS: dict[str, type] = {}
#: model packages with optional dependencies (torch): registered on first need, if installed.
#: Plugin discovery by name - the one upward reference tests/test_layering.py allows: models
#: never uses neural's code, importing shortlist.neural makes it call ``register`` here.
_OPTIONAL_MODULES = ("shortlist.neural",)
_DEFAULTS: dict[str, dict[str, Any]] = {}


def register(name: str, **defaults: Any) -> Callable[[type], type]:
    """Class decorator: make a model available under ``name`` (with preset params)."""

    def deco(cls: type) -> type:
        if name in _MODELS:
            raise ConfigError(f"model name {name!r} is registered twice")
        _MODELS[name] = cls
        _DEFAULTS[name] = dict(defaults)
        if not getattr(cls, "name", "") or cls.__dict__.get("name") in (None, ""):
            cls.name = name
        return cls

    return deco


def _load_optional() -> None:
    import importlib

    for module in _OPTIONAL_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # e.g. torch missing: those models are simply not offered
            pass


def available_models() -> list[str]:
    """Registered model names, sorted (neural ones when torch is installed)."""
    import shortlist.models  # noqa: F401  (registers the built-in models)

    _load_optional()
    return sorted(_MODELS)


def model_class(name: str) -> type:
    """The class registered under ``name``."""
    import shortlist.models  # noqa: F401

    if name not in _MODELS:
        _load_optional()
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


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
    """Instantiate model ``name`` with ``params`` (strings are coerced by default type)."""
    cls = model_class(name)
    sig = inspect.signature(cls.__init__)
    allowed = {p.name: p.default for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY}
    kwargs = dict(_DEFAULTS.get(name, {}))
    for key, raw in (params or {}).items():
        if key not in allowed:
            raise ConfigError(
                f"model {name!r} has no parameter {key!r}; its parameters are: {', '.join(sorted(allowed))}"
            )
        try:
            kwargs[key] = parse_param_value(raw, allowed[key])
        except ValueError as exc:
            raise ConfigError(
                f"parameter {key}={raw!r} for model {name!r}: {exc} "
                f"(default is {allowed[key]!r})"
            ) from exc
    return cls(**kwargs)
