"""Event-to-serving latency of online training, end to end over HTTP.

Runs ``shortlist serve`` and ``shortlist train-online --sync-every 5`` as two processes on one
model folder. A client posts impressions with one click each to ``POST /events`` at a steady
rate. A poller reads ``GET /health`` every ``--poll`` seconds. For each click, the latency runs
from the POST's acknowledgement (its ``last_seq`` is the click's offset) to the first poll whose
``online.trained_seq`` is at least that offset. ``/health`` reports the version the server has
applied, and ``trained_seq`` comes from that version's own metadata, so the poll sees the click
only once the serving side holds parameters trained on it.

    .venv/bin/python benchmarks/online_sync_latency.py --duration 120 --rate 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve_load.processes import stop  # SIGTERM, then SIGKILL after 30 s: only children we started
from _shared import write_figures

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789abcdef"
SPEC = {"name": "online-latency", "k": 10,
        "models": {"pop": {"kind": "popularity"}},
        "sources": [{"name": "pop", "kind": "model", "model": "pop", "quota": 100}],
        "stages": [{"name": "online", "kind": "online-fm", "budget": 50}]}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fit_model(folder: Path) -> tuple[Path, list[str], list[str]]:
    """A small popularity pipeline with an online-fm stage (what serving scores with); its user and item ids."""
    from shortlist.data.loading import load_data
    from shortlist.pipeline import Pipeline

    pipe = Pipeline(SPEC).fit(load_data("synthetic:tiny"), progress=False)
    pipe.save(folder)
    ids = [[str(x) for x in vocab.lookup(np.arange(len(vocab)))] for vocab in (pipe.users_, pipe.items_)]
    return folder, ids[0], ids[1]


def wait_for(url: str, proc: subprocess.Popen, ok, timeout: float = 120.0) -> dict:
    """Poll ``url`` until ``ok(json)``; fail when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[3]} exited with {proc.returncode}")
        try:
            body = httpx.get(url, timeout=2.0).json()
            if ok(body):
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready in {timeout} s")


def poll_health(url: str, stop_at: threading.Event, interval: float, seen: list) -> None:
    """Record (time, trained_seq, version, lag_s) each time the applied version changes."""
    last = None
    with httpx.Client(timeout=5.0) as client:
        while not stop_at.is_set():
            online = client.get(url + "/health").json().get("online")
            now = time.time()
            if online and online["version"] != last:
                last = online["version"]
                seen.append((now, online["trained_seq"], online["version"], online["lag_s"]))
            time.sleep(interval)


def send(url: str, ids: tuple[list[str], list[str]], seconds: float, rate: float, per_click: int,
         seed: int) -> list[tuple[int, float]]:
    """POST ``rate`` batches a second (``per_click`` impressions, then a click on one); (click seq, ack time)."""
    rng, (users, catalog) = np.random.default_rng(seed), ids
    acks, n, start = [], 0, time.monotonic()
    with httpx.Client(timeout=10.0, headers={"X-API-Key": KEY}) as client:
        while time.monotonic() - start < seconds:
            user = users[rng.integers(len(users))]
            items = [catalog[i] for i in rng.choice(len(catalog), per_click, replace=False)]
            events = [{"event_id": f"i{n}-{j}", "user_id": user, "item_id": i, "type": "impression"}
                      for j, i in enumerate(items)]
            events.append({"event_id": f"c{n}", "user_id": user, "item_id": items[0], "type": "click"})
            r = client.post(url + "/events", json={"events": events})
            acks.append((int(r.json()["last_seq"]), time.time()))  # the click is last: its seq is last_seq
            n += 1
            time.sleep(max(0.0, start + n / rate - time.monotonic()))  # a steady rate, not back to back
    return acks


