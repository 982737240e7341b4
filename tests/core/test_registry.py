"""core.registry: decorator registration, optional extras, "did you mean", listing."""

import pytest

from shortlist.core.registry import Extra, Registry, check_known_keys
from shortlist.errors import ConfigError


def test_register_lookup_suggest_and_list():
    reg = Registry("widget kind")

    @reg.register("round-widget", size=3)
    class Round:
        """A round widget.

        More text.
        """

    assert reg["round-widget"] is Round and Round.kind == "round-widget"
    assert reg.defaults("round-widget") == {"size": 3}
    assert reg.describe() == [("round-widget", "Round", "A round widget.")]
    with pytest.raises(ConfigError, match=r"unknown widget kind 'round-widgte'; fix: did you mean 'round-widget'\?"):
        reg.get_class("round-widgte")
    with pytest.raises(ConfigError, match="registered twice"):
        reg.register("round-widget")(type("Other", (), {}))
    assert reg.get("nope") is None and "nope" not in reg


def test_a_missing_optional_dependency_names_the_extra():
    reg = Registry("model", optional=(Extra("shortlist_no_such_module", "gpu", ("fast-model",)),))
    with pytest.raises(ConfigError, match=r"install extra gpu: pip install 'shortlist\[gpu\]'"):
        reg.get_class("fast-model")
    assert reg.missing() == {"fast-model": "gpu"}


def test_unknown_parameter_names_the_close_one():
    with pytest.raises(ConfigError, match=r"has no parameter 'factor' \(value 8\); fix: did you mean 'factors'\?"):
        check_known_keys("model 'als'", {"factor": 8}, {"factors": 64, "alpha": 1.0})


def test_every_component_kind_uses_the_one_registry():
    from shortlist.bandits.base import POLICIES
    from shortlist.models.registry import MODELS
    from shortlist.pipeline.stage_kinds import STAGES
    from shortlist.retrieval.sources import SOURCES
    from shortlist.rules.registry import RULES

    for reg, name in ((MODELS, "ease"), (SOURCES, "popular"), (STAGES, "lightgbm"), (RULES, "creator_cap"),
                      (POLICIES, "egreedy")):
        assert isinstance(reg, Registry) and name in reg.names()
