"""The blocked layout (no Ray needed): links, renamed columns and bytes per iteration."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.distributed.blocks import block_rows, build_side, minimum_rows, traffic
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


def both_sides(m, n_blocks: int) -> tuple[list, list]:
    """(user blocks, item blocks) of binary matrix ``m``, unit confidences and regularisation."""
    ones = np.ones(m.nnz, np.float32)
    users = build_side(m.indptr.astype(np.int64), m.indices, ones, np.ones(m.shape[0], np.float32), m.shape[1],
                       n_blocks)
    mt = m.T.tocsr()
    items = build_side(mt.indptr.astype(np.int64), mt.indices, ones, np.ones(m.shape[1], np.float32), m.shape[0],
                       n_blocks)
    return users, items


def test_traffic_is_the_minimum_plus_the_gramians(skewed):
    m = skewed.matrix.tocsr()
    n_blocks, f = 3, 8
    users, items = both_sides(m, n_blocks)
    mt = m.T.tocsr()
    t = traffic(users, items, m.shape[0], m.shape[1], f)
    # the minimum, from the matrix alone: distinct items per user block + distinct users per item block
    want = sum(np.unique(m[block_rows(m.shape[0], n_blocks, b)].indices).size
               + np.unique(mt[block_rows(m.shape[1], n_blocks, b)].indices).size for b in range(n_blocks))
    assert t.minimum == t.exchange == want * 4 * f
    assert t.gram == 2 * n_blocks * f * f * 12
    assert t.broadcast == n_blocks * (m.shape[0] + m.shape[1]) * 4 * f


@pytest.mark.parametrize("n_blocks", [1, 3, 4])
def test_minimum_rows_of_the_modulo_layout_equal_its_traffic_minimum(skewed, n_blocks):
    m = skewed.matrix.tocsr()
    users, items = both_sides(m, n_blocks)
    to_blocks, across = minimum_rows(m, np.arange(m.shape[0]) % n_blocks, np.arange(m.shape[1]) % n_blocks)
    assert to_blocks * 4 * 8 == traffic(users, items, m.shape[0], m.shape[1], 8).minimum
    assert across <= to_blocks and (across == 0) == (n_blocks == 1)


def test_minimum_rows_brute_force_and_a_colocated_layout():
    """Two communities: blocks that follow them move no row across; modulo blocks move many."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    rows, cols = [], []
    for u in range(40):
        side = u % 2  # users 0, 2, 4 ... touch items 0-9; odd users items 10-19
        for i in rng.choice(10, 4, replace=False) + 10 * side:
            rows.append(u)
            cols.append(i)
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(40, 20))
    ub, ib = rng.integers(0, 3, 40), rng.integers(0, 3, 20)
    # brute force: every (block, row) pair a block needs, and whether the block owns that row
    need = {(ub[u], ("i", i)) for u, i in zip(rows, cols)} | {(ib[i], ("u", u)) for u, i in zip(rows, cols)}
    owner = {("i", i): ib[i] for i in range(20)} | {("u", u): ub[u] for u in range(40)}
    assert minimum_rows(m, ub, ib) == (len(need), sum(1 for b, r in need if owner[r] != b))
    colocated = minimum_rows(m, np.arange(40) % 2, np.arange(20) // 10)
    assert colocated[1] == 0
    modulo = minimum_rows(m, np.arange(40) % 2, np.arange(20) % 2)
    assert modulo[1] > 0.4 * modulo[0]
