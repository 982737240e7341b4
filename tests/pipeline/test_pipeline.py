"""End-to-end pipeline on small data: fit, recommend with trace, rules, save/load, evaluation."""

import numpy as np
import pytest

from shortlist.data import Dataset
from shortlist.data.splits import random_holdout
from shortlist.errors import ModelFileError, NotFittedError
from shortlist.evaluation import evaluate
from shortlist.models import Popularity
from shortlist.pipeline import Pipeline, evaluate_pipeline
from tests.conftest import block_interactions

SPEC = {
    "name": "tiny",
    "k": 5,
    "models": {"pop": {"kind": "popularity"}, "knn": {"kind": "item-knn", "params": {"n_neighbors": 10}}},
    "sources": [
        {"name": "knn", "kind": "model", "model": "knn", "quota": 20},
        {"name": "pop", "kind": "model", "model": "pop", "quota": 10},
    ],
    "features": {"scorers": ["knn"]},
    "stages": [{"name": "ranker", "kind": "lightgbm", "budget": 10,
                "params": {"n_estimators": 20, "min_data_in_leaf": 5}}],
    "rules": [{"kind": "exclude_seen"}],
    "training": {"label_fraction": 0.3, "seed": 1},
}


@pytest.fixture(scope="module")
def fitted():
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    return Pipeline(SPEC).fit(Dataset("blocks", data), progress=False), data


def test_recommend_with_trace(fitted):
    pipe, data = fitted
    resp = pipe.recommend(3)
    assert len(resp.item_ids) == 5
    assert not set(resp.item_indices) & set(data.matrix[3].indices)  # never a seen item
    assert np.all(np.diff(resp.scores) <= 1e-6)
    stages = [s.stage for s in resp.trace.stages]
    assert stages == ["candidates", "features", "ranker", "exclude_seen"]
    cand = resp.trace.stages[0]
    assert cand.extra["per_source"] == {"knn": 20, "pop": 10} and cand.n_out <= 30
    assert resp.trace.stages[2].n_out == 10
    # the ranker keeps the user's own community on top
    assert (resp.item_indices < 20).mean() >= 0.8  # user 3 belongs to the first community
    text = resp.trace.format(pipe.items_)
    assert "ranker" in text and "ms" in text
    d = resp.to_dict(pipe, explain=True)
    assert d["trace"][0]["stage"] == "candidates" and len(d["items"]) == 5


def test_anonymous_user_from_history(fitted):
    pipe, _data = fitted
    req = pipe.make_request("nobody", k=5, history=[35, 36, 37])
    assert req.user_index == -1
    resp = pipe.recommend(req)
    assert len(resp.item_ids) == 5
    assert not {35, 36, 37} & set(resp.item_ids)
    assert np.mean(np.asarray(resp.item_ids) >= 20) >= 0.8  # items of the history's community


def test_save_load_gives_identical_results(fitted, tmp_path):
    pipe, _ = fitted
    pipe.save(tmp_path / "p")
    loaded = Pipeline.load(tmp_path / "p")
    for user in (0, 7, 45):
        a, b = pipe.recommend(user), loaded.recommend(user)
        assert a.item_ids == b.item_ids
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    with pytest.raises(ModelFileError, match="pipeline.json missing"):
        Pipeline.load(tmp_path)


def test_unfitted_pipeline():
    with pytest.raises(NotFittedError, match="fit"):
        Pipeline(SPEC).recommend(1)


def test_per_stage_evaluation_uses_the_same_protocol():
    data = block_interactions(n_users=60, n_items=40, density=0.4, seed=3)
    res = evaluate_pipeline(Pipeline(SPEC), Dataset("blocks", data), "random-holdout:0.25", seed=5, k=5)
    assert set(res) == {"candidates", "ranking", "rules"}
    split = random_holdout(data, 0.25, seed=5)
    baseline = evaluate(Popularity().fit(split.train), split, k=5)["ndcg@5"]
    for r in res.values():
        assert r["ndcg@5"] > baseline + 0.05  # the pipeline uses the communities, popularity cannot
    assert res["rules"].info["n_eval_users"] == int((np.diff(split.test.matrix.indptr) > 0).sum())


