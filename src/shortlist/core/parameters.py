"""Component parameters, declared once and validated one way, for every kind of component.

A component declares its parameters in exactly one place:

* a pydantic ``Config`` class attribute (candidate sources, rules), or
* its keyword-only constructor signature, with constraints in the annotations::

      def __init__(self, *, factors: Annotated[int, Gt(0)] = 64, solver: Literal["cg", "cholesky"] = "cg"):

  (models, bandit policies, ranking scorers); :func:`params_model` derives the pydantic model
  from it once per class.

:func:`validate_params` checks values against that model and reports every problem in the
``shortlist.core.validation.config_error`` wording (key, value received, fix); strings from the
command line (``--param factors=64``) are coerced by the declared type. ``shortlist components``
lists the same declaration (:func:`describe_params`).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import annotated_types as at
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from shortlist.core.validation import config_error
from shortlist.errors import ConfigError

__all__ = [
    "Finite",
    "NonNegative",
    "Positive",
    "UnitInterval",
    "UnitOpen",
    "check_params",
    "describe_params",
    "params_model",
    "validate_params",
]

_MODELS: dict[type, type[BaseModel]] = {}
_NONE_WORDS = ("none", "null")


def _no_bool(value: Any) -> Any:
    """Refuse ``True``/``False`` where a number is declared (pydantic would read them as 1/0)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")  # noqa: TRY004 - pydantic reports ValueError only
    return value


_Number = BeforeValidator(_no_bool)
_T = TypeVar("_T")
#: constraint shorthands for annotations: ``alpha: NonNegative[float] = 1.0`` (finite, no bools)
Positive = Annotated[_T, Field(gt=0, allow_inf_nan=False), _Number]
NonNegative = Annotated[_T, Field(ge=0, allow_inf_nan=False), _Number]
Finite = Annotated[_T, Field(allow_inf_nan=False), _Number]
UnitInterval = Annotated[_T, Field(ge=0, le=1, allow_inf_nan=False), _Number]  # [0, 1]
UnitOpen = Annotated[_T, Field(gt=0, le=1, allow_inf_nan=False), _Number]  # (0, 1]


def params_model(cls: Any) -> type[BaseModel]:
    """The pydantic model of ``cls``'s parameters: its ``Config``, or one derived from its signature.

    A class may take another's parameters (``params_class()``: a stage kind takes its
    scorer's) plus a few of its own (``extra_params``: name -> (annotation, default)).
    """
    if cls not in _MODELS:
        _MODELS[cls] = _model_of(cls)
    return _MODELS[cls]


def _model_of(cls: Any) -> type[BaseModel]:
    config = getattr(cls, "Config", None)
    if isinstance(config, type) and issubclass(config, BaseModel):
        return config
    hook = getattr(cls, "params_class", None)
    owner = hook() if callable(hook) else cls
    base = _EMPTY if owner is None else params_model(owner) if owner is not cls else _derive(cls)
    extra = getattr(cls, "extra_params", None)
    if not extra:
        return base
    model = create_model(f"{cls.__name__}Params", __base__=base, **extra)
    return _described(model)


class _Empty(BaseModel):
    """No parameters at all (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())


_EMPTY = _Empty


def _derive(cls: type) -> type[BaseModel]:
    """A pydantic model with one field per keyword-only argument of ``cls.__init__``."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):  # a preset subclass re-declares the signature unannotated
        if "__init__" in vars(klass):
            try:
                hints.update(typing.get_type_hints(vars(klass)["__init__"], include_extras=True))
            except (NameError, TypeError):  # an annotation names something not importable here
                pass
    fields: dict[str, Any] = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.kind != p.KEYWORD_ONLY:
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (_wrap_numbers(hints.get(p.name, Any)), default)
    return _described(create_model(f"{cls.__name__}Params", __base__=_Empty, **fields))


def _described(model: type[BaseModel]) -> type[BaseModel]:
    """Give each field without a description one from its declared type (the fix's wording)."""
    for field in model.model_fields.values():
        if field.description is None:
            field.description = _describe(field)
    return model


_UnionType = type(int | None)


def _wrap_numbers(annotation: Any) -> Any:
    """``int`` / ``float`` (alone or ``| None``) refuse booleans, as the hand-written checks did."""
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
    union = typing.get_origin(base) in (typing.Union, _UnionType)
    args = set(typing.get_args(base)) - {type(None)} if union else {base}
    if args and args <= {int, float}:
        return Annotated[annotation, _Number]
    return annotation


def _limits(metadata: Any) -> str:
    """``> 0 and <= 1`` from constraint metadata (annotated-types objects or pydantic ``Field``s)."""
    parts = []
    for m in metadata:
        inner = getattr(m, "metadata", [m]) if isinstance(m, FieldInfo) else [m]
        for c in inner:
            for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                if isinstance(c, getattr(at, attr.capitalize())):
                    parts.append(f"{sign} {getattr(c, attr)}")
            if isinstance(c, at.MinLen):
                parts.append(f"of length >= {c.min_length}")
    return " and ".join(parts)


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", Any: "any value"}


