"""The run: the request files, then each server (shortlist serve, the bare peer) started, loaded and stopped."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from _serve_load.events import post_events_latency
from _serve_load.load import drive
from _serve_load.processes import API_KEY, BARE_APP, ROOT, free_port, start_redis, stop, wait_ready

__all__ = ["catalog_ids", "pipeline_alone", "run_servers", "write_inputs"]


def catalog_ids(model_dir: Path, load_pipeline: bool) -> tuple[object | None, list, list]:
    """(the loaded pipeline or None, user ids, item ids) of the served pipeline.

    Without ``load_pipeline`` only the ids are read (from the saved data, in a second).
    """
    if load_pipeline:
        from shortlist.pipeline import Pipeline

        p = Pipeline.load(model_dir)
        return p, p.users_.ids.tolist(), p.items_.ids.tolist()
    from shortlist.data.dataset import Dataset

    inter = Dataset.load(model_dir / "data").interactions  # the ids only, in a second
    return None, inter.users.ids.tolist(), inter.items.ids.tolist()


def write_inputs(tmp: Path, bodies: list[dict]) -> tuple[Path, Path]:
    """(all request bodies, the first 200 for warm-up) as JSON lines for wrk, and the bare peer's app file."""
    bodies_file = tmp / "bodies.jsonl"
    bodies_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    warm_file = tmp / "warm.jsonl"
    warm_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies[:200]))
    (tmp / "bare_app.py").write_text(BARE_APP)
    return bodies_file, warm_file


def _commands(args: argparse.Namespace, model_dir: Path, tmp: Path, env: dict) -> tuple[list, subprocess.Popen | None,
                                                                                       str | None]:
    """((phase name, server command) per phase, the redis process, its URL); redis starts with > 1 worker."""
    redis_proc, redis_url = None, None
    serve = [sys.executable, "-m", "shortlist", "serve", "--model-dir", str(model_dir),
             "--events-db", str(tmp / "events.sqlite"), "--workers", str(args.workers)]
    if args.workers > 1:
        redis_proc, redis_url = start_redis()
        serve += ["--state", "redis"]
        env["SHORTLIST_REDIS_URL"] = redis_url
    bare = [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp), "bare_app:app", "--host", "127.0.0.1",
            "--log-level", "warning", "--no-access-log", "--workers", str(args.workers)]
    phases = [("shortlist serve", serve)] + ([] if args.skip_bare else [("bare uvicorn (peer)", bare)])
    return phases, redis_proc, redis_url


def run_servers(args: argparse.Namespace, client: str, seconds: float, model_dir: Path, tmp: Path,
                bodies: list[dict], files: tuple[Path, Path], users: list,
                items: list) -> tuple[list, np.ndarray, str | None]:
    """(result rows, POST /events latencies, the redis URL or None): each server warmed up, then loaded.

    shortlist serve is also loaded at ``--rate`` (wrk only) and answers the POST /events round trips.
    """
    bodies_file, warm_file = files
    rows = []
    ev_lat = np.zeros(1)
    env = dict(os.environ, SHORTLIST_API_KEY=API_KEY)
    env.pop("SHORTLIST_SETTINGS_JSON", None)
    redis_proc, redis_url = None, None
    try:
        phases, redis_proc, redis_url = _commands(args, model_dir, tmp, env)
        for name, cmd in phases:
            port = free_port()
            proc = subprocess.Popen(cmd + ["--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_ready(url, proc)
                # warm-up: every worker process loads lazily built structures on its first requests
                drive(client, url, bodies[:200], warm_file, 2.0, args.concurrency, args.wrk_threads)
                res = drive(client, url, bodies, bodies_file, seconds, args.concurrency, args.wrk_threads,
                            server_pid=proc.pid)
                rows.append((name, res))
                if name.startswith("shortlist") and args.rate > 0 and client == "wrk":
                    paced = drive(client, url, bodies, bodies_file, seconds, args.concurrency, args.wrk_threads,
                                  server_pid=proc.pid, rate=args.rate)
                    rows.append((f"{name} @ {args.rate:g}/s", paced))
                if name.startswith("shortlist") and args.events:
                    ev_lat = post_events_latency(url, users, items, args.events)
            finally:
                stop(proc)
    finally:
        stop(redis_proc)
    return rows, ev_lat, redis_url


def pipeline_alone(p: object | None, bodies: list[dict], n: int) -> np.ndarray:
    """The pipeline alone, same request mix, one thread as the server's workers run it (ms per request)."""
    import numba
    from threadpoolctl import threadpool_limits

    from _serve_load.load import pipeline_ms

    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        return pipeline_ms(p, bodies, n) if n else np.zeros(1)
