"""Registry, config validation messages, TOML specs, and the docs listing every rule."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from shortlist.errors import ConfigError
from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import (
    MMR,
    CreatorCap,
    ItemAttributes,
    Rule,
    apply_rules,
    available_rules,
    build_rule,
    build_rules,
    rule_class,
)

ATTRS = ItemAttributes(
    6,
    creator=np.array([0, 0, 0, 1, 1, 2]),
    price=np.arange(6.0) * 10,
    vectors=np.eye(6),
    publish_time=np.zeros(6),
)


def test_every_kind_builds_from_defaults_or_documents_its_required_keys():
    kinds = available_rules()
    assert {
        "exclude_seen",
        "blocklist",
        "sensitive_categories",
        "dedupe",
        "creator_cap",
        "creator_spacing",
        "mmr",
        "freshness_boost",
        "geo_radius",
        "price_range",
        "availability_window",
        "pinned",
    } <= set(kinds)
    for kind in kinds:
        cls = rule_class(kind)
        assert issubclass(cls, Rule) and cls.kind == kind and cls.__doc__
        assert cls.Config.model_config["extra"] == "forbid"


def test_build_rule_from_toml_spec():
    spec = tomllib.loads("""
        [[rules]]
        kind = "price_range"
        max = 30.0

        [[rules]]
        kind = "creator_cap"
        max_per_creator = 2

        [[rules]]
        kind = "mmr"
        lambda = 0.5
        name = "diversify"
    """)
    rules = build_rules(spec["rules"], ATTRS)
    assert isinstance(rules[1], CreatorCap) and rules[1].config.max_per_creator == 2
    assert (
        isinstance(rules[2], MMR)
        and rules[2].config.lambda_ == 0.5
        and rules[2].name == "diversify"
    )
    out, drops = apply_rules(rules, Request(), Candidates(np.arange(6), np.linspace(1, 0, 6)), 3)
    assert sorted(out.items.tolist()) == [0, 1, 3]
    assert {(d.stage, d.reason) for d in drops} == {
        ("price_range", "price"),
        ("creator_cap", "creator-cap"),
    }


@pytest.mark.parametrize(
    "kind, config, pattern",
    [
        (
            "creator_cap",
            {"max_per_creator": 0},
            (
                r"max_per_creator=0: .*greater than or equal to 1; "
                r"fix: set max_per_creator to an integer >= 1"
            ),
        ),
        (
            "creator_cap",
            {"max_per_creater": 2},
            r"unknown key 'max_per_creater' \(value 2\); fix: did you mean 'max_per_creator'\?",
        ),
        (
            "creator_cap",
            {"max_per_creator": "two"},
            r"max_per_creator='two': .*fix: set max_per_creator",
        ),
        ("mmr", {"lambda": 1.5}, r"lambda=1.5: .*fix: set lambda to a number in \[0, 1\]"),
        (
            "freshness_boost",
            {"half_life_days": 0},
            r"half_life_days=0: .*fix: set half_life_days to a positive",
        ),
        (
            "geo_radius",
            {},
            r"missing key 'radius_km'; fix: set radius_km to a positive distance in km",
        ),
        ("price_range", {"min": 9, "max": 1}, r"min=9.0 is above max=1.0; fix: swap them"),
        ("dedupe", {"by": ["title"]}, r"by.0='title': .*fix: set by.0 to a non-empty list"),
        ("creator_kap", {}, r"unknown rule kind 'creator_kap'; fix: did you mean 'creator_cap'\?"),
    ],
)
def test_bad_configs_name_key_value_and_fix(kind, config, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_rule(kind, config, ATTRS)


def test_missing_attribute_and_kind_mismatch_errors():
    with pytest.raises(
        ConfigError,
        match=r"rule 'creator_cap' needs the item attribute 'creator'.*"
        r"fix: map it to a feature column",
    ):
        build_rule("creator_cap", {}, ItemAttributes(3))
    with pytest.raises(ConfigError, match="kind='mmr' but was built as 'creator_cap'"):
        build_rule("creator_cap", {"kind": "mmr"}, ATTRS)
    with pytest.raises(ConfigError, match=r"rules\[0\].*has no 'kind'"):
        build_rules([{"max_per_creator": 2}], ATTRS)


def test_docs_describe_every_rule():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text()
    for kind in available_rules():
        assert f"`{kind}`" in doc, f"docs/rules.md does not describe {kind}"
