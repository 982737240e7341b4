"""Fixtures of the inspector's tests: one small trained world (with an exploration slot), saved once per session."""

from __future__ import annotations

import tomllib

import pytest

from tests.serving.helpers import API_KEY, make_app  # noqa: F401 - re-exported for the test modules


def world_spec() -> dict:
    """configs/world.toml made lighter for tests, plus an exploration slot (logged propensities)."""
    from shortlist.pipeline.defaults import world_config_path

    spec = tomllib.loads(world_config_path().read_text())
    spec["models"]["als"]["params"].update(factors=16, iterations=5)
    spec["stages"][1]["params"].update(n_estimators=30)
    spec["training"]["max_users"] = 150
    spec["rules"].append({"kind": "exploration", "positions": [2], "pool": "least-seen", "rate": 1.0, "seed": 0})
    return spec


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    """The tiny synthetic world's pipeline, trained and saved (users u0.., items i0.., titles, categories)."""
    from shortlist.data.world import generate_world
    from shortlist.pipeline import Pipeline

    folder = tmp_path_factory.mktemp("ui-world") / "v1"
    dataset = generate_world("tiny", seed=0).dataset()
    Pipeline(world_spec()).fit(dataset, progress=False).save(folder)
    return folder


@pytest.fixture(scope="session")
def world_dir_v2(tmp_path_factory, world_dir):
    """A second version (another seed of the ALS model) for side-by-side pages."""
    from shortlist.data.world import generate_world
    from shortlist.pipeline import Pipeline

    folder = tmp_path_factory.mktemp("ui-world") / "v2"
    spec = world_spec()
    spec["models"]["als"]["params"]["factors"] = 8
    spec["rules"] = [r for r in spec["rules"] if r["kind"] != "exploration"]
    Pipeline(spec).fit(generate_world("tiny", seed=0).dataset(), progress=False).save(folder)
    return folder
