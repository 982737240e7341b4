"""Two-tower training on Ray Train (DDP over gloo, 1-CPU workers on the local multi-node cluster).

Against single-process training on the same data: recall@100 at equal epochs, one worker
equal to one process, the saved model recommending the same, named errors, the pipeline route.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # under CI=true a skip fails: `make test` installs the neural extra

from shortlist.core.metrics import ranking_metrics
from shortlist.data.splits import random_holdout
from shortlist.data.world import generate_world
from shortlist.distributed.two_tower import fit_two_tower, shard_users
from shortlist.errors import ConfigError
from shortlist.models.als import ALS
from shortlist.models.base import Recommender
from shortlist.neural import TwoTower

WORLD = {"n_users": 1000, "n_items": 600, "n_interactions": 20_000}  # ~12,000 distinct cells
PARAMS = {"epochs": 5, "batch_size": 128, "device": "cpu", "num_threads": 1, "validation_fraction": 0.0,
          "factors": 32, "hidden": [64]}
#: recall@100 on this split, measured: one process, seeds 0-3: 0.542, 0.543, 0.589, 0.532 (mean
#: 0.551, within +-5.2 % of it); 2 workers, seeds 0 and 1: 0.579, 0.521. Ray Train (seed 0) must
#: land within twice the single-process seed-to-seed half-range of their mean
TOLERANCE = 0.10


@pytest.fixture(scope="module")
def split():
    return random_holdout(generate_world(WORLD, seed=5).dataset().interactions, 0.2, seed=1)


def _recall_at_100(model: Recommender, split) -> float:
    test = split.test.matrix
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    top, _ = model.recommend_indices(users, 100)
    return float(np.mean(ranking_metrics(top, test[users], 100)["recall"]))


@pytest.fixture(scope="module")
def on_two_workers(ray_cluster, split):
    return fit_two_tower(TwoTower(**PARAMS), split.train, workers=2, progress=False)


def test_shards_hold_whole_users_with_nearly_equal_cells(split):
    m = split.train.matrix
    shards = shard_users(m, 3, seed=0)
    users = np.concatenate(shards)
    assert np.array_equal(np.sort(users), np.flatnonzero(np.diff(m.indptr) > 0))  # every user once
    cells = [int(np.diff(m.indptr)[s].sum()) for s in shards]
    assert sum(cells) == m.nnz
    assert max(cells) - min(cells) <= 2 * np.diff(m.indptr).max()  # a cut is off by at most a user's cells


@pytest.mark.slow
def test_recall_at_100_on_two_workers_is_within_tolerance_of_one_process(on_two_workers, split):
    singles = [_recall_at_100(TwoTower(**PARAMS, seed=s).fit(split.train, progress=False), split) for s in range(4)]
    want = float(np.mean(singles))
    got = _recall_at_100(on_two_workers.model, split)
    assert abs(got - want) <= TOLERANCE * want, (got, singles)
    fit = on_two_workers
    assert fit.workers == 2 and len(fit.losses) == PARAMS["epochs"] == len(fit.model.history_.loss)
    assert fit.losses[-1] < fit.losses[0]  # the epoch losses the driver was shown: training went down
    # each worker took the smallest shard's batches: half a single process's steps per epoch
    shards = shard_users(split.train.matrix, 2, seed=0)
    smallest = min(int(np.diff(split.train.matrix.indptr)[s].sum()) for s in shards)
    full, rest = divmod(smallest, PARAMS["batch_size"])
    assert fit.steps_per_epoch == full + (rest >= 2)  # a last batch of one cell has no negative: dropped


@pytest.mark.slow
def test_one_worker_trains_exactly_like_one_process(ray_cluster, split):
    # same validation carve, batches, seeds and loss: only the process differs
    params = {**PARAMS, "epochs": 2, "validation_fraction": 0.1}
    fit = fit_two_tower(TwoTower(**params), split.train, workers=1, progress=False)
    single = TwoTower(**params).fit(split.train, progress=False)
    np.testing.assert_allclose(fit.losses, single.history_.loss, rtol=1e-5)
    np.testing.assert_allclose(fit.model.history_.valid, single.history_.valid, rtol=1e-5)
    np.testing.assert_allclose(fit.model.item_factors_, single.item_factors_, atol=1e-5)


@pytest.mark.slow
def test_the_saved_and_loaded_model_recommends_the_same(on_two_workers, tmp_path):
    model = on_two_workers.model
    model.save(tmp_path / "tt")
    loaded = Recommender.load(tmp_path / "tt")
    assert type(loaded) is TwoTower
    users = np.arange(len(model.users_))
    got, got_scores = loaded.recommend_indices(users, 20)
    want, want_scores = model.recommend_indices(users, 20)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_scores, want_scores)
    np.testing.assert_array_equal(loaded.user_factors_, model.user_factors_)


@pytest.mark.slow
def test_a_bad_config_is_a_named_error(ray_cluster, split):
    cpus = int(ray_cluster.cluster_resources()["CPU"])
    with pytest.raises(ConfigError, match=r"workers must be an integer >= 1, got 0; e.g. workers=2"):
        fit_two_tower(TwoTower(**PARAMS), split.train, workers=0)
    with pytest.raises(ConfigError, match=rf"workers={cpus + 1} .* the Ray cluster has {cpus}; use workers <= {cpus}"):
        fit_two_tower(TwoTower(**PARAMS), split.train, workers=cpus + 1)
    with pytest.raises(ConfigError, match="temperature"):
        fit_two_tower(TwoTower(**{**PARAMS, "temperature": -1.0}), split.train, workers=2)
    with pytest.raises(ConfigError, match="fits TwoTower models here, got ALS"):
        fit_two_tower(ALS(), split.train, workers=2)


@pytest.mark.slow
def test_a_ray_spec_trains_its_two_tower_with_ray_train(ray_cluster, monkeypatch):
    import shortlist.distributed.two_tower as on_train
    from shortlist.distributed import on_ray
    from shortlist.pipeline import Pipeline

    from .specs import spec

    fits = []
    real = on_train.fit_two_tower
    monkeypatch.setattr(on_train, "fit_two_tower", lambda *a, **kw: fits.append(real(*a, **kw)) or fits[-1])
    s = spec("ray")
    s["models"]["tt"] = {"kind": "two-tower", "params": {**PARAMS, "epochs": 2, "validation_fraction": 0.1}}
    s["sources"].append({"name": "tt", "kind": "embedding", "model": "tt", "quota": 20})
    data = generate_world("tiny", seed=5).dataset()
    pipe = Pipeline(s)
    with on_ray(pipe):
        pipe.fit(data, progress=False)
    assert len(fits) == 1 and pipe.models_["tt"] is fits[0].model
    assert fits[0].workers == int(ray_cluster.cluster_resources()["CPU"])  # one worker per CPU
    assert len(fits[0].model.history_.valid) == 2  # rank 0 scored the validation users each epoch
    assert len(pipe.recommend(data.interactions.users.ids[0]).item_ids) == 5


def test_a_workers_config_error_reaches_the_driver_as_itself():
    pytest.importorskip("ray")
    from concurrent.futures import Future

    from ray.train import WorkerGroupError
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    from shortlist.distributed.two_tower import _result

    run = Future()
    lost = ConfigError("the training loss became nan at epoch 2; lower learning_rate (now 0.5)")
    run.set_exception(WorkerGroupError("rank 1 failed", {1: UserExceptionWithTraceback(lost, "Traceback ...")}))
    with pytest.raises(ConfigError, match="lower learning_rate") as raised:
        _result(run)
    assert raised.value is lost and isinstance(raised.value.__cause__, WorkerGroupError)
    other = Future()
    other.set_exception(WorkerGroupError("rank 0 failed", {0: UserExceptionWithTraceback(OSError("disk"), "")}))
    with pytest.raises(WorkerGroupError):  # anything else stays Ray Train's error
        _result(other)
