"""Rule registry: ``kind`` names -> rule classes, and building rules from config dicts.

A pipeline spec declares rules as TOML tables, e.g.::

    [[rules]]
    kind = "creator_cap"
    max_per_creator = 2

and the pipeline calls ``build_rule(table.pop("kind"), table, attributes)`` (or
``build_rules(spec["rules"], attributes)``). Each rule's pydantic config sits next to the rule.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shortlist.errors import ConfigError
from shortlist.rules.attributes import ItemAttributes

__all__ = ["available_rules", "build_rule", "build_rules", "register_rule", "rule_class"]

_RULES: dict[str, type] = {}


def register_rule(kind: str) -> Callable[[type], type]:
    """Class decorator: make a rule available under ``kind``."""

    def deco(cls: type) -> type:
        if kind in _RULES and _RULES[kind] is not cls:
            raise ConfigError(f"rule kind {kind!r} is registered twice")
        _RULES[kind] = cls
        cls.kind = kind
        return cls

    return deco


def available_rules() -> list[str]:
    """Registered rule kinds, sorted."""
    import shortlist.rules  # noqa: F401  (registers the built-in rules)

    return sorted(_RULES)


def rule_class(kind: str) -> type:
    """The rule class registered under ``kind``."""
    import shortlist.rules  # noqa: F401

    if kind not in _RULES:
        close = difflib.get_close_matches(str(kind), list(_RULES), 1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown rule kind={kind!r}; fix: {hint}choose one of {', '.join(sorted(_RULES))}"
        )
    return _RULES[kind]


def build_rule(
    kind: str, config: Mapping[str, Any] | None = None, attributes: ItemAttributes | None = None
) -> Any:
    """Build the rule ``kind`` from a config dict (a ``kind`` key in it is ignored if equal)."""
    params = dict(config or {})
    inner = params.pop("kind", kind)
    if inner != kind:
        raise ConfigError(
            f"rule config has kind={inner!r} but was built as {kind!r}; fix: make them agree"
        )
    return rule_class(kind)(attributes, **params)


def build_rules(
    specs: Iterable[Mapping[str, Any]], attributes: ItemAttributes | None = None
) -> list[Any]:
    """Build a rule chain from a list of tables that each carry a ``kind`` key."""
    rules = []
    for i, spec in enumerate(specs):
        if "kind" not in spec:
            raise ConfigError(
                f"rules[{i}] = {dict(spec)!r} has no 'kind'; fix: add kind = one of "
                f"{', '.join(available_rules())}"
            )
        rules.append(build_rule(spec["kind"], spec, attributes))
    return rules
