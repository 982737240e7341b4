"""The request mix and the load generators: wrk (C, paced or closed loop) or an async httpx client.

:func:`drive` runs one load phase and adds the CPU seconds the client and the server used.
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np

from _serve_load.processes import cpu_tree

__all__ = ["LUA", "drive", "drive_httpx", "drive_wrk", "make_bodies", "parse_wrk", "pipeline_ms"]

LUA = Path(__file__).resolve().parents[1] / "serve_load.lua"


def make_bodies(users: list, items: list, n_known: int, n_anon: int, seed: int = 1) -> list[dict]:
    """``n_known`` distinct known users, then ``n_anon`` anonymous users with 5 history items, shuffled."""
    rng = random.Random(seed)
    known = rng.sample(users, min(n_known, len(users)))
    bodies = [{"user_id": str(u), "k": 10} for u in known]
    bodies += [{"user_id": f"anon-{i}", "history": [str(x) for x in rng.sample(items, 5)], "k": 10}
               for i in range(n_anon)]
    rng.shuffle(bodies)
    return bodies


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
