"""The served pipeline: trained once per catalog, config and seed, then reused from its cache folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from _shared import cached_pipeline  # benchmarks/_shared.py (the script's folder is on sys.path)

from _serve_load.processes import ROOT

__all__ = ["LIGHT_SPEC", "WORLD_100K", "trained_model"]

LIGHT_SPEC = {
    "name": "serve-bench", "k": 10,
    "models": {"ease": {"kind": "ease"}, "mf": {"kind": "mf-mse", "params": {"factors": 32, "use_bias": False}},
               "pop": {"kind": "popularity"}},
    "sources": [{"name": "ease", "kind": "model", "model": "ease", "quota": 100},
                {"name": "mf", "kind": "model", "model": "mf", "quota": 100},
                {"name": "pop", "kind": "model", "model": "pop", "quota": 50}],
}
#: the 100k-item world of benchmarks/pipeline_latency.py
WORLD_100K = {"n_users": 50_000, "n_items": 100_000, "n_interactions": 1_000_000,
              "n_creators": 5_000, "n_categories": 100}


def _stamp(catalog: str, config: str | None, seed: int) -> dict:
    if catalog == "synthetic-100k":
        from shortlist.pipeline.defaults import CONFIG_DIR

        config = config or str(CONFIG_DIR / "latency.toml")
    text = Path(config).read_text() if config else json.dumps(LIGHT_SPEC, sort_keys=True)
    return {"catalog": catalog, "seed": seed, "config": config,
            "config_sha256": hashlib.sha256(text.encode()).hexdigest()}


def _fit(catalog: str, stamp: dict):
    from shortlist.pipeline import Pipeline, load_spec

    spec = load_spec(stamp["config"]) if stamp["config"] else LIGHT_SPEC
    if catalog == "synthetic-100k":
        from shortlist.data.world import generate_world

        data = generate_world("medium", seed=stamp["seed"], **WORLD_100K).dataset()
    else:
        from shortlist.data.loading import load_data

        path = ROOT.parent / "shared" / "data" / "ml-100k"
        data = load_data(path) if path.exists() else load_data("synthetic:small")
    return Pipeline(spec).fit(data, progress=False)


def trained_model(catalog: str, config: str | None, seed: int, cache: Path) -> Path:
    """The pipeline folder for ``catalog``: reused from ``cache`` when trained with the same inputs."""
    stamp = _stamp(catalog, config, seed)
    model, seconds = cached_pipeline(cache, stamp, lambda: _fit(catalog, stamp))
    print(f"reusing the pipeline trained in {model}" if seconds is None
          else f"trained {catalog} in {seconds:.0f} s -> {model}")
    return model