def test_label_folds_pool_ranker_examples(monkeypatch):
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    seen = []
    from shortlist.pipeline import training

    original = training.training_rows

    def spy(pipeline, parts, label, progress):
        rows = original(pipeline, parts, label, progress)
        seen.append((len(rows), frozenset(zip(label.user_index.tolist(), label.item_index.tolist()))))
        return rows

    monkeypatch.setattr(training, "training_rows", spy)
    spec = {**SPEC, "training": {"label_fraction": 0.3, "seed": 1, "folds": 3}}
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    assert len(seen) == 3 and all(n > 0 for n, _ in seen)
    assert len({cells for _, cells in seen}) == 3  # a different label cut per fold
    assert len(pipe.recommend(3).item_ids) == 5


def test_a_searched_linear_stage_picks_its_weights_on_the_label_folds_and_keeps_them(tmp_path):
    import json

    data = block_interactions(n_users=60, n_items=40, density=0.4)
    spec = {**SPEC, "features": {"scorers": ["knn", "pop"]},
            "stages": [{"name": "blend", "kind": "linear", "budget": 10,
                        "params": {"weights": {"model_knn_z": 1.0}, "search": {"model_pop_z": [-2.0, 0.0, 0.5]}}}]}
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    scorer = pipe.stages_[0].scorer
    results = scorer.search_results_
    assert [r["weights"]["model_pop_z"] for r in results] == [-2.0, 0.0, 0.5]
    best = results[int(np.argmax([r["ndcg@10"] for r in results]))]["weights"]["model_pop_z"]
    names = scorer.feature_names_
    assert scorer.coef_[names.index("model_pop_z")] == best and scorer.coef_[names.index("model_knn_z")] == 1.0
    resp = pipe.recommend(3)
    pipe.save(tmp_path / "p")
    saved = json.loads((tmp_path / "p" / "stages" / "blend" / "scorer" / "model.json").read_text())
    assert "search_results" in saved
    loaded = Pipeline.load(tmp_path / "p")
    assert loaded.stages_[0].scorer.search_results_ == results
    again = loaded.recommend(3)
    assert again.item_ids == resp.item_ids


def test_deepfm_ranking_stage_fits_saves_and_loads(tmp_path):
    pytest.importorskip("torch")
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    spec = {**SPEC, "stages": [{"name": "deep", "kind": "deepfm", "budget": 10,
                                "params": {"epochs": 3, "seed": 0}}]}
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    resp = pipe.recommend(3)
    assert [s.stage for s in resp.trace.stages][2] == "deep" and len(resp.item_ids) == 5
    pipe.save(tmp_path / "p")
    again = Pipeline.load(tmp_path / "p").recommend(3)
    assert again.item_ids == resp.item_ids
    np.testing.assert_allclose(again.scores, resp.scores, rtol=1e-5)


def test_exploration_rule_reports_propensities():
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    spec = {**SPEC, "stages": [], "rules": [{"kind": "exclude_seen"},
                                          {"kind": "exploration", "pool": "least-seen", "positions": [1],
                                           "pool_size": 5, "seed": 0}]}
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    resp = pipe.recommend(3)
    assert resp.propensities is not None and len(resp.propensities) == 5
    assert resp.propensities[1] == pytest.approx(1 / 5) and resp.propensities[0] == 1.0
    assert not set(resp.item_indices) & set(data.matrix[3].indices)
    assert "propensity" in resp.to_dict(pipe)["items"][1]


def test_rows_ordered_by_bandit_and_filled_by_pipeline():
    from shortlist.bandits import EpsilonGreedy
    from shortlist.bandits.slates import RowsCascade
    from shortlist.pipeline.rows import recommend_rows
    from shortlist.retrieval import Request

    data = block_interactions(n_users=60, n_items=40, density=0.4)
    pipe = Pipeline({**SPEC, "k": 5}).fit(Dataset("blocks", data), progress=False)
    rows = {"first": np.arange(0, 20), "second": np.arange(20, 40)}
    cascade = RowsCascade(EpsilonGreedy(arms=list(rows), epsilon=0.0, seed=0), n_seen=1)
    cascade.update(None, [["second", "first"]] * 20, [[1, 0]] * 20)  # "second" earns clicks
    page = recommend_rows(pipe, Request(user_index=40), rows, cascade, n_rows=2, per_row=3)
    assert page.rows == ["second", "first"]
    ranked = pipe.recommend(Request(user_index=40, k=10), upto="ranking").item_ids
    for row, ids in page.items.items():
        assert set(ids) <= set(rows[row].tolist()) and len(ids) <= 3
        assert ids == [i for i in ranked if i in set(rows[row].tolist())][:3]  # pipeline order
    assert page.to_dict()["rows"][0]["row"] == "second"


