"""Load test of `shortlist serve` on loopback: requests/s, p50/p99 latency, errors, event-to-update latency.

Starts the server as a subprocess (127.0.0.1, free port), drives it with an async httpx load
generator for N seconds, and does the same against a bare uvicorn app that returns a fixed
list (the framework's ceiling on this machine: the peer, measured in the same run). Then it
measures how long the online updater takes from a committed event to updated state
(history + fold-in of the user's vector), and the client-observed latency of POST /events
(which includes the fsync of the event log).

    .venv/bin/python benchmarks/serve_load.py --quick            # 10 s per phase
    .venv/bin/python benchmarks/serve_load.py --seconds 60       # the full run
    .venv/bin/python benchmarks/serve_load.py --model-dir DIR    # an already trained pipeline

Without --model-dir it trains a pipeline (EASE + matrix factorization + popularity, no
ranker; or --config FILE) on ml-100k from ../shared/data, or on the synthetic "small" world
when that folder is absent. Targets: >= 400 req/s and p99 <= 25 ms for /recommend,
p99 <= 5 ms from event to update. The client runs on the same machine and competes with
the server for CPU: figures on a shared 2-core machine are noisy lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "bench-key-" + "x" * 24

LIGHT_SPEC = {
    "name": "serve-bench", "k": 10,
    "models": {"ease": {"kind": "ease"}, "mf": {"kind": "mf-mse", "params": {"factors": 32, "use_bias": False}},
               "pop": {"kind": "popularity"}},
    "sources": [{"name": "ease", "kind": "model", "model": "ease", "quota": 100},
                {"name": "mf", "kind": "model", "model": "mf", "quota": 100},
                {"name": "pop", "kind": "model", "model": "pop", "quota": 50}],
}

BARE_APP = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
ITEMS = {"items": [{"item_id": i, "score": 1.0 / (i + 1)} for i in range(10)], "model_version": "bare"}
@app.post("/recommend")
async def rec(body: dict) -> dict:
    return ITEMS
@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(folder: Path, config: str | None) -> tuple[Path, str]:
    from shortlist.data.loading import load_data
    from shortlist.pipeline import Pipeline

    data_path = ROOT.parent / "shared" / "data" / "ml-100k"
    spec = Pipeline.from_toml(config) if config else Pipeline(LIGHT_SPEC)
    data = load_data(data_path) if data_path.exists() else load_data("synthetic:small")
    spec.fit(data, progress=False).save(folder)
    return folder, data.name


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


async def drive(url: str, bodies: list[dict], seconds: float, concurrency: int) -> dict:
    """Closed loop: ``concurrency`` clients send /recommend back to back for ``seconds``."""
    lat: list[float] = []
    errors = [0]
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:
        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/recommend", json=rng.choice(bodies))
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t0)
                errors[0] += not ok

        t_start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - t_start
    a = np.asarray(lat) * 1e3
    return {"requests": len(a), "rps": len(a) / wall, "p50": float(np.percentile(a, 50)),
            "p99": float(np.percentile(a, 99)), "errors": errors[0]}


def post_events_latency(url: str, users: list, items: list, n: int) -> np.ndarray:
    lat = []
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=10.0) as c:
        for i in range(n):
            body = {"events": [{"event_id": f"bench-{time.time_ns()}-{i}", "user_id": str(random.choice(users)),
                                "item_id": str(random.choice(items)), "type": "click"}]}
            t0 = time.perf_counter()
            r = c.post("/events", json=body)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise SystemExit(f"POST /events failed: {r.status_code} {r.text}")
    return np.asarray(lat) * 1e3


def update_latency(model_dir: Path, n: int) -> np.ndarray:
    """In-process: time from a committed event to updated state (history, trending, fold-in)."""
    from shortlist.online import LoggedEvent, MemoryState, ModelHolder, Updater

    holder = ModelHolder(model_dir)
    updater = Updater(MemoryState(), holder)
    p = holder.current.pipeline
    users, items = p.users_.ids, p.items_.ids
    rng = np.random.default_rng(0)
    lat = []
    for i in range(n):
        ev = LoggedEvent(event_id=str(i), user_id=str(users[rng.integers(len(users))]),
                         item_id=str(items[rng.integers(len(items))]), type="click", timestamp=time.time())
        t0 = time.perf_counter()
        updater.apply([ev])
        lat.append(time.perf_counter() - t0)
    return np.asarray(lat[10:]) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="10 s per phase")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--model-dir", help="serve this trained pipeline instead of training one")
    ap.add_argument("--config", help="pipeline TOML to train when no --model-dir is given")
    ap.add_argument("--events", type=int, default=300, help="events posted one by one for the latency figures")
    args = ap.parse_args()
    seconds = 10.0 if args.quick else args.seconds

    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    if args.model_dir:
        model_dir, data_name = Path(args.model_dir), "given"
    else:
        t0 = time.perf_counter()
        model_dir, data_name = train(tmp / "v1", args.config)
        print(f"trained on {data_name} in {time.perf_counter() - t0:.1f} s")
    from shortlist.pipeline import Pipeline

    p = Pipeline.load(model_dir)
    users = p.users_.ids.tolist()
    items = p.items_.ids.tolist()
    rng = random.Random(1)
    bodies = [{"user_id": str(rng.choice(users)), "k": 10} for _ in range(500)]
    bodies += [{"user_id": f"anon-{i}", "history": [str(x) for x in rng.sample(items, 5)], "k": 10}
               for i in range(100)]

    rows = []
    env = dict(os.environ, SHORTLIST_API_KEY=API_KEY)
    for name, cmd in (
        ("shortlist serve", [sys.executable, "-m", "shortlist", "serve", "--model-dir", str(model_dir),
                             "--events-db", str(tmp / "events.sqlite")]),
        ("bare uvicorn (peer)", [sys.executable, "-c", BARE_APP]),
    ):
        port = free_port()
        full = cmd + (["--port", str(port)] if name.startswith("shortlist") else [str(port)])
        proc = subprocess.Popen(full, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc)
            asyncio.run(drive(url, bodies[:50], 1.0, args.concurrency))  # warm-up
            res = asyncio.run(drive(url, bodies, seconds, args.concurrency))
            if name.startswith("shortlist"):
                ev_lat = post_events_latency(url, users, items, args.events)
            rows.append((name, res))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    upd = update_latency(model_dir, args.events)

    print(f"\nPOST /recommend, {seconds:.0f} s, concurrency {args.concurrency}, {len(items)} items, "
          f"{os.cpu_count()} CPUs (client on the same machine)")
    print(f"{'server':<22}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in rows:
        print(f"{name:<22}{r['requests']:>10}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>8}")
    ratio = rows[0][1]["rps"] / rows[1][1]["rps"]
    print(f"ratio shortlist / bare: {ratio:.2f} of the framework ceiling")
    print(f"targets: >= 400 req/s ({'met' if rows[0][1]['rps'] >= 400 else 'NOT met'}), "
          f"p99 <= 25 ms ({'met' if rows[0][1]['p99'] <= 25 else 'NOT met'})")
    print(f"\nevent -> updated state (in-process, history + trending + fold-in): p50 {np.percentile(upd, 50):.3f} ms,"
          f" p99 {np.percentile(upd, 99):.3f} ms (target <= 5 ms: "
          f"{'met' if np.percentile(upd, 99) <= 5 else 'NOT met'})")
    print(f"POST /events round trip (1 event, fsync'd commit + update): p50 {np.percentile(ev_lat, 50):.2f} ms, "
          f"p99 {np.percentile(ev_lat, 99):.2f} ms")


if __name__ == "__main__":
    main()
