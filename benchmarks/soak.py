"""Soak test of `shortlist serve`: minutes of mixed traffic at half of saturation, a restart in the middle.

1. Starts the server (loopback, free port, a fresh event log) and measures saturation: the
   requests/s it answers with ``--concurrency`` clients sending the mix back to back.
2. Offers ``--load`` (default 0.5) of that rate, paced (open loop), for ``--minutes``
   (default 10): POST /recommend and POST /events (``--event-share`` of the requests, one
   click each, with ids unique to the run). Half-way through it restarts the server on the
   same port and event log: SIGTERM by default (graceful), SIGKILL with ``--kill``.
3. Reports per minute p50/p99 (requests that needed no retry), errors, the requests retried
   during the restart (refused connections, connections dropped mid-request: resent by the
   client, counted apart, not hidden), the server's RSS over time, and whether every event
   the server acknowledged (2xx) is in the event log afterwards (checked by id). Saturation is
   measured again at the end: on a shared machine the capacity can drift during the run.

Targets: p99 of the last minute within 2x of the first; 0 errors; RSS flat within +-10 %
after warm-up (per server process); every acknowledged event in the log.

    .venv/bin/python benchmarks/soak.py --minutes 2            # a quick check
    nice -n 5 .venv/bin/python benchmarks/soak.py              # 10 minutes, graceful restart
    nice -n 5 .venv/bin/python benchmarks/soak.py --kill       # the restart is a SIGKILL

The client is Python (httpx, about 1 ms of CPU per request) on the same machine: saturation
is that of server and client together, measured in the same run, so that the offered half
means the same on a busy machine as on a quiet one. The plot (p99 and RSS over time) and a
JSON of the figures go to ``--out`` (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from _shared import write_figures  # benchmarks/_shared.py (the script's folder is on sys.path)
from _soak_client import Record, Traffic, closed_loop, paced
from _soak_report import Window, classify, per_minute, plot, rss_lives
from serve_load import API_KEY, ROOT, free_port, make_bodies, start_redis, stop, trained_model

#: per server process, RSS counts from this long after it began serving soak traffic (caches, arenas fill up)
WARM_S = 60.0


class Server:
    """`shortlist serve` in a session of its own: Ctrl-C in the terminal reaches only this script, which stops it."""

    def __init__(self, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.cmd, self.env, self.log_path = cmd, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    async def ready(self, url: str, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited with {self.proc.returncode}; log: {self.log_path}")
                try:
                    if (await client.get(url + "/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit(f"server not ready in {timeout:.0f} s; log: {self.log_path}")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (uvicorn finishes in-flight requests, the state is checkpointed) or SIGKILL of the whole group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group is the session we created: the server, its workers
            self.proc.wait()
        else:
            stop(self.proc)

    def close(self) -> None:
        """Stop the server, and any worker of its session that outlived it."""
        if self.proc is None:
            return
        self.stop()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # nothing left in the group: the usual case
            pass

    def usage(self) -> tuple[float, float, float] | None:
        """(resident MiB, CPU s, s waited for a CPU) of the server and its workers; None while it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        kib, cpu, wait = 0, 0.0, 0.0
        for pid in _tree(self.proc.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            kib += next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
            on_cpu, queued = sched(pid)
            cpu, wait = cpu + on_cpu, wait + queued
        return kib / 1024, cpu, wait


def sched(pid: int | str) -> tuple[float, float]:
    """Seconds ``pid``'s threads ran on a CPU and waited, runnable, for one (/proc/PID/task/*/schedstat)."""
    on_cpu = queued = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            fields = task.read_text().split()
        except OSError:
            continue
        on_cpu, queued = on_cpu + int(fields[0]) / 1e9, queued + int(fields[1]) / 1e9
    return on_cpu, queued


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        out.append(cur)
        todo.extend(parents.get(cur, ()))
    return out


async def soak(server: Server, url: str, traffic: Traffic, args: argparse.Namespace) -> dict:
    """Warm-up, saturation, then the paced soak with the restart; every figure the report needs."""
    await closed_loop(url, traffic, 5.0, args.concurrency, API_KEY)  # lazily built structures, JIT
    sat = await closed_loop(url, traffic, args.saturation_seconds, args.concurrency, API_KEY)
    sat_ok = [r for r in sat if r.ok]
    saturation = len(sat_ok) / args.saturation_seconds
    rate = max(1.0, args.load * saturation)
    seconds = args.minutes * 60
    print(f"saturation: {saturation:.0f} req/s ({len(sat) - len(sat_ok)} errors); offering {rate:.0f} req/s "
          f"for {args.minutes:g} min", flush=True)
    rss: list[tuple[float, float, int]] = []
    # (t, server CPU s, life, 1-min load average, server s waiting for a CPU, client CPU s, client s waiting)
    cpu: list[tuple[float, ...]] = []
    life = [0]
    window: list[Window] = []
    t0 = time.perf_counter()

    async def sample() -> None:
        while True:
            use, now = server.usage(), time.perf_counter() - t0
            if use is not None:
                rss.append((now, use[0], life[0]))
                cpu.append((now, use[1], life[0], os.getloadavg()[0], use[2], *sched("self")))
            await asyncio.sleep(args.rss_every)

    async def restart() -> None:
        await asyncio.sleep(seconds / 2)
        start = time.perf_counter() - t0
        await asyncio.to_thread(server.stop, args.kill)
        stopped = time.perf_counter() - t0
        life[0] += 1
        server.start()
        await server.ready(url)
        window.append(Window(start, time.perf_counter() - t0))
        print(f"restarted ({'SIGKILL' if args.kill else 'SIGTERM'}) at {start:.0f} s: stopped in "
              f"{stopped - start:.1f} s, answering again {window[0].end - stopped:.1f} s later", flush=True)

    sampler, restarter = asyncio.create_task(sample()), asyncio.create_task(restart())
    load = asyncio.create_task(paced(url, traffic, rate, seconds, API_KEY, t0))
    # a server that does not come back ends the run at once, not after every request gave up
    restarter.add_done_callback(lambda t: load.cancel() if not t.cancelled() and t.exception() else None)
    try:
        records = await load
    except asyncio.CancelledError:
        await restarter  # raises why the restart failed
        raise
    finally:
        sampler.cancel()
    await restarter
    # measured again: on a shared machine the capacity at the end can differ from the one the rate came from
    after = await closed_loop(url, traffic, args.saturation_seconds, args.concurrency, API_KEY)
    saturation_after = sum(r.ok for r in after) / args.saturation_seconds
    return {"saturation": saturation, "saturation_after": saturation_after,
            "saturation_errors": len(sat) - len(sat_ok), "rate": rate, "seconds": seconds,
            "records": records, "rss": rss, "cpu": cpu, "window": window[0] if window else None}


def report(res: dict, acked: list[str], missing: list[str], args: argparse.Namespace, context: str) -> dict:
    """Print the table and the verdicts; return the figures for the JSON file."""
    records: list[Record] = res["records"]
    window: Window | None = res["window"]
    minutes = per_minute(records, res["seconds"], window)
    warm = min(WARM_S, res["seconds"] / 10)
    lives = rss_lives(res["rss"], warm, [0.0] + ([window.end] if window else []))
    verdicts = Counter(classify(r, window) for r in records)
    reasons = Counter(r.error or "retried outside the restart" for r in records if classify(r, window) == "error")
    retried = [r for r in records if classify(r, window) == "retried"]
    held = [r for r in records if classify(r, window) == "held"]
    how = Counter(reason for r in retried for _, reason in r.failures[:1])
    print(f"\n{context}")
    _print_minutes(minutes, records, res)
    first, last = minutes[0]["p99_ms"], minutes[-1]["p99_ms"]
    ratio = last / first
    print(f"\np99 first minute {first:.2f} ms, last minute {last:.2f} ms: {ratio:.2f}x "
          f"(target <= 2x: {'met' if ratio <= 2 else 'NOT met'})")
    print(f"errors: {verdicts['error']} of {len(records)} (target 0: {'met' if not verdicts['error'] else 'NOT met'})"
          + (f"; {dict(reasons)}" if reasons else ""))
    if window is not None:
        worst = max((r.ms for r in retried + held), default=0.0)
        print(f"restart window {window.start:.1f}-{window.end:.1f} s ({window.end - window.start:.1f} s): "
              f"{len(retried)} requests retried during the restart and answered (first failure: "
              f"{how['connect']} refused connections, {how['dropped']} dropped mid-request), {len(held)} more due "
              f"then held by the client until a connection was free; the slowest answered {worst / 1e3:.1f} s "
              "after it was due")
    flat = _print_rss(lives, warm)
    print(f"RSS flat within +-10 % after warm-up: {'met' if flat else 'NOT met'}")
    print(f"acknowledged events: {len(acked)}, found in the event log: {len(acked) - len(missing)}, missing: "
          f"{len(missing)} (target: all found: {'met' if not missing else 'NOT met'})")
    print(f"saturation measured again after the soak: {res['saturation_after']:.0f} req/s (before: "
          f"{res['saturation']:.0f}; offered {res['rate']:.0f})")
    return {"context": context, "saturation_rps": res["saturation"], "saturation_after_rps": res["saturation_after"],
            "saturation_errors": res["saturation_errors"],
            "offered_rps": res["rate"], "minutes": minutes, "p99_ratio_last_first": ratio,
            "errors": verdicts["error"], "error_reasons": dict(reasons), "retried_during_restart": len(retried),
            "held_during_restart": len(held), "retried_first_failure": dict(how),
            "window": vars(window) if window else None, "rss_lives": lives, "rss_samples": res["rss"],
            "cpu_samples": res["cpu"], "acked_events": len(acked), "missing_events": missing[:100], "args": vars(args)}


def _print_minutes(minutes: list[dict], records: list[Record], res: dict) -> None:
    """One table row per minute; adds each minute's answers per second and CPU / wait shares to ``minutes``."""
    print(f"{'minute':>6}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'rec p99':>9}{'event p99':>10}{'errors':>7}"
          f"{'restart*':>9}{'RSS MiB':>8}{'done/s':>7}{'ms/ans':>7}{'srv CPU':>8}{'srv wait':>9}{'cli CPU':>8}"
          f"{'cli wait':>9}"
          f"{'load':>6}")
    for i, m in enumerate(minutes):
        lo, hi = m["start_s"], m["start_s"] + 60
        mib = [x for t, x, _ in res["rss"] if lo <= t < hi]
        m["done_per_s"] = sum(lo <= r.due + r.ms / 1e3 < hi for r in records) / (min(hi, res["seconds"]) - lo)
        m.update(_minute_usage(res["cpu"], lo, hi, mib))
        m["server_ms_per_answer"] = m["server_cpu"] * 1e3 / max(m["done_per_s"], 1e-9)
        print(f"{i + 1:>6}{m['requests']:>9}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}{m['recommend_p99_ms']:>9.2f}"
              f"{m['event_p99_ms']:>10.2f}{m['errors']:>7}{m['retried_restart']:>9}{m['rss_mib']:>8.0f}"
              f"{m['done_per_s']:>7.0f}{m['server_ms_per_answer']:>7.2f}{m['server_cpu']:>8.0%}"
              f"{m['server_wait']:>9.0%}{m['client_cpu']:>8.0%}"
              f"{m['client_wait']:>9.0%}{m['load1']:>6.1f}{'  restart' if m['has_restart'] else ''}")
    print("* retried or held during the restart (below): not in the minute's p50/p99. done/s: answers per second;\n"
          "  ms/ans: server CPU ms per answer; srv/cli CPU: CPU time per second of the server / this client\n"
          "  (1 core = 100 %); wait: time per second their threads were runnable but waiting for a CPU (other jobs);\n"
          "  load: 1-min load average")


def _print_rss(lives: list[dict], warm: float) -> bool:
    """One line per server process life on its RSS after the warm-up; whether every life stayed within 10 %."""
    flat = True
    for lv in lives:
        if not lv["samples"]:
            print(f"RSS, server process {lv['life'] + 1}: no sample after its {warm:.0f} s warm-up")
            continue
        flat &= lv["max_dev"] <= 0.10
        print(f"RSS, server process {lv['life'] + 1}, after {warm:.0f} s of soak traffic: {lv['first_mib']:.0f} -> "
              f"{lv['last_mib']:.0f} MiB (min {lv['min_mib']:.0f}, max {lv['max_mib']:.0f}); largest deviation "
              f"from its median {lv['max_dev']:.1%}")
    return flat


def _minute_usage(cpu: list[tuple[float, ...]], lo: float, hi: float, mib: list[float]) -> dict:
    """Median RSS, CPU and CPU-wait shares of server and client, mean load average over [lo, hi)."""
    pts = [c for c in cpu if lo <= c[0] < hi]
    nan = float("nan")
    same = [c for c in pts if c[2] == pts[-1][2]] if pts else []  # one process life: its counters start at 0

    def rate(col: int, rows: list) -> float:
        return (rows[-1][col] - rows[0][col]) / (rows[-1][0] - rows[0][0]) if len(rows) > 1 else nan

    return {"rss_mib": float(np.median(mib)) if mib else nan, "server_cpu": rate(1, same),
            "server_wait": rate(4, same), "client_cpu": rate(5, pts), "client_wait": rate(6, pts),
            "load1": float(np.mean([c[3] for c in pts])) if pts else nan}


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the paced soak (the restart is half-way)")
    ap.add_argument("--kill", action="store_true", help="restart with SIGKILL instead of SIGTERM")
    ap.add_argument("--load", type=float, default=0.5, help="fraction of the measured saturation to offer")
    ap.add_argument("--event-share", type=float, default=0.25, help="fraction of requests that are POST /events")
    ap.add_argument("--saturation-seconds", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=16, help="clients of the saturation phase")
    ap.add_argument("--rss-every", type=float, default=2.0, help="seconds between RSS samples")
    ap.add_argument("--workers", type=int, default=1, help="server processes (> 1: state in a private redis-server)")
    ap.add_argument("--catalog", choices=["ml-100k", "synthetic-100k"], default="ml-100k",
                    help="what to train when no --model-dir is given (as in serve_load.py)")
    ap.add_argument("--model-dir", help="serve this trained pipeline instead of training one")
    ap.add_argument("--model-cache", help="folder keeping the trained pipeline (default: serve_load.py's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--known-users", type=int, default=5000, help="distinct known users in the recommend mix")
    ap.add_argument("--anonymous", type=int, default=0, help="anonymous requests (5 history items) in the mix")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON and the plot")
    return ap.parse_args()


def main() -> None:
    args = _args()

    if args.model_dir:
        model_dir = Path(args.model_dir)
    else:
        cache = Path(args.model_cache) if args.model_cache else ROOT / "benchmarks" / "results" / \
            f"serve-model-{args.catalog}"
        model_dir = trained_model(args.catalog, None, args.seed, cache)
    from shortlist.data.dataset import Dataset
    from shortlist.online.event_log import EventLog

    inter = Dataset.load(model_dir / "data").interactions  # the ids only
    users, items = inter.users.ids.tolist(), inter.items.ids.tolist()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    traffic = Traffic(make_bodies(users, items, args.known_users, args.anonymous), users, items, args.event_share,
                      run_id)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    events_db = tmp / "events.sqlite"
    env = dict(os.environ, SHORTLIST_API_KEY=API_KEY)
    env.pop("SHORTLIST_SETTINGS_JSON", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "shortlist", "serve", "--model-dir", str(model_dir), "--events-db", str(events_db),
           "--port", str(port), "--workers", str(args.workers)]
    load_before = os.getloadavg()
    redis_proc = None
    server = Server(cmd, env, tmp / "server.log")
    try:
        if args.workers > 1:
            redis_proc, env["SHORTLIST_REDIS_URL"] = start_redis()
            cmd += ["--state", "redis"]
        server.start()
        asyncio.run(server.ready(url))
        res = asyncio.run(soak(server, url, traffic, args))
    finally:
        server.close()  # also on Ctrl-C or a failure: no server outlives the benchmark
        stop(redis_proc)
    with EventLog(events_db) as log:
        stored = set(log.event_ids())
    missing = [e for e in traffic.acked if e not in stored]
    load_after = os.getloadavg()
    context = (f"soak: {args.minutes:g} min at {args.load:g} x saturation, {args.event_share:.0%} POST /events, "
               f"restart by {'SIGKILL' if args.kill else 'SIGTERM'} half-way; {len(items)} items, {args.workers} "
               f"worker(s); {os.cpu_count()} CPUs, client on the same machine; load average before "
               f"{load_before[0]:.2f}, after {load_after[0]:.2f}\nsaturation {res['saturation']:.0f} req/s "
               f"(concurrency {args.concurrency}, {args.saturation_seconds:g} s), offered {res['rate']:.0f} req/s")
    figures = report(res, traffic.acked, missing, args, context)
    name = f"soak-{run_id}{'-kill' if args.kill else ''}"
    write_figures(args.out, name, figures)
    png = plot(Path(args.out) / f"{name}.png", res["records"], res["rss"], res["seconds"], res["window"],
               context.replace("\n", " "))
    print(f"plot: {png}" if png else "plot: skipped (matplotlib is not installed in this environment)")
    shutil.copy(server.log_path, Path(args.out) / f"{name}-server.log")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
