"""Components declare what they need; the pipeline leaves out what the data lacks, before fitting."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Dataset, Interactions
from shortlist.data.facts import DataFacts, Need
from shortlist.data.world import generate_world
from shortlist.errors import ConfigError
from shortlist.pipeline import Pipeline, load_spec
from shortlist.pipeline.defaults import CONFIG_DIR, default_config_path, world_config_path
from shortlist.pipeline.needs import plan_spec
from shortlist.pipeline.resources import estimate_cost, memory_skips
from tests.conftest import block_interactions


def plain(n_users=60, n_items=40, timestamps=False) -> Dataset:
    data = block_interactions(n_users=n_users, n_items=n_items, density=0.4)
    if timestamps:
        data = Interactions(data.users, data.items, data.user_index, data.item_index, data.value,
                            timestamp=np.arange(data.n_events) * 60, weighting="binary")
    return Dataset("plain", data)


def lines(omitted):
    return [o.line() for o in omitted]


def test_default_spec_on_plain_interactions_leaves_out_exactly_what_needs_more():
    spec, omitted = plan_spec(load_spec(default_config_path()), DataFacts.from_dataset(plain()))
    assert lines(omitted) == [
        "model 'timelift' left out: no timestamps in the data (add a time column)",
        "source 'trending' left out: no timestamps in the data (add a time column)",
        "source 'content' left out: no item feature table in the data",
        "source 'friends' left out: no social graph in the data",
        "stage weight 'blend.model_timelift' left out: its model was left out",
    ]
    # session EASE runs on row order, so it stays; the time lift needs real times
    assert set(spec.models) == {"pop", "itemknn", "ease", "als", "gf", "sess", "warp"}
    assert "timelift" not in spec.features.scorers
    assert "model_timelift" not in spec.stages[0].params["weights"]
    assert [s.name for s in spec.sources] == ["ease", "als", "itemknn", "gf", "sess", "warp", "popular"]


def test_with_timestamps_trending_and_the_time_lift_stay():
    spec, omitted = plan_spec(load_spec(default_config_path()), DataFacts.from_dataset(plain(timestamps=True)))
    assert "trending" not in " ".join(lines(omitted))
    assert spec.models["timelift"].kind == "time-lift"
    assert spec.stages[0].params["weights"]["model_timelift"] == 0.5


def test_a_left_out_model_takes_its_sources_scorer_and_stage_weights_with_it():
    spec = load_spec(default_config_path()).model_dump(exclude_unset=True)
    spec["models"]["tr"] = {"kind": "trending"}
    spec["sources"].append({"name": "tr", "kind": "model", "model": "tr", "quota": 10})
    spec["features"]["scorers"].append("tr")
    spec["stages"][0]["params"]["weights"]["model_tr_z"] = 0.5
    planned, omitted = plan_spec(Pipeline(spec).spec, DataFacts.from_dataset(plain()))
    assert "model 'tr' left out: no timestamps in the data (add a time column)" in lines(omitted)
    assert "source 'tr' left out: its model 'tr' was left out" in lines(omitted)
    assert "stage weight 'blend.model_tr_z' left out: its model was left out" in lines(omitted)
    assert "tr" not in planned.models and "tr" not in planned.features.scorers
    assert "model_tr_z" not in planned.stages[0].params["weights"]


def test_world_spec_on_plain_interactions_runs_without_its_feature_parts():
    pipe = Pipeline.from_toml(world_config_path())
    pipe.fit(plain(timestamps=True), progress=False)
    got = lines(pipe.omitted_)
    assert "source 'popular_in_region' left out: no user feature table in the data (needs column 'country')" in got
    assert "source 'friends' left out: no social graph in the data" in got
    assert "feature 'price' left out: no item feature table in the data (needs column 'price')" in got
    assert "rule 'creator_cap' left out: needs item attribute(s) ['creator'], which the data does not provide" in got
    resp = pipe.recommend(3)
    assert len(resp.item_ids) == 10 and list(resp.trace.omitted) == got


@pytest.mark.parametrize("name", ["movielens.toml", "movielens-deepfm.toml", "latency.toml"])
def test_every_shipped_spec_runs_on_a_plain_table(name):
    if name == "movielens-deepfm.toml":
        pytest.importorskip("torch")
    pipe = Pipeline.from_toml(CONFIG_DIR / name)
    spec, omitted = plan_spec(pipe.spec, DataFacts.from_dataset(plain()))
    assert spec.sources  # something runs
    if name.startswith("movielens"):
        assert "feature 'genres' left out: no item feature table in the data (needs column 'genres')" in lines(omitted)


def test_world_spec_on_the_world_leaves_nothing_out():
    world = generate_world("tiny", seed=1).dataset()
    _, omitted = plan_spec(load_spec(world_config_path()), DataFacts.from_dataset(world))
    assert omitted == []


def test_required_component_is_an_error_that_names_the_fix_before_anything_is_fitted(monkeypatch):
    spec = load_spec(default_config_path()).model_dump(exclude_unset=True)
    spec["sources"][-1]["required"] = True  # friends: needs a social graph
    pipe = Pipeline(spec)

    def no_fit(*a, **k):
        raise AssertionError("a model was fitted before the spec was checked")

    monkeypatch.setattr("shortlist.pipeline.pipeline.create_model", no_fit)
    with pytest.raises(ConfigError, match=r"source 'friends' is marked required = true but cannot run: no social "
                                          r"graph in the data; add it to the data, or set required = false"):
        pipe.fit(plain(), progress=False)


def test_left_out_components_are_saved_and_shown_in_the_trace_after_load(tmp_path):
    pipe = Pipeline.from_toml(default_config_path())
    pipe.fit(plain(), progress=False)
    pipe.save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "pipeline.json").read_text())
    assert [o["name"] for o in meta["omitted"]] == ["timelift", "trending", "content", "friends", "blend.model_timelift"]
    loaded = Pipeline.load(tmp_path / "p")
    resp = loaded.recommend(2)
    assert list(resp.trace.omitted) == lines(pipe.omitted_)
    assert resp.to_dict(loaded, explain=True)["left_out"] == lines(pipe.omitted_)
    assert "source 'friends' left out" in resp.trace.format(loaded.items_)


def test_facts_name_what_is_missing():
    facts = DataFacts.from_dataset(generate_world("tiny", seed=1).dataset())
    assert facts.missing(Need("item_feature", "category")) is None
    assert facts.missing(Need("item_feature", "nope")).startswith("no item feature column 'nope' in the data (it has [")
    assert facts.missing(Need("social")) is None and facts.has_timestamps


def big_catalog(n_items=200_000, n_users=4_000, per_user=20, seed=0) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_users), per_user)
    cols = rng.integers(0, n_items, rows.size)
    m = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))
    m.data[:] = 1
    return Interactions.from_matrix(m, weighting="binary")


def test_a_200k_item_catalog_leaves_out_the_dense_models_with_their_memory_need():
    data = big_catalog()
    cost = estimate_cost("ease", {}, data)
    assert cost.bytes >= 8 * 200_000 ** 2 * 0.99  # at least one float64 n x n matrix
    skips = memory_skips(load_spec(default_config_path()).models, data, limit_bytes=16e9)
    assert set(skips) == {"ease", "gf", "sess"}
    assert skips["ease"].startswith("needs about 480.0 GB") and "a dense 200,000² inverse" in skips["ease"]
    pipe = Pipeline.from_toml(default_config_path())
    omitted = pipe.plan(Dataset("big", data))
    assert {o.name for o in omitted if o.component == "model" and "GB" in o.reason} == {"ease", "gf", "sess"}
    assert {o.name for o in omitted if o.component == "model"} == {"ease", "gf", "sess", "timelift"}  # no times
    assert {s.name for s in pipe.spec.sources} == {"als", "itemknn", "warp", "popular"}


def test_cost_estimates_grow_with_the_data():
    small, big = block_interactions(40, 30), block_interactions(200, 300)
    for kind in ("ease", "item-knn", "als", "graph-filter", "warp"):
        a, b = estimate_cost(kind, {}, small), estimate_cost(kind, {}, big)
        assert b.bytes > a.bytes and b.seconds > a.seconds, kind


def test_sgd_cost_follows_its_epochs_factors_and_threads():
    data = block_interactions(200, 300)
    base = estimate_cost("warp", {"num_threads": 1, "epochs": 20, "factors": 32}, data)
    assert "32 factors x 20 epochs" in base.why
    assert estimate_cost("warp", {"num_threads": 1, "epochs": 40, "factors": 32}, data).seconds == \
        pytest.approx(2 * base.seconds)
    assert estimate_cost("warp", {"num_threads": 1, "epochs": 20, "factors": 64}, data).seconds == \
        pytest.approx(2 * base.seconds)
    assert estimate_cost("warp", {"num_threads": 2, "epochs": 20, "factors": 32}, data).seconds == \
        pytest.approx(base.seconds / 2)
    # the preset's own epochs (56) and factors (64) where none are given
    assert "64 factors x 56 epochs" in estimate_cost("warp", {}, data).why
