"""Parameters are declared once per component and validated one way (shortlist.core.parameters)."""

from __future__ import annotations

import re

import pytest

from shortlist.bandits.simulation import make_policy
from shortlist.cli.components import print_listing
from shortlist.core.parameters import describe_params, params_model, validate_params
from shortlist.errors import ConfigError
from shortlist.models.registry import create_model
from shortlist.pipeline.spec import StageSpec
from shortlist.pipeline.stages import Stage
from shortlist.retrieval.sources import SOURCES
from shortlist.rules.registry import build_rule


def _model(params):
    return create_model("als", params)


def _policy(params):
    return make_policy("egreedy", **params)


def _stage(params):
    return Stage(StageSpec(name="ranker", kind="lightgbm", budget=40, params=params))


def _rule(params):
    return build_rule("creator_cap", params)


def _source(params):
    return SOURCES.get_class("popular")(**params)


#: one bad value per kind of component: (build, params, key, the fix's words)
BAD = [
    (_model, {"factors": -1}, "factors", "an integer > 0"),
    (_model, {"factors": "many"}, "factors", "an integer > 0"),  # a CLI string that is no number
    (_policy, {"epsilon": 1.5}, "epsilon", "a number >= 0 and <= 1"),
    (_policy, {"gamma": "0"}, "gamma", "a number > 0 and <= 1"),
    (_stage, {"learning_rate": 0}, "learning_rate", "a number > 0 and <= 1"),
    (_stage, {"objective": "pairwise"}, "objective", "one of 'lambdarank'"),
    (_rule, {"max_per_creator": 0}, "max_per_creator", ""),
    (_source, {"quota": 0}, "quota", ""),
]


@pytest.mark.parametrize("build, params, key, words", BAD)
def test_a_bad_value_gives_one_error_naming_key_value_and_fix(build, params, key, words):
    with pytest.raises(ConfigError) as info:
        build(params)
    msg = str(info.value)
    assert f"{key}={params[key]!r}" in msg, msg
    assert "fix:" in msg and key in msg.split("fix:")[1], msg
    assert words in msg, msg
    assert msg.count("fix:") == 1, msg


@pytest.mark.parametrize("build, key", [(_model, "factorz"), (_policy, "epsilom"), (_stage, "n_estimator")])
def test_an_unknown_key_says_did_you_mean(build, key):
    with pytest.raises(ConfigError, match=rf"unknown key '{key}' \(value 3\); fix: did you mean"):
        build({key: 3})


def test_command_line_strings_are_coerced_by_the_declared_type():
    model = create_model("als", {"factors": "16", "random_state": "none", "log_scaling": "yes", "alpha": "0.5"})
    assert (model.factors, model.random_state, model.log_scaling, model.alpha) == (16, None, True, 0.5)
    assert make_policy("linucb", alpha="0", window="50").window == 50
    stage = _stage({"n_estimators": "20", "learning_rate": "0.1"})
    assert stage.scorer.n_estimators == 20 and stage.scorer.learning_rate == 0.1


def test_values_given_in_python_are_kept_as_given():
    model = create_model("als", {"regularization": 10})
    assert model.regularization == 10 and isinstance(model.regularization, int)


def test_a_string_in_python_where_a_number_is_declared_is_an_error():
    from shortlist.models import EASE

    with pytest.raises(ConfigError, match=r"regularization='300': a string where a number > 0 is declared; fix"):
        EASE(regularization="300")._validate_params()


def test_booleans_are_not_numbers():
    with pytest.raises(ConfigError, match="factors=True: expected a number"):
        create_model("als", {"factors": True})


def test_components_lists_types_and_defaults_from_the_declaration(capsys):
    print_listing("models", "als")
    out = capsys.readouterr().out
    assert "    factors: an integer > 0 = 64" in out
    assert "    solver: one of 'cg', 'cholesky' = 'cg'" in out
    print_listing("stages", "lightgbm")
    assert "    learning_rate: a number > 0 and <= 1 = 0.05" in capsys.readouterr().out
    print_listing("policies", "egreedy")
    assert "    window: an integer > 0 or None = None" in capsys.readouterr().out
    print_listing("sources", "popular")
    assert "    quota: an integer > 0 = 200" in capsys.readouterr().out


def test_the_listing_and_the_validation_read_the_same_model():
    from shortlist.models.als import ALS

    names = [n for n, _, _ in describe_params(ALS)]
    assert names == list(params_model(ALS).model_fields)
    checked = validate_params("model 'als'", params_model(ALS), {})
    assert checked["factors"] == 64 and re.fullmatch(r"\w+", names[0])
