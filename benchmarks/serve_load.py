"""Load test of `shortlist serve` on loopback: requests/s, p50/p99 latency, errors, event-to-update latency.

Starts the server as a subprocess (127.0.0.1, free port), drives POST /recommend for N
seconds, and does the same against a bare uvicorn app that returns a fixed list (the
framework's ceiling on this machine: the peer, measured in the same run, with the same
number of worker processes). Then it measures how long the online updater takes from a
committed event to updated state (history + fold-in of the user's vector), and the
client-observed latency of POST /events (which includes the fsync of the event log).

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
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _shared import cached_pipeline  # benchmarks/_shared.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "serve_load.lua"
API_KEY = "bench-key-" + "x" * 24

LIGHT_SPEC = {
    "name": "serve-bench", "k": 10,
    "models": {"ease": {"kind": "ease"}, "mf": {"kind": "mf-mse", "params": {"factors": 32, "use_bias": False}},
               "pop": {"kind": "popularity"}},
    "sources": [{"name": "ease", "kind": "model", "model": "ease", "quota": 100},
                {"name": "mf", "kind": "model", "model": "mf", "quota": 100},
                {"name": "pop", "kind": "model", "model": "pop", "quota": 50}],
}
#: the 100k-item world of benchmarks/pipeline_latency.py
WORLD_100K = {"n_users": 50_000, "n_items": 100_000, "n_interactions": 1_000_000,
              "n_creators": 5_000, "n_categories": 100}

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()
ITEMS = {"items": [{"item_id": i, "score": 1.0 / (i + 1)} for i in range(10)], "model_version": "bare"}
@app.post("/recommend")
async def rec(body: dict) -> dict:
    return ITEMS
@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the served pipeline ------------------------------------------------------------------

def _stamp(catalog: str, config: str | None, seed: int) -> dict:
    if catalog == "synthetic-100k":
        from shortlist.pipeline.defaults import CONFIG_DIR

        config = config or str(CONFIG_DIR / "latency.toml")
    text = Path(config).read_text() if config else json.dumps(LIGHT_SPEC, sort_keys=True)
    return {"catalog": catalog, "seed": seed, "config": config,
            "config_sha256": hashlib.sha256(text.encode()).hexdigest()}


def _fit(catalog: str, stamp: dict):
    from shortlist.pipeline import Pipeline, load_spec

    spec = load_spec(stamp["config"]) if stamp["config"] else LIGHT_SPEC
    if catalog == "synthetic-100k":
        from shortlist.data.world import generate_world

        data = generate_world("medium", seed=stamp["seed"], **WORLD_100K).dataset()
    else:
        from shortlist.data.loading import load_data

        path = ROOT.parent / "shared" / "data" / "ml-100k"
        data = load_data(path) if path.exists() else load_data("synthetic:small")
    return Pipeline(spec).fit(data, progress=False)


def trained_model(catalog: str, config: str | None, seed: int, cache: Path) -> Path:
    """The pipeline folder for ``catalog``: reused from ``cache`` when trained with the same inputs."""
    stamp = _stamp(catalog, config, seed)
    model, seconds = cached_pipeline(cache, stamp, lambda: _fit(catalog, stamp))
    print(f"reusing the pipeline trained in {model}" if seconds is None
          else f"trained {catalog} in {seconds:.0f} s -> {model}")
    return model


# ---- processes ----------------------------------------------------------------------------

def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 600.0) -> None:
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


def stop(proc: subprocess.Popen | None) -> None:
    """Terminate a child we started (SIGTERM, then SIGKILL after 30 s)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_tree(pid: int) -> dict[int, float] | None:
    """User + system CPU seconds of ``pid`` and of each live descendant (uvicorn workers), from /proc."""
    proc = Path("/proc")
    if not (proc / str(pid)).exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            # the command name may hold spaces and parentheses: fields start after the last ')'
            fields = (d / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        stats[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    out, todo = {}, [pid]
    while todo:
        cur = todo.pop()
        out[cur] = stats.get(cur, (0, 0.0))[1]
        todo.extend(c for c, (ppid, _) in stats.items() if ppid == cur)
    return out


def start_redis() -> tuple[subprocess.Popen, str]:
    """A throw-away redis-server on a free loopback port, no persistence."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("--workers > 1 needs redis-server on PATH (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--daemonize", "no", "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        stop(proc)
        raise SystemExit("redis-server did not start")
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


# ---- load generators ----------------------------------------------------------------------

async def drive_httpx(url: str, bodies: list[dict], seconds: float, concurrency: int) -> dict:
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
                    ok = 200 <= r.status_code < 300
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


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(out: str) -> dict:
    """Requests, req/s, p50/p99 (ms) and errors (non-2xx + socket errors) from ``wrk --latency`` output."""
    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", out, re.MULTILINE))
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.MULTILINE)
    if total is None or "50" not in pct or "99" not in pct:
        raise SystemExit(f"could not parse the wrk output:\n{out}")
    requests, wall_ms = int(total.group(1)), _ms(total.group(2) + total.group(3))
    non2xx = re.search(r"^non2xx (\d+)", out, re.MULTILINE)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"requests": requests, "rps": requests / (wall_ms / 1e3), "p50": _ms(pct["50"]), "p99": _ms(pct["99"]),
            "errors": errors}


PACING = """
-- added by serve_load.py --rate: each wrk thread sends at a fixed rate (open loop while
-- connections are free), so latency is measured at a given load instead of at saturation
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_usec; } sl_timeval;
           int gettimeofday(sl_timeval *tv, void *tz); ]]
