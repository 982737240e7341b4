"""The big world at other shapes: more items than events (the 50M x 1M preset, scaled down), tastes without items."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from shortlist.data.big_world import read_events, write_big_world


def _reference(path, n_users: int, n_items: int) -> sp.csr_matrix:
    frame = pl.read_parquet(path)
    users, items = frame["user_id"].to_numpy(), frame["item_id"].to_numpy()
    return sp.csr_matrix((np.ones(users.size, np.float32), (users, items)), shape=(n_users, n_items))


def test_a_sparse_world_over_many_items_reads_back_unchanged(tmp_path):
    # the 50m preset's shape at 1/2000: 500 users x 200,000 items, 25 events per user on average
    path = tmp_path / "sparse.parquet"
    written = write_big_world(path, n_users=500, n_items=200_000, n_events=12_500, chunk_users=200)
    data = read_events(path, batch_rows=3_000)
    frame = pl.read_parquet(path)
    key = frame["user_id"].to_numpy().astype(np.int64) * 200_000 + frame["item_id"].to_numpy()
    assert np.all(np.diff(key) > 0) and abs(written - 12_500) < 0.01 * 12_500
    assert np.bincount(frame["user_id"].to_numpy()).min() >= 20
    n_items = int(frame["item_id"].max()) + 1
    assert data.matrix.shape == (500, n_items) and n_items > 100_000  # the Zipf tail reaches far items
    assert (data.matrix != _reference(path, 500, n_items)).nnz == 0
    assert data.matrix.indptr[-1] == written


def test_tastes_without_items_draw_from_all_items(tmp_path):
    # 30 items, 50 tastes: most tastes own no item (this used to fail on an empty popularity table)
    path = tmp_path / "few.parquet"
    written = write_big_world(path, n_users=60, n_items=30, n_events=1_500, min_per_user=5, chunk_users=25)
    frame = pl.read_parquet(path)
    assert frame.height == written and frame["item_id"].n_unique() == 30
    per_user = np.bincount(frame["user_id"].to_numpy(), minlength=60)
    assert per_user.min() >= 5 and per_user.max() <= max(30 // 4, 5)  # the floor and the cap
    assert (read_events(path).matrix != _reference(path, 60, 30)).nnz == 0
