"""The one pydantic-error wording every config shares (shortlist.core.validation)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shortlist.core import config_error, validate_config
from shortlist.errors import ConfigError


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=0, description="an integer >= 0")


class Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    radius_km: float = Field(gt=0, description="a positive distance in km")
    pins: list[Inner] = Field(default_factory=list)
    note: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Cfg:
        if self.note == "bad":
            raise ValueError("note = 'bad' is not allowed; fix: remove note")
        return self


def _error(params, **kw) -> str:
    try:
        Cfg.model_validate(params)
    except ValidationError as exc:
        err = config_error(exc, "thing", Cfg, params, **kw)
        assert isinstance(err, ConfigError)
        return str(err)
    raise AssertionError("no error")


def test_key_value_and_fix_from_the_description():
    assert _error({"radius_km": -5}) == (
        "thing: radius_km=-5: Input should be greater than 0; fix: set radius_km to a positive distance in km"
    )


def test_unknown_key_suggests_the_closest_valid_key():
    msg = _error({"radius_km": 1, "radius_mk": 2})
    assert msg == ("thing: unknown key 'radius_mk' (value 2); fix: did you mean 'radius_km'? "
                   "valid keys are note, pins, radius_km")


def test_nested_keys_walk_into_nested_models():
    assert "pins.0.position=-1: Input should be greater than or equal to 0; fix: set pins.0.position to " \
        "an integer >= 0" in _error({"radius_km": 1, "pins": [{"position": -1}]})
    assert "unknown key 'pins.0.positon' (value 1); fix: did you mean 'position'? valid keys are position" in \
        _error({"radius_km": 1, "pins": [{"position": 1, "positon": 1}]})


def test_missing_keys_and_model_level_messages():
    assert _error({}) == "thing: missing key 'radius_km'; fix: set radius_km to a positive distance in km"
    assert _error({"radius_km": 1, "note": "bad"}) == "thing: note = 'bad' is not allowed; fix: remove note"


def test_toml_style_spells_keys_as_written_in_toml():
    msg = _error({"pins": [{"position": "x"}]}, style="toml")
    assert "missing required key 'radius_km'" in msg
    assert "pins[0].position = 'x': Input should be a valid integer" in msg


def test_fields_without_a_description_point_at_the_docs():
    assert "note=3: Input should be a valid string; fix: set note to a valid value (see docs/x.md)" in \
        _error({"radius_km": 1, "note": 3}, docs="docs/x.md")


def test_validate_config_raises_config_error():
    assert validate_config("thing", Cfg, {"radius_km": 2}).radius_km == 2
    with pytest.raises(ConfigError, match=r"^thing: radius_km=0: .*fix: set radius_km"):
        validate_config("thing", Cfg, {"radius_km": 0})
