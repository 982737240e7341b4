"""Load test of `shortlist serve` on loopback: requests/s, p50/p99 latency, errors, event-to-update latency.

Starts the server as a subprocess (127.0.0.1, free port), drives POST /recommend for N
seconds, and does the same against a bare uvicorn app that returns a fixed list (the
framework's ceiling on this machine: the peer, measured in the same run, with the same
number of worker processes). Then it measures how long the online updater takes from a
committed event to updated state (history + fold-in of the user's vector), and the
client-observed latency of POST /events (which includes the fsync of the event log).

The parts live in ``benchmarks/_serve_load/`` (the served pipeline, the child processes, the
load generators, the event path, the phases of a run, the report); this script parses the
arguments and runs them in order.

The load generator is ``wrk`` when it is on PATH (``apt-get install wrk``; C, a few µs of
CPU per request, driven by ``benchmarks/serve_load.lua``), else an async httpx client
(about 1 ms of Python CPU per request, which competes with the server for the cores).
Requests cycle over many known users plus some anonymous users described by a history.

    .venv/bin/python benchmarks/serve_load.py --quick                 # ml-100k, 10 s per phase
    .venv/bin/python benchmarks/serve_load.py --catalog synthetic-100k --seconds 60
    .venv/bin/python benchmarks/serve_load.py --catalog synthetic-100k --seconds 60 --workers 2
    .venv/bin/python benchmarks/serve_load.py --model-dir DIR         # an already trained pipeline

Catalogs: ``ml-100k`` (default; a light EASE + matrix factorization + popularity pipeline
on ../shared/data/ml-100k, or the synthetic "small" world when that folder is absent) and
``synthetic-100k`` (``configs/latency.toml`` on a 100k-item, 50k-user, 1M-interaction
synthetic world, as in benchmarks/pipeline_latency.py: the default config's EASE cannot
invert a 100k x 100k item matrix). The trained pipeline is kept under
``benchmarks/results/serve-model-<catalog>/`` (or ``--model-cache``) and reused by later
runs with the same catalog and config. ``--workers N`` (N > 1) starts a private
redis-server on a free port for the shared online state (``--state redis``) and stops it
at the end.

Targets: >= 400 req/s and p99 <= 25 ms for /recommend, p99 <= 5 ms from event to update.
The client runs on the same machine and competes with the server for CPU: figures on a
shared machine are noisy lower bounds.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

# the parts, and the names other benchmarks (soak.py, ui_pages.py) and tests import from this script
from _serve_load.events import post_events_latency, update_latency
from _serve_load.load import LUA, drive, drive_httpx, drive_wrk, make_bodies, parse_wrk, pipeline_ms
from _serve_load.model import LIGHT_SPEC, WORLD_100K, trained_model
from _serve_load.phases import catalog_ids, pipeline_alone, run_servers, write_inputs
from _serve_load.processes import API_KEY, BARE_APP, ROOT, cpu_tree, free_port, start_redis, stop, wait_ready
from _serve_load.report import print_events, print_load

__all__ = ["API_KEY", "BARE_APP", "LIGHT_SPEC", "LUA", "ROOT", "WORLD_100K", "cpu_tree", "drive", "drive_httpx",
           "drive_wrk", "free_port", "main", "make_bodies", "parse_wrk", "pipeline_ms", "post_events_latency",
           "start_redis", "stop", "trained_model", "update_latency", "wait_ready"]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="10 s per phase")
    ap.add_argument("--concurrency", type=int, default=8, help="connections kept busy by the client")
    ap.add_argument("--catalog", choices=["ml-100k", "synthetic-100k"], default="ml-100k",
                    help="what to train when no --model-dir is given")
    ap.add_argument("--config", help="pipeline TOML to train (default: light spec; latency.toml for synthetic-100k)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic world")
    ap.add_argument("--model-cache", help="folder keeping the trained pipeline between runs "
                                          "(default benchmarks/results/serve-model-<catalog>)")
    ap.add_argument("--model-dir", help="serve this trained pipeline instead of training one")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes (> 1: shared state in a "
                                                           "private redis-server)")
    ap.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto",
                    help="load generator (auto: wrk when on PATH)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="also offer this many requests/s to shortlist serve (wrk only) and report the "
                         "latency at that load, next to the saturation run")
    ap.add_argument("--known-users", type=int, default=5000, help="distinct known users in the request mix")
    ap.add_argument("--anonymous", type=int, default=0,
                    help="anonymous requests (5 history items, cold-start fold-in) added to the mix")
    ap.add_argument("--events", type=int, default=300, help="events posted one by one for the latency figures")
    ap.add_argument("--skip-bare", action="store_true", help="do not measure the bare uvicorn peer")
    ap.add_argument("--pipeline-requests", type=int, default=2000,
                    help="requests timed in-process on pipeline.recommend alone (0: skip)")
    return ap.parse_args()


def load_client(choice: str) -> str:
    """The load generator: ``wrk`` when asked or (auto) when on PATH, else ``httpx``."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    if choice == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: wrk is not on PATH (apt-get install wrk)")
    return choice


def model_folder(args: argparse.Namespace) -> Path:
    """``--model-dir``, else the pipeline trained for ``--catalog`` (reused from its cache folder)."""
    if args.model_dir:
        return Path(args.model_dir)
    cache = Path(args.model_cache) if args.model_cache else ROOT / "benchmarks" / "results" / \
        f"serve-model-{args.catalog}"
    return trained_model(args.catalog, args.config, args.seed, cache)


def main() -> None:
    args = parse_args()
    seconds = 10.0 if args.quick else args.seconds
    client = load_client(args.client)
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    model_dir = model_folder(args)
    p, users, items = catalog_ids(model_dir, bool(args.pipeline_requests))
    bodies = make_bodies(users, items, args.known_users, args.anonymous)
    files = write_inputs(tmp, bodies)
    rows, ev_lat, redis_url = run_servers(args, client, seconds, model_dir, tmp, bodies, files, users, items)
    upd = update_latency(model_dir, args.events) if args.events else np.zeros(1)
    shutil.rmtree(tmp, ignore_errors=True)
    pipe = pipeline_alone(p, bodies, args.pipeline_requests)
    print_load(args, client, seconds, len(items), redis_url, rows, pipe)
    if args.events:
        print_events(upd, ev_lat)


if __name__ == "__main__":
    main()
