"""Pipeline spec validation: errors name the key, the value and the fix."""

import pytest

from shortlist.errors import ConfigError
from shortlist.pipeline import load_spec, parse_spec

BASE = {
    "models": {"pop": {"kind": "popularity"}},
    "sources": [{"name": "pop", "kind": "model", "model": "pop", "quota": 100}],
    "stages": [{"name": "rank", "kind": "lightgbm", "budget": 50}],
}


def spec_with(**changes):
    data = {k: (list(v) if isinstance(v, list) else dict(v)) for k, v in BASE.items()}
    data.update(changes)
    return data


def test_valid_spec_parses():
    spec = parse_spec(BASE)
    assert spec.sources[0].quota == 100 and spec.stages[0].budget == 50 and spec.k == 10


@pytest.mark.parametrize(
    "data, needle",
    [
        (spec_with(colour="red"), "unknown key 'colour'"),
        (spec_with(sources=[{"name": "pop", "kind": "model", "model": "pop", "quota": 100, "qouta": 3}]),
         "sources[0]: source 'model': unknown key 'qouta'"),
        (spec_with(sources=[{"name": "pop", "kind": "model", "model": "pop", "quota": "many"}]),
         "sources[0].quota = 'many'"),
        (spec_with(sources=[{"name": "pop", "kind": "model", "model": "pop", "quota": 0}]),
         "sources[0].quota = 0"),
        (spec_with(stages=[{"name": "r", "kind": "lightgbm", "budget": 500}]),
         "stages[0].budget = 500 is larger than the candidate sources (sum of quotas) (100)"),
        (spec_with(stages=[{"name": "a", "kind": "linear", "budget": 50}, {"name": "b", "kind": "lightgbm", "budget": 60}]),
         "stages[1].budget = 60 is larger than stages[0].budget (50)"),
        (spec_with(k=80), "k = 80 is larger than the last budget (50)"),
        (spec_with(sources=[]), "declare at least one [[sources]] entry"),
        (spec_with(sources=[{"name": "x", "kind": "model", "model": "als", "quota": 10}]),
         "sources[0].model = 'als' is not declared under [models]"),
        (spec_with(stages=[{"name": "r", "kind": "xgboost", "budget": 5}]), "stages[0].kind = 'xgboost'"),
        (spec_with(sources=[{"name": "x", "kind": "telepathy", "quota": 10}]), "unknown source kind 'telepathy'"),
        (spec_with(rules=[{"kind": "creator_cap", "max_per_creater": 2}]), "rules[0]: rule 'creator_cap'"),
        (spec_with(rules=[{"kind": "nope"}]), "rules[0]"),
        ({"models": {}}, "missing required key 'sources'"),
    ],
)
def test_bad_specs(data, needle):
    with pytest.raises(ConfigError) as info:
        parse_spec(data)
    assert needle in str(info.value)


def test_load_spec_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(bad)
