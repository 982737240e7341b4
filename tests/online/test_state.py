"""Online state stores (memory and Redis): bounded history, vectors per version, decayed trending."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

from shortlist.online.state import MemoryState, RedisState


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["memory", "redis"])
def make(request):
    """A factory of fresh stores of either kind (Redis ones get their own key prefix)."""
    if request.param == "memory":
        return lambda **kw: MemoryState(**kw)
    url = request.getfixturevalue("redis_url")
    count = [0]

    def factory(**kw):
        count[0] += 1
        kw.pop("max_users", None)
        return RedisState(url, prefix=f"{request.node.name}-{count[0]}-{time.time_ns()}", **kw)
    return factory


def test_history_is_bounded_and_ordered(make):
    s = make(history_length=3)
    s.add_history("u1", [("a", 1.0), ("b", 2.0)])
    s.add_history("u1", [("c", 1.0), ("d", 0.5)])
    assert s.history("u1") == [("b", 2.0), ("c", 1.0), ("d", 0.5)]
    assert s.history("nobody") == []


def test_vectors_by_version(make):
    s = make()
    v = np.arange(4, dtype=np.float32)
    s.set_vector("v1/mf", "u", v)
    assert np.array_equal(s.get_vector("v1/mf", "u"), v)
    assert s.get_vector("v2/mf", "u") is None and s.get_vector("v1/mf", "other") is None


def test_trending_matches_closed_form_decay(make):
    half = 100.0
    s = make(half_life_s=half)
    now = time.time()
    # item a: 1 event now; item b: 3 events two half-lives ago (worth 0.75 now); c: 1 event 1 half-life ago
    s.bump_trending(["a"], now)
    s.bump_trending(["b", "b", "b"], now - 2 * half)
    s.bump_trending(["c"], now - half)
    got = dict(s.trending(3))
    assert [k for k, _ in s.trending(3)] == ["a", "b", "c"]
    for item, expected in (("a", 1.0), ("b", 0.75), ("c", 0.5)):
        assert got[item] == pytest.approx(expected, rel=1e-3)


def test_bandit_counters(make):
    s = make()
    s.bump_bandit("i", impressions=1)
    s.bump_bandit("i", impressions=1, reward=0.5)
    assert s.bandit("i") == (2.0, 0.5) and s.bandit("none") == (0.0, 0.0)


def test_memory_state_forgets_least_recent_users():
    s = MemoryState(max_users=2)
    s.add_history("a", [("x", 1.0)])
    s.add_history("b", [("x", 1.0)])
    s.add_history("a", [("y", 1.0)])  # a is now the most recent
    s.add_history("c", [("x", 1.0)])
    assert s.history("b") == [] and len(s.history("a")) == 2


def test_two_redis_stores_share_state(redis_url):
    a = RedisState(redis_url, prefix="shared-test")
    b = RedisState(redis_url, prefix="shared-test")
    a.add_history("u", [("i", 1.0)])
    a.set_vector("v/mf", "u", np.ones(3, np.float32))
    assert b.history("u") == [("i", 1.0)] and np.array_equal(b.get_vector("v/mf", "u"), np.ones(3))
    assert b.shared and not MemoryState().shared
