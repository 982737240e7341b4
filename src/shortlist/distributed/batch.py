"""Recommendations for every user of a saved pipeline, on Ray Data, resumable batch by batch.

Users are cut into fixed batches by index. An actor pool (``map_batches``) loads the
pipeline once per actor, with its rules, runs each batch of users through the same
``Pipeline.recommend`` a single process uses, and writes the batch's Parquet part itself,
atomically (a temporary file, then a rename). A part on disk is therefore a finished
batch: a job that fails or is stopped is run again with the same arguments and computes
only the missing parts. (Ray Data's own ``write_parquet`` cannot resume: a failed job
writes everything again.)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from shortlist.distributed.cluster import KillOnce, import_ray
from shortlist.errors import ConfigError
from shortlist.pipeline.pipeline import PIPELINE_FILE, Pipeline
from shortlist.retrieval.types import Request

__all__ = ["BatchReport", "read_recommendations", "recommend_all", "recommend_here", "recommend_users"]

JOB_FILE = "_job.json"
PART = "part-{:06d}.parquet"
SCHEMA_COLUMNS = ("user_id", "rank", "item_id", "score")


def recommend_users(pipeline: Pipeline, users: np.ndarray, k: int) -> pa.Table:
    """``user_id, rank, item_id, score`` for known user indices ``users`` (one process)."""
    user_ids, ranks, item_ids, scores = [], [], [], []
    for u in np.asarray(users, np.int64):
        resp = pipeline.recommend(Request(user_index=int(u), k=k))
        n = len(resp.item_ids)
        user_ids.extend(pipeline.users_.lookup(np.full(n, u, np.int64)).tolist())
        ranks.append(np.arange(1, n + 1, dtype=np.int32))
        item_ids.extend(resp.item_ids)
        scores.append(np.asarray(resp.scores, np.float32))
    empty_i, empty_f = np.zeros(0, np.int32), np.zeros(0, np.float32)
    return pa.table({"user_id": user_ids, "rank": np.concatenate([empty_i, *ranks]),
                     "item_id": item_ids, "score": np.concatenate([empty_f, *scores])})


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)  # a reader (or a resumed job) sees the whole part or none of it


class BatchWriter:
    """One actor of the pool: the pipeline, loaded once; writes one Parquet part per batch."""

    def __init__(self, model_dir: str, out_dir: str, k: int, batch_size: int, chaos: KillOnce | None,
                 pipeline: Pipeline | None = None) -> None:
        self.pipeline = Pipeline.load(model_dir) if pipeline is None else pipeline
        self.out, self.k, self.batch_size, self.chaos = Path(out_dir), k, batch_size, chaos

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        n_users = len(self.pipeline.users_)
        for b in batch["batch"].tolist():
            users = np.arange(b * self.batch_size, min((b + 1) * self.batch_size, n_users))
            table = recommend_users(self.pipeline, users, self.k)
            if self.chaos is not None:
                self.chaos(b, 0)  # the batch is computed but not written: its work is lost
            _write_atomically(table, self.out / PART.format(b))
            rows.append(table.num_rows)
        return {"batch": batch["batch"], "rows": np.asarray(rows, np.int64)}


@dataclass
class BatchReport:
    """What a (possibly resumed) job did."""

    batches: int  # batches in the job
    computed: int  # computed by this run (the others were already on disk)
    rows: int  # rows written by this run


def _check_job(out: Path, job: dict[str, Any]) -> None:
    """Refuse to resume into a folder written by a different job (model, k or batch size)."""
    path = out / JOB_FILE
    if path.exists():
        before = json.loads(path.read_text())
        if before != job:
            raise ConfigError(f"{out} holds recommendations of another job ({before}); "
                              f"this one is {job}: write to a new folder or delete it")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(job, indent=1))


def _plan(model_dir: Path, out: Path, k: int, batch_size: int,
          only: Iterable[int] | None = None) -> tuple[int, list[int], Pipeline]:
    """(batches in the job, batches not yet on disk, of ``only`` if given; the pipeline); records or checks the job."""
    pipeline = Pipeline.load(model_dir)  # also checks the folder before any work starts
    n_users = len(pipeline.users_)
    # the manifest carries every file's checksum: its hash names this exact model
    model = hashlib.sha256((model_dir / PIPELINE_FILE).read_bytes()).hexdigest()[:16]
    n_batches = -(-n_users // batch_size)
    wanted = range(n_batches) if only is None else sorted(set(only))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < n_batches:
        raise ConfigError(f"batches {wanted[0]}..{wanted[-1]}: the job has batches 0..{n_batches - 1} "
                          f"({n_users} users in batches of {batch_size}); pick batches in that range")
    _check_job(out, {"model": model, "k": k, "batch_size": batch_size, "users": n_users})
    return n_batches, [b for b in wanted if not (out / PART.format(b)).exists()], pipeline


def _bar(n_batches: int, todo: list[int], progress: bool | None) -> tqdm:
    return tqdm(total=n_batches, initial=n_batches - len(todo), desc="recommend (batches)", unit="batch",
                disable=None if progress is None else not progress)


def recommend_here(model_dir: str | Path, out_dir: str | Path, *, k: int = 10, batch_size: int = 1000,
                   progress: bool | None = None, batches: Iterable[int] | None = None) -> BatchReport:
    """:func:`recommend_all` in this process, without Ray: the same parts, job file and resume."""
    model_dir, out = Path(model_dir).resolve(), Path(out_dir).resolve()
    n_batches, todo, pipeline = _plan(model_dir, out, k, batch_size, batches)
    report = BatchReport(n_batches, 0, 0)
    if not todo:
        return report
    # the actors' code, one replica, on the pipeline the planning loaded (not a second load)
    writer = BatchWriter(str(model_dir), str(out), k, batch_size, None, pipeline)
    with _bar(n_batches, todo, progress) as bar:
        for b in todo:
            done = writer({"batch": np.asarray([b], np.int64)})
            report.computed += 1
            report.rows += int(done["rows"][0])
            bar.update(1)
    return report


def recommend_all(model_dir: str | Path, out_dir: str | Path, *, k: int = 10, batch_size: int = 1000,
                  actors: int = 2, progress: bool | None = None, chaos: KillOnce | None = None,
                  batches: Iterable[int] | None = None) -> BatchReport:
    """Top-``k`` for every known user of the pipeline in ``model_dir``, as Parquet parts in ``out_dir``.

    Runs on the connected Ray cluster with ``actors`` pipeline replicas; skips batches
    already written by an earlier, interrupted run of the same job. ``batches`` (batch
    ``b`` holds users ``b * batch_size ...``) runs only those: a share of the job, to
    measure or to split it by hand; the rest stay to do, and :func:`read_recommendations`
    refuses the folder until they are written.
    """
    ray = import_ray()
    if not ray.is_initialized():
        raise ConfigError("no Ray session: call ray.init(address) or use shortlist.distributed.connected()")
    model_dir, out = Path(model_dir).resolve(), Path(out_dir).resolve()
    n_batches, todo, pipeline = _plan(model_dir, out, k, batch_size, batches)
    del pipeline  # the actors load their own
    report = BatchReport(n_batches, 0, 0)
    if not todo:
        return report
    ds = ray.data.from_items([{"batch": b} for b in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(BatchWriter, batch_size=1, concurrency=actors, num_cpus=1,
                        fn_constructor_kwargs={"model_dir": str(model_dir), "out_dir": str(out), "k": k,
                                               "batch_size": batch_size, "chaos": chaos})
    # a killed actor is restarted and its batch retried: Ray Data's actor pools default to
    # max_restarts = max_task_retries = -1, which the fault test relies on
    with _bar(n_batches, todo, progress) as bar:
        for done in ds.iter_batches(batch_size=None):
            report.computed += len(done["batch"])
            report.rows += int(np.sum(done["rows"]))
            bar.update(len(done["batch"]))
    return report


def read_recommendations(out_dir: str | Path) -> pa.Table:
    """Every part of a finished job, in user order (a missing part is an error)."""
    out = Path(out_dir)
    job = json.loads((out / JOB_FILE).read_text())
    n_batches = -(-job["users"] // job["batch_size"])
    missing = [b for b in range(n_batches) if not (out / PART.format(b)).exists()]
    if missing:
        raise ConfigError(f"{out} is missing {len(missing)} of {n_batches} batches; run the job again to finish them")
    return pa.concat_tables([pq.read_table(out / PART.format(b)) for b in range(n_batches)])
