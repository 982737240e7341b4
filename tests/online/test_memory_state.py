"""Array-backed memory state: histories equal a deque model, byte-budget LRU eviction, snapshots, reloads."""

from __future__ import annotations

import random
import time
from collections import deque

import numpy as np
import pytest

from shortlist.errors import ConfigError
from shortlist.online.histories import EVENT_BYTES, size_classes
from shortlist.online.memory_state import USER_OVERHEAD_BYTES, MemoryState


def test_histories_match_a_deque_per_user():
    rng = random.Random(0)
    s = MemoryState(history_length=10)
    model: dict[str, deque] = {}
    for step in range(3000):
        user = f"u{rng.randrange(40)}"
        batch = [(f"i{rng.randrange(50)}", float(rng.choice([1.0, 0.5, 2.0, -1.0])))
                 for _ in range(rng.choice([1, 1, 2, 3, 12]))]
        s.add_history(user, batch)
        model.setdefault(user, deque(maxlen=10)).extend(batch)
        if step % 500 == 0 or step == 2999:
            for u, dq in model.items():
                assert s.history(u) == list(dq)
    assert s.history("nobody") == []


def test_size_classes_grow_by_a_quarter_and_end_at_the_history_length():
    assert size_classes(200) == [4, 5, 6, 7, 8, 10, 12, 15, 18, 22, 27, 33, 41, 51, 63, 78, 97, 121, 151, 188, 200]
    assert size_classes(3) == [3]


def test_evicts_least_recently_used_users_to_stay_in_the_byte_budget():
    budget = 1 << 20
    s = MemoryState(history_length=8, memory_bytes=budget)
    per_user = USER_OVERHEAD_BYTES + 4 * EVENT_BYTES + 16 * 4  # 3 events (class of 4) and a 16-float vector
    for u in range(20_000):
        s.add_history(str(u), [("a", 1.0), ("b", 1.0), ("c", 1.0)])
        s.set_vector("v/mf", str(u), np.full(16, u, np.float32))
    assert s.used_bytes() <= budget
    assert budget // per_user * 0.95 <= len(s) <= budget // per_user
    assert s.history("19999") == [("a", 1.0), ("b", 1.0), ("c", 1.0)] and s.history("0") == []
    assert np.array_equal(s.get_vector("v/mf", "19999"), np.full(16, 19999, np.float32))
    assert s.get_vector("v/mf", "0") is None and s.maybe_evicted("0") and not s.maybe_evicted("19999")


def test_reading_a_user_counts_as_use():
    s = MemoryState(max_users=3)
    for u in "abc":
        s.add_history(u, [("x", 1.0)])
    s.history("a")  # a becomes the most recent; b is now the least recently used
    s.add_history("d", [("x", 1.0)])
    assert s.history("b") == [] and s.history("a") == [("x", 1.0)]


def test_an_evicted_user_gets_their_history_back_from_the_loader():
    s = MemoryState(max_users=2)
    calls = []

    def loader(user, before):
        calls.append((user, before))
        return [("old1", 1.0), ("old2", 2.0)]
    s.loader = loader
    for u in "abc":
        s.add_history(u, [("x", 1.0)])
    assert s.maybe_evicted("a")
    assert s.history("a") == [("old1", 1.0), ("old2", 2.0)] and calls == [("a", None)]
    assert s.history("never-seen") == [] and len(calls) == 1  # the filter spares the log a lookup


def test_snapshot_restores_everything():
    now = time.time()
    s = MemoryState(history_length=5, half_life_s=100.0, t0=now - 50)
    s.add_history("u1", [("a", 1.0), ("b", 0.5)])
    s.add_history("u2", [(f"i{j}", float(j)) for j in range(9)])
    s.set_vector("v/mf", "u2", np.arange(4, dtype=np.float32))
    s.bump_trending(["a", "a", "b"], now)
    s.bump_bandit("a", impressions=3, reward=1.5)
    r = MemoryState(history_length=5, half_life_s=100.0)
    r.restore(s.snapshot())
    for u in ("u1", "u2"):
        assert r.history(u) == s.history(u)
    assert np.array_equal(r.get_vector("v/mf", "u2"), np.arange(4)) and r.get_vector("v/mf", "u1") is None
    assert [i for i, _ in r.trending(2)] == ["a", "b"] and r.bandit("a") == (3.0, 1.5)
    assert [v for _, v in r.trending(2)] == pytest.approx([2.0, 1.0], rel=1e-3)
    r.add_history("u1", [("c", 1.0)])  # restored slabs keep working
    assert r.history("u1") == [("a", 1.0), ("b", 0.5), ("c", 1.0)]


def test_budget_below_one_mib_is_refused():
    with pytest.raises(ConfigError, match="memory_bytes=1000"):
        MemoryState(memory_bytes=1000)


def test_settings_name_the_budget_key_and_the_fix(tmp_path):
    from shortlist.serving.settings import load_settings

    with pytest.raises(ConfigError, match=r"online_memory_mb.*0\.5.*(MiB|least 1)") as exc:
        load_settings(model_dir=tmp_path, online_memory_mb=0.5, environ={})
    assert "fix" in str(exc.value)


def test_trending_stays_finite_after_an_event_dated_far_ahead():
    """An event 1e12 s ahead of the clock (an old log, before ingest clamped it) must not overflow a request."""
    s = MemoryState(history_length=10)
    now = time.time()
    s.bump_trending(["a"], now)
    s.bump_trending(["b"], now + 1e12)
    top = s.trending(2)
    assert [i for i, _ in top] == ["b", "a"]
    assert all(np.isfinite(v) for _, v in top)
    assert top[0][1] > 0 and top[1][1] == 0.0  # "a" is 1e12 s older than "b": decayed to nothing
