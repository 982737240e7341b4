"""Two-tower on Ray Train vs one process: seconds per epoch and recall@100 at equal epochs.

Data: the synthetic world (``--preset small``: 2,000 users x 2,000 items, 100,000 events),
a 20 % random holdout per user; recall@100 over every user with held-out items, training
items excluded. One process: ``TwoTower.fit`` on 1 torch thread. Ray Train:
``shortlist.distributed.fit_two_tower`` on a local cluster of N nodes of 1 CPU
(``local_cluster``), N workers of 1 CPU, DDP over gloo; each worker runs ``batch_size``
cells per step, so N workers take 1/N of the steps per epoch. Seconds per epoch are the
median of the epochs' wall times (rank 0's for Ray; validation is off), so the start-up of
the cluster and the trainer is left out and printed apart. The one-process fit runs before
and after the Ray rows (the machine is shared: its load drifts); ratios are to the faster.

    nice -n 10 .venv/bin/python benchmarks/distributed_two_tower.py [--preset small] [--workers 1,2] [--epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from shortlist.data import random_holdout
from shortlist.data.world import generate_world
from shortlist.evaluation import ranking_metrics
from shortlist.neural import TwoTower

STORE = 200 * 2**20


def recall_at_100(model: TwoTower, split) -> float:
    test = split.test.matrix
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    top, _ = model.recommend_indices(users, 100, exclude_seen=True)
    return float(np.mean(ranking_metrics(top, test[users], 100)["recall"]))


def one_process(params: dict, split) -> dict:
    t0 = time.perf_counter()
    model = TwoTower(**params).fit(split.train, progress=False)
    total = time.perf_counter() - t0
    return {"engine": "one process, 1 thread", "epoch_s": statistics.median(model.history_.seconds),
            "setup_s": total - sum(model.history_.seconds), "recall": recall_at_100(model, split),
            "loss": model.history_.loss[-1]}


def on_ray_train(params: dict, split, workers: int) -> dict:
    from shortlist.distributed.cluster import local_cluster
    from shortlist.distributed.two_tower import fit_two_tower

    t0 = time.perf_counter()
    with local_cluster(workers, object_store_bytes=STORE):
        started = time.perf_counter() - t0
        fit = fit_two_tower(TwoTower(**params), split.train, workers=workers, progress=True)
    return {"engine": f"Ray Train, {workers} x 1 CPU", "epoch_s": statistics.median(fit.epoch_seconds),
            "setup_s": started + fit.setup_seconds, "recall": recall_at_100(fit.model, split),
            "loss": fit.losses[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (one node per worker)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    split = random_holdout(generate_world(args.preset, seed=5).dataset().interactions, 0.2, seed=1)
    params = {"epochs": args.epochs, "batch_size": 128, "device": "cpu", "num_threads": 1,
              "validation_fraction": 0.0, "factors": 32, "hidden": [64], "seed": args.seed}
    print(f"world {args.preset}: {split.train.matrix.shape[0]} users x {split.train.matrix.shape[1]} items, "
          f"{split.train.nnz} training cells; {params}")
    rows = [one_process(params, split)]
    rows += [on_ray_train(params, split, int(w)) for w in args.workers.split(",")]
    rows.append(one_process(params, split))
    base = min((rows[0], rows[-1]), key=lambda r: r["epoch_s"])
    print("| engine | s / epoch | vs one process | start-up s | recall@100 | vs one process | last loss |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['epoch_s']:.2f} | {r['epoch_s'] / base['epoch_s']:.2f} | {r['setup_s']:.1f} | "
              f"{r['recall']:.4f} | {r['recall'] / base['recall']:.3f} | {r['loss']:.4f} |")


if __name__ == "__main__":
    main()
