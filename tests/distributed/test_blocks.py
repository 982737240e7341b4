"""The blocked layout (no Ray needed): links, renamed columns and bytes per iteration."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.distributed.blocks import block_rows, build_side, traffic
from shortlist.models.als import ALS


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 5])
def test_blocks_rebuild_every_cell_of_the_matrix(skewed, n_blocks):
    m = skewed.matrix.tocsr()
    model = ALS(factors=4)
    model.users_, model.items_, model.train_ = skewed.users, skewed.items, m
    model._set_counts()
    indptr, indices, conf, reg = model._prepare(m, "user")
    blocks = build_side(indptr, indices, conf, reg, m.shape[1], n_blocks)
    for b, blk in enumerate(blocks):
        rows = block_rows(m.shape[0], n_blocks, b)
        # what the block receives, in order: item (local l of owner j) = l * n_blocks + j
        received = np.concatenate([r * n_blocks + j for j, r in enumerate(blk.receive)])
        for k, u in enumerate(rows):
            cells = slice(blk.indptr[k], blk.indptr[k + 1])
            assert received[blk.indices[cells]].tolist() == indices[indptr[u]:indptr[u + 1]].tolist()
            np.testing.assert_array_equal(blk.conf[cells], conf[indptr[u]:indptr[u + 1]])
        np.testing.assert_array_equal(blk.reg, reg[rows])


def test_traffic_is_the_minimum_plus_the_gramians(skewed):
    m = skewed.matrix.tocsr()
    n_blocks, f = 3, 8
    ones = np.ones(m.nnz, np.float32)
    users = build_side(m.indptr.astype(np.int64), m.indices, ones, np.ones(m.shape[0], np.float32), m.shape[1],
                       n_blocks)
    mt = m.T.tocsr()
    items = build_side(mt.indptr.astype(np.int64), mt.indices, ones, np.ones(m.shape[1], np.float32), m.shape[0],
                       n_blocks)
    t = traffic(users, items, m.shape[0], m.shape[1], f)
    # the minimum, from the matrix alone: distinct items per user block + distinct users per item block
    want = sum(np.unique(m[block_rows(m.shape[0], n_blocks, b)].indices).size
               + np.unique(mt[block_rows(m.shape[1], n_blocks, b)].indices).size for b in range(n_blocks))
    assert t.minimum == t.exchange == want * 4 * f
    assert t.gram == 2 * n_blocks * f * f * 12
    assert t.broadcast == n_blocks * (m.shape[0] + m.shape[1]) * 4 * f
