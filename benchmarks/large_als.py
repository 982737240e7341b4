"""ALS at MovieLens-20M scale on one machine vs implicit: fit time and peak RSS, same run, same objective.

Data: ``shortlist.data.big_world``, preset ``ml20m`` (138,493 users x 26,744 items x ~20M
distinct events) or ``50m`` (1,000,000 users x 1,000,000 items x 50M events); ``--scale 0.25``
keeps the items and takes a quarter of the users and events. Written to Parquet a chunk of
users at a time and read back streamed (``read_events``), so neither holds more than the
result and one chunk (50M events: 600 MB of event arrays).
Each engine runs in its own fresh process, so ``ru_maxrss`` is that engine's peak alone:
the load (the same streamed reader for both), then the fit. Both fit the same objective:
64 factors, CG with 3 steps, ``regularization``, cell weight ``1 + alpha`` on every event
and 1 on every other cell (ours: ``w0=1``; implicit 0.7 takes the confidences as the
matrix values, so it gets the matrix ``1 + alpha``), the same threads. Seconds per
iteration are the whole fit (setup included) over the iterations.

``--model item-knn`` fits item-kNN instead, against implicit's item-item peer
(``CosineRecommender``): both plain cosine over the binary user columns, ``--neighbors`` K
per item (ours: ``weighting="none"``, ``shrink=0``; implicit keeps the item itself among its
K, so it gets K + 1), the same threads (ours: numba's top-K
kernel; the sparse products are scipy's, one thread).

    nice -n 10 .venv/bin/python benchmarks/large_als.py [--preset ml20m|50m] [--scale 1] [--iterations 15]
        [--threads 2] [--model als|item-knn] [--neighbors 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: preset -> (users, items, events) at ``--scale 1``
PRESETS = {"ml20m": (138_493, 26_744, 20_000_263), "50m": (1_000_000, 1_000_000, 50_000_000)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds this process used so far, all threads (a busy machine stretches wall time, not this)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _fit_knn(engine: str, data: object, neighbors: int, threads: int) -> None:
    """Item-kNN, plain cosine, top ``neighbors`` per item: ours or implicit's ``CosineRecommender``."""
    import numba
    from threadpoolctl import threadpool_limits

    if engine == "shortlist":
        from shortlist.models.item_knn import ItemKNN

        numba.set_num_threads(threads)
        ItemKNN(n_neighbors=neighbors, similarity="cosine", shrink=0.0, weighting="none").fit(data, progress=False)
    else:
        from implicit.nearest_neighbours import CosineRecommender

        with threadpool_limits(1, user_api="blas"):
            CosineRecommender(K=neighbors + 1, num_threads=threads).fit(data.matrix, show_progress=False)


def child(engine: str, path: str, iterations: int, threads: int, reg: float, alpha: float,
          model: str = "als", neighbors: int = 20) -> dict:
    """Load and fit in this (fresh) process; returns the timings and peak RSS."""
    from threadpoolctl import threadpool_limits

    from shortlist.data.big_world import read_events

    t0 = time.perf_counter()
    data = read_events(path)
    m = data.matrix
    load_s, load_rss = time.perf_counter() - t0, _rss_mb()
    t0, cpu0 = time.perf_counter(), _cpu_s()
    if model == "item-knn":
        _fit_knn(engine, data, neighbors, threads)
    elif engine == "shortlist":
        from shortlist.models.als import ALS

        ALS(factors=64, iterations=iterations, regularization=reg, alpha=alpha, w0=1.0, cg_steps=3,
            num_threads=threads, progress=False).fit(data)
    else:
        from implicit.cpu.als import AlternatingLeastSquares

        conf = m.copy()
        conf.data[:] = 1.0 + alpha  # every event weighs 1 (binary): its confidence
        with threadpool_limits(1, user_api="blas"):  # what implicit asks for
            AlternatingLeastSquares(factors=64, iterations=iterations, regularization=reg, alpha=1.0, use_cg=True,
                                    num_threads=threads, random_state=0).fit(conf, show_progress=False)
    fit_s, cpu_s = time.perf_counter() - t0, _cpu_s() - cpu0
    return {"engine": engine, "events": int(m.nnz), "load_s": load_s, "fit_s": fit_s, "per_it": fit_s / (iterations if model == "als" else 1),
            "fit_cpu_s": cpu_s,
            "load_rss_mb": load_rss, "peak_rss_mb": _rss_mb()}


def run_child(engine: str, args: argparse.Namespace, path: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, "--data", str(path), "--iterations", str(args.iterations),
           "--threads", str(args.threads), "--regularization", str(args.regularization), "--alpha", str(args.alpha),
           "--model", args.model, "--neighbors", str(args.neighbors)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def generate(path: Path, preset: str, scale: float) -> None:
    """The world's Parquet file in a fresh process (its peak RSS is the generator's alone)."""
    n_users, n_items, n_events = PRESETS[preset]
    code = ("import json, resource, sys, time; from shortlist.data.big_world import write_big_world; "
            "t = time.perf_counter(); "
            f"n = write_big_world({str(path)!r}, n_users={round(n_users * scale)}, n_items={n_items}, "
            f"n_events={round(n_events * scale)}); "
            "print(json.dumps({'events': n, 's': time.perf_counter() - t, "
            "'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1])
    print(f"generated {out['events']:,} events -> {path} ({path.stat().st_size / 2**20:.0f} MiB) in {out['s']:.0f} s, "
          f"peak RSS {out['rss']:.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="ml20m")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--regularization", type=float, default=1.0)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--data", help="Parquet file to use or create (default: one in the temp folder, named by scale)")
    ap.add_argument("--engines", default="shortlist,implicit")
    ap.add_argument("--model", choices=["als", "item-knn"], default="als")
    ap.add_argument("--neighbors", type=int, default=20, help="item-knn: neighbours kept per item (K)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.iterations, args.threads, args.regularization,
                               args.alpha, args.model, args.neighbors)))
        return
    name = f"shortlist-big-world-{args.scale:g}.parquet" if args.preset == "ml20m" else \
        f"shortlist-big-world-{args.preset}-{args.scale:g}.parquet"
    path = Path(args.data or Path(tempfile.gettempdir()) / name)
    if not path.exists():
        generate(path, args.preset, args.scale)
    if args.model == "item-knn":
        print(f"item-kNN, cosine, K = {args.neighbors}, {args.threads} threads (s/iter: the whole fit)")
    else:
        print(f"f = 64, {args.iterations} iterations, CG 3 steps, {args.threads} threads, "
              f"regularization {args.regularization}, alpha {args.alpha}")
    print(f"{'engine':<10}{'events':>12}{'load s':>8}{'fit s':>8}{'s/iter':>8}{'fit CPU s':>10}"
          f"{'RSS after load MB':>19}{'peak RSS MB':>13}")
    rows = {}
    for engine in args.engines.split(","):
        r = rows[engine] = run_child(engine, args, path)
        print(f"{engine:<10}{r['events']:>12,}{r['load_s']:>8.1f}{r['fit_s']:>8.1f}{r['per_it']:>8.2f}"
              f"{r['fit_cpu_s']:>10.1f}{r['load_rss_mb']:>19.0f}{r['peak_rss_mb']:>13.0f}", flush=True)
    if len(rows) == 2:
        ours, peer = rows["shortlist"], rows["implicit"]
        print(f"\nshortlist / implicit: time {ours['fit_s'] / peer['fit_s']:.2f}, "
              f"CPU time {ours['fit_cpu_s'] / peer['fit_cpu_s']:.2f}, "
              f"peak RSS {ours['peak_rss_mb'] / peer['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
