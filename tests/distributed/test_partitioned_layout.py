"""Partitioned events folders (no Ray needed): every event once per side, in its block, and read back unchanged."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from shortlist.data.big_world import read_events, write_big_world
from shortlist.distributed.blocks import block_rows, in_links
from shortlist.distributed.partitions import (
    PartitionedEvents,
    partition_file,
    read_block,
    read_block_columns,
    write_partitioned,
)
from shortlist.errors import DataError


@pytest.mark.parametrize("blocks", [1, 3, 4])
def test_each_partition_holds_exactly_its_blocks_events(skewed, tmp_path, blocks):
    source = write_partitioned(skewed, tmp_path / "parts", blocks, batch_rows=500)  # several batches
    m = skewed.matrix
    mt = m.T.tocsr()
    idx = source.index
    assert idx.blocks == blocks and idx.users == skewed.users and idx.items == skewed.items
    np.testing.assert_array_equal(idx.item_counts, np.bincount(m.indices, minlength=m.shape[1]))
    for b in range(blocks):
        for side, full in (("user", m), ("item", mt)):
            got = read_block(source.path, side, b, idx)
            want = full[block_rows(full.shape[0], blocks, b)]
            assert got.shape == want.shape and got.has_sorted_indices
            np.testing.assert_array_equal(got.indptr, want.indptr)
            np.testing.assert_array_equal(got.indices, want.indices)
            np.testing.assert_array_equal(got.data, want.data)  # the cell values (1..3 here), not ones
            assert idx.events[side][b] == want.nnz
    assert idx.n_events == m.nnz
    assert (source.interactions().matrix != m).nnz == 0


def test_scan_columns_give_the_in_links_the_driver_would_build(skewed, tmp_path):
    source = write_partitioned(skewed, tmp_path / "parts", 3)
    m = skewed.matrix
    for b in range(3):
        cols = read_block_columns(source.path, "user", b)
        _, _, receive = in_links(cols, m.shape[1], 3)
        touched = np.unique(m[block_rows(m.shape[0], 3, b)].indices)  # independent: the rows' distinct items
        assert sorted(np.concatenate([r * 3 + j for j, r in enumerate(receive)]).tolist()) == touched.tolist()


def test_a_big_world_file_is_partitioned_streamed_with_index_ids(tmp_path):
    path = tmp_path / "world.parquet"
    write_big_world(path, n_users=300, n_items=200, n_events=9_000, chunk_users=100)
    source = write_partitioned(path, tmp_path / "parts", 2, batch_rows=1_000)
    loaded = read_events(path)
    again = source.interactions()
    assert again.users == loaded.users and again.items == loaded.items
    assert (again.matrix != loaded.matrix).nnz == 0
    # a user-sorted file stays user-sorted in each user partition (the writer's split is stable)
    users = pq.read_table(partition_file(source.path, "user", 1))["user"].to_numpy()
    assert np.all(np.diff(users) >= 0) and np.all(users % 2 == 1)


def test_unfinished_or_foreign_folders_are_refused(skewed, tmp_path):
    source = write_partitioned(skewed, tmp_path / "parts", 2)
    write_partitioned(skewed, source.path, 3)  # a partitioned folder is replaced
    assert PartitionedEvents(source.path).blocks == 3
    assert partition_file(source.path, "item", 2).exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a partitioned events folder"):
        write_partitioned(skewed, tmp_path / "other", 2)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"
    with pytest.raises(DataError, match="no index/"):
        _ = PartitionedEvents(str(tmp_path / "other")).index
