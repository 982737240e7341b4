"""ALS on Ray vs single-node ALS vs Spark MLlib ALS: time per iteration, bytes per iteration, ndcg@10.

Data: the synthetic world (``--preset small``: 2,000 users, 100,000 events), a 25 % random
holdout per user. Ours: ``shortlist.distributed.fit_als`` on a local Ray cluster of 1, 2 and
3 nodes of 1 CPU each (``ray.cluster_utils.Cluster``), one block per node; the single-node
reference is ``ALS.fit`` on 1 numba thread (CG, and Cholesky: Spark's exact solve). Peer:
``pyspark.ml.recommendation.ALS`` (implicitPrefs, ``local[2]``) with the same rank,
regularization, alpha and iterations. ``--objective spark`` (default) fits the same objective
as Spark: confidence ``1 + alpha r``, unobserved weight 1, ``lambda_u = regParam * n_u``
(``nu=1, reg_counts="observed"``); ``--objective ours`` keeps plain L2 (``nu=0``).
Time per iteration is the median after the first (which starts the actors and loads numba's
cache). Bytes per iteration are counted from the block link tables (see docs/scale.md):
what moved, the minimum (each factor row once to each block that touches it) and a
broadcast of all factors. The cost model at the end is fitted to these measurements.

    nice -n 10 .venv/bin/python benchmarks/distributed_als.py [--preset small] [--nodes 1,2,3] [--no-spark]
        [--objective spark|ours]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from shortlist.data import random_holdout
from shortlist.data.world import generate_world
from shortlist.evaluation import ranking_metrics
from shortlist.models.als import ALS

STORE = 200 * 2**20


def ndcg(model: ALS, split, n_users: int = 2000) -> float:
    test = split.test.matrix
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(split.train.matrix.indptr) > 0))
    users = np.sort(np.random.default_rng(0).choice(users, min(n_users, users.size), replace=False))
    top, _ = model.recommend_indices(users, 10, exclude_seen=True)
    return float(np.mean(ranking_metrics(top, test[users], 10)["ndcg"]))


def single_node(params: dict, split) -> tuple[float, float]:
    """Seconds per iteration (1 thread, median of per-iteration fits) and ndcg@10."""
    t0 = time.perf_counter()
    ALS(**{**params, "iterations": 1}).fit(split.train)  # also loads numba's cache
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = ALS(**params).fit(split.train)
    # the difference is pure iterations: the setup (confidences, transposes) cancels
    return (time.perf_counter() - t0 - one) / (params["iterations"] - 1), ndcg(model, split)


def on_ray(params: dict, split, nodes: int) -> tuple[float, float, object, float]:
    """(seconds per iteration, setup seconds, traffic, ndcg@10) on a local cluster of ``nodes`` nodes."""
    from shortlist.distributed.als import fit_als
    from shortlist.distributed.cluster import local_cluster

    with local_cluster(nodes, object_store_bytes=STORE):
        fit = fit_als(ALS(**params), split.train, blocks=nodes, progress=False)
        per_it = statistics.median(fit.iteration_seconds[1:])
        return per_it, fit.setup_seconds + fit.iteration_seconds[0], fit.traffic, ndcg(fit.model, split)


def spark(params: dict, split) -> tuple[float, float] | None:
    """Spark MLlib ALS on local[2]: (seconds per iteration, ndcg@10), or None without pyspark/java."""
    try:
        from pyspark.ml.recommendation import ALS as SparkALS
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    session = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
               .config("spark.driver.memory", "1g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        m = split.train.matrix.tocoo()
        frame = session.createDataFrame(
            list(zip(m.row.tolist(), m.col.tolist(), m.data.astype(float).tolist())), ["user", "item", "rating"]
        ).cache()
        frame.count()
        times = {}
        for iters in (1, params["iterations"] + 1):  # the difference is pure iterations: setup cancels
            est = SparkALS(rank=params["factors"], maxIter=iters, regParam=params["regularization"],
                           alpha=params["alpha"], implicitPrefs=True, seed=42, userCol="user", itemCol="item",
                           ratingCol="rating", numUserBlocks=2, numItemBlocks=2, coldStartStrategy="drop")
            t0 = time.perf_counter()
            fitted = est.fit(frame)
            fitted.userFactors.count()
            times[iters] = time.perf_counter() - t0
        per_it = (times[params["iterations"] + 1] - times[1]) / params["iterations"]
        model = ALS(**params)
        model.users_, model.items_, model.train_ = split.train.users, split.train.items, split.train.matrix
        model.user_factors_ = _factors(fitted.userFactors.collect(), len(split.train.users), params["factors"])
        model.item_factors_ = _factors(fitted.itemFactors.collect(), len(split.train.items), params["factors"])
        model._set_counts()
        return per_it, ndcg(model, split)
    finally:
        session.stop()


def _factors(rows, n: int, f: int) -> np.ndarray:
    out = np.zeros((n, f), np.float32)
    for r in rows:
        out[r["id"]] = r["features"]
    return out


def cost_model(single_s: float, nnz: int, n_rows: int, f: int, per_it: dict, traffic: dict) -> None:
    """Print the fitted model and its prediction for 1B interactions on N machines of M cores."""
    # measured: compute seconds per unit of work on one core, from the single-node fit
    work = nnz * f + n_rows * f * f  # CG: per cell ~f flops x steps, per row ~f^2 (Gramian product)
    c_work = single_s / work
    # measured: the fixed cost of one distributed iteration beyond compute (scheduling, Gramian
    # round trips, object-store copies), from the 1-node Ray run minus the single-node time
    overhead = max(per_it[1] - single_s, 0.0)
    print("\ncost model: t(N, M) = work / (N * M) * c_work + overhead + bytes / bandwidth")
    print(f"  measured: c_work = {c_work * 1e9:.3f} ns per unit (nnz*f + rows*f^2), overhead = {overhead * 1e3:.0f} ms"
          " per iteration (1 node)")
    print("  assumed: 100M users x 10M items (10 events per user), f = 64; 10 Gbit/s per machine (1.25 GB/s),"
          " machines receive in parallel; perfect core scaling inside a machine; bytes at the minimum with each"
          " user block touching every item and each item block touching the users with an event in it")
    n_users, n_items, big_nnz = 100_000_000, 10_000_000, 1_000_000_000
    for n, m in ((1, 64), (8, 32), (16, 32), (64, 32)):
        w = (big_nnz * f + (n_users + n_items) * f * f) * c_work / (n * m)
        users_in_block = n_users * (1 - (1 - 1 / n) ** (big_nnz / n_users))
        moved = 0 if n == 1 else (n_items + users_in_block) * f * 4  # received per machine per iteration
        t = w + overhead + moved / 1.25e9
        print(f"  1B interactions, {n:>3} machines x {m} cores: {t:8.1f} s per iteration "
              f"(compute {w:.1f} s, network {moved / 1.25e9:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--nodes", default="1,2,3")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--objective", choices=("spark", "ours"), default="spark",
                    help="spark: lambda scaled by each row's count, as Spark's ALS-WR; ours: plain L2")
    args = ap.parse_args()
    data = generate_world(args.preset, seed=0).dataset().interactions
    split = random_holdout(data, 0.25, seed=42)
    params = {"factors": args.factors, "iterations": args.iterations, "regularization": 1.0, "alpha": 1.0,
              "w0": 1.0, "num_threads": 1, "progress": False}
    if args.objective == "spark":
        params.update(nu=1.0, reg_counts="observed")
    nnz, shape = split.train.matrix.nnz, split.train.matrix.shape
    print(f"world {args.preset!r}: {shape[0]} users x {shape[1]} items, {nnz} training events; f = {args.factors}, "
          f"{args.iterations} iterations, CG solves (3 steps; Spark solves exactly); {args.objective!r} objective")
    single_s, single_q = single_node(params, split)
    print(f"\n{'engine':<26}{'s/iter':>9}{'vs 1-node':>10}{'ndcg@10':>9}{'MB moved/it':>13}"
          f"{'MB minimum':>12}{'MB broadcast':>14}{'vs min':>8}")
    print(f"{'single-node ALS, 1 thread':<26}{single_s:>9.3f}{1.0:>10.2f}{single_q:>9.4f}")
    exact_s, exact_q = single_node({**params, "solver": "cholesky"}, split)
    print(f"{'  same, Cholesky':<26}{exact_s:>9.3f}{exact_s / single_s:>10.2f}{exact_q:>9.4f}")
    per_it, traffic = {}, {}
    for n in [int(x) for x in args.nodes.split(",")]:
        s, _setup, t, q = on_ray(params, split, n)
        per_it[n], traffic[n] = s, t
        print(f"{f'ray, {n} node(s) x 1 CPU':<26}{s:>9.3f}{s / single_s:>10.2f}{q:>9.4f}{t.total / 1e6:>13.3f}"
              f"{t.minimum / 1e6:>12.3f}{t.broadcast / 1e6:>14.3f}{t.vs_minimum:>8.3f}")
    peer = None if args.no_spark else spark(params, split)
    if peer is None:
        print("spark MLlib: not measured (pip install pyspark and a Java 17 runtime; or --no-spark given)")
    else:
        best = min(per_it.values())
        print(f"{'spark MLlib ALS local[2]':<26}{peer[0]:>9.3f}{peer[0] / single_s:>10.2f}{peer[1]:>9.4f}")
        print(f"\nours / spark time per iteration: {best / peer[0]:.2f} (best Ray run, CG), "
              f"{exact_s / peer[0]:.2f} (single-node Cholesky); "
              f"ndcg@10 ours {single_q:.4f} (CG) {exact_q:.4f} (Cholesky) vs spark {peer[1]:.4f}")
    if 1 in per_it:
        cost_model(single_s, nnz, sum(shape), args.factors, per_it, traffic)


if __name__ == "__main__":
    main()
