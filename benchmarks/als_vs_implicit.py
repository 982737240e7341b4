"""Shortlist ALS vs implicit's CPU ALS: fit time, quality, GFLOP/s, recommend latency, start-up.

Data: a seeded synthetic power-law world made here with numpy (users in one of 50 tastes,
Zipf item popularity, Pareto user activity, repeat events summed into counts). Sizes:
``medium`` ~100k users x 20k items x ~2M cells, ``large`` 10x that, ``small`` (--quick)
10x less. Both libraries fit the *same* objective: factors=64, iterations=15, CG with 3
steps, the same regularization and threads; Shortlist gets ``alpha`` and ``w0=1`` (cell
weight ``1 + alpha * count``), implicit 0.7.3 (which uses the matrix values themselves as
confidences and ``alpha=1`` leaves them untouched) gets the matrix ``1 + alpha * count``.
Quality: ndcg@10 / recall@10 on a 25 % random holdout per user (5,000 sampled users,
training items excluded). GFLOP/s: nominal flops of the CG half-steps (see
``shortlist.models._kernels.als.cg_flops``) over fit seconds, next to numpy's sgemm rate
measured in the same run with the same threads.

Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/als_vs_implicit.py --quick     # small (~1 min)
    nice -n 10 .venv/bin/python benchmarks/als_vs_implicit.py             # medium + large
    nice -n 10 .venv/bin/python benchmarks/als_vs_implicit.py --sizes medium
    nice -n 10 .venv/bin/python benchmarks/als_vs_implicit.py --tune      # ml-100k search

``--tune`` chooses ALS hyperparameters for MovieLens 100K on a validation split carved out
of the *training* part (random holdout of the train split, seed 7), then reports the test
ndcg@10 of the chosen values once. Timings on a shared machine are noisy: rerun to check.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from shortlist.data import Interactions, random_holdout
from shortlist.evaluation import evaluate, ranking_metrics
from shortlist.models._kernels.als import cg_flops
from shortlist.models.als import ALS

SIZES = {"small": (10_000, 2_000, 200_000), "medium": (100_000, 20_000, 2_000_000),
         "large": (1_000_000, 200_000, 20_000_000)}
ROOT = Path(__file__).resolve().parents[1]


def power_law_world(n_users: int, n_items: int, n_cells: int, *, seed: int = 0) -> sp.csr_matrix:
    """Users x items count matrix with about ``n_cells`` distinct cells.

    Repeat draws of popular items merge into one cell, so a first draw measures how
    many events give ``n_cells`` cells and a second draw (same seed) uses that many.
    """
    m = _draw(n_users, n_items, n_cells, seed)
    return _draw(n_users, n_items, int(n_cells * n_cells / max(m.nnz, 1)), seed)


def _draw(n_users: int, n_items: int, n_events: int, seed: int, n_tastes: int = 50,
          taste_share: float = 0.7) -> sp.csr_matrix:
    """Users x items count matrix with Zipf item popularity and Pareto user activity."""
    rng = np.random.default_rng(seed)
    pop = rng.permutation(np.arange(1, n_items + 1) ** -0.9)
    item_taste = rng.integers(n_tastes, size=n_items)
    user_taste = rng.integers(n_tastes, size=n_users)
    activity = rng.pareto(1.2, n_users) + 1.0
    per_user = np.maximum(1, np.round(activity * n_events / activity.sum())).astype(np.int64)
    per_user = np.minimum(per_user, n_items // 4)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.empty(users.size, np.int64)
    taste = np.where(rng.random(users.size) < taste_share, user_taste[users], -1)
    for t in range(-1, n_tastes):
        where = np.flatnonzero(taste == t)
        pool = np.arange(n_items) if t < 0 else np.flatnonzero(item_taste == t)
        cdf = np.cumsum(pop[pool])
        items[where] = pool[np.minimum(np.searchsorted(cdf, rng.random(where.size) * cdf[-1]), pool.size - 1)]
    m = sp.csr_matrix((np.ones(users.size, np.float32), (users, items)), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def sgemm_gflops(threads: int, n: int = 2048) -> float:
    """Best single-precision matmul rate of numpy's BLAS with ``threads`` threads."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    with threadpool_limits(threads, user_api="blas"):
        a @ a
        best = min(_timed(lambda: a @ a) for _ in range(3))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _wall_cpu(fn) -> tuple[float, float]:
    """Wall and process CPU seconds (CPU time is the steadier figure on a shared machine)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def adopt(train: Interactions, user_factors: np.ndarray, item_factors: np.ndarray) -> ALS:
    """Wrap peer factors in an ALS so both are scored by the same code."""
    model = ALS()
    model.users_, model.items_, model.train_ = train.users, train.items, train.matrix
    model.user_factors_ = np.ascontiguousarray(user_factors, np.float32)
    model.item_factors_ = np.ascontiguousarray(item_factors, np.float32)
    model._set_counts()
    return model


def quality(model: ALS, split, n_users: int = 5000, seed: int = 0) -> tuple[float, float]:
    test = split.test.matrix
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(split.train.matrix.indptr) > 0))
    users = np.sort(np.random.default_rng(seed).choice(users, min(n_users, users.size), replace=False))
    top, _ = model.recommend_indices(users, 10, exclude_seen=True)
    m = ranking_metrics(top, test[users], 10)
    return float(np.mean(m["ndcg"])), float(np.mean(m["recall"]))


def bench_size(name: str, threads: int, reg: float, alpha: float, sgemm: float) -> dict:
    n_users, n_items, n_events = SIZES[name]
    t0 = time.perf_counter()
    counts = power_law_world(n_users, n_items, n_events, seed=1)
    data = Interactions.from_matrix(counts, weighting="value")
    split = random_holdout(data, 0.25, seed=42)
    train = split.train.matrix
    gen_s = time.perf_counter() - t0
    print(f"[{name}] {n_users:,} users x {n_items:,} items, {train.nnz:,} train cells "
          f"(generated + split in {gen_s:.1f}s)", flush=True)

    ours = ALS(factors=64, iterations=15, regularization=reg, alpha=alpha, w0=1.0, cg_steps=3,
               num_threads=threads, progress=False)
    ours_s, ours_cpu = _wall_cpu(lambda: ours.fit(split.train))
    print(f"  shortlist fit {ours_s:.2f}s wall, {ours_cpu:.2f}s cpu", flush=True)

    from implicit.cpu.als import AlternatingLeastSquares

    conf = train.copy()
    conf.data = 1.0 + alpha * conf.data  # implicit's confidence is the matrix value itself
    with threadpool_limits(1, user_api="blas"):  # implicit asks for single-threaded BLAS
        peer = AlternatingLeastSquares(factors=64, iterations=15, regularization=reg, alpha=1.0,
                                       use_cg=True, num_threads=threads, random_state=0)
        peer_s, peer_cpu = _wall_cpu(lambda: peer.fit(conf, show_progress=False))
    print(f"  implicit fit {peer_s:.2f}s wall, {peer_cpu:.2f}s cpu", flush=True)

    flops = 15 * (cg_flops(train.nnz, n_users, 64, 3) + cg_flops(train.nnz, n_items, 64, 3))
    q_ours = quality(ours, split)
    q_peer = quality(adopt(split.train, peer.user_factors, peer.item_factors), split)
    rec_ms = peer_rec_ms = None
    if n_items <= 20_000:
        users = np.random.default_rng(3).choice(n_users, 1000, replace=False)
        ids = ours.users_.lookup(users)
        ours.recommend(ids, k=10)
        rec_ms = 1e3 * min(_timed(lambda: ours.recommend(ids, k=10, exclude_seen=True)) for _ in range(5))
        # the peer on the same users: its batched recommend with already-liked items filtered
        liked = conf[users]
        peer.recommend(users, liked, N=10, filter_already_liked_items=True)
        peer_rec_ms = 1e3 * min(_timed(lambda: peer.recommend(users, liked, N=10, filter_already_liked_items=True))
                                for _ in range(5))
    return {"size": name, "users": n_users, "items": n_items, "cells": train.nnz, "ours_s": ours_s, "peer_s": peer_s,
                "ours_cpu": ours_cpu, "peer_cpu": peer_cpu,
                "ours_gflops": flops / ours_s / 1e9, "peer_gflops": flops / peer_s / 1e9, "sgemm": sgemm,
                "ours_ndcg": q_ours[0], "peer_ndcg": q_peer[0], "ours_recall": q_ours[1], "peer_recall": q_peer[1],
                "rec_ms": rec_ms, "peer_rec_ms": peer_rec_ms}


def startup(threads: int) -> list[float]:
    """Seconds for import + a first small fit in fresh processes: cold numba cache, then warm."""
    code = ("import time; t=time.perf_counter(); import scipy.sparse as sp; "
            "from shortlist.data import Interactions; from shortlist.models.als import ALS; "
            "m=sp.random(2000, 500, density=0.02, format='csr', random_state=0, dtype='float32'); "
            f"ALS(factors=16, iterations=2, num_threads={threads}, progress=False)"
            ".fit(Interactions.from_matrix(m)); print(time.perf_counter()-t)")
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                 check=True)
            out.append(float(res.stdout.strip().splitlines()[-1]))
    return out


# -- hyperparameters for MovieLens 100K, chosen on validation data only ---------------------
def load_ml100k(path: Path) -> Interactions:
    import polars as pl

    df = pl.read_csv(path, separator="\t", has_header=False, new_columns=["user", "item", "rating", "ts"])
    return Interactions.from_frame(df, user="user", item="item", value="rating", time="ts",
                                   weighting="binary")


def tune(path: Path) -> dict:
    """Grid search on a validation split of the training part; test ndcg@10 reported once."""
    data = load_ml100k(path)
    outer = random_holdout(data, 0.25, seed=42)  # the evaluation split: its test part is never used here
    val = random_holdout(outer.train, 0.25, seed=7)

    def val_ndcg(params: dict) -> float:
        model = ALS(iterations=15, progress=False, **params).fit(val.train)
        return evaluate(model, val, k=10)["ndcg@10"]

    grid = {"factors": [64], "alpha": [0.1, 0.3, 1.0, 3.0], "w0": [0.1, 0.3, 1.0],
                "regularization": [0.1, 1.0, 3.0, 10.0, 30.0]}
    results = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        results.append((val_ndcg(params), params))
    best_score, best = max(results, key=lambda r: r[0])
    print(f"stage 1 ({len(results)} configs) best validation ndcg@10 {best_score:.4f}: {best}")
    for extra in ({"factors": 32}, {"factors": 128}, {"nu": 0.5, "regularization": best["regularization"] / 10}):
        params = {**best, **extra}
        score = val_ndcg(params)
        print(f"  {params}: {score:.4f}")
        if score > best_score + 1e-3:
            best_score, best = score, params
    model = ALS(iterations=15, progress=False, **best).fit(outer.train)
    test = evaluate(model, outer, k=10)["ndcg@10"]
    print(f"chosen {best} (validation ndcg@10 {best_score:.4f}); test ndcg@10 {test:.4f}")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small size only")
    ap.add_argument("--sizes", default="medium,large", help="comma list of small, medium, large")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--regularization", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--tune", action="store_true", help="MovieLens 100K hyperparameter search")
    ap.add_argument("--ml100k", type=Path, default=ROOT.parent / "shared" / "data" / "ml-100k" / "u.data")
    args = ap.parse_args()
    if args.tune:
        tune(args.ml100k)
        return
    sizes = ["small"] if args.quick else args.sizes.split(",")
    sgemm = sgemm_gflops(args.threads)
    rows = [bench_size(s, args.threads, args.regularization, args.alpha, sgemm) for s in sizes]
    print(f"\nthreads={args.threads}, factors=64, iterations=15, cg_steps=3, "
          f"regularization={args.regularization}, alpha={args.alpha}; numpy sgemm {sgemm:.0f} GFLOP/s")
    head = (f"{'size':7} {'cells':>11} {'shortlist s':>11} {'implicit s':>10} {'ratio':>6} "
            f"{'cpu s ours/impl':>16} {'ratio':>6} {'GFLOP/s ours/impl':>18} "
            f"{'ndcg@10 ours':>12} {'implicit':>8} {'rec ms/1k ours/impl':>20}")
    print(head)
    for r in rows:
        rec = f"{r['rec_ms']:.1f}/{r['peer_rec_ms']:.1f}" if r["rec_ms"] is not None else "-"
        print(f"{r['size']:7} {r['cells']:>11,} {r['ours_s']:>11.2f} {r['peer_s']:>10.2f} "
              f"{r['ours_s'] / r['peer_s']:>6.2f} {r['ours_cpu']:>8.2f}/{r['peer_cpu']:<7.2f} "
              f"{r['ours_cpu'] / r['peer_cpu']:>6.2f} {r['ours_gflops']:>8.1f}/{r['peer_gflops']:<9.1f} "
              f"{r['ours_ndcg']:>12.4f} {r['peer_ndcg']:>8.4f} {rec:>20}")
    cold, warm = startup(args.threads)
    print(f"\nimport + first small fit in a fresh process: {cold:.2f}s with an empty numba cache, "
          f"{warm:.2f}s with the cache it wrote")


if __name__ == "__main__":
    main()
