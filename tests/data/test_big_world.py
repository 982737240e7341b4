"""The MovieLens-20M-shaped world: counts as asked, distinct sorted events, read back streamed and unchanged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.data.big_world import read_events, write_big_world

SIZE = {"n_users": 900, "n_items": 400, "n_events": 36_000, "chunk_users": 250}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "events.parquet"
    return path, write_big_world(path, **SIZE)


def test_the_file_holds_distinct_sorted_events_with_the_asked_counts(world):
    path, written = world
    frame = pl.read_parquet(path)
    assert frame.height == written and abs(written - 36_000) < 0.01 * 36_000
    assert frame.schema == {"user_id": pl.Int32, "item_id": pl.Int32}
    key = frame["user_id"].to_numpy().astype(np.int64) * 400 + frame["item_id"].to_numpy()
    assert np.all(np.diff(key) > 0)  # sorted by (user, item), no pair twice
    per_user = np.bincount(frame["user_id"].to_numpy(), minlength=900)
    assert per_user.min() >= 20 and per_user.max() <= 100  # the floor, and the cap of a quarter of the items
    assert frame["item_id"].n_unique() > 300  # the tail is reached, not only the popular head


def test_streamed_read_equals_a_plain_read(world):
    path, written = world
    data = read_events(path, batch_rows=5_000)  # several batches
    frame = pl.read_parquet(path)
    ref = sp.csr_matrix((np.ones(frame.height, np.float32), (frame["user_id"].to_numpy(), frame["item_id"].to_numpy())),
                        shape=(900, 400))
    assert data.matrix.shape == (900, 400) and data.n_events == written
    assert (data.matrix != ref).nnz == 0
    assert np.shares_memory(data.matrix.indices, data.item_index)  # one copy of the events, not two


def test_same_arguments_same_file_and_an_unsorted_file_is_refused(world, tmp_path):
    path, _ = world
    again = tmp_path / "again.parquet"
    write_big_world(again, **SIZE)
    assert pl.read_parquet(again).equals(pl.read_parquet(path))
    shuffled = tmp_path / "shuffled.parquet"
    pl.read_parquet(path).sample(fraction=1.0, shuffle=True, seed=1).write_parquet(shuffled)
    with pytest.raises(ValueError, match="not sorted by user_id"):
        read_events(shuffled)
