"""The load side of benchmarks/soak.py: mixed /recommend and /events traffic, closed loop or paced, with retries.

A request that cannot connect, or whose connection drops before an answer, is retried with
backoff (both endpoints are safe to resend: /recommend reads, /events dedups by event id).
Every failed attempt is kept with its time, so the report can tell a retry during the
planned restart from an error at any other moment. Nothing is hidden: a retried request
keeps its latency from when it was due, and is reported apart from the per-minute figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx

__all__ = ["Record", "Traffic", "closed_loop", "paced"]

#: a retried request gives up (and counts as an error) this long after its first failure
RETRY_FOR_S = 60.0
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
#: the connection went away before an answer (a server stopping or killed mid-request)
DROPPED_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(slots=True)
class Record:
    """One request: when it was due (s since the phase began), how long until its answer, what went wrong."""

    due: float
    kind: str  # "recommend" | "event"
    ms: float
    ok: bool
    status: int  # HTTP status, 0 when no answer came
    failures: list[tuple[float, str]] = field(default_factory=list)  # (when, "connect" | "dropped") per retry
    error: str = ""  # why it failed for good
    lag_ms: float = 0.0  # how late the client sent it (a starved client, not a slow server)


class Traffic:
    """The request mix: recommend bodies drawn from ``bodies``, click events with ids unique to this run."""

    def __init__(self, bodies: list[dict], users: list, items: list, event_share: float, run_id: str,
                 seed: int = 0) -> None:
        self.bodies, self.users, self.items = bodies, [str(u) for u in users], [str(i) for i in items]
        self.event_share, self.run_id = event_share, run_id
        self.rng = random.Random(seed)
        self.n_events = 0
        self.acked: list[str] = []  # event ids the server answered 2xx for

    def next(self) -> tuple[str, str, dict, str | None]:
        """(kind, path, body, event id or None) of the next request."""
        if self.rng.random() < self.event_share:
            self.n_events += 1
            event_id = f"soak-{self.run_id}-{self.n_events}"
            body = {"events": [{"event_id": event_id, "user_id": self.rng.choice(self.users),
                                "item_id": self.rng.choice(self.items), "type": "click"}]}
            return "event", "/events", body, event_id
        return "recommend", "/recommend", self.rng.choice(self.bodies), None


async def _send(client: httpx.AsyncClient, slots: asyncio.Semaphore, traffic: Traffic, due: float, t0: float,
                out: list[Record]) -> None:
    kind, path, body, event_id = traffic.next()
    rec = Record(due=due, kind=kind, ms=0.0, ok=False, status=0, lag_ms=(time.perf_counter() - t0 - due) * 1e3)
    backoff = 0.05
    while True:
        # waiting here, not in httpx's pool: its wait queue costs time quadratic in the waiters, and
        # thousands wait while the server restarts. A retry gives its slot back while it backs off.
        async with slots:
            try:
                r = await client.post(path, json=body)
            except CONNECT_ERRORS:
                reason = "connect"
            except DROPPED_ERRORS:
                reason = "dropped"
            except httpx.HTTPError as exc:  # a timeout: the server may have done it, so no resend
                rec.error = type(exc).__name__
                break
            else:
                rec.status, rec.ok = r.status_code, 200 <= r.status_code < 300
                if rec.ok and event_id is not None:
                    traffic.acked.append(event_id)
                if not rec.ok:
                    rec.error = f"HTTP {r.status_code}"
                break
        now = time.perf_counter() - t0
        rec.failures.append((now, reason))
        if now - rec.failures[0][0] > RETRY_FOR_S:
            rec.error = f"gave up after {len(rec.failures)} {reason} failures"
            break
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 1.0)
    rec.ms = (time.perf_counter() - t0 - due) * 1e3
    out.append(rec)


def _client(url: str, connections: int, api_key: str) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
    """A client with ``connections`` pooled connections, and the slots that keep requests from queueing in it."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    client = httpx.AsyncClient(base_url=url, limits=limits, headers={"X-API-Key": api_key}, timeout=30.0)
    return client, asyncio.Semaphore(connections)


async def closed_loop(url: str, traffic: Traffic, seconds: float, concurrency: int, api_key: str) -> list[Record]:
    """``concurrency`` clients send back to back for ``seconds`` (the saturation throughput of the mix)."""
    out: list[Record] = []
    client, slots = _client(url, concurrency, api_key)
    async with client:
        t0 = time.perf_counter()

        async def loop() -> None:
            while (now := time.perf_counter() - t0) < seconds:
                await _send(client, slots, traffic, now, t0, out)

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return out


async def paced(url: str, traffic: Traffic, rate: float, seconds: float, api_key: str, t0: float,
                connections: int = 64) -> list[Record]:
    """Open loop: request i is due at ``t0 + i / rate`` and leaves then, whether or not earlier ones answered.

    Latency counts from when a request was due, so a client held up by a slow server (or by
    a busy event loop) shows as latency instead of as a lower rate.
    """
    out: list[Record] = []
    tasks: set[asyncio.Task] = set()
    client, slots = _client(url, connections, api_key)
    async with client:
        i = 0
        while (due := i / rate) < seconds:
            wait = due - (time.perf_counter() - t0)
            if wait > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(_send(client, slots, traffic, due, t0, out))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.gather(*tasks)
    return out