def test_load_reads_neighbour_tables_and_indexes_instead_of_rebuilding(tmp_path, monkeypatch):
    spec = {
        "name": "stored", "k": 5,
        "models": {"als": {"kind": "als", "params": {"factors": 8, "iterations": 3}}},
        "sources": [
            {"name": "emb", "kind": "embedding", "model": "als", "index": "hnsw", "quota": 15},
            {"name": "i2i", "kind": "item-to-item", "model": "als", "index": "hnsw", "quota": 15},
            {"name": "users", "kind": "similar-users", "model": "als", "quota": 10},
        ],
    }
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    pipe.save(tmp_path / "p")
    stored = sorted(p.name for p in (tmp_path / "p" / "sources").iterdir())
    assert stored == ["emb.ann", "i2i.neighbours", "model.json", "users.neighbours", "users.user_ann"]

    from shortlist.retrieval import ann
    from shortlist.retrieval.sources import collaborative

    def refuse(*_a, **_k):
        raise AssertionError("rebuilt on load")

    monkeypatch.setattr(collaborative, "neighbour_table", refuse)
    monkeypatch.setattr(ann.ANNIndex, "build", refuse)
    loaded = Pipeline.load(tmp_path / "p")
    for user in (0, 7, 45):
        a, b = pipe.recommend(user), loaded.recommend(user)
        assert a.item_ids == b.item_ids
        np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(loaded.sources_[1].neighbor_ids_, pipe.sources_[1].neighbor_ids_)
    # the stored state is part of the checksummed tree: a folder without it is named as damaged
    monkeypatch.undo()
    import shutil

    shutil.rmtree(tmp_path / "p" / "sources")
    with pytest.raises(ModelFileError, match="sources/model.json is missing"):
        Pipeline.load(tmp_path / "p")


def test_a_source_with_exclude_seen_false_may_propose_seen_items():
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    spec = {**SPEC, "stages": [], "rules": [],
            "sources": [{"name": "pop", "kind": "model", "model": "pop", "quota": 40, "exclude_seen": False}]}
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    seen = set(data.matrix[3].indices.tolist())
    got = pipe.recommend(pipe.make_request(3, k=30), upto="candidates")
    assert seen & set(got.item_indices.tolist())  # the setting is honoured inside a pipeline
    spec["sources"][0]["exclude_seen"] = True
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    unseen = pipe.recommend(pipe.make_request(3, k=30), upto="candidates").item_indices
    assert not seen & set(unseen.tolist())
    # a request's own exclude list holds either way
    req = pipe.make_request(3, k=30)
    req.exclude = np.array([int(unseen[0])])
    assert int(unseen[0]) not in pipe.recommend(req, upto="candidates").item_indices


def test_one_pass_evaluation_gives_each_parts_lists_as_separate_passes(fitted):
    from shortlist.pipeline.evaluate import _StagedLists, _Truncated

    pipe, data = fitted
    users = np.arange(0, 60, 3)
    staged = _StagedLists(pipe)
    for upto in ("candidates", "ranking", "rules"):
        got_i, got_s = _Truncated(staged, upto).recommend_indices(users, 5)
        want_i, want_s = pipe.recommend_indices(users, 5, upto=upto)
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_allclose(got_s, want_s, rtol=1e-6)
    history = data.matrix[:6]
    for upto in ("candidates", "ranking", "rules"):
        got_i, _ = _Truncated(staged, upto).recommend_from_history(history, 5)
        want_i, _ = pipe.recommend_from_history(history, 5, upto=upto)
        np.testing.assert_array_equal(got_i, want_i)