def latencies(acks: list[tuple[int, float]], seen: list) -> np.ndarray:
    """Seconds from each click's acknowledgement to the first poll whose applied version includes it."""
    times = np.array([s[0] for s in seen])
    trained = np.maximum.accumulate(np.array([s[1] for s in seen]))
    out = []
    for seq, t_ack in acks:
        first = np.searchsorted(trained, seq)  # trained is non-decreasing
        if first < len(times):  # a version applied before the ack already held it: 0
            out.append(max(0.0, times[first] - t_ack))
    return np.array(out)


def run(args: argparse.Namespace, tmp: Path) -> dict:
    model, users, items = fit_model(tmp / "model")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SHORTLIST_API_KEY=KEY, PYTHONUNBUFFERED="1")
    env.pop("SHORTLIST_SETTINGS_JSON", None)
    server = trainer = None
    try:
        server = subprocess.Popen([sys.executable, "-m", "shortlist", "serve", "--model-dir", str(model),
                                   "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "wb"))  # noqa: SIM115
        wait_for(url + "/health", server, lambda b: b.get("status") == "ok")
        trainer = subprocess.Popen([sys.executable, "-m", "shortlist", "train-online", "--model-dir", str(model),
                                    "--sync-every", str(args.sync_every), "--window", "30", "--progress-every", "10",
                                    "--config", '{"table": {"dim": 16, "admit_after": 1}}'], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=open(tmp / "train.log", "wb"))  # noqa: SIM115
        wait_for(url + "/health", trainer, lambda b: b.get("online") is not None)  # its first base is applied
        seen: list = []
        stop_at = threading.Event()
        poller = threading.Thread(target=poll_health, args=(url, stop_at, args.poll, seen), daemon=True)
        poller.start()
        acks = send(url, (users, items), args.duration, args.rate, args.per_click, args.seed)
        deadline = time.monotonic() + 4 * args.sync_every + 10
        while time.monotonic() < deadline and (not seen or seen[-1][1] < acks[-1][0]):
            time.sleep(0.2)  # let the last clicks reach serving
        stop_at.set()
        poller.join(timeout=10)
        recommend = httpx.post(url + "/recommend", json={"user_id": users[0], "k": 5}).json()
    finally:
        stop(trainer)
        stop(server)
    lat = latencies(acks, seen)
    return {"clicks": len(acks), "measured": int(lat.size), "versions": len(seen), "seconds": args.duration,
            "events_per_s": len(acks) * (args.per_click + 1) / args.duration, "sync_every_s": args.sync_every,
            "p50_s": float(np.percentile(lat, 50)), "p95_s": float(np.percentile(lat, 95)),
            "p99_s": float(np.percentile(lat, 99)), "max_s": float(lat.max()),
            "lag_s_reported_p50": float(np.median([s[3] for s in seen])),
            # the online-fm stage's logits at the end (all equal would mean it never matched a catalog id)
            "online_stage_scores": [round(it["score"], 4) for it in recommend["items"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of posting")
    ap.add_argument("--rate", type=float, default=20.0, help="POSTs (each impressions + one click) per second")
    ap.add_argument("--per-click", type=int, default=5, help="impressions per POST")
    ap.add_argument("--sync-every", type=float, default=5.0)
    ap.add_argument("--poll", type=float, default=0.05, help="seconds between /health polls")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="where the figures JSON goes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fig = run(args, Path(tmp))
    print(f"{fig['clicks']} clicks ({fig['events_per_s']:.0f} events/s) over {fig['seconds']:.0f} s, "
          f"sync every {fig['sync_every_s']:g} s, {fig['versions']} versions applied")
    print(f"event-to-serving latency: p50 {fig['p50_s']:.2f} s  p95 {fig['p95_s']:.2f} s  "
          f"p99 {fig['p99_s']:.2f} s  max {fig['max_s']:.2f} s  (target p99 <= 10 s: "
          f"{'met' if fig['p99_s'] <= 10 else 'NOT met'})")
    write_figures(args.out, "online_sync_latency", fig)


if __name__ == "__main__":
    main()
