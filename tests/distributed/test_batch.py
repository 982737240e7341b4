"""Batch recommendations on Ray Data: the single-process answer, resumed after a failure, despite a kill."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from shortlist.data.world import generate_world
from shortlist.distributed.batch import PART, read_recommendations, recommend_all
from shortlist.distributed.cluster import KillOnce
from shortlist.pipeline import Pipeline

from .specs import spec

BATCH = 40  # 200 users: 5 batches


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pipe = Pipeline(spec("local")).fit(generate_world("tiny", seed=5).dataset(), progress=False)
    return pipe, pipe.save(tmp_path_factory.mktemp("pipe") / "model")


def _expected(pipe: Pipeline, k: int) -> list[tuple]:
    """One process, one user at a time, through the public entry point."""
    rows = []
    for uid in pipe.users_.ids:
        resp = pipe.recommend(uid, k=k)
        rows += [(uid, r + 1, item, float(s)) for r, (item, s) in enumerate(zip(resp.item_ids, resp.scores))]
    return rows


def _rows(table) -> list[tuple]:
    d = table.to_pydict()
    return list(zip(d["user_id"], d["rank"], d["item_id"], np.asarray(d["score"], np.float32).tolist()))


@pytest.mark.slow
def test_every_user_identical_to_one_process(ray_cluster, saved, tmp_path):
    pipe, path = saved
    report = recommend_all(path, tmp_path / "recs", k=5, batch_size=BATCH, actors=2, progress=False)
    assert (report.batches, report.computed) == (5, 5)
    table = read_recommendations(tmp_path / "recs")
    assert table.column_names == ["user_id", "rank", "item_id", "score"]
    got, want = _rows(table), _expected(pipe, 5)
    assert [g[:3] for g in got] == [w[:3] for w in want]
    np.testing.assert_allclose([g[3] for g in got], [w[3] for w in want], rtol=1e-6)
    assert report.rows == len(want)


@pytest.mark.slow
def test_a_failed_job_resumes_without_redoing_finished_batches(ray_cluster, saved, tmp_path):
    pipe, path = saved
    out = tmp_path / "recs"
    with pytest.raises(Exception, match="injected failure"):
        recommend_all(path, out, k=5, batch_size=BATCH, actors=1, progress=False,
                      chaos=KillOnce(str(tmp_path / "failed"), step=3, how="raise"))
    done = {b: (out / PART.format(b)).stat().st_mtime_ns for b in range(5) if (out / PART.format(b)).exists()}
    assert 3 not in done
    report = recommend_all(path, out, k=5, batch_size=BATCH, actors=1, progress=False)
    assert report.computed == 5 - len(done)  # only what was missing
    assert all((out / PART.format(b)).stat().st_mtime_ns == t for b, t in done.items())  # untouched
    assert [g[:3] for g in _rows(read_recommendations(out))] == [w[:3] for w in _expected(pipe, 5)]


@pytest.mark.slow
def test_a_worker_killed_mid_batch_gives_the_same_output(ray_cluster, saved, tmp_path):
    pipe, path = saved
    marker = tmp_path / "killed"
    report = recommend_all(path, tmp_path / "recs", k=5, batch_size=BATCH, actors=2, progress=False,
                           chaos=KillOnce(str(marker), step=2))
    assert marker.exists() and report.computed == 5
    assert [g[:3] for g in _rows(read_recommendations(tmp_path / "recs"))] == [w[:3] for w in _expected(pipe, 5)]


def test_resuming_with_another_k_is_refused(ray_cluster, saved, tmp_path):
    from shortlist.errors import ConfigError

    _, path = saved
    recommend_all(path, tmp_path / "recs", k=5, batch_size=100, actors=1, progress=False)
    with pytest.raises(ConfigError, match="another job"):
        recommend_all(path, tmp_path / "recs", k=3, batch_size=100, actors=1, progress=False)


def test_cli_on_ray_and_in_one_process_write_the_same_job(ray_cluster, saved, tmp_path, capsys):
    from shortlist.cli.main import main

    pipe, path = saved
    out = tmp_path / "recs"
    args = ["batch-recommend", "--model-dir", str(path), "--out", str(out), "--k", "5", "--batch-size", str(BATCH)]
    assert main([*args, "--ray", "auto", "--actors", "1"]) == 0
    assert "wrote 5 of 5 batches (1000 rows) on Ray (1 actors)" in capsys.readouterr().out
    got = _rows(read_recommendations(out))
    assert [g[:3] for g in got] == [w[:3] for w in _expected(pipe, 5)]
    (out / PART.format(1)).unlink()  # the single-process fallback resumes the same job: only part 1
    assert main(args) == 0
    assert "wrote 1 of 5 batches (200 rows) in this process" in capsys.readouterr().out
    assert _rows(read_recommendations(out)) == got


def test_a_share_of_the_batches_then_the_rest(saved, tmp_path):
    from shortlist.distributed.batch import recommend_here
    from shortlist.errors import ConfigError

    pipe, path = saved
    out = tmp_path / "recs"
    report = recommend_here(path, out, k=5, batch_size=BATCH, progress=False, batches=[3, 1])
    assert (report.batches, report.computed) == (5, 2)
    assert sorted(p.name for p in out.glob("part-*")) == [PART.format(1), PART.format(3)]
    want = _expected(pipe, 5)
    ids = list(pipe.users_.ids)
    share = {*ids[BATCH:2 * BATCH], *ids[3 * BATCH:4 * BATCH]}  # users of batches 1 and 3
    got = _rows(pq.read_table(out / PART.format(1))) + _rows(pq.read_table(out / PART.format(3)))
    assert report.rows == len(got) > 0
    assert [g[:3] for g in got] == [w[:3] for w in want if w[0] in share]
    with pytest.raises(ConfigError, match="missing 3 of 5"):
        read_recommendations(out)
    with pytest.raises(ConfigError, match="batches 4..5: the job has batches 0..4"):
        recommend_here(path, out, k=5, batch_size=BATCH, progress=False, batches=[4, 5])
    assert recommend_here(path, out, k=5, batch_size=BATCH, progress=False).computed == 3  # the rest only
    assert [g[:3] for g in _rows(read_recommendations(out))] == [w[:3] for w in want]


def test_no_ray_thread_outlives_the_jobs_here(ray_cluster):
    """Ray Data's usage poller stays off (see the ``ray_cluster`` fixture): it would outlive Ray."""
    import threading

    assert "data-usage-metrics-poller" not in {t.name for t in threading.enumerate()}
