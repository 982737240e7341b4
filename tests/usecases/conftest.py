"""Tiny use-case worlds and fitted presets, built once per test session."""

from __future__ import annotations

import pytest

from shortlist.data.world.usecases import usecase_world
from shortlist.pipeline import Pipeline
from shortlist.pipeline.usecases import load_usecase, usecase_config_path


def fitted_preset(name: str, seed: int) -> tuple:
    """(world, dataset, the preset's pipeline fitted on it) for use case ``name`` at the tiny size."""
    ucw = usecase_world(name, size="tiny", seed=seed)
    ds = ucw.dataset()
    _, spec = load_usecase(usecase_config_path(name))
    return ucw, ds, Pipeline(spec).fit(ds, progress=False)


@pytest.fixture(scope="session")
def delivery():
    """(world, dataset, fitted delivery pipeline) at the tiny size."""
    return fitted_preset("delivery", seed=1)


@pytest.fixture(scope="session")
def social():
    """(world, dataset, fitted social pipeline) at the tiny size."""
    return fitted_preset("social", seed=2)


@pytest.fixture(scope="session")
def news():
    """(world, dataset, fitted news pipeline) at the tiny size."""
    return fitted_preset("news", seed=4)
