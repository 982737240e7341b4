"""Rule registry: ``kind`` names -> rule classes, and building rules from config dicts.

A pipeline spec declares rules as TOML tables, e.g.::

    [[rules]]
    kind = "creator_cap"
    max_per_creator = 2

and the pipeline calls ``build_rule(table.pop("kind"), table, attributes)`` (or
``build_rules(spec["rules"], attributes)``). Each rule's pydantic config sits next to the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shortlist.core.registry import Registry
from shortlist.errors import ConfigError
from shortlist.rules.attributes import ItemAttributes

__all__ = ["RULES", "available_rules", "build_rule", "build_rules", "register_rule", "rule_class"]

#: rule kinds -> classes (the built-ins register when ``shortlist.rules`` is imported)
RULES = Registry("rule kind", builtins="shortlist.rules")


def register_rule(kind: str) -> Callable[[type], type]:
    """Class decorator: make a rule available under ``kind``."""
    return RULES.register(kind)


def available_rules() -> list[str]:
    """Registered rule kinds, sorted."""
    return RULES.names()


def rule_class(kind: str) -> type:
    """The rule class registered under ``kind``."""
    return RULES.get_class(kind)


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
