"""``[cluster] engine = "ray"`` and ``shortlist train --ray``: the pipeline's ALS fitted on the cluster."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.cli.main import main
from shortlist.data.world import generate_world
from shortlist.distributed import on_ray
from shortlist.errors import ConfigError
from shortlist.pipeline import Pipeline

from .specs import spec


@pytest.fixture(scope="module")
def world_data():
    return generate_world("tiny", seed=5).dataset()


def test_a_ray_spec_refuses_a_plain_fit(world_data):
    with pytest.raises(ConfigError, match=r"on_ray\(pipeline\)"):
        Pipeline(spec("ray")).fit(world_data, progress=False)


@pytest.mark.slow
def test_a_ray_spec_fits_the_same_pipeline_as_a_local_one(ray_cluster, world_data):
    local = Pipeline(spec("local")).fit(world_data, progress=False)
    pipe = Pipeline(spec("ray"))
    with on_ray(pipe):
        pipe.fit(world_data, progress=False)
    assert pipe.model_fitter is None  # back to local fits after the block
    np.testing.assert_allclose(pipe.models_["als"].item_factors_, local.models_["als"].item_factors_, atol=2e-5)
    users = world_data.interactions.users.ids[:20]
    same = [pipe.recommend(u).item_ids == local.recommend(u).item_ids for u in users]
    assert sum(same) >= 19


@pytest.mark.slow
def test_cli_train_with_ray(ray_cluster, tmp_path, capsys):
    cfg = tmp_path / "p.toml"
    cfg.write_text(_toml(spec("local")))
    out = tmp_path / "model"
    assert main(["train", "--config", str(cfg), "--data", "synthetic:tiny,seed=5", "--out", str(out),
                 "--ray", "auto"]) == 0
    trained = Pipeline.load(out)
    local = Pipeline(spec("local")).fit(generate_world("tiny", seed=5).dataset(), progress=False)
    np.testing.assert_allclose(trained.models_["als"].user_factors_, local.models_["als"].user_factors_, atol=2e-5)


def _toml(d: dict) -> str:
    """Just enough TOML for the test spec (tables, arrays of tables, inline scalars)."""
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return repr(v)
    lines = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, (dict, list))]
    for name, m in d["models"].items():
        lines += [f"[models.{name}]", *(f"{k} = {val(v)}" for k, v in m.items())]
    for key in ("sources", "rules"):
        for entry in d[key]:
            lines += [f"[[{key}]]", *(f"{k} = {val(v)}" for k, v in entry.items())]
    for key in ("tuning", "cluster"):
        lines += [f"[{key}]", *(f"{k} = {val(v)}" for k, v in d[key].items())]
    return "\n".join(lines) + "\n"
