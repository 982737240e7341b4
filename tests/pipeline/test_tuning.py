"""Self-tuning on validation folds of the training part: leakage, report, blend search, persistence."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.core.metrics import ranking_metrics
from shortlist.data import Dataset, Interactions
from shortlist.pipeline import Pipeline, evaluate_pipeline, load_spec
from shortlist.pipeline.defaults import CONFIG_DIR, default_config_path
from shortlist.pipeline.tuning import auto_budget, fit_tuned
from shortlist.pipeline.tuning.blend import ValidationRows, search_blend
from shortlist.pipeline.tuning.compose import refit_peak_bytes
from tests.conftest import block_interactions


def timed_blocks(n_users=80, n_items=50, seed=0) -> Interactions:
    data = block_interactions(n_users=n_users, n_items=n_items, density=0.35, seed=seed)
    rng = np.random.default_rng(seed)
    return Interactions(data.users, data.items, data.user_index, data.item_index, data.value,
                        timestamp=rng.permutation(data.n_events).astype(np.int64) * 60, weighting="binary")


def quick_spec(**tuning):
    spec = load_spec(default_config_path()).model_dump(exclude_unset=True)
    spec["tuning"] = {"trials": 3, "blend_trials": 15, **tuning}
    return spec


def test_auto_budget_grows_with_the_data_within_bounds():
    assert auto_budget(1_000) == 8.0
    assert auto_budget(75_000) == 375.0
    assert auto_budget(75_000, one_fit_each=150.0) == 450.0  # three fits of each model
    assert auto_budget(10_000_000) == 600.0


def test_changing_the_test_part_does_not_change_what_tuning_chooses():
    a = timed_blocks()
    cut = np.quantile(a.timestamp, 0.8)
    later = a.timestamp > cut
    # B: the same training part, other items in the test period (shifted to the other community)
    items_b = a.item_index.copy()
    items_b[later] = (items_b[later] + a.n_items // 2) % a.n_items
    b = Interactions(a.users, a.items, a.user_index, items_b, a.value, a.timestamp, weighting="binary")
    chosen, scores = [], []
    for data in (a, b):
        pipe = Pipeline(quick_spec(final_stages=["linear"]))
        res = evaluate_pipeline(pipe, Dataset("d", data), "temporal:0.8", seed=1, k=5, budget=None)
        trials = [[(t["params"], t["score"], t["state"]) for t in m.trials] for m in pipe.tuning_.models]
        chosen.append((pipe.tuning_.chosen, trials, pipe.tuning_.blend["weights"]))
        scores.append(res["rules"].metrics["ndcg@5"])
    assert chosen[0] == chosen[1]
    assert scores[0] != scores[1]  # the test parts really differ


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tuned")
    pipe = Pipeline(quick_spec())
    logged = []
    fit_tuned(pipe, Dataset("blocks", timed_blocks()), log=logged.append, storage_dir=folder / "tuning")
    return pipe, folder, logged


def test_report_holds_every_trial_and_the_best_settings(tuned):
    pipe, folder, logged = tuned
    report = pipe.tuning_
    by_name = {m.name: m for m in report.models}
    assert set(by_name) == {"pop", "itemknn", "ease", "als", "gf", "sess", "warp", "timelift"}
    assert len(by_name["pop"].trials) == 1  # nothing to tune
    assert len(by_name["timelift"].trials) == 1  # a blend term: its own ndcg cannot choose its settings
    assert by_name["warp"].best_params["num_threads"] == 1  # declared, so not searched
    for name in ("itemknn", "ease", "als", "gf", "sess", "warp"):
        m = by_name[name]
        assert len(m.trials) == 3, name
        complete = [t for t in m.trials if t["state"] == "complete"]
        best = max(complete, key=lambda t: t["score"])
        assert m.best_score == pytest.approx(best["score"])
        assert m.best_params == {k: best["params"][k] for k in m.best_params}
    assert all(0.0 <= w <= 1.0 for w in report.blend["weights"].values())
    assert report.best_single == max(((m.name, m.best_score) for m in report.models), key=lambda t: t[1])
    saved = json.loads((folder / "tuning" / "report.json").read_text())
    assert len(saved["models"][1]["trials"]) == len(report.models[1].trials)
    assert (folder / "tuning" / "optuna-journal.log").stat().st_size > 0
    text = (folder / "tuning" / "report.txt").read_text()
    assert "blend weights" in text and "on the blend's validation rows: best model alone" in text
    assert any(line.startswith(("tuned ease (ease): 3 trials", "tuned ease (ease): ")) for line in logged)


def test_the_tuned_spec_is_what_the_report_says(tuned):
    pipe, _, _ = tuned
    chosen = pipe.tuning_.chosen["models"]
    assert set(pipe.spec.models) == set(chosen)
    for name, c in chosen.items():
        assert pipe.spec.models[name].params == c["params"]
        assert pipe.spec.stages[0].params["weights"][f"model_{name}_z"] == c["weight"]
    assert pipe.spec.tuning.budget == 0  # already tuned: fitting it again does not tune again
    assert {s.model for s in pipe.spec.sources if s.model} == set(chosen)


def test_a_saved_tuned_pipeline_loads_and_answers_the_same(tuned, tmp_path):
    pipe, _, _ = tuned
    pipe.save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "pipeline.json").read_text())
    assert meta["tuning"]["chosen"]["models"].keys() == pipe.tuning_.chosen["models"].keys()
    loaded = Pipeline.load(tmp_path / "p")
    for user in range(5):
        assert loaded.recommend(user).item_ids == pipe.recommend(user).item_ids


def test_specs_without_a_tuning_section_are_fitted_as_declared():
    pipe = Pipeline.from_toml(CONFIG_DIR / "movielens.toml")
    fit_tuned(pipe, Dataset("blocks", timed_blocks()))
    assert getattr(pipe, "tuning_", None) is None
    assert pipe.spec.models["als"].params == {"factors": 32}


def test_budget_zero_fits_the_default_spec_as_declared():
    pipe = Pipeline.from_toml(default_config_path())
    fit_tuned(pipe, Dataset("blocks", timed_blocks()), budget=0)
    assert getattr(pipe, "tuning_", None) is None
    assert pipe.spec.stages[0].params["weights"]["model_ease_z"] == 1.0


def test_auto_weighting_is_chosen_on_validation():
    data = rated_blocks()
    pipe = Pipeline(quick_spec(final_stages=["linear"]))
    fit_tuned(pipe, Dataset("r", data, info={"values": "ratings", "weighting": "auto"}))
    w = pipe.tuning_.weighting
    assert set(w["scores"]) == {"binary", "value", "log", "threshold:3"}  # median rating 3
    assert w["chosen"] == max(w["scores"], key=w["scores"].get)
    assert pipe.dataset_.interactions.weighting.kind == w["chosen"]


def rated_blocks() -> Interactions:
    base = timed_blocks()
    ratings = np.random.default_rng(3).integers(1, 6, base.n_events).astype(np.float32)
    return Interactions(base.users, base.items, base.user_index, base.item_index, ratings, base.timestamp,
                        weighting="value")


def test_the_weighting_is_chosen_unless_the_caller_named_one(tmp_path):
    from shortlist.data.loading import load_data
    from shortlist.pipeline.tuning import tuner as tuner_module

    data = rated_blocks()
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n" + "".join(
        f"{data.users.ids[u]},{data.items.ids[i]},{r:g}\n"
        for u, i, r in zip(data.user_index, data.item_index, data.value)))
    pipe = Pipeline(quick_spec(final_stages=["linear"]))
    cols = "user=user,item=item,rating=rating"
    # loaded with its default weighting: ratings give cells five values, the tuner compares
    default = tuner_module._Tuner(pipe, load_data(path, columns=cols), 100.0, False, None, None)
    assert default.weighting_options() == ["binary", "value", "log", "threshold:3"]
    # a weighting named by the caller is kept
    named = tuner_module._Tuner(pipe, load_data(path, columns=cols, weighting="log"), 100.0, False, None, None)
    assert named.dataset.info["weighting"] == "log" and named.weighting_options() == []
    # every cell weighs 1 (no values, no repeats): nothing to choose
    path.write_text("user,item\n" + "".join(f"{data.users.ids[u]},{data.items.ids[i]}\n"
                                            for u, i in zip(data.user_index, data.item_index)))
    plain = tuner_module._Tuner(pipe, load_data(path, columns="user=user,item=item"), 100.0, False, None, None)
    assert plain.weighting_options() == []


def test_the_weighting_probe_is_a_model_whose_fits_the_budget_affords(monkeypatch):
    from shortlist.pipeline.resources import Cost
    from shortlist.pipeline.tuning import tuner as tuner_module

    seconds = {"ease": 20.0, "als": 1.0}
    monkeypatch.setattr(tuner_module, "estimate_cost",
                        lambda kind, params, data: Cost(10**6, seconds.get(kind, 0.5), "a test cost"))
    models = load_spec(default_config_path()).models
    data = Dataset("r", rated_blocks(), info={"values": "ratings"})
    options = ["binary", "value", "log"]
    pipe = Pipeline(quick_spec())
    assert tuner_module._Tuner(pipe, data, 600.0, False, None, None).weighting_probe(models, options) == "ease"
    # three EASE fits (60 s) are over a tenth of a 300 s budget: ALS compares the weightings
    assert tuner_module._Tuner(pipe, data, 300.0, False, None, None).weighting_probe(models, options) == "als"
    renamed = {"mine": models["als"], "pop": models["pop"]}  # found by its kind, not its name
    assert tuner_module._Tuner(pipe, data, 300.0, False, None, None).weighting_probe(renamed, options) == "mine"
    only = {n: models[n] for n in ("ease", "pop")}  # neither ALS nor item-kNN: the cheapest model
    assert tuner_module._Tuner(pipe, data, 300.0, False, None, None).weighting_probe(only, options) == "pop"


def rows_for(scores_by_user, relevant_by_user, n_items=10, names=("a", "b")):
    """ValidationRows from per-user (item -> feature values) dicts."""
    users = len(scores_by_user)
    width = max(len(s) for s in scores_by_user)
    items = np.full((users, width), -1, np.int64)
    x = np.full((users, width, len(names)), np.nan, np.float32)
    for u, feats in enumerate(scores_by_user):
        for c, (item, vals) in enumerate(feats.items()):
            items[u, c] = item
            x[u, c] = vals
    rel = sp.lil_matrix((users, n_items), dtype=np.float32)
    for u, r in enumerate(relevant_by_user):
        for i in r:
            rel[u, i] = 1
    return ValidationRows(np.arange(users), items, x, [f"model_{n}_z" for n in names], rel.tocsr())


def test_validation_metric_is_the_evaluators_ndcg_with_unproposed_items_in_the_ideal():
    rows = rows_for([{1: (3.0, 0.0), 2: (2.0, 0.0), 3: (1.0, 0.0)}], [{2, 7}])  # item 7 never proposed
    got = rows.metric(rows.column("model_a_z"), k=3)
    # by hand: hit at rank 2 -> 1/log2(3); ideal over 2 relevant -> 1 + 1/log2(3)
    assert got == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    top = rows.top(rows.column("model_a_z"), 3)
    assert got == pytest.approx(ranking_metrics(top, rows.relevant, 3)["ndcg"][0])


def test_blend_search_puts_weight_on_the_feature_that_ranks_relevant_items_first():
    rng = np.random.default_rng(0)
    users, rel = [], []
    for u in range(30):
        items = rng.choice(50, 12, replace=False)
        good = set(items[:2].tolist())
        users.append({int(i): ((5.0 if i in good else 0.0) + rng.normal(0, 0.1), rng.normal())
                      for i in items})
        rel.append(good)
    rows = rows_for(users, rel, n_items=50)
    weights, score, trials = search_blend(rows, ["model_a_z", "model_b_z"], k=2, metric="ndcg", n_trials=10, seed=0)
    assert score == pytest.approx(1.0)
    assert weights["model_a_z"] > weights["model_b_z"]
    assert len(trials) == 10 and trials[0]["weights"] == {"model_a_z": 1.0, "model_b_z": 0.0}


def test_memory_is_sized_for_the_costliest_corner_of_a_space():
    from shortlist.data.facts import DataFacts
    from shortlist.pipeline.resources import estimate_cost
    from shortlist.pipeline.tuning.search import _upper_corner
    from shortlist.pipeline.tuning.spaces import model_space

    facts = DataFacts(n_users=500, n_items=300, n_events=5000, nnz=5000, has_timestamps=False, has_event_order=True)
    corner = _upper_corner(model_space("graph-filter", facts))
    assert corner == {"factors": 256, "ideal_weight": 3.0, "sharpen": 1.0}
    data = block_interactions(40, 30)
    # sharpening holds one more n x n matrix: the corner costs more than the default
    assert estimate_cost("graph-filter", corner, data).bytes > estimate_cost("graph-filter", {}, data).bytes


def test_an_auto_budget_below_its_cap_skips_no_model_for_time(monkeypatch):
    from shortlist.pipeline.resources import Cost
    from shortlist.pipeline.tuning import tuner as tuner_module

    seconds = {"ease": 60.0, "gf": 30.0}  # the rest: 2 s each

    def fake_cost(kind, params, data):
        return Cost(10**6, seconds.get({"graph-filter": "gf"}.get(kind, kind), 2.0), "a test cost")

    monkeypatch.setattr(tuner_module, "estimate_cost", fake_cost)
    data = Dataset("d", timed_blocks())
    models = load_spec(default_config_path()).models
    pipe = Pipeline(quick_spec(budget="auto"))
    auto = tuner_module._Tuner(pipe, data, None, False, None, None)
    # three fits of every model: 3 x (60 + 30 + 6 x 2) = 306 s; EASE's even share is 306 x 0.6 / 8 = 23 s
    assert auto.budget == pytest.approx(306.0) and auto.affords_every_fit
    assert auto.skips(models, data.interactions) == {}
    given = tuner_module._Tuner(pipe, data, 306.0, False, None, None)  # the same seconds, given by hand
    skipped = given.skips(models, data.interactions)
    assert set(skipped) == {"ease"} and "over its 23 s share of the tuning budget" in skipped["ease"]
    seconds["ease"] = 400.0  # three fits of each would pass the 600 s cap: the time rule is back
    capped = tuner_module._Tuner(pipe, data, None, False, None, None)
    assert capped.budget == 600.0 and not capped.affords_every_fit
    assert set(capped.skips(models, data.interactions)) == {"ease"}


def _simulated_refit_peak(states: list[int], peaks: list[int], folds: int) -> int:
    """Memory over time of fitting every model of every fold in turn, keeping each fitted one."""
    held, worst = 0, 0
    for _ in range(folds):
        for state, peak in zip(states, peaks):
            worst = max(worst, held + peak)
            held += state
    return max(worst, held)


def test_the_blend_folds_memory_rule_is_the_peak_of_fitting_them_in_turn():
    # a 3-unit model peaking at 10 while it fits, then a 1-unit one peaking at 2: the second
    # fold's first fit (4 held + 10) is the peak, not every fold's models plus a fit (18)
    assert refit_peak_bytes([3, 1], [10, 2], 2) == 14
    assert refit_peak_bytes([3, 1], [10, 2], 1) == 10
    assert refit_peak_bytes([5, 5], [6, 6], 2) == 21  # the last fit: three models held + 6
    assert refit_peak_bytes([5, 5], [5, 5], 2) == 20  # no transient memory: all four fitted models
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 6))
        states = rng.integers(0, 100, n).tolist()
        peaks = [s + int(x) for s, x in zip(states, rng.integers(0, 300, n))]
        folds = int(rng.integers(1, 5))
        assert refit_peak_bytes(states, peaks, folds) == _simulated_refit_peak(states, peaks, folds)


def _term_rows(term_signal: float, seed: int = 0, users: int = 300, width: int = 40) -> ValidationRows:
    """A collaborative z-score and a blend term; the term carries ``term_signal`` of its own view of relevance."""
    rng = np.random.default_rng(seed)
    relevant = np.zeros((users, width), bool)
    for u in range(users):
        relevant[u, rng.choice(width, 4, replace=False)] = True
    cf = relevant * 1.0 + rng.normal(0, 1.0, (users, width))
    term = term_signal * relevant + rng.normal(0, 1.0, (users, width))
    x = np.stack([cf, term], -1).astype(np.float32)
    items = np.tile(np.arange(width), (users, 1))
    return ValidationRows(np.arange(users), items, x, ["model_cf_z", "model_lift"], sp.csr_matrix(relevant * 1.0))


def _term_spec():
    from shortlist.pipeline.spec import PipelineSpec

    return PipelineSpec.model_validate({
        "name": "terms", "k": 10,
        "models": {"cf": {"kind": "ease"}, "lift": {"kind": "time-lift"}},
        "sources": [{"name": "cf", "kind": "model", "model": "cf", "quota": 40}],
        "features": {"scorers": ["cf", "lift"]},
        "stages": [{"name": "blend", "kind": "linear", "budget": 40,
                    "params": {"weights": {"model_cf_z": 1.0, "model_lift": 0.5}}}],
        "tuning": {"blend_trials": 60},
    })


@pytest.mark.parametrize("signal, kept", [(0.8, True), (0.0, False)])
def test_a_blend_term_stays_only_when_it_wins_on_held_out_validation_users(signal, kept):
    from types import SimpleNamespace

    from shortlist.pipeline.tuning.compose import blend_feature, blend_terms_by_cv
    from shortlist.pipeline.tuning.report import TuningReport

    spec = _term_spec()
    assert blend_feature(spec, "lift") == "model_lift" and blend_feature(spec, "cf") == "model_cf_z"
    logged = []
    tuner = SimpleNamespace(ts=spec.tuning, k=10, metric="ndcg", log=logged.append, report=TuningReport("ndcg", 10.0))
    rows = _term_rows(signal)
    # in-sample weights: even a term of pure noise gets some weight on the rows it was fitted on
    dropped = blend_terms_by_cv(tuner, spec, rows, ["cf", "lift"], {"cf": 0.8, "lift": 0.3})
    assert dropped == ([] if kept else ["lift"])
    scores = tuner.report.blend["terms_cv"]
    assert (scores["with every term"] > scores["without lift"]) == kept
    assert logged[0].startswith(f"blend term 'lift' {'kept' if kept else 'left out'}: 2-fold cross-validation ndcg@10")
