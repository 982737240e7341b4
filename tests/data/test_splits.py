"""Splits: sizes, determinism and, above all, no leakage."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shortlist.data import (
    Interactions,
    leave_last_k,
    random_holdout,
    split_by_protocol,
    temporal_split,
    user_holdout,
)
from shortlist.errors import ConfigError, DataError


def make_data(n_users=60, n_items=40, n_events=900, seed=0, repeats=True):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n_users, n_events)
    i = rng.integers(0, n_items, n_events)
    t = rng.permutation(n_events) * 10
    df = pl.DataFrame({"u": u, "i": i, "t": t})
    return Interactions.from_frame(df, user="u", item="i", time="t", weighting="count")


def cells(inter):
    return set(zip(inter.user_index.tolist(), inter.item_index.tolist()))


def assert_partition(data, split):
    assert split.train.n_events + split.test.n_events + (split.fold_in.n_events if split.fold_in else 0) == data.n_events
    assert not cells(split.train) & cells(split.test)
    if split.fold_in is not None:
        assert not cells(split.fold_in) & cells(split.test)
        assert not {u for u, _ in cells(split.train)} & {u for u, _ in cells(split.test)}


def test_random_holdout_sizes_per_user():
    data = make_data()
    split = random_holdout(data, 0.25, seed=3)
    assert_partition(data, split)
    n = data.user_counts()
    n_test = np.diff(split.test.matrix.indptr)
    for u in range(data.n_users):
        want = 0 if n[u] < 2 else min(max(1, int(np.round(0.25 * n[u]))), n[u] - 1)
        assert n_test[u] == want


def test_random_holdout_is_seeded():
    data = make_data()
    a, b, c = (random_holdout(data, 0.3, seed=s) for s in (1, 1, 2))
    assert cells(a.test) == cells(b.test)
    assert cells(a.test) != cells(c.test)


def test_temporal_split_cuts_by_time_and_drops_repeats():
    data = make_data()
    split = temporal_split(data, 0.7)
    assert split.train.timestamp.max() < split.test.timestamp.min()
    assert not cells(split.train) & cells(split.test)


def test_leave_last_k_takes_newest_items():
    df = pl.DataFrame({"u": [0, 0, 0, 1, 1, 2], "i": [1, 2, 3, 1, 2, 1], "t": [5, 1, 9, 3, 2, 1]})
    data = Interactions.from_frame(df, user="u", item="i", time="t")
    split = leave_last_k(data, 1)
    got = {(data.users.lookup([u])[0], data.items.lookup([i])[0]) for u, i in cells(split.test)}
    assert got == {(0, 3), (1, 1)}  # user 2 has a single item: stays in train
    split2 = leave_last_k(data, 2)
    got2 = {(data.users.lookup([u])[0], data.items.lookup([i])[0]) for u, i in cells(split2.test)}
    assert got2 == {(0, 3), (0, 1)}


def test_user_holdout_strong_generalization():
    data = make_data()
    split = user_holdout(data, 0.2, seed=1)
    assert_partition(data, split)
    held = set(np.unique(split.test.user_index)) | set(np.unique(split.fold_in.user_index))
    assert held.isdisjoint(set(np.unique(split.train.user_index)))
    assert len(held) == round(0.2 * (data.user_counts() >= 2).sum())


def test_protocol_errors():
    data = make_data()
    with pytest.raises(ConfigError, match="unknown protocol"):
        split_by_protocol(data, "kfold:5")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        split_by_protocol(data, "random-holdout:1.5")
    with pytest.raises(ConfigError, match="not a number"):
        split_by_protocol(data, "random-holdout:abc")
    no_time = Interactions.from_frame(pl.DataFrame({"u": [1, 2], "i": [1, 1]}), user="u", item="i")
    with pytest.raises(DataError, match="needs timestamps"):
        split_by_protocol(no_time, "leave-last:1")


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    frac=st.floats(0.05, 0.95),
    protocol=st.sampled_from(["random", "temporal", "leave-last", "user"]),
)
def test_no_split_ever_leaks(seed, frac, protocol):
    data = make_data(n_users=15, n_items=10, n_events=120, seed=seed)
    if protocol == "random":
        split = random_holdout(data, frac, seed=seed)
    elif protocol == "temporal":
        try:
            split = temporal_split(data, frac)
        except DataError:
            return
    elif protocol == "leave-last":
        split = leave_last_k(data, 1 + seed % 3)
    else:
        split = user_holdout(data, frac, seed=seed)
    if protocol != "temporal":
        assert_partition(data, split)
    assert not cells(split.train) & cells(split.test)
