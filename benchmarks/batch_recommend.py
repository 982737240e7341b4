"""Batch recommendations for every user: one process vs Ray Data actors, users per second per core.

A pipeline (ALS 64 factors + popularity sources, exclude-seen and creator-cap rules, no
ranking stage) is trained on the synthetic world and saved; then ``recommend_here`` (this
process, one core) and ``recommend_all`` on a local Ray cluster of ``--nodes`` nodes of 1 CPU
each (one actor per node) write the top ``--k`` of every user. Seconds are the whole job:
loading the pipeline, every batch and the Parquet writes (for Ray, also starting the actors).

    nice -n 10 .venv/bin/python benchmarks/batch_recommend.py [--preset small] [--k 100] [--nodes 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from shortlist.data.world import generate_world
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


def on_ray(model: Path, out: Path, k: int, batch: int, nodes: int) -> float:
    """Seconds for the whole job on a fresh local cluster of ``nodes`` 1-CPU nodes."""
    from shortlist.distributed.cluster import local_cluster

    with local_cluster(nodes, object_store_bytes=STORE):
        t0 = time.perf_counter()
        recommend_all(model, out, k=k, batch_size=batch, actors=nodes, progress=False)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--nodes", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pipe = Pipeline(SPEC).fit(generate_world(args.preset, seed=0).dataset(), progress=False)
        model = pipe.save(root / "model")
        users = len(pipe.users_)
        t0 = time.perf_counter()
        recommend_here(model, root / "here", k=args.k, batch_size=args.batch_size, progress=False)
        here = time.perf_counter() - t0
        ray_s = on_ray(model, root / "ray", args.k, args.batch_size, args.nodes)
    print(f"world {args.preset!r}: {users} users, k = {args.k}, batches of {args.batch_size}")
    print(f"{'engine':<30}{'s':>8}{'users/s':>10}{'users/s/core':>14}")
    print(f"{'one process (1 core)':<30}{here:>8.1f}{users / here:>10.0f}{users / here:>14.0f}")
    label = f"Ray Data, {args.nodes} x 1-CPU actors"
    print(f"{label:<30}{ray_s:>8.1f}{users / ray_s:>10.0f}{users / ray_s / args.nodes:>14.0f}")


if __name__ == "__main__":
    main()
