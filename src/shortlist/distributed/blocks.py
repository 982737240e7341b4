"""Blocked ALS layout: which factor rows each block sends and receives (Spark MLlib's in/out links).

Users and items are split into ``n_blocks`` blocks by index modulo ``n_blocks`` (hash
partitioning, as MLlib does: heavy rows that sit next to each other in the index end up
in different blocks). Block ``b`` solves its users in the user step and its items in the
item step. For the user step, block ``c`` needs exactly the item rows its users touch:
its *in-link* table lists them grouped by owning block, and the owning block's *out-link*
table says which of its rows to send to ``c``. Each row goes once to each block that has
an interaction with it - the minimum - and nothing else moves but the small Gramian.

Pure numpy: built on the driver from the whole matrix, or by each block actor from its own
partition (``partitions.py``) with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["SideBlock", "Traffic", "block_rows", "build_side", "in_links", "minimum_rows", "side_block", "traffic"]


def block_rows(n: int, n_blocks: int, b: int) -> np.ndarray:
    """Global indices of block ``b``'s rows (``b, b + n_blocks, ...``), in order."""
    return np.arange(b, n, n_blocks, dtype=np.int64)


@dataclass
class SideBlock:
    """One block's rows to solve, with columns renamed to positions in what it receives.

    ``indices`` point into the concatenation, over owning blocks ``j = 0..n_blocks-1``, of
    the rows listed in ``receive[j]`` (local indices inside block ``j``, sorted).
    """

    indptr: np.ndarray  # int64, rows of this block
    indices: np.ndarray  # int32, positions in the received rows
    conf: np.ndarray  # float32 confidences, same cells as the single-node matrix
    reg: np.ndarray  # float32 per-row regularisation
    receive: list[np.ndarray]  # per owning block j: local row indices (in block j) this block needs

    def arrays(self) -> dict[str, np.ndarray]:
        """The block as plain arrays (what travels to its actor)."""
        out = {"indptr": self.indptr, "indices": self.indices, "conf": self.conf, "reg": self.reg}
        out.update({f"receive_{j}": r for j, r in enumerate(self.receive)})
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "SideBlock":
        # writable copies: arrays from Ray's object store are read-only, a distinct numba type
        # that would compile the kernel again instead of loading single-node ALS's cached build
        a = {key: np.array(v, copy=True) for key, v in a.items()}
        n = sum(1 for key in a if key.startswith("receive_"))
        return cls(a["indptr"], a["indices"], a["conf"], a["reg"], [a[f"receive_{j}"] for j in range(n)])


def build_side(indptr: np.ndarray, indices: np.ndarray, conf: np.ndarray, reg: np.ndarray,
               n_cols: int, n_blocks: int) -> list[SideBlock]:
    """Split one side's prepared CSR (rows x cols, as ALS's ``_prepare`` returns it) into blocks."""
    n_rows = indptr.shape[0] - 1
    return [side_block(indptr, indices, conf, reg, block_rows(n_rows, n_blocks, b), n_cols, n_blocks)
            for b in range(n_blocks)]


def side_block(indptr: np.ndarray, indices: np.ndarray, conf: np.ndarray, reg: np.ndarray, rows: np.ndarray,
               n_cols: int, n_blocks: int) -> SideBlock:
    """The block of ``rows`` of a prepared CSR; a block's own CSR (a partition read on its node) takes all rows."""
    lengths = indptr[rows + 1] - indptr[rows]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    take = np.repeat(indptr[rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
    needed, keys, receive = in_links(indices[take], n_cols, n_blocks)
    return SideBlock(
        indptr=offsets,
        # the cells keep their order inside each row: the kernel sums them in the same order
        indices=np.searchsorted(needed, keys).astype(np.int32),
        conf=np.ascontiguousarray(conf[take], np.float32),
        reg=np.ascontiguousarray(reg[rows], np.float32),
        receive=receive,
    )


def in_links(cols: np.ndarray, n_cols: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The distinct ``cols`` a block touches: (sorted keys, each cell's key, local indices per owning block)."""
    stride = n_cols // n_blocks + 1  # key = owner * stride + local: sorts by owner, then local index
    cols = np.asarray(cols, np.int64)
    keys = (cols % n_blocks) * stride + cols // n_blocks
    needed = np.unique(keys)
    owner = needed // stride
    return needed, keys, [needed[owner == j] % stride for j in range(n_blocks)]


@dataclass
class Traffic:
    """Bytes one ALS iteration moves between blocks, with the two references."""

    exchange: int  # factor rows sent block to block (what this scheme moves)
    gram: int  # partial Gramians up to the driver and the summed one back down
    minimum: int  # each factor row once to each block with an interaction with it
    broadcast: int  # every factor row to every block (the naive scheme)

    @property
    def total(self) -> int:
        return self.exchange + self.gram

    @property
    def vs_minimum(self) -> float:
        return self.total / max(self.minimum, 1)

    @property
    def vs_broadcast(self) -> float:
        return self.total / max(self.broadcast, 1)


def traffic(user_blocks: list[SideBlock], item_blocks: list[SideBlock], n_users: int, n_items: int,
            factors: int) -> Traffic:
    """Bytes per iteration (user step + item step) for float32 factors of length ``factors``."""
    row = 4 * factors
    n_blocks = len(user_blocks)
    sent = sum(int(r.size) for blk in (*user_blocks, *item_blocks) for r in blk.receive) * row
    # the minimum, counted independently of the link tables: distinct columns per block
    minimum = sum(int(np.unique(blk.indices).size) for blk in (*user_blocks, *item_blocks)) * row
    # two half-steps: each block's float64 partial Gramian up, the float32 sum back down
    gram = 2 * n_blocks * factors * factors * (8 + 4)
    broadcast = n_blocks * (n_users + n_items) * row
    return Traffic(exchange=sent, gram=gram, minimum=minimum, broadcast=broadcast)


def minimum_rows(matrix: sp.csr_matrix, user_block: np.ndarray, item_block: np.ndarray) -> tuple[int, int]:
    """Factor rows one ALS iteration must move under any assignment of rows to blocks.

    Returns ``(to_blocks, across)``: ``to_blocks`` counts each factor row once per block with an
    interaction with it (the minimum :class:`Traffic` reports for the modulo layout);
    ``across`` leaves out the rows a block owns itself, which never cross the network. A
    layout that co-locates related users and items shrinks ``across``: their rows stay home.
    """
    m = sp.csr_matrix(matrix)
    users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    items = m.indices.astype(np.int64)
    ub, ib = np.asarray(user_block, np.int64)[users], np.asarray(item_block, np.int64)[items]
    # user step: block of the user needs item rows; item step: block of the item needs user rows
    need_items = np.unique(ub * m.shape[1] + items)
    need_users = np.unique(ib * m.shape[0] + users)
    to_blocks = int(need_items.size + need_users.size)
    home_items = np.asarray(item_block, np.int64)[need_items % m.shape[1]] == need_items // m.shape[1]
    home_users = np.asarray(user_block, np.int64)[need_users % m.shape[0]] == need_users // m.shape[0]
    return to_blocks, int(to_blocks - home_items.sum() - home_users.sum())
