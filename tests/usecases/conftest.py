"""Tiny use-case worlds and fitted presets, built once per test session."""

from __future__ import annotations

import pytest

from shortlist.data.world.usecases import usecase_world
from shortlist.pipeline import Pipeline
from shortlist.pipeline.usecases import load_usecase, usecase_config_path


@pytest.fixture(scope="session")
def delivery():
    """(world, dataset, fitted delivery pipeline) at the tiny size."""
    ucw = usecase_world("delivery", size="tiny", seed=1)
    ds = ucw.dataset()
    _, spec = load_usecase(usecase_config_path("delivery"))
    return ucw, ds, Pipeline(spec).fit(ds, progress=False)


@pytest.fixture(scope="session")
def social():
    """(world, dataset, fitted social pipeline) at the tiny size."""
    ucw = usecase_world("social", size="tiny", seed=2)
    ds = ucw.dataset()
    _, spec = load_usecase(usecase_config_path("social"))
    return ucw, ds, Pipeline(spec).fit(ds, progress=False)
