"""Collisionless embedding table: one row per key, admission, expiry, flat memory, save/load."""

import numpy as np
import pytest

from shortlist.online.embeddings import CollisionlessTable, HashingTable, feature_keys


def table(**kw):
    params = {"dim": 4, "max_rows": 500, "admit_after": 1, "ttl_s": 100.0, "expire_every_s": 10.0,
              "sketch_width": 256}
    return CollisionlessTable(**{**params, **kw})


def check_consistent(t: CollisionlessTable) -> None:
    """Every live key finds its own row, no row is held twice, free + held = max_rows."""
    keys = t.keys()
    rows = t.find(keys)
    assert (rows > 0).all()
    assert len(set(rows.tolist())) == len(rows), "two keys share a row"
    assert np.array_equal(t.row_keys[rows], keys)
    assert t.n_rows == len(keys) == int(t.in_use.sum())
    free = t.free[: t.counters[0]]
    assert not t.in_use[free].any() and len(set(free.tolist())) == len(free)


def test_integer_ids_map_to_distinct_keys_per_field():
    ids = np.arange(200_000)
    k0, k1 = feature_keys(0, ids), feature_keys(1, ids)
    assert len(np.unique(np.concatenate([k0, k1]))) == 2 * ids.size
    # a digit string is the same feature as its integer
    assert feature_keys(0, ["17", "x"])[0] == k0[17]


def test_a_batch_of_string_ids_keys_each_value_as_its_definition_says():
    import hashlib

    def blake(field: int, s: str) -> int:
        return int.from_bytes(hashlib.blake2b(f"{field}\x1f{s}".encode(), digest_size=8).digest(), "little", signed=True)

    ids = ["42", "u7", "42", "", "007", "9" * 16, "9" * 17, "é", "u7", "3"]
    ints = feature_keys(2, np.array([42, 7, 10**16 - 1, 3]))
    want = [ints[0], blake(2, "u7"), ints[0], blake(2, ""), ints[1], ints[2], blake(2, "9" * 17), blake(2, "é"),
            blake(2, "u7"), ints[3]]
    assert feature_keys(2, ids).tolist() == want  # digits (under 17) as their integer, the rest by BLAKE2b
    assert feature_keys(2, np.array(ids, dtype=object).reshape(2, 5)).tolist() == want


def test_no_two_ids_share_a_row_through_admission_and_expiry():
    rng = np.random.default_rng(0)
    t = table(admit_after=2)
    for step in range(300):
        ids = rng.integers(0, 3000, 64)
        t.lookup(feature_keys(0, ids), now=step)
        if step % 37 == 0:
            check_consistent(t)
    check_consistent(t)
    assert t.stats()["expired"] > 0 and t.stats()["admitted"] > t.config.max_rows


def test_admission_after_n_sightings_shares_the_default_row_before():
    t = table(admit_after=3)
    k = feature_keys(0, [5, 6])
    assert t.lookup(k, 0).tolist() == [0, 0]
    assert t.lookup(k, 0).tolist() == [0, 0]
    rows = t.lookup(k, 0)
    assert (rows > 0).all() and rows[0] != rows[1]
    assert t.lookup(k, 1).tolist() == rows.tolist()  # admitted once: the same row from now on


def test_rows_unseen_for_the_ttl_are_freed_and_readmitted_fresh():
    t = table(ttl_s=50.0, expire_every_s=5.0)
    old, live = feature_keys(0, [1]), feature_keys(0, [2])
    t.lookup(old, 0)
    for now in range(0, 60, 5):
        t.lookup(live, now)
    assert t.find(old).tolist() == [0] and t.find(live)[0] > 0
    _, _, expired = t.take_changes()
    assert expired.tolist() == old.tolist()
    row = t.lookup(old, 61)[0]
    assert row > 0 and not t.accum[row].any()  # a fresh row, fresh optimizer state


def test_memory_stays_flat_over_an_endless_stream_of_new_ids():
    t = table(max_rows=1000, admit_after=2, ttl_s=20.0, expire_every_s=5.0)
    before = t.nbytes()
    shapes = [a.shape for a in (t.weights, t.slot_keys, t.sketch)]
    for step in range(400):  # 200k ids, half of them new each step, each seen twice
        fresh = np.arange(step * 250, step * 250 + 250)
        repeat = np.random.default_rng(step).integers(0, 500, 250)
        ids = np.concatenate([fresh, repeat, fresh])
        t.lookup(feature_keys(0, ids), now=step)
        assert t.n_rows <= 1000
    assert t.nbytes() == before and [a.shape for a in (t.weights, t.slot_keys, t.sketch)] == shapes
    check_consistent(t)


def test_save_load_round_trip(tmp_path):
    t = table(admit_after=2)
    t.lookup(feature_keys(0, np.arange(300).repeat(2)), 3)
    t.weights[1:] += 0.5
    t.save(tmp_path / "t")
    u = CollisionlessTable.load(tmp_path / "t")
    for name in CollisionlessTable._ARRAYS:
        assert np.array_equal(getattr(t, name), getattr(u, name)), name
    probe = feature_keys(0, np.arange(400))
    assert np.array_equal(t.lookup(probe, 4), u.lookup(probe, 4))


def test_hashing_table_shares_rows_when_full():
    h = HashingTable(n_rows=10, dim=2)
    rows = h.lookup(feature_keys(0, np.arange(100)))
    assert rows.min() >= 1 and rows.max() <= 10 and len(set(rows.tolist())) <= 10


@pytest.mark.parametrize("bad", [{"dim": 0}, {"max_rows": 0}, {"ttl_s": -1.0}])
def test_bad_config_names_the_key(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        table(**bad)
