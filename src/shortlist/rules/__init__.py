"""Business rules: filters, hard constraints, dedupe, diversity, freshness and pins.

Each rule has a ``name`` and ``apply(request, candidates, k) -> (candidates, drops)``;
build one by class (``CreatorCap(attributes, max_per_creator=2)``) or by kind from a config
dict (``build_rule("creator_cap", {"max_per_creator": 2}, attributes)``). See docs/rules.md.
"""

from shortlist.rules.attributes import ATTRIBUTES, AttributeColumns, ItemAttributes
from shortlist.rules.base import Rule, RuleConfig, apply_rules
from shortlist.rules.constraints import AvailabilityWindow, GeoRadius, PriceRange, haversine_km
from shortlist.rules.diversity import MMR, CreatorCap, CreatorSpacing, FreshnessBoost
from shortlist.rules.exploration import ExplorationSlot
from shortlist.rules.filters import (
    Blocklist,
    Dedupe,
    ExcludeSeen,
    SensitiveCategories,
    tfidf_matrix,
)
from shortlist.rules.hours import OpeningHours
from shortlist.rules.placement import Pin, Pinned
from shortlist.rules.registry import (
    available_rules,
    build_rule,
    build_rules,
    register_rule,
    rule_class,
)

__all__ = [
    "ATTRIBUTES",
    "MMR",
    "AttributeColumns",
    "AvailabilityWindow",
    "Blocklist",
    "CreatorCap",
    "CreatorSpacing",
    "Dedupe",
    "ExcludeSeen",
    "ExplorationSlot",
    "FreshnessBoost",
    "GeoRadius",
    "ItemAttributes",
    "OpeningHours",
    "Pin",
    "Pinned",
    "PriceRange",
    "Rule",
    "RuleConfig",
    "SensitiveCategories",
    "apply_rules",
    "available_rules",
    "build_rule",
    "build_rules",
    "haversine_km",
    "register_rule",
    "rule_class",
    "tfidf_matrix",
]
