"""Batch recommendations for every user: one process vs Ray Data actors, users per second per core.

A pipeline is trained and saved; then ``recommend_here`` (this process, one core) and
``recommend_all`` on a local Ray cluster of ``--nodes`` nodes of 1 CPU each (one actor per
node) write the top ``--k`` of every user. Seconds are the whole job: loading the pipeline,
every batch and the Parquet writes (for Ray, also starting the actors).

``--spec als`` (default): ALS 64 factors + popularity sources, exclude-seen and creator-cap
rules, no ranking stage. ``--spec knn``: ALS 64 factors (15 iterations) + item-kNN +
popularity sources, a linear blend of their z-scores, exclude-seen; ``[tuning] budget = 0``.

World: ``--preset`` of ``generate_world``, or ``--data`` a ``user_id, item_id`` Parquet file
sorted by user (``shortlist.data.big_world``; ``benchmarks/large_als.py`` writes the
MovieLens-20M-sized one). The pipeline's fit is timed too (seconds, CPU seconds, peak RSS of
this process after the fit: the load and the fit, nothing else has run yet).
``--users N`` measures the first N users only (whole batches; the same users for both
engines): users are numbered in random order of activity, so they are a fair sample.

    nice -n 10 .venv/bin/python benchmarks/batch_recommend.py [--preset small] [--k 100] [--nodes 2]
    nice -n 5 .venv/bin/python benchmarks/batch_recommend.py --data WORLD.parquet --spec knn --users 20000
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from shortlist.distributed.batch import recommend_all, recommend_here
from shortlist.pipeline import Pipeline

STORE = 200 * 2**20

SPEC = {
    "name": "batch-bench", "k": 10,
    "models": {"als": {"kind": "als", "params": {"factors": 64, "iterations": 6, "progress": False}},
               "pop": {"kind": "popularity"}},
    "sources": [{"name": "als", "kind": "embedding", "model": "als", "quota": 200},
                {"name": "popular", "kind": "popular", "quota": 50}],
    "rules": [{"kind": "exclude_seen"}, {"kind": "creator_cap", "max_per_creator": 5}],
    "tuning": {"budget": 0},
}

SPEC_KNN = {
    "name": "batch-bench-knn", "k": 10,
    "models": {"als": {"kind": "als", "params": {"factors": 64, "iterations": 15, "progress": False}},
               "itemknn": {"kind": "item-knn"},
               "pop": {"kind": "popularity"}},
    "sources": [{"name": "als", "kind": "model", "model": "als", "quota": 200},
                {"name": "itemknn", "kind": "model", "model": "itemknn", "quota": 200},
                {"name": "popular", "kind": "model", "model": "pop", "quota": 50}],
    "features": {"scorers": ["als", "itemknn", "pop"]},
    "stages": [{"name": "blend", "kind": "linear", "budget": 100,
                "params": {"weights": {"model_als_z": 1.0, "model_itemknn_z": 1.0, "model_pop_z": 0.2},
                           "standardize": False}}],
    "rules": [{"kind": "exclude_seen"}],
    "tuning": {"budget": 0},
}


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def on_ray(model: Path, out: Path, k: int, batch: int, nodes: int, batches: range) -> tuple[float, int]:
    """(seconds, rows written) for the whole job on a fresh local cluster of ``nodes`` 1-CPU nodes."""
    from shortlist.distributed.cluster import local_cluster

    with local_cluster(nodes, object_store_bytes=STORE):
        t0 = time.perf_counter()
        rows = recommend_all(model, out, k=k, batch_size=batch, actors=nodes, progress=False, batches=batches).rows
        return time.perf_counter() - t0, rows


def fit(args: argparse.Namespace) -> Pipeline:
    """The pipeline, fitted on the chosen world; prints load and fit seconds and the peak RSS."""
    t0 = time.perf_counter()
    if args.data:
        from shortlist.data.big_world import read_events

        data = read_events(args.data)
    else:
        from shortlist.data.world import generate_world

        data = generate_world(args.preset, seed=0).dataset()
    load_s = time.perf_counter() - t0
    print(f"load {load_s:.1f} s (load average {_load()})", flush=True)
    t0, cpu0 = time.perf_counter(), _cpu_s()
    pipe = Pipeline(SPEC_KNN if args.spec == "knn" else SPEC).fit(data, progress=False)
    fit_s, cpu_s = time.perf_counter() - t0, _cpu_s() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pipeline {args.spec!r} fit {fit_s:.1f} s, CPU {cpu_s:.1f} s, peak RSS {peak:,.0f} MB "
          f"(load average {_load()})", flush=True)
    return pipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--data", help="user_id, item_id Parquet file sorted by user (replaces --preset)")
    ap.add_argument("--spec", choices=["als", "knn"], default="als")
    ap.add_argument("--users", type=int, help="measure the first N users only (rounded up to whole batches)")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--nodes", type=int, default=2)
    args = ap.parse_args()
    import numba
    from threadpoolctl import threadpool_limits

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pipe = fit(args)
        model = pipe.save(root / "model")
        n_all = len(pipe.users_)
        del pipe
        t0 = time.perf_counter()
        Pipeline.load(model)  # what every actor (and the job's planning) pays once
        print(f"saved pipeline: {sum(f.stat().st_size for f in model.rglob('*') if f.is_file()) / 2**20:,.0f} MiB, "
              f"loads in {time.perf_counter() - t0:.1f} s", flush=True)
        n_batches = -(-n_all // args.batch_size)
        batches = range(n_batches if args.users is None else min(-(-args.users // args.batch_size), n_batches))
        users = min(len(batches) * args.batch_size, n_all)
        print(f"load average before the jobs {_load()}", flush=True)
        numba.set_num_threads(1)
        with threadpool_limits(1):  # one core, as one Ray actor of 1 CPU gets
            t0 = time.perf_counter()
            rows = recommend_here(model, root / "here", k=args.k, batch_size=args.batch_size, progress=False,
                                  batches=batches).rows
            here = time.perf_counter() - t0
        print(f"one process done: {rows:,} rows (load average {_load()})", flush=True)
        ray_s, rows = on_ray(model, root / "ray", args.k, args.batch_size, args.nodes, batches)
        print(f"Ray done: {rows:,} rows (load average {_load()})", flush=True)
    world = args.data or repr(args.preset)
    print(f"world {world}: {users:,} of {n_all:,} users, k = {args.k}, batches of {args.batch_size}")
    print(f"{'engine':<30}{'s':>8}{'users/s':>10}{'users/s/core':>14}{'all users, s':>14}")
    label = f"Ray Data, {args.nodes} x 1-CPU actors"
    for name, s, cores in (("one process (1 core)", here, 1), (label, ray_s, args.nodes)):
        # a sample's whole-job time scaled to every user (start-up counted once per user share: an upper bound)
        print(f"{name:<30}{s:>8.1f}{users / s:>10.0f}{users / s / cores:>14.0f}{s * n_all / users:>14.0f}")


if __name__ == "__main__":
    main()