local tv = ffi.new("sl_timeval")
local interval, due = %(interval_ms).6f, nil
function delay()
   ffi.C.gettimeofday(tv, nil)
   local now = tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
   if due == nil then due = now end
   local wait = due - now
   due = due + interval
   if wait < 0 then return 0 end
   return math.floor(wait)
end
"""


def drive_wrk(url: str, bodies_file: Path, seconds: float, concurrency: int, threads: int,
              rate: float = 0.0) -> dict:
    """wrk with ``concurrency`` connections over ``threads`` threads for ``seconds``.

    ``rate`` 0: closed loop, every connection sends its next request as soon as the answer
    arrives (the server's saturation throughput). ``rate`` > 0: requests leave at that total
    rate (each thread paces its own share), so the latencies are those of a server offered
    that load. wrk times a request from when it is sent, not from when it was due.
    """
    script = LUA
    if rate > 0:
        script = bodies_file.with_name(f"paced-{rate:g}.lua")
        script.write_text(LUA.read_text() + PACING % {"interval_ms": 1000.0 * threads / rate})
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "--latency", "-s", str(script), url, "--", str(bodies_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    return parse_wrk(out.stdout)


def drive(client: str, url: str, bodies: list[dict], bodies_file: Path, seconds: float, concurrency: int,
          threads: int, server_pid: int | None = None, rate: float = 0.0) -> dict:
    """One load phase; adds the CPU seconds the client and (when ``server_pid`` is given) the server used."""
    import resource

    server0 = cpu_tree(server_pid) if server_pid else None
    own0, kids0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if client == "wrk":
        res = drive_wrk(url, bodies_file, seconds, concurrency, threads, rate)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        res["client_cpu_s"] = kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime
    else:
        res = asyncio.run(drive_httpx(url, bodies, seconds, concurrency))
        res["client_cpu_s"] = time.process_time() - own0
    server1 = cpu_tree(server_pid) if server_pid else None
    res["server_cpu_s"], res["split"] = None, []
    if server0 is not None and server1 is not None:
        used = {k: v - server0.get(k, 0.0) for k, v in server1.items()}
        res["server_cpu_s"] = sum(used.values())
        # how the kernel spread the client's connections over the workers shows in their CPU
        shares = (v / max(res["server_cpu_s"], 1e-9) for v in used.values())
        res["split"] = sorted((x for x in shares if x >= 0.01), reverse=True)  # not the idle supervisor
    return res


def pipeline_ms(p, bodies: list[dict], n: int) -> np.ndarray:
    """In-process ``pipeline.recommend`` wall ms for the first ``n`` bodies (no HTTP, no serving layer)."""
    lat = []
    for b in (bodies * (n // max(len(bodies), 1) + 1))[:n]:
        req = p.make_request(b.get("user_id"), k=b.get("k"), history=b.get("history", ()))
        t0 = time.perf_counter()
        p.recommend(req)
        lat.append(time.perf_counter() - t0)
    return np.asarray(lat[min(100, n // 10):]) * 1e3


# ---- events -------------------------------------------------------------------------------

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
    return np.asarray(lat[min(10, n // 10):]) * 1e3  # the first updates warm caches up


# ---- main ---------------------------------------------------------------------------------

def make_bodies(users: list, items: list, n_known: int, n_anon: int, seed: int = 1) -> list[dict]:
    """``n_known`` distinct known users, then ``n_anon`` anonymous users with 5 history items, shuffled."""
    rng = random.Random(seed)
    known = rng.sample(users, min(n_known, len(users)))
    bodies = [{"user_id": str(u), "k": 10} for u in known]
    bodies += [{"user_id": f"anon-{i}", "history": [str(x) for x in rng.sample(items, 5)], "k": 10}
               for i in range(n_anon)]
    rng.shuffle(bodies)
    return bodies


def main() -> None:
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
    args = ap.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    elif client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: wrk is not on PATH (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    if args.model_dir:
        model_dir = Path(args.model_dir)
    else:
        cache = Path(args.model_cache) if args.model_cache else ROOT / "benchmarks" / "results" / \
            f"serve-model-{args.catalog}"
        model_dir = trained_model(args.catalog, args.config, args.seed, cache)
    if args.pipeline_requests:
        from shortlist.pipeline import Pipeline

        p = Pipeline.load(model_dir)
        users, items = p.users_.ids.tolist(), p.items_.ids.tolist()
    else:
        from shortlist.data.dataset import Dataset

        inter = Dataset.load(model_dir / "data").interactions  # the ids only, in a second
        users, items = inter.users.ids.tolist(), inter.items.ids.tolist()
    bodies = make_bodies(users, items, args.known_users, args.anonymous)
    bodies_file = tmp / "bodies.jsonl"
    bodies_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    warm_file = tmp / "warm.jsonl"
    warm_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies[:200]))
    (tmp / "bare_app.py").write_text(BARE_APP)

    rows = []
    ev_lat = np.zeros(1)
    env = dict(os.environ, SHORTLIST_API_KEY=API_KEY)
    env.pop("SHORTLIST_SETTINGS_JSON", None)
    redis_proc, redis_url = None, None
    try:
        serve = [sys.executable, "-m", "shortlist", "serve", "--model-dir", str(model_dir),
                 "--events-db", str(tmp / "events.sqlite"), "--workers", str(args.workers)]
        if args.workers > 1:
            redis_proc, redis_url = start_redis()
            serve += ["--state", "redis"]
            env["SHORTLIST_REDIS_URL"] = redis_url
        bare = [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp), "bare_app:app", "--host", "127.0.0.1",
                "--log-level", "warning", "--no-access-log", "--workers", str(args.workers)]
        phases = [("shortlist serve", serve)] + ([] if args.skip_bare else [("bare uvicorn (peer)", bare)])
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
    upd = update_latency(model_dir, args.events) if args.events else np.zeros(1)
    shutil.rmtree(tmp, ignore_errors=True)
    # the pipeline alone, same request mix, one thread as the server's workers run it
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        pipe = pipeline_ms(p, bodies, args.pipeline_requests) if args.pipeline_requests else np.zeros(1)

    load = os.getloadavg()
    print(f"\nPOST /recommend, {seconds:.0f} s, {client} client, concurrency {args.concurrency}, "
          f"{len(items)} items, {args.workers} worker(s){' + redis' if redis_url else ''}, {os.cpu_count()} CPUs "
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
    if args.events:
        print(f"\nevent -> updated state (in-process, history + trending + fold-in): p50 "
              f"{np.percentile(upd, 50):.3f} ms, p99 {np.percentile(upd, 99):.3f} ms (target <= 5 ms: "
              f"{'met' if np.percentile(upd, 99) <= 5 else 'NOT met'})")
        print(f"POST /events round trip (1 event, fsync'd commit + update): p50 {np.percentile(ev_lat, 50):.2f} ms, "
              f"p99 {np.percentile(ev_lat, 99):.2f} ms")


if __name__ == "__main__":
    main()