def _text(ann: Any) -> str:
    """Words for one annotation: ``an integer > 0``, ``one of 'a', 'b'``, ``a number or None``."""
    origin = typing.get_origin(ann)
    if origin is Annotated:
        base, *meta = typing.get_args(ann)
        limits = _limits(meta)
        return f"{_text(base)} {limits}" if limits else _text(base)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(ann))
    if origin in (typing.Union, _UnionType):
        args = typing.get_args(ann)
        words = [_text(a) for a in args if a is not type(None)]
        return " or ".join(words) + (" or None" if type(None) in args else "")
    if ann in _NAMES:
        return _NAMES[ann]
    return _plain(ann)


def _plain(ann: Any) -> str:
    """A container annotation as written, with its members' limits: ``list[int > 0]``."""
    origin = typing.get_origin(ann)
    if origin is Annotated:
        base, *meta = typing.get_args(ann)
        limits = _limits(meta)
        return f"{_plain(base)} {limits}" if limits else _plain(base)
    if origin is None:
        return getattr(ann, "__name__", str(ann))
    args = ", ".join(_plain(a) for a in typing.get_args(ann))
    return f"{getattr(origin, '__name__', str(origin))}[{args}]"


def _describe(field: FieldInfo) -> str:
    """The fix's wording for a field: what it takes and its default."""
    default = field.get_default(call_default_factory=True)
    example = "" if field.is_required() or default is None else f", e.g. {default!r} (the default)"
    return f"{type_text(field)}{example}"


def type_text(field: FieldInfo) -> str:
    """A short reading of a field's declared type and constraints: ``an integer > 0``."""
    text = _text(field.annotation)
    limits = _limits(field.metadata)
    return f"{text} {limits}" if limits else text


def validate_params(what: str, model: type[BaseModel], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``model``, strings coerced to the declared types.

    Returns every declared parameter (defaults filled in); values given as non-strings come
    back as given (stored as given, the scikit-learn convention). Errors: one
    :class:`~shortlist.errors.ConfigError` naming each key, its value and the fix.
    """
    given = {k: _cli_word(model, k, v) for k, v in params.items()}
    try:
        checked = model.model_validate(given)
    except ValidationError as exc:
        raise config_error(exc, what, model, dict(params)) from None
    out = {n: getattr(checked, n) for n in model.model_fields}
    out.update({k: v for k, v in params.items() if not isinstance(v, str) and k in out})
    return out


def _cli_word(model: type[BaseModel], key: str, value: Any) -> Any:
    """A command-line word: ``"none"`` is ``None`` where allowed; an undeclared type reads as a literal."""
    field = model.model_fields.get(key)
    if not isinstance(value, str) or field is None:
        return value
    ann = field.annotation
    if ann is Any:  # nothing declared to coerce to: read the word as the literal it spells
        return _literal(value)
    allows = type(None) in typing.get_args(ann) or field.get_default() is None
    if allows and value.strip().lower() in _NONE_WORDS:
        return None
    if _is_sequence(ann):  # "16,8" or "[16, 8]" on a command line is a list of words
        return [w.strip() for w in value.strip().strip("[]()").split(",") if w.strip()]
    return value


def _is_sequence(ann: Any) -> bool:
    """Whether ``ann`` (or a member of its union) is a list or tuple type."""
    if typing.get_origin(ann) in (list, tuple):
        return True
    return any(typing.get_origin(a) in (list, tuple) for a in typing.get_args(ann))


def _literal(raw: str) -> Any:
    """``"none"`` -> None, ``"true"`` -> True, ``"3"`` -> 3, ``"0.5"`` -> 0.5, else the string."""
    low = raw.strip().lower()
    if low in _NONE_WORDS:
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


def describe_params(cls: Any) -> list[tuple[str, str, Any]]:
    """(name, declared type, default or ``"required"``) of each of ``cls``'s parameters."""
    model = params_model(cls)
    return [(n, type_text(f), "required" if f.is_required() else f.get_default(call_default_factory=True))
            for n, f in model.model_fields.items()]


def check_params(component: Any, what: str) -> None:
    """Check a built component's current parameters (``get_params()``) against its declaration.

    Values are used as stored, so a string where a number is declared is an error here
    (only the command-line path, :func:`validate_params`, reads words as numbers).
    """
    model = params_model(type(component))
    given = component.get_params()
    checked = validate_params(what, model, given)
    for key, raw in given.items():
        if isinstance(raw, str) and not isinstance(checked[key], str):
            fix = model.model_fields[key].description
            raise ConfigError(f"{what}: {key}={raw!r}: a string where {type_text(model.model_fields[key])} "
                              f"is declared; fix: set {key} to {fix}")
