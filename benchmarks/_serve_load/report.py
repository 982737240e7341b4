"""The printed results: throughput, latency and CPU per request of each phase, against the targets."""

from __future__ import annotations

import argparse
import os

import numpy as np

__all__ = ["print_events", "print_load"]


def print_load(args: argparse.Namespace, client: str, seconds: float, n_items: int, redis_url: str | None,
               rows: list, pipe: np.ndarray) -> None:
    """The /recommend table (one row per phase), CPU split over workers, the pipeline alone, and the targets."""
    load = os.getloadavg()
    print(f"\nPOST /recommend, {seconds:.0f} s, {client} client, concurrency {args.concurrency}, "
          f"{n_items} items, {args.workers} worker(s){' + redis' if redis_url else ''}, {os.cpu_count()} CPUs "
          f"(client on the same machine), load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'server':<22}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
          f"{'server CPU ms/req':>19}{'client CPU ms/req':>19}")
    for name, r in rows:
        srv = "n/a" if r["server_cpu_s"] is None else f"{r['server_cpu_s'] / max(r['requests'], 1) * 1e3:.3f}"
        cli = f"{r['client_cpu_s'] / max(r['requests'], 1) * 1e3:.3f}"
        print(f"{name:<22}{r['requests']:>10}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>8}"
              f"{srv:>19}{cli:>19}")
    for name, r in rows:
        if len(r["split"]) > 1:
            print(f"{name}: CPU share per process {' / '.join(f'{x:.0%}' for x in r['split'])}")
    if args.pipeline_requests:
        print(f"pipeline.recommend alone (in-process, same mix, 1 thread): mean {pipe.mean():.3f} ms, "
              f"p50 {np.percentile(pipe, 50):.3f} ms, p99 {np.percentile(pipe, 99):.3f} ms")
    bare_rows = [r for name, r in rows if name.startswith("bare")]
    if bare_rows:
        print(f"ratio shortlist / bare: {rows[0][1]['rps'] / bare_rows[0]['rps']:.2f} of the framework ceiling")
    for name, r0 in rows:
        if not name.startswith("shortlist"):
            continue
        print(f"targets ({name}): >= 400 req/s ({'met' if r0['rps'] >= 400 else 'NOT met'}), "
              f"p99 <= 25 ms ({'met' if r0['p99'] <= 25 else 'NOT met'}), "
              f"zero errors ({'met' if r0['errors'] == 0 else 'NOT met'})")


def print_events(upd: np.ndarray, ev_lat: np.ndarray) -> None:
    """Event-to-state update latency (target p99 <= 5 ms) and the POST /events round trip."""
    print(f"\nevent -> updated state (in-process, history + trending + fold-in): p50 "
          f"{np.percentile(upd, 50):.3f} ms, p99 {np.percentile(upd, 99):.3f} ms (target <= 5 ms: "
          f"{'met' if np.percentile(upd, 99) <= 5 else 'NOT met'})")
    print(f"POST /events round trip (1 event, fsync'd commit + update): p50 {np.percentile(ev_lat, 50):.2f} ms, "
          f"p99 {np.percentile(ev_lat, 99):.2f} ms")
