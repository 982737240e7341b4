"""`shortlist serve --workers N`: one listening socket per process, balanced, supervised."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from shortlist.serving.workers import reuseport_supported
from tests.online.test_state import redis_url  # noqa: F401 - fixture
from tests.serving.helpers import ServerProcess

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not reuseport_supported(), reason="SO_REUSEPORT balancing is Linux-only")]


def _pids(url: str, n: int = 32) -> set[int]:
    """Worker pids answering ``n`` requests, each on a new connection."""
    out = set()
    for _ in range(n):
        with httpx.Client() as c:  # a fresh connection each time: the kernel picks a socket per connection
            out.add(c.get(url + "/health", timeout=10).json()["pid"])
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_share_the_port_and_are_restarted(model_dir, tmp_path, monkeypatch, redis_url):  # noqa: F811
    monkeypatch.setenv("SHORTLIST_REDIS_URL", redis_url)
    server = ServerProcess(model_dir, tmp_path / "events.sqlite", "--workers", "2", "--state", "redis")
    with server:
        deadline = time.monotonic() + 60  # the second worker may still be loading when the first answers
        pids = _pids(server.url)
        while len(pids) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            pids = _pids(server.url)
        assert len(pids) == 2 and server.proc.pid not in pids
        # a crashed worker is replaced; the port keeps answering meanwhile
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        now = set()
        while time.monotonic() < deadline:
            now = _pids(server.url, 16)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.5)
        assert len(now) == 2 and victim not in now and (now - pids)
    # SIGTERM on the supervisor stops every worker, and it exits cleanly
    assert server.proc.returncode == 0
    assert not any(_alive(p) for p in now)
