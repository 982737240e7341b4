"""Child processes of the benchmark: the server under test, the bare uvicorn peer, redis, and their CPU use."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["API_KEY", "BARE_APP", "ROOT", "cpu_tree", "free_port", "start_redis", "stop", "wait_ready"]

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "bench-key-" + "x" * 24

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
