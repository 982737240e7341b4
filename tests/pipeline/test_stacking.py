"""Stacked ranking stages: a later stage reads the previous stage's scores and refines them."""

from types import SimpleNamespace

import numpy as np
import pytest

from shortlist.data import Dataset
from shortlist.errors import ConfigError
from shortlist.pipeline import Pipeline, parse_spec
from shortlist.pipeline.stages import PREVIOUS, standardise
from shortlist.pipeline.training import TrainingRow, fit_stages
from tests.conftest import block_interactions
from tests.pipeline.test_pipeline import SPEC

CHEAP = {"name": "cheap", "kind": "linear", "budget": 20}


def _zscore(s: np.ndarray) -> np.ndarray:
    """Independent within-request standardisation, in float64."""
    s = np.asarray(s, np.float64)
    return (s - s.mean()) / s.std()


def _rows(n_users: int, n_cands: int, n_features: int, seed: int) -> list:
    """Synthetic ranker training rows: (items, features, labels, user) per user."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(1000, n_cands, replace=False)
        x = rng.normal(size=(n_cands, n_features)).astype(np.float32)
        rel = x[:, 0] + 0.5 * rng.normal(size=n_cands) > 1.0
        rel[rng.integers(n_cands)] = True
        rows.append((items, x, {"relevant": rel}, u))
    return rows


def test_stacked_stage_trains_on_the_previous_stage_kept_rows_and_scores(monkeypatch):
    spec = {**SPEC, "stages": [CHEAP, {"name": "ranker", "kind": "lightgbm", "budget": 8, "stack": True,
                                       "params": {"n_estimators": 5, "min_data_in_leaf": 5}}],
            "training": {"valid_fraction": 0.0}}
    pipe = Pipeline(spec)
    from shortlist.pipeline.stages import build_stage

    pipe.stages_ = [build_stage(s, {}) for s in pipe.spec.stages]
    cheap, ranker = pipe.stages_
    seen = {}
    monkeypatch.setattr(ranker.scorer, "fit", lambda x, y, g, valid, feature_names: seen.update(
        x=x, y=y, g=g, valid=valid, names=feature_names) or ranker.scorer)
    monkeypatch.setattr(ranker.scorer, "score", lambda x: x[:, 0])  # only the training input matters here
    rows = _rows(30, 40, 3, seed=0)
    fit_stages(pipe.stages_, [TrainingRow(*r) for r in rows], ["a", "b", "c"], pipe.spec.training)

    expect_x, expect_y, expect_g = [], [], []
    for items, x, labs, _ in rows:  # what the fitted cheap stage keeps, recomputed independently
        s = cheap.scorer.score(x)
        top = np.lexsort((items, -s))[:20]
        if labs["relevant"][top].any():
            expect_x.append(np.column_stack([x[top], _zscore(s[top])]))
            expect_y.append(labs["relevant"][top])
            expect_g.append(len(top))
    assert seen["names"] == ["a", "b", "c", PREVIOUS] and seen["valid"] is None
    np.testing.assert_array_equal(seen["g"], expect_g)
    np.testing.assert_array_equal(seen["y"], np.concatenate(expect_y))
    np.testing.assert_allclose(seen["x"], np.concatenate(expect_x), rtol=1e-5, atol=1e-6)
    assert ranker.scorer.base_feature == PREVIOUS  # LightGBM boosts from the previous score


def test_stacked_deepfm_serves_on_the_previous_stage_scores(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    spec = {**SPEC, "stages": [CHEAP, {"name": "deep", "kind": "deepfm", "budget": 10, "stack": True,
                                       "params": {"epochs": 1, "seed": 0, "device": "cpu"}}]}
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    deep = pipe.stages_[1]
    assert deep.scorer.feature_names_[-1] == PREVIOUS and deep.scorer.base_feature == PREVIOUS
    calls = {}
    for st in pipe.stages_:
        original = st.scorer.score
        monkeypatch.setattr(st.scorer, "score", lambda x, name=st.name, f=original: calls.setdefault(
            name, (x.copy(), f(x)))[1])
    resp = pipe.recommend(3, upto="ranking")
    (x0, s0), (x1, s1) = calls["cheap"], calls["deep"]
    top = np.argsort(-s0, kind="stable")[:20]  # linear scores have no ties here
    assert np.unique(s0).size == s0.size
    np.testing.assert_array_equal(x1[:, :-1], x0[top])
    np.testing.assert_allclose(x1[:, -1], _zscore(s0[top]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(resp.scores, np.sort(s1)[::-1][: len(resp.scores)])
    pipe.save(tmp_path / "p")
    monkeypatch.undo()
    again = Pipeline.load(tmp_path / "p").recommend(3)
    assert again.item_ids == pipe.recommend(3).item_ids


def test_standardise():
    np.testing.assert_allclose(standardise(np.array([1.0, 2.0, 4.0])), _zscore([1.0, 2.0, 4.0]), rtol=1e-6)
    np.testing.assert_array_equal(standardise(np.full(3, 5.0)), np.zeros(3))
    out = standardise(np.array([1.0, -np.inf, 3.0]))
    assert np.isnan(out[1]) and out[0] == -1.0 and out[2] == 1.0


@pytest.mark.parametrize("stages, message", [
    ([{"name": "ranker", "kind": "lightgbm", "budget": 10, "stack": True}],
     "stages[0].stack = true but the first stage has no previous stage to stack on; remove stack"),
    ([CHEAP, {"name": "m", "kind": "model", "model": "pop", "budget": 10, "stack": True}],
     "stages[1].stack = true but a 'model' stage reads no features; remove stack"),
    ([CHEAP, {"name": "ranker", "kind": "lightgbm", "budget": 10, "params": {"base_feature": PREVIOUS}}],
     "stages[1].params.base_feature = 'previous_score' needs the previous stage's score; add stack = true"),
    ([CHEAP, {"name": "ranker", "kind": "lightgbm", "budget": 10, "stack": "often"}],
     "stages[1].stack = 'often': Input should be a valid boolean"),
])
def test_spec_errors_name_key_value_and_fix(stages, message):
    with pytest.raises(ConfigError) as err:
        parse_spec({**SPEC, "stages": stages})
    assert message in str(err.value)


def test_stack_on_a_linear_stage_adds_the_column_only():
    spec = parse_spec({**SPEC, "stages": [CHEAP, {"name": "b", "kind": "linear", "budget": 10, "stack": True}]})
    from shortlist.pipeline.stages import build_stage

    stage = build_stage(spec.stages[1], {})
    assert stage.feature_names(["a"]) == ["a", PREVIOUS] and "base_feature" not in stage.params
    x = np.ones((3, 1), np.float32)
    np.testing.assert_allclose(stage.inputs(x, np.array([1.0, 2.0, 3.0]))[:, 1], _zscore([1, 2, 3]), rtol=1e-6)
    with pytest.raises(ConfigError, match="stack = true but got no previous stage's scores"):
        stage.inputs(x, None)


def test_shipped_deepfm_config_is_movielens_plus_a_stacked_stage():
    from shortlist.pipeline import load_spec
    from shortlist.pipeline.defaults import CONFIG_DIR

    plain, stacked = load_spec(CONFIG_DIR / "movielens.toml"), load_spec(CONFIG_DIR / "movielens-deepfm.toml")
    assert stacked.stages[:-1] == plain.stages and stacked.sources == plain.sources
    assert stacked.models == plain.models and stacked.training == plain.training
    assert stacked.stages[-1].kind == "deepfm" and stacked.stages[-1].stack


def test_final_stage_with_too_few_relevant_users_keeps_the_blend_and_says_why():
    """Noise data: almost no validation user has a relevant candidate, so no ranker is trained."""
    import scipy.sparse as sp

    from shortlist.pipeline.tuning.blend import ValidationRows
    from shortlist.pipeline.tuning.compose import _lightgbm_available, final_stage
    from shortlist.pipeline.tuning.report import TuningReport

    if not _lightgbm_available():
        pytest.skip("needs lightgbm (the ranking extra)")
    rng = np.random.default_rng(0)
    n_users, n_cands = 60, 30
    items = np.stack([rng.choice(500, n_cands, replace=False) for _ in range(n_users)])
    x = rng.normal(size=(n_users, n_cands, 2)).astype(np.float32)
    # 8 users hold one relevant candidate each: fewer than 10 in either half
    rel = sp.lil_matrix((n_users, 500), dtype=np.float32)
    for u in range(8):
        rel[u, items[u, 0]] = 1.0
    rows = ValidationRows(np.arange(n_users), items, x, ["model_a_z", "model_b_z"], rel.tocsr())
    lines = []

    class Tuner:
        ts = parse_spec({**SPEC, "tuning": {"budget": 10, "final_stages": ["linear", "lightgbm"]}}).tuning
        k, metric, budget = 10, "ndcg", 10.0
        report = TuningReport(metric="ndcg@10", budget_seconds=10.0, folds=2)
        log = staticmethod(lines.append)

        @staticmethod
        def elapsed():
            return 0.0

    planned = SimpleNamespace(models={"a": SimpleNamespace(kind="popularity"), "b": SimpleNamespace(kind="item-knn")})
    stages, trained = final_stage(Tuner, planned, rows, ["a", "b"], {"a": 1.0, "b": 0.5}, 20)
    assert (stages, trained) == ([], {})
    assert Tuner.report.final_stage["chosen"] == "linear"
    assert "too few to train a ranker" in Tuner.report.final_stage["why"]
    assert lines == [f"final stage: linear ({Tuner.report.final_stage['why']})"]
